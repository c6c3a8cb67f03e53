"""Reading the event history: the filters of ``GET /v1/events/`` and the event JSON it answers.

Why apart from the writes: the store (``store.py``) keeps rows and bounds them; what a search
matches (camera, time range, watch list, a plate within an edit distance), how pages follow one
another (a ``(ts, seq)`` cursor, stable while new events arrive) and what an event looks like
in the API are decided here alone, on rows the store's lock guards while they are read.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..fuzzy import pack, within

Row = tuple[Any, ...]
_COLUMNS = "seq, id, source, camera, ts, plate_norm, score, plate_image, scene_image, payload, " \
    "frame_width, frame_height"


@dataclass(frozen=True)
class EventQuery:
    """Filters of ``GET /v1/events/``, already validated; ``after`` is the cursor (ts, seq)."""

    plate: str = ""
    max_distance: float = 1.0
    camera: str = ""
    since: float | None = None
    until: float | None = None
    list: str = ""
    limit: int = 50
    after: tuple[float, int] | None = None


def iso(stamp: float) -> str:
    """An epoch time as the events' ISO 8601 UTC (``2024-05-01T10:00:00.000Z``): the history's
    and the console's times read alike."""
    return datetime.fromtimestamp(stamp, timezone.utc).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


def select_page(db: sqlite3.Connection, q: EventQuery) -> tuple[list[Row], dict[str, float]]:
    """The rows of one page, newest first (one more than ``q.limit``: whether another page
    follows) and, for a plate search, each matching plate's distance.  Lock held."""
    where: list[str] = ["1"]
    args: list[Any] = []
    if q.camera:
        where.append("camera = ?")
        args.append(q.camera)
    if q.since is not None:
        where.append("ts >= ?")
        args.append(q.since)
    if q.until is not None:
        where.append("ts < ?")
        args.append(q.until)
    if q.list:
        where.append("list = ?")
        args.append(q.list)
    if q.after is not None:
        where.append("(ts < ? OR (ts = ? AND seq < ?))")
        args.extend((q.after[0], q.after[0], q.after[1]))
    near: dict[str, float] = {}
    if q.plate:  # the distinct plates as one string (200,000 of them: tens of ms, not hundreds)
        (joined,), = db.execute("SELECT group_concat(plate_norm, char(10)) FROM "
                                "(SELECT DISTINCT plate_norm FROM events)")
        plates = pack(joined)
        found, costs = within(q.plate, plates, q.max_distance)
        near = {plates.plate(int(i)): float(d) for i, d in zip(found, costs)}
        where.append("plate_norm IN (SELECT value FROM json_each(?))")
        args.append(json.dumps(list(near)))
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM events WHERE {' AND '.join(where)} ORDER BY ts DESC, seq DESC "
        "LIMIT ?", (*args, q.limit + 1)).fetchall()
    return rows, near


def page(rows: list[Row], q: EventQuery, near: dict[str, float]
         ) -> tuple[list[dict[str, Any]], tuple[float, int] | None]:
    """``select_page``'s rows as events and the cursor of the next page (None on the last)."""
    more = len(rows) > q.limit
    rows = rows[:q.limit]
    events = [event_of(r, near.get(r[5]) if q.plate else None) for r in rows]
    return events, ((rows[-1][4], rows[-1][0]) if more else None)


def select_one(db: sqlite3.Connection, event_id: str) -> Row | None:
    """The row of one event, or None.  Lock held."""
    row: Row | None = db.execute(f"SELECT {_COLUMNS} FROM events WHERE id = ?", (event_id,)).fetchone()
    return row


def event_of(row: Row, distance: float | None) -> dict[str, Any]:
    """One row as the API's event: the delivered result, its images' URLs, the size of the frame
    its box is in (``frame``, None for a row from before it was kept) and, for a plate search,
    its edit distance."""
    seq, event_id, source, camera, ts, _, score, plate_image, scene_image, payload, width, height = row
    result = json.loads(payload)
    base = f"/v1/events/{event_id}"
    event = {"id": event_id, "source": source, "camera_id": camera, "timestamp": iso(ts),
             "plate": result.get("plate", ""), "score": score, "match": result.get("match"),
             "images": {"plate": f"{base}/plate.jpg" if plate_image else None,
                        "scene": f"{base}/scene.jpg" if scene_image else None},
             "frame": {"width": width, "height": height} if width and height else None,
             "result": result}
    if distance is not None:
        event["distance"] = round(distance, 2)
    return event
