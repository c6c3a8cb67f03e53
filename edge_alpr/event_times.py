"""Moving the times of an event not yet delivered (or kept in the history) by the wall clock's
steps since they were read.

Why: a Raspberry Pi has no real-time clock.  It boots at its last saved time or 1970, and a
camera's events are stamped with that wrong date until time sync steps the clock, days or weeks
later, often just as the network (and so delivery) comes up.  The step is then known exactly
(``clocks.WallOffset``), and the clock after it is the right one, so the events still waiting in
the outbox and the history's rows can be moved by it.  What was delivered already cannot be.

An event's times are its ISO 8601 UTC fields ``timestamp``, ``first_seen`` and ``last_seen``
(a camera event's, MQTT's payload and the history's), under ``data`` in a webhook's payload,
where the camera event's ``filename`` (``<camera>_<time>.jpg``) names the time too.  Beside
them ``clock_corrected_s`` says by how many seconds they were moved in all (absent when not
moved, or moved back to where they were), so that a receiver can tell a redelivered copy
(at least once: same ``id``) whose times differ from the first.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

CORRECTED = "clock_corrected_s"  # seconds the times were moved, beside them
TIMES = ("timestamp", "first_seen", "last_seen")
_ISO = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?Z$")
_SPEC = {0: "seconds", 3: "milliseconds", 6: "microseconds"}


def moved(payload: dict[str, Any], seconds: float) -> dict[str, Any]:
    """A copy of an event's ``payload`` (MQTT's, the history's, or a webhook's with ``data``)
    with its times moved by ``seconds`` (to the millisecond, the events' precision: moved there
    and back, a time reads as before); one with no such times is returned as it is."""
    seconds = round(seconds, 3)
    data = payload.get("data")
    if isinstance(data, dict):  # a webhook's: {"hook": ..., "data": the event}
        return {**payload, "data": _moved(data, seconds)}
    return _moved(payload, seconds)


def _moved(event: dict[str, Any], seconds: float) -> dict[str, Any]:
    out = dict(event)
    stamp = out.get("timestamp")
    changed = False
    for key in TIMES:
        text = out.get(key)
        new = shifted(text, seconds) if isinstance(text, str) else None
        if new is not None:
            out[key], changed = new, True
    if not changed:
        return event
    name, old, new = out.get("filename"), _compact(stamp), _compact(out.get("timestamp"))
    if isinstance(name, str) and old and new:
        out["filename"] = name.replace(old, new)
    before = out.get(CORRECTED)
    total = round((before if isinstance(before, int | float) else 0.0) + seconds, 3)
    if total:
        out[CORRECTED] = total
    else:  # moved back where it was: as first sent
        out.pop(CORRECTED, None)
    return out


def shifted(text: str, seconds: float) -> str | None:
    """An ISO 8601 UTC time (``...Z``, as the events write them) moved by ``seconds``, in the same
    precision; None for any other text."""
    found = _ISO.fullmatch(text)
    if found is None:
        return None
    fraction = found.group(2) or ""
    when = datetime.strptime(found.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    when += timedelta(microseconds=int(fraction.ljust(6, "0")) if fraction else 0)
    try:
        when += timedelta(seconds=seconds)
    except OverflowError:  # beyond year 1..9999: left as it was
        return None
    return when.isoformat(timespec=_SPEC.get(len(fraction), "microseconds")).replace("+00:00", "Z")


def _compact(text: Any) -> str:
    """A camera event's time as its ``filename`` writes it (``20240501T100000.123Z``), or ''."""
    found = _ISO.fullmatch(text) if isinstance(text, str) else None
    if found is None or len(found.group(2) or "") != 3:
        return ""
    return f"{found.group(1).replace('-', '').replace(':', '')}.{found.group(2)}Z"
