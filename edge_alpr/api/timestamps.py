"""ISO 8601 UTC timestamps of the API (a read's ``timestamp``, the history's ``since``/``until``).

Why a grammar of its own: ``datetime.fromisoformat`` reads far more on Python 3.11+ than on
3.10 (the oldest supported, Jetson L4T r36), which takes only the extended calendar form with a
fraction of 3 or 6 digits and a ``+HH:MM`` offset.  Left to it, a client sending
``2019-08-19T13:11:25+0000`` (``strftime('%z')``) or the basic ``20190819T131125Z`` would be
answered 200 by one installation and 400 by another.  So the forms are read here, the same on
every Python: a calendar (``2019-08-19``, ``20190819``) or week date (``2019-W34-1``), then
optionally ``T`` (or a space), ``hh[:mm[:ss[.f]]]`` or ``hh[mm[ss[.f]]]`` (a fraction of any
length, kept to the microsecond), and ``Z`` or ``+hh[:mm]``/``+hh[mm]``.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

from ..errors import InputError
from ..names import shown

_TIME = (r"(?P<hour>\d\d)(?:(?P<c1>:?)(?P<minute>\d\d)(?:(?P=c1)(?P<second>\d\d)"
         r"(?:[.,](?P<fraction>\d+))?)?)?")
_OFFSET = r"(?P<zulu>[Zz])|(?P<sign>[+-])(?P<oh>\d\d)(?:(?P<c2>:?)(?P<om>\d\d)(?:(?P=c2)(?P<os>\d\d))?)?"
_ISO = re.compile(
    r"(?:(?P<year>\d{4})(?P<c0>-?)(?P<month>\d\d)(?P=c0)(?P<day>\d\d)"
    r"|(?P<wyear>\d{4})(?P<c3>-?)W(?P<week>\d\d)(?:(?P=c3)(?P<weekday>\d))?)"
    rf"(?:[Tt ]{_TIME}(?:{_OFFSET})?)?", re.ASCII)  # ASCII: int() would read other scripts' digits


def parse_timestamp(text: str) -> datetime:
    """ISO 8601 in UTC (``2019-08-19T13:11:25``, optional fraction and ``Z``/``+00:00``)."""
    value = text.strip()
    try:
        stamp = _read(value)
    except (ValueError, OverflowError) as e:
        raise InputError(f"timestamp {shown(text)} is not ISO 8601, e.g. 2019-08-19T13:11:25Z") from e
    if stamp.tzinfo is None:
        return stamp.replace(tzinfo=timezone.utc)
    if stamp.utcoffset() != timedelta(0):
        raise InputError(f"timestamp {shown(text)} must be in UTC (end it with Z or +00:00)")
    return stamp.astimezone(timezone.utc)


def _read(value: str) -> datetime:
    """``value`` as a datetime (``ValueError`` if it is none of the forms above, or no real time)."""
    match = _ISO.fullmatch(value)
    if match is None:
        raise ValueError(f"not one of the ISO 8601 forms read: {value!r}")
    g = match.groupdict()
    if g["year"] is not None:
        day = date(int(g["year"]), int(g["month"]), int(g["day"]))
    else:
        day = date.fromisocalendar(int(g["wyear"]), int(g["week"]), int(g["weekday"] or 1))
    zone = None
    if g["zulu"]:
        zone = timezone.utc
    elif g["sign"]:
        offset = timedelta(hours=int(g["oh"]), minutes=int(g["om"] or 0), seconds=int(g["os"] or 0))
        zone = timezone(-offset if g["sign"] == "-" else offset)
    return datetime(day.year, day.month, day.day, int(g["hour"] or 0), int(g["minute"] or 0),
                    int(g["second"] or 0), int((g["fraction"] or "0").ljust(6, "0")[:6]), tzinfo=zone)
