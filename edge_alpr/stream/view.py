"""What a streaming camera sees: ``ok``, or frames that are ``dark``, ``bright`` or ``frozen``.

Why: a camera whose IR illuminator failed, whose lens is capped or blinded by the sun, or whose
encoder is stuck resending its last picture still delivers frames, so its health said
``streaming`` in green while no plate could be read.  This check looks at each frame the loop
takes (after ``max_fps`` and ``sample``, before the motion gate) and says so in the camera's
health (``view``), once in the log when a condition starts and once when it ends.

How, cheaply: a grid of about 80 x 45 pixels picked from the frame (every n-th row and column;
about 0.1 ms a 1280x720 frame, where the motion gate's block-averaged thumbnail costs about
0.8 ms and averages away the sensor noise that tells a still scene from a frozen picture).

* ``dark``: 99 % of the grid at or under ``view_dark`` (grey 0..255): the brightest 1 % of a
  working night camera's frame is far above it (docs/cameras.md has the measurements);
* ``bright``: 99 % of the grid at or over ``view_bright`` (washed out);
* ``frozen``: no new picture.  A picture is new when its grid is none of the last
  ``RECENT`` distinct grids seen (a stuck encoder's group of pictures repeats: an MPEG-4
  encoder fed one frame decoded to 13 distinct pictures, cycling) and it differs from the
  previous frame by more than ``STILL_DIFF`` grey levels on average.  A real still scene is
  new at nearly every frame: its sensor noise survives at least each key frame.

A condition counts once it has lasted ``view_alert_s`` (source time, as the tracker's), so dusk
or a truck filling the view does not raise it; it ends once ``min(view_alert_s, CLEAR_S)`` has
passed without a run of it that long (a dark frame now and then at dusk does not keep it); a run
that began within that time and goes on keeps it (headlights lighting one frame of a camera whose
IR illuminator is off do not end it).  Dark and bright come before frozen (a capped lens is both).
"""

from __future__ import annotations

import collections
import logging
import time

import numpy as np

log = logging.getLogger(__name__)

VIEWS = ("ok", "dark", "bright", "frozen")
GRID_COLUMNS = 80  # the grid's columns; its rows follow the frame's aspect
RECENT = 32  # distinct pictures remembered for "frozen"
STILL_DIFF = 0.02  # mean absolute grey-level change under which a frame is no new picture
OUTLIERS = 0.01  # share of the grid allowed outside a dark or bright frame's limit
CLEAR_S = 5.0  # a condition ends after this long without it (or view_alert_s, when shorter)
WHAT = {
    "dark": "frames are black (lens covered or capped, IR illuminator off at night?)",
    "bright": "frames are washed out (over-exposed, sun in the lens?)",
    "frozen": "the picture does not change (the camera resends its last frame: restart it?)",
}


def grid(image: np.ndarray, bgr: bool = False) -> np.ndarray:
    """Grey levels (0..255, as uint8) of about ``GRID_COLUMNS`` evenly spaced columns and as
    many rows as the aspect gives: picked pixels, not averages, so sensor noise stays.
    ``bgr``: the image's channels are B, G, R (a camera's frame not yet converted: the same grid)."""
    h, w = image.shape[:2]
    step = max(1, w // GRID_COLUMNS)
    picked = image[step // 2::step, step // 2::step].astype(np.uint16)
    if picked.ndim == 2:
        return picked.astype(np.uint8)
    r, b = (2, 0) if bgr else (0, 2)
    grey = (picked[..., r] * 77 + picked[..., 1] * 150 + picked[..., b] * 29) >> 8
    return grey.astype(np.uint8)


class ViewCheck:
    """``see(image, now)`` for each frame taken; ``view`` is one of ``VIEWS``, ``since`` the
    monotonic clock when it began (a problem's: when its frames began, ``view_alert_s`` before
    it was said; the console's "for 3 min")."""

    def __init__(self, camera_id: str, alert_s: float, dark: int, bright: int) -> None:
        self.camera_id = camera_id
        self.alert_s = alert_s
        self.clear_s = min(alert_s, CLEAR_S)
        self.dark, self.bright = dark, bright
        self.view = "ok"
        self.since = time.monotonic()
        self._view_begun = 0.0  # source time: when the view's condition began
        # condition -> source time of the first frame of its current run (None: the last frame had it not)
        self._runs: dict[str, float | None] = {"dark": None, "bright": None, "frozen": None}
        self._held: dict[str, float] = {}  # condition -> the last frame of a run of it at least clear_s long
        self._recent: collections.OrderedDict[int, None] = collections.OrderedDict()  # grids' hashes
        self._previous: np.ndarray | None = None

    def see(self, image: np.ndarray, now: float, bgr: bool = False) -> str:
        """Account one frame taken at source time ``now`` (its channels B, G, R with ``bgr``);
        the view after it."""
        g = grid(image, bgr)
        allowed = int(g.size * OUTLIERS)
        found = {
            "dark": int(np.count_nonzero(g > self.dark)) <= allowed,
            "bright": int(np.count_nonzero(g < self.bright)) <= allowed,
            "frozen": not self._new_picture(g),
        }
        for kind, present in found.items():
            begun = self._runs[kind]
            if not present:
                self._runs[kind] = None
            elif begun is None or now < begun:  # a clock stepping back starts the run again
                self._runs[kind] = now
            elif now - begun >= self.clear_s:
                self._held[kind] = now
        if self.view != "ok":
            held, resumed = self._held.get(self.view, now), self._runs[self.view]
            if now - held < self.clear_s or (resumed is not None and resumed - held < self.clear_s):
                return self.view  # not over yet: a run of it went on within the last clear_s, or goes on again
        lasting = [k for k in ("dark", "bright", "frozen")
                   if (begun := self._runs[k]) is not None and now - begun >= self.alert_s]
        self._change(lasting[0] if lasting else "ok", now)
        return self.view

    def _new_picture(self, g: np.ndarray) -> bool:
        key = hash(g.tobytes())
        previous, self._previous = self._previous, g
        if key in self._recent:
            self._recent.move_to_end(key)
            return False
        self._recent[key] = None
        if len(self._recent) > RECENT:
            self._recent.popitem(last=False)
        if previous is None or previous.shape != g.shape:
            return True
        return float(np.abs(g.astype(np.int16) - previous).mean()) > STILL_DIFF

    def _change(self, view: str, now: float) -> None:
        if view == self.view:
            return
        old, lasted = self.view, now - self._view_begun
        if view == "ok":
            log.info("camera %s: view ok again (was %s for %.0f s)", self.camera_id, old, lasted)
        else:
            begun = self._runs[view]
            self._view_begun = now if begun is None else begun
            self._held[view] = now
            was = "" if old == "ok" else f" (was {old} for {lasted:.0f} s)"
            log.warning("camera %s: view %s for %.0f s%s: %s; no plate can be read while it lasts",
                        self.camera_id, view, now - self._view_begun, was, WHAT[view])
        self.view, self.since = view, time.monotonic() - (now - self._view_begun if view != "ok" else 0.0)
