"""A camera's live view in the console: the newest frame it recognised (``CameraLoop.latest``:
one frame held per camera) with its plate boxes and reads drawn, scaled to at most
``VIEW_WIDTH`` pixels and encoded when a console asks for it (``GET /console/cameras/<n>/view.jpg``),
so a device nobody looks at pays nothing.
"""

from __future__ import annotations

import io
import logging
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..stream.loop import CameraLoop

log = logging.getLogger(__name__)

VIEW_WIDTH = 640
BOX_COLOUR = (255, 196, 0)
MATCH_COLOUR = (230, 40, 40)
ZONE_COLOUR = (80, 200, 255)
# a read's label, in view pixels: the page shows a 640-pixel view at 480 CSS pixels or less, where
# Pillow's 11-pixel bitmap font (its default without a size) was about 6 pixels high; 18 gives
# about 13 (Pillow's own font, bundled: no font file needed on the device)
LABEL_PX = 18
LABEL_PAD = 2
Font = ImageFont.ImageFont | ImageFont.FreeTypeFont


@lru_cache(maxsize=1)
def label_font() -> Font:
    """Pillow's own font at ``LABEL_PX``; its 11-pixel bitmap font where that cannot be had.

    Why a fallback: a sized default font needs Pillow 10.1 or later (9.x, Debian bookworm's
    python3-pil, answers ``TypeError``) and Pillow built with FreeType (without it:
    ``ImportError``).  A pip install beside such a Pillow keeps it, and a view that raised would
    answer 500 for every frame: a smaller label beats no view.  Looked up once (logged once)."""
    try:
        return ImageFont.load_default(size=LABEL_PX)
    except (TypeError, ImportError, OSError) as e:
        log.warning("the live view's labels use Pillow's small bitmap font: a %d-pixel font needs "
                    "Pillow 10.1 or later built with FreeType (%s: %s)", LABEL_PX, type(e).__name__, e)
        return ImageFont.load_default()


def view_jpeg(loop: CameraLoop, matched: Any) -> bytes | None:
    """The camera's newest recognised frame with its boxes, as a JPEG; None before the first.

    ``matched(plate)`` says whether a watch list knows a read (drawn in red instead of amber).
    """
    latest = loop.latest
    if latest is None:
        return None
    frame, results = latest
    image = Image.fromarray(np.ascontiguousarray(frame.image))
    scale = min(1.0, VIEW_WIDTH / max(1, image.width))
    if scale < 1.0:
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(image)
    font = label_font()
    if loop.camera.zone:
        w, h = image.width - 1, image.height - 1
        points = [(x * w, y * h) for x, y in loop.camera.zone]
        draw.line([*points, points[0]], fill=ZONE_COLOUR, width=1)
    for result in results:
        b = result.box
        colour = MATCH_COLOUR if matched(result.read.plate) else BOX_COLOUR
        box = (b.xmin * scale, b.ymin * scale, b.xmax * scale, b.ymax * scale)
        draw.rectangle(box, outline=colour, width=2)
        label = f"{result.read.plate}  {result.read.score:.2f}"  # two spaces: apart at a glance
        x0, y0, x1, y1 = draw.textbbox((0, 0), label, font=font)
        height = y1 - y0 + 2 * LABEL_PAD
        top = max(0.0, box[1] - height)  # above the box, or over its top at the picture's edge
        draw.rectangle((box[0], top, box[0] + x1 - x0 + 2 * LABEL_PAD, top + height - 1), fill=colour)
        draw.text((box[0] + LABEL_PAD - x0, top + LABEL_PAD - y0), label, fill=(0, 0, 0), font=font)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return out.getvalue()
