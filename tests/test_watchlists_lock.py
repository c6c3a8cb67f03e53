"""The labels an edit may keep are read under the lock that orders edits.

Why: ``put`` accepts a control character in a label only where the stored list holds that very
label for that plate (a list stored before the rule).  Read before the lock, an edit that waited
for another could keep a label the other had just replaced, and store it again.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import TracebackType

import pytest

from edge_alpr.errors import InputError
from edge_alpr.watchlists import STATE_FILE, WatchLists
from edge_alpr.watchlists_config import WatchListsConfig


class _LockThen:
    """A lock that runs ``before`` once, just before it is first taken: an edit of another
    client that gets the lock first, at the one moment the race needs (no sleeps)."""

    def __init__(self, lock: threading.Lock, before: object) -> None:
        self._lock = lock
        self._before = before

    def __enter__(self) -> None:
        before, self._before = self._before, None
        if callable(before):
            before()
        self._lock.acquire()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._lock.release()


def test_an_edit_keeps_only_the_labels_stored_when_it_takes_the_lock(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text(json.dumps({"version": 1, "lists": {"deny": {"plates": [
        {"plate": "AB123CD", "label": "van\tblue"}]}}}))
    store = WatchLists(WatchListsConfig(), tmp_path)
    real = store._lock  # the other client's edit takes the real lock, as any edit does

    def other_client() -> None:
        store._lock = real
        store.put("deny", {"plates": [{"plate": "AB123CD", "label": "van blue"}]})

    store._lock = _LockThen(real, other_client)
    with pytest.raises(InputError) as raised:  # the stored label is "van blue" by now
        store.put("deny", {"plates": [{"plate": "AB123CD", "label": "van\tblue"}]})
    assert "U+0009" in str(raised.value), raised.value
    stored = store.get("deny")
    assert stored is not None and [e.label for e in stored.entries] == ["van blue"]
