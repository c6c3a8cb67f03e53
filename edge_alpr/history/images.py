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


CROP_MAX_WIDTH = 480  # pixels: a wider crop is scaled down to it


def crop_edges(box: Box, width: int, height: int) -> Box:
    """Where the crop lies in a ``width`` x ``height`` frame: the plate's box with a margin of
    15 % of its size and 2 px, within the frame."""
    mx, my = box.width * 15 // 100 + 2, box.height * 15 // 100 + 2
    return Box(max(0, box.xmin - mx), max(0, box.ymin - my), min(width, box.xmax + mx), min(height, box.ymax + my))


def crop_size(box: Box, width: int, height: int) -> tuple[int, int]:
    """(width, height) of the crop ``images_of`` makes of this box in such a frame: the console
    gives each crop its place with it before the picture arrives (nothing moves when it does)."""
    edges = crop_edges(box, width, height)
    w, h = edges.width, edges.height
    if w <= 0 or h <= 0:
        return 1, 1
    return (CROP_MAX_WIDTH, max(1, h * CROP_MAX_WIDTH // w)) if w > CROP_MAX_WIDTH else (w, h)


def images_of(scene: np.ndarray, box: Box, width: int, quality: int) -> Jpegs:
    """(plate crop, scene thumbnail) as JPEG; the crop has a margin of 15 % of the box."""
    h, w = scene.shape[:2]
    edges = crop_edges(box, w, h)
    crop = scene[edges.ymin:edges.ymax, edges.xmin:edges.xmax]
    plate = Image.fromarray(np.ascontiguousarray(crop)) if crop.size else Image.new("RGB", (1, 1))
    if plate.width > CROP_MAX_WIDTH:
        plate = plate.resize((CROP_MAX_WIDTH, max(1, plate.height * CROP_MAX_WIDTH // plate.width)),
                             Image.Resampling.BILINEAR)
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
