"""The event history: what was read, kept on the device with its images (see ``store``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..watchlists import Match
from .config import HistoryConfig
from .store import EventQuery, History, Sighting

__all__ = ["EventQuery", "History", "HistoryConfig", "Sighting", "from_event", "open_history"]


def from_event(event: Any, payload: dict[str, Any], match: Match | None) -> Sighting:
    """The sighting of a camera event (a ``stream.tracker.PlateEvent``) as delivered."""
    read = event.result.read
    return Sighting(event.id, "camera", event.camera_id, event.timestamp, read.plate, read.score,
                    event.result.box, payload, match, event.scene)


def open_history(cfg: HistoryConfig, state_dir: Path) -> History | None:
    """The history under ``cfg.dir`` (default ``<state_dir>/history``), or None when off."""
    if not (cfg.enabled or cfg.api_reads):
        return None
    root = Path(cfg.dir) if cfg.dir else state_dir / "history"
    try:
        root.mkdir(parents=True, exist_ok=True)
        return History(cfg, root)
    except (OSError, sqlite3.Error) as e:
        raise ConfigError(f"history.dir: cannot open the event history in {root} ({e}); "
                          "fix the permissions or set history.dir") from e
