"""The times of the events queued in the outbox, moved by the steps of the wall clock while they wait.

Why: a Raspberry Pi boots at a stale date (no real-time clock) and often without network, so
a camera's events wait in the outbox stamped with that date until time sync steps the clock,
usually just as the network comes up: delivered as they were, they would reach MQTT and the
webhooks weeks off.  Each row keeps ``clock``: the wall clock's offset (``clocks.WallOffset``)
its payload's times are on, NULL where they are not this device's clock (a file's times, an
API read's own ``timestamp``) or were taken before the last reboot (``open``: nothing can tell
how long the device was off, so those are left as they are).  A step seen while running
(``follow``, on each ``put`` and ``peek``: two clock reads when there was none) moves the times of
every such row by the offset's change since (``event_times.moved``), oldest first, at most
``BATCH_ROWS`` a transaction (a queue of 100,000 rows moves over several calls, none holding the
lock for long), so a row is moved once per step, never per delivery, and durably: a copy delivered again after a
crash (at least once, same ``id``) has the times of the first.  A row that goes in after a step
it was read before (an event being followed, rows waiting for another process's lock) is moved
as it goes in (``incoming``), and an event already read for sending when a step comes is moved
just before it is sent (``restamped``).  What was delivered before the step cannot be.

Everything here runs on the outbox's connection with its lock held.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import replace
from typing import Any

from ..clocks import BATCH_ROWS, STEP_S, StepCatchUp, WallOffset, same_boot
from ..db_lock import immediate
from ..event_times import moved
from .outbox_schema import OutboxItem
from .outbox_waiting import Row

# The outbox's lines keep one logger name, whichever of its modules writes them.
log = logging.getLogger("edge_alpr.delivery.outbox")



def dumps(payload: dict[str, Any]) -> str:
    """A payload as the outbox keeps it."""
    return json.dumps(payload, separators=(",", ":"))


class ClockFollower:
    """Follows the wall clock's steps for one outbox file; see the module docstring."""

    def __init__(self, offset: WallOffset) -> None:
        self.offset = offset
        self._catch_up = StepCatchUp(offset)

    def open(self, db: sqlite3.Connection, waiting: list[Row]) -> list[Row]:
        """At the start: the offsets of an earlier boot are forgotten (in the file and in
        ``waiting``, the rows kept beside it); the waiting rows to move in."""
        with immediate(db):
            if same_boot(db, self.offset.boot):
                return waiting
            db.execute("UPDATE outbox SET clock = NULL WHERE clock IS NOT NULL")
        return [(*row[:7], None) for row in waiting]

    def incoming(self, row: Row) -> Row:
        """``row`` as it goes in: its times moved by the steps since they were read, if any."""
        clock = row[7]
        step = self.offset.since(clock) if clock is not None else 0.0
        if clock is None or not step:
            return row
        text = dumps(moved(json.loads(row[3]), step))
        return (*row[:3], text, row[4], row[5] + len(text.encode()) - len(row[3].encode()), row[6], clock + step)

    def follow(self, db: sqlite3.Connection) -> None:
        """After a step: the times of the oldest ``BATCH_ROWS`` rows read before it moved, in one
        transaction (lock held, outside the caller's transaction), the rest at the next calls;
        nothing where the clock did not step."""
        def move(now: float) -> int:
            with immediate(db):
                rows = db.execute("SELECT seq, payload, size, clock FROM outbox WHERE clock IS NOT NULL AND "
                                  "ABS(?1 - clock) > ?2 ORDER BY seq LIMIT ?3", (now, STEP_S, BATCH_ROWS)).fetchall()
                changed = []
                for seq, text, size, clock in rows:
                    new = dumps(moved(json.loads(text), now - clock))
                    changed.append((new, size + len(new.encode()) - len(text.encode()), now, seq))
                db.executemany("UPDATE outbox SET payload = ?, size = ?, clock = ? WHERE seq = ?", changed)
            return len(rows)

        done = self._catch_up.follow(move)
        if done is not None:
            log.log(logging.INFO if done[1] else logging.DEBUG,
                    "outbox: the wall clock stepped by %+.0f s (time sync?); the times of the %d event(s) read "
                    "before it and still queued are moved by it (those delivered already cannot be)", *done)

    def follow_quietly(self, db: sqlite3.Connection) -> None:
        """``follow``, where a failure (another process's lock, a full disk) waits for the next call."""
        try:
            self.follow(db)
        except sqlite3.Error as e:
            log.debug("outbox: the times of the events before a clock step not moved yet: %s", e)

    def restamped(self, item: OutboxItem) -> OutboxItem:
        """``item`` as it is sent: moved by a step seen since it was read from the file."""
        if item.clock is None:
            return item
        step = self.offset.since(item.clock)
        return replace(item, payload=moved(item.payload, step), clock=item.clock + step) if step else item
