"""Per sink: what the outbox reports (``stats``), and the events set aside for it.

Why together, apart from the queue (``outbox.py``): both read a sink's rows as a whole rather
than one event at a time, and what the reports count follows from what is set aside.

Set aside are the events a sink's receiver refused for their size, kept out of its queue.  A
sink's queue is delivered in order, and an event its receiver can never take (an MQTT
broker whose packet size limit it exceeds: ``errors.EventTooLarge``) would stay at the head of
it, every later event waiting behind it forever.  Sending it again cannot help; deleting it would
lose it.  So its row is flagged ``aside``: it stays in the file (on disk, within the outbox's
bounds, counted in ``pending`` and ``bytes``, its reason in ``last_error``), ``peek`` passes it
by, and the events after it go on.  Only that sink's row is flagged: the same event's rows for
other sinks are delivered as usual.

Each start gives them back to their queues (``restore``), oldest first and ahead of the newer
events, as they were: once the admin raised the receiver's limit (or made events smaller) a
restart delivers them; one still too large is set aside again, with its warning.

Everything here runs on the outbox's connection with its lock held (``set_aside`` and
``restore`` inside the caller's transaction).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping

from ..credentials import hide_credentials

# The outbox's lines keep one logger name, whichever of its modules writes them.
log = logging.getLogger("edge_alpr.delivery.outbox")


def set_aside(db: sqlite3.Connection, sink: str, item_id: str, reason: str) -> bool:
    """Flag one event of ``sink`` aside, with why; False where it is gone (dropped by a bound)."""
    cur = db.execute("UPDATE outbox SET aside = 1, attempts = attempts + 1, last_error = ? "
                     "WHERE sink = ? AND id = ?", (reason[:500], sink, item_id))
    return cur.rowcount > 0


def restore(db: sqlite3.Connection) -> dict[str, int]:
    """Give every set-aside event back to its queue (at a start); how many, per sink, said once."""
    rows = dict(db.execute("SELECT sink, COUNT(*) FROM outbox WHERE aside = 1 GROUP BY sink").fetchall())
    if rows:
        db.execute("UPDATE outbox SET aside = 0 WHERE aside = 1")
        log.info("outbox: %s set aside as too large for the receiver are queued again, to be tried once more",
                 ", ".join(f"{n} event(s) of {hide_credentials(sink)}" for sink, n in rows.items()))
    return rows


def stats(db: sqlite3.Connection, waiting: dict[str, tuple[int, int]], unsaved: Mapping[str, int],
          held: dict[str, tuple[int, int]]) -> dict[str, dict[str, int]]:
    """Pending, dropped and delivered counts per sink (sinks with any history), the bytes pending
    per sink (``bytes``: what ``max_bytes`` bounds), and those of the pending that wait beside the
    file for another process's lock (``waiting``: per sink, how many and their bytes) or are set
    aside (``aside``) or held in memory while the disk is full (``held``: how many and their
    bytes); ``unsaved``: the dropped not yet counted in the file (it was locked, or its disk full)."""
    sizes = db.execute("SELECT sink, COUNT(*), SUM(size), SUM(aside) FROM outbox GROUP BY sink").fetchall()
    counters = db.execute("SELECT sink, dropped, delivered FROM sink_counters").fetchall()
    pending = {sink: n for sink, n, _, _ in sizes}
    size = {sink: total for sink, _, total, _ in sizes}
    aside = {sink: n for sink, _, _, n in sizes}
    counted = {sink: (drop, done) for sink, drop, done in counters}
    sinks = set(pending) | set(counted) | set(waiting) | set(unsaved) | set(held)
    out = {s: (waiting.get(s, (0, 0))[0] + held.get(s, (0, 0))[0], waiting.get(s, (0, 0))[1] + held.get(s, (0, 0))[1])
           for s in sinks}  # outside the file: how many, their bytes
    return {"pending": {s: pending.get(s, 0) + out[s][0] for s in sinks},
            "dropped": {s: counted.get(s, (0, 0))[0] + unsaved.get(s, 0) for s in sinks},
            "delivered": {s: counted.get(s, (0, 0))[1] for s in sinks},
            "bytes": {s: size.get(s, 0) + out[s][1] for s in sinks},
            "waiting": {s: waiting.get(s, (0, 0))[0] for s in sinks},
            "held": {s: held.get(s, (0, 0))[0] for s in sinks},
            "aside": {s: aside.get(s, 0) for s in sinks}}
