"""A small, bounded, thread-safe memo of results computed from an array's contents."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T")


class ArrayMemo(Generic[T]):
    """The last ``size`` results, keyed by an array's bytes (with its dtype and shape) and settings.

    Why: a read decodes one plate's frames more than once with the same settings: a re-read
    pools its first view's candidates again, and the joint fallback of ``engine.states`` asks the
    CTC head for its proposals on the frames it has just decoded (half of all beam searches on
    dev scenes repeated one).  Decoding is a pure function of the frames, so the repeat can be
    looked up; the key is the frames' content, not their identity, so a reused buffer never
    returns a stale result.  Threads (API workers, cameras) share one reader: a lock guards the
    table, not the computation.  ``SIZE`` holds one read's decodings (up to three crops of a plate,
    two views each, two heads) with room for a few reads at once, and no more: repeats come within
    a read, and a larger table would only serve benchmarks that cycle a few inputs.
    """

    SIZE = 16

    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self._table: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(array: np.ndarray, *settings: Hashable) -> Hashable:
        return (array.dtype.str, array.shape, np.ascontiguousarray(array).tobytes(), *settings)

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        """The result stored under ``key``, else ``make()`` (stored, the oldest dropped past ``size``)."""
        with self._lock:
            if key in self._table:
                self._table.move_to_end(key)
                return self._table[key]
        value = make()
        with self._lock:
            self._table[key] = value
            while len(self._table) > self.size:
                self._table.popitem(last=False)
        return value
