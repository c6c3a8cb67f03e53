"""Opening the event history as the service and the API do: where it lives, and what a failure says.

Why apart from the store: which folder, and whether a failure to open it is the admin's to fix
(``ConfigError``) or passes by itself (another process's lock: ``StateError``), is the start-up's
business; the store (``store.py``) only keeps events.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..errors import ConfigError, StateError
from ..lock_holder import locked_text
from ..statedir import opening_state, writable_folder
from .config import HistoryConfig
from .faults import is_locked
from .schema import DATABASE
from .store import History


def open_history(cfg: HistoryConfig, state_dir: Path) -> History | None:
    """The history under ``cfg.dir`` (default ``<state_dir>/history``), or None when off."""
    if not (cfg.enabled or cfg.api_reads):
        return None
    root = Path(cfg.dir) if cfg.dir else state_dir / "history"
    if cfg.dir:  # <state_dir>/history is checked with the state folder (lifecycle.make_state_dir)
        writable_folder(root, "history.dir")
    # a full disk: said as such (exit 75, restarted); under the state folder as the state folder's,
    # so that the start frees its reserve as for any other state file
    watched, setting = (root, "history.dir") if cfg.dir else (state_dir, "state_dir")
    try:
        with opening_state(watched, setting):
            root.mkdir(parents=True, exist_ok=True)  # no inode left for it: a full disk too
            return History(cfg, root)
    except (OSError, sqlite3.Error) as e:
        if is_locked(e):  # the lock goes (a backup ends, the other process stops): exit 1, retried
            raise StateError(f"history.dir: cannot open the event history in {root}: "
                             f"{locked_text(root / DATABASE)}") from e
        raise ConfigError(f"history.dir: cannot open the event history in {root} ({e}); "
                          "fix the permissions or set history.dir") from e
