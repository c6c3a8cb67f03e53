"""The two JPEGs kept per event: a crop of the plate and a small thumbnail of the scene, and
their files (``<images>/<YYYY-MM-DD>/<id>-plate.jpg`` and ``-scene.jpg``).

Why small: an event is kept for weeks on an SD card, so the scene is a thumbnail
(``history.thumbnail_width``, 320 px by default: about 15 kB) and the crop is the plate with a
margin, at most 480 px wide; together about 20-25 kB.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from ..types import Box

Jpegs = tuple[bytes, bytes]  # (plate crop, scene thumbnail), as ``images_of`` makes them


def _jpeg(pixels: np.ndarray | Image.Image, quality: int) -> bytes:
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def images_of(scene: np.ndarray, box: Box, width: int, quality: int) -> Jpegs:
    """(plate crop, scene thumbnail) as JPEG; the crop has a margin of 15 % of the box."""
    h, w = scene.shape[:2]
    mx, my = box.width * 15 // 100 + 2, box.height * 15 // 100 + 2
    crop = scene[max(0, box.ymin - my):min(h, box.ymax + my), max(0, box.xmin - mx):min(w, box.xmax + mx)]
    plate = Image.fromarray(np.ascontiguousarray(crop)) if crop.size else Image.new("RGB", (1, 1))
    if plate.width > 480:
        plate = plate.resize((480, max(1, plate.height * 480 // plate.width)), Image.Resampling.BILINEAR)
    image = Image.fromarray(scene)
    if image.width > width:
        image = image.resize((width, max(1, image.height * width // image.width)),
                             Image.Resampling.BILINEAR, reducing_gap=2.0)
    return _jpeg(plate, quality), _jpeg(image, quality)


def write_images(folder: Path, day: str, event_id: str, images: Jpegs) -> list[Path]:
    """Write an event's plate crop and thumbnail in ``folder/day``, each to a temp file renamed
    into place (a reader never sees half a JPEG); on a failure remove what was written, and raise."""
    written: list[Path] = []
    try:
        (folder / day).mkdir(exist_ok=True)
        for kind, data in zip(("plate", "scene"), images, strict=True):
            path = folder / day / f"{event_id}-{kind}.jpg"
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
            written.append(path)
    except OSError:
        for path in [*written, *folder.glob(f"{day}/.{event_id}-*.tmp")]:
            path.unlink(missing_ok=True)
        raise
    return written
