"""Skip recognition while the scene is still: a cheap frame-difference gate per camera.

Why: a gate camera looks at an empty lane most of the day.  Running the detector on every
frame of a still scene costs a Raspberry Pi most of a core for nothing.  The gate compares a
small grey thumbnail of each frame (inside the camera's zone) with the last frame it let
through, and lets a frame through when enough of it changed, while a plate is being followed,
or when ``refresh_s`` has passed (so a slow-creeping car or a light change is never missed for
long).  The detector costs tens of milliseconds on a Pi; the thumbnail, on a still scene the
loop's main cost per frame, is made as cheaply as it can be: the frame is turned grey first by
OpenCV, and only its one byte a pixel is block-averaged.  Averaging the colour frame first
(PIL's four bytes a pixel, copied in) cost 2.0 ms a 1280x720 frame and 3.6 ms a 1920x1080 one,
against 0.8 and 1.6 ms grey first (``scripts/bench/bench_loop.py --stages``); the two thumbnails
differ by a rounding (one grey level at most), far under ``threshold``.  OpenCV is used where
the sources already loaded it (every camera but a folder's and picamera2's): imported for this
alone it would cost 15 MB.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType

import numpy as np
from PIL import Image

from .config import MotionConfig  # the camera's motion section, defined with the stream config


class MotionGate:
    """``wants(image, now, following)``: should this frame go to the recognizer?

    ``mask`` gives the zone as a boolean array for a (height, width), so motion outside the
    zone (trees, a road behind the gate) does not wake the detector.
    """

    def __init__(self, cfg: MotionConfig, mask: Callable[[int, int], np.ndarray] | None = None) -> None:
        self.cfg = cfg
        self._mask = mask
        self._reference: np.ndarray | None = None
        self._last_run = float("-inf")
        self.skipped = 0
        self._cv2: ModuleType | None = sys.modules.get("cv2")  # loaded by the sources, or None

    def thumbnail(self, image: np.ndarray, bgr: bool = False) -> np.ndarray:
        """Block averages of the frame's grey levels, as int16 for differences (``bgr``: the
        frame's channels are B, G, R, a camera's frame not yet converted: the same thumbnail)."""
        cv2 = self._cv2
        if cv2 is not None and image.ndim == 3 and image.shape[2] == 3:
            grey = Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY if bgr else cv2.COLOR_RGB2GRAY))
            thumb = grey.reduce(self.cfg.thumb_factor)
        else:  # averaged in colour, then grey: slower, the same within a rounding
            rgb = np.ascontiguousarray(image[..., ::-1]) if bgr else image
            thumb = Image.fromarray(rgb).reduce(self.cfg.thumb_factor).convert("L")
        return np.asarray(thumb, dtype=np.int16)

    def wants(self, image: np.ndarray, now: float, following: bool, bgr: bool = False) -> bool:
        if self.cfg.threshold == 0:
            return True
        thumb = self.thumbnail(image, bgr)
        # A clock that steps back (NTP, a folder's file times) counts as time for a refresh.
        run = (following or self._reference is None or self._reference.shape != thumb.shape
               or not 0 <= now - self._last_run < self.cfg.refresh_s
               or self._changed_share(thumb) > self.cfg.min_area)
        if run:
            self._reference, self._last_run = thumb, now
        else:
            self.skipped += 1
        return run

    def _changed_share(self, thumb: np.ndarray) -> float:
        assert self._reference is not None
        changed = np.abs(thumb - self._reference) >= self.cfg.threshold
        if self._mask is not None:
            zone = self._mask(*thumb.shape)
            return float(np.count_nonzero(changed & zone)) / max(1, int(np.count_nonzero(zone)))
        return float(np.count_nonzero(changed)) / changed.size
