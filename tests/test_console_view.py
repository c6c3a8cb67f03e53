"""A camera's live view in the console: each read's label can be read where the page shows it.

The view is scaled to at most 640 pixels wide and shown at most 480 CSS pixels wide (two views
side by side on a laptop), so a label drawn in Pillow's 11-pixel bitmap font was about 6 pixels
high on the page, its plate and score run together (``B144MOS0.95``).  Here a real camera loop
(the bundled sample folder; the recogniser is a stand-in that reports one plate where it is told
to, as no real one places a plate at a chosen spot) recognises one frame, and the label band and
its glyphs are measured in the JPEG the console serves.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFont
from waiting import wait_for

from edge_alpr.api.console_view import BOX_COLOUR, VIEW_WIDTH, label_font, view_jpeg
from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.loop import CameraLoop
from edge_alpr.stream.sources import open_source
from edge_alpr.types import Box, PlateRead, PlateResult, VehicleRead

SHOWN_WIDTH = 480  # CSS pixels: the page's widest view (console.css, .views img)


def _amber(pixels: np.ndarray) -> np.ndarray:
    """Pixels of the label's amber (BOX_COLOUR) as the JPEG gives them back (its colours shift)."""
    r, g, b = (pixels[..., i] for i in range(3))
    assert BOX_COLOUR[0] > 200 and 150 < BOX_COLOUR[1] < 235 and BOX_COLOUR[2] < 120
    return (r > 200) & (g > 150) & (g < 235) & (b < 120)


def _view() -> tuple[bytes | None, Any]:
    """A real camera loop's first recognised frame: its view's JPEG and ``loop.latest``."""
    stream = StreamConfig.from_dict({"cameras": [{"id": "gate", "motion": {"threshold": 0}, "source": {
        "kind": "folder", "watch": False}}]}, "t")
    cam = stream.cameras[0]
    stop = threading.Event()
    placed: list[Box] = []

    def recognise(image: np.ndarray) -> list[PlateResult]:
        h, w = image.shape[:2]
        placed.append(Box(int(w * .3), int(h * .5), int(w * .5), int(h * .56)))
        return [PlateResult(placed[-1], 0.9, PlateRead("B144MOS", 0.95, (), "ro", 0.8),
                            VehicleRead("Car", 0.7, Box(0, 0, w // 2, h // 2)))]

    loop = CameraLoop(cam, stream.events, open_source(cam, stop), recognise, lambda e: None, stop)
    loop.start()
    try:
        assert wait_for(lambda: loop.latest is not None, 30), loop.describe()
        return view_jpeg(loop, lambda plate: False), loop.latest
    finally:
        stop.set()
        loop.join(10)


@pytest.fixture(autouse=True)
def _font_looked_up_anew() -> Iterator[None]:
    label_font.cache_clear()
    yield
    label_font.cache_clear()


def test_a_read_s_label_is_legible_where_the_page_shows_it() -> None:
    data, latest = _view()
    assert data is not None and latest is not None
    frame, results = latest
    view = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    scale = view.shape[1] / frame.image.shape[1]
    assert view.shape[1] <= VIEW_WIDTH
    box = results[0].box
    left, top = round(box.xmin * scale), round(box.ymin * scale)
    # the label's band: the rows just above the box that are mostly amber at its left end
    band = 0
    while top - 1 - band >= 0 and _amber(view[top - 1 - band, left + 2:left + 40]).mean() > .4:
        band += 1
    shown = SHOWN_WIDTH / view.shape[1]  # CSS pixels a view pixel
    assert band * shown >= 12, f"the label is {band} view pixels high: {band * shown:.1f} px on the page"
    # its text: dark glyphs that stand as high as a page's small print (9 px and more)
    rows = view[top - band:top, left:left + 200]
    glyph_rows = np.flatnonzero((rows.sum(axis=-1) < 200).any(axis=1))
    assert glyph_rows.size and (glyph_rows[-1] - glyph_rows[0] + 1) * shown >= 9, glyph_rows
    # the plate and its score apart: a gap of a few pixels with no glyph between them
    columns = (rows.sum(axis=-1) < 200).any(axis=0)
    runs = np.flatnonzero(np.diff(columns.astype(int)) == 1)  # where each glyph run starts
    gaps = [b - a for a, b in zip(np.flatnonzero(np.diff(columns.astype(int)) == -1), runs[1:])]
    assert max(gaps) * shown >= 5, gaps


@pytest.mark.parametrize("missing", [
    TypeError("load_default() got an unexpected keyword argument 'size'"),  # Pillow 9.x
    ImportError("The _imagingft C module is not installed"),  # Pillow without FreeType
])
def test_the_view_is_drawn_with_the_bitmap_font_where_pillow_has_no_sized_font(
        monkeypatch: pytest.MonkeyPatch, missing: Exception) -> None:
    """A Pillow older than 10.1 (Debian bookworm ships 9.4) or built without FreeType has no
    sized default font: the view is still drawn, its label in the 11-pixel bitmap font, not a
    500 for every frame.  Such a Pillow cannot be installed beside this one, so its
    ``load_default`` is stood in for by one that refuses a size as it does."""
    bitmap = ImageFont.load_default

    def old_load_default(size: float | None = None) -> Any:
        if size is not None:
            raise missing
        return bitmap()

    monkeypatch.setattr(ImageFont, "load_default", old_load_default)
    data, latest = _view()
    assert data is not None and latest is not None
    view = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    box = latest[1][0].box
    scale = view.shape[1] / latest[0].image.shape[1]
    left, top = round(box.xmin * scale), round(box.ymin * scale)
    assert _amber(view[top - 3, left + 2:left + 40]).mean() > .4  # the label's band is drawn
