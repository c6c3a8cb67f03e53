"""What the history keeps of one plate: a ``Sighting``, made from a camera event or an API read.

Why apart from the store: the sighting is what callers hand over (the camera loop, the API), and
what waits in memory while the database is locked (``waiting.py``); the store is how it is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from ..types import Box
from ..watchlists import Match


@dataclass(frozen=True)
class Sighting:
    """One plate to keep: a camera event or one result of an API read.

    ``payload`` is what was delivered for it (the API result fields, ``match`` included);
    ``scene`` is the RGB frame the plate was read in, or None (then no images are kept);
    ``clock``: the wall clock's offset when ``timestamp`` was read from it (``clocks.WallOffset``),
    so that a step seen later moves it (``history/clock_steps.py``); None where it was not;
    ``frame``: (width, height) of the frame ``box`` is in, which the store takes from ``scene``
    before it lets the frame go (the console draws the box on the scene's thumbnail with it).
    """

    id: str
    source: str
    camera_id: str
    timestamp: datetime
    plate: str
    score: float
    box: Box
    payload: dict[str, Any]
    match: Match | None = None
    scene: np.ndarray | None = None
    clock: float | None = None
    frame: tuple[int, int] | None = None


def from_event(event: Any, payload: dict[str, Any], match: Match | None) -> Sighting:
    """The sighting of a camera event (a ``stream.tracker.PlateEvent``) as delivered."""
    read = event.result.read
    return Sighting(event.id, "camera", event.camera_id, event.timestamp, read.plate, read.score,
                    event.result.box, payload, match, event.scene, event.clock)
