"""The console's search form: what it shows again, and the query it runs.

Why apart from ``console.py``: a search with a bad value must not wipe the form.  ``search``
keeps each box's value as it was typed (read as UTF-8; a byte that is not shows as U+FFFD)
beside the error, names every box that is wrong (``bad``: each value is checked alone, as
``GET /v1/events/`` would, whose error starts with the parameter's name) and marks each, so an
operator corrects those values instead of typing the search again, and is not sent back a
second time for the next bad one.  A ``since`` after ``until``, or equal to it (the query is
``since <= ts < until``), is both boxes' fault: the search could find nothing, and both are marked.

Times: the query's ``since`` and ``until`` are UTC, as in ``GET /v1/events/``.  Their boxes
are text boxes that show and take one form, ISO order, 24-hour clock (``2024-05-01 08:00:00``,
``BOX_FORMAT``), not a ``datetime-local`` box: that one shows the browser's locale's order
(Chromium in en-US: ``05/01/2024, 08:00:00 AM``), so a date read off it is May in one place
and January in the next, beside times the page writes in ISO order everywhere else.  A time
that parses is shown again in that form; one that does not is shown as typed.  The page's
script shows these boxes in the browser's time zone, as it shows the events' times, and sends
UTC (``search.js``); without script they are labelled UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

import bottle

from ..errors import InputError
from ..history.store import EventQuery
from .events import parse_query, utf8_query
from .timestamps import parse_timestamp

RECENT_EVENTS = 50
FILTERS = ("plate", "distance", "camera", "since", "until", "list")
TIMES = ("since", "until")
LABELS = {"plate": "Plate", "distance": "Distance", "camera": "Camera", "since": "Since",
          "until": "Until", "list": "List"}
MAX_SHOWN = 64  # characters of a value shown again (a longer one is refused by the query anyway)
# a time in the boxes' own form (a space or T between the day and the clock, seconds optional)
_BOX_TIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d{1,3})?)?")
BOX_FORMAT = "YYYY-MM-DD hh:mm:ss"  # what the boxes show as their placeholder and hint
# what an invalid box carries: a fixed string (no value of the request), so it is written raw
INVALID = ' aria-invalid="true" aria-describedby="search-error"'
# a since at or after its until, as the API's errors say it (by the parameters' names) and as the
# form's; {how}: "before" or "the same as" (the query is since <= ts < until: equal finds nothing)
ORDER = ("until: is {how} since, so no event can be in between; {fix}",
         "Until is {how} Since, so no event can be in between: {fix}")


@dataclass
class Search:
    """One search of the console: ``shown`` (each box's value), ``query`` (None when a value
    is bad), ``error`` (which boxes, by their labels, and why), ``detail`` (the error as
    ``GET /v1/events/`` says it, by the parameter's name) and ``bad`` (the names of the boxes
    at fault, in the form's order; none for a bad value that is in no box, a ``cursor``)."""

    shown: dict[str, str]
    query: EventQuery | None = None
    error: str = ""
    detail: str = ""
    bad: tuple[str, ...] = ()

    def api_params(self) -> dict[str, str]:
        """The search's values as ``GET /v1/events/`` is asked them (the CSV link): those not
        empty, a time in the boxes' form written with its ``T`` (``2024-05-01T08:00:00``, UTC)."""
        return {name: value.replace(" ", "T", 1) if name in TIMES and _fits_box(value) else value
                for name, value in self.shown.items() if value}

    def invalid(self, name: str) -> str:
        """The attributes that mark the box ``name`` wrong ('' for a box that is not)."""
        return INVALID if name in self.bad else ""

def typed(query: bottle.FormsDict) -> dict[str, str]:
    """Each filter's last value as typed, to show again (at most ``MAX_SHOWN`` characters)."""
    out = {}
    for name in FILTERS:
        values = query.getall(name)
        raw = str(values[-1]) if values else ""  # bottle hands over the bytes as Latin-1
        out[name] = raw.encode("latin-1", "replace").decode("utf-8", "replace")[:MAX_SHOWN]
    return out


def box_time(stamp: float | None) -> str:
    """A UTC time (seconds since the epoch) as the time boxes show it
    (``2024-05-01 08:00:00[.500]``); '' for none."""
    if stamp is None:
        return ""
    when = datetime.fromtimestamp(stamp, timezone.utc)
    return when.replace(tzinfo=None).isoformat(" ", timespec="milliseconds" if when.microsecond else "seconds")


def search(query: bottle.FormsDict) -> Search:
    """The search in ``query`` (a ``cursor``, from the "Older events" link, picks the page)."""
    out = Search(typed(query))
    alone = _each(query)
    faults = {name: why for name, why in alone.items() if isinstance(why, str)}
    since, until = (getattr(q, name) if isinstance(q := alone[name], EventQuery) else None for name in TIMES)
    order = since is not None and until is not None and since >= until
    for name, stamp in zip(TIMES, (since, until)):
        # a time that parses, in the boxes' form (beside a bad value too, where one typed with
        # its zone, ...Z, would be read in the browser's zone once its Z is gone: shown in UTC)
        if stamp is not None and (not (faults or order) or not _fits_box(out.shown[name])):
            out.shown[name] = box_time(stamp)
    if faults or order:
        out.bad = tuple(name for name in FILTERS if name in faults or (order and name in TIMES))
        how, fix = ("before", "swap them, or clear one") if order and since != until else \
            ("the same as", "move one, or clear one")
        out.detail = "; ".join([*faults.values(), *([ORDER[0].format(how=how, fix=fix)] if order else [])])
        out.error = "; ".join([*(f"{LABELS[name]}{why[len(name):]}" for name, why in faults.items()),
                               *([ORDER[1].format(how=how, fix=fix)] if order else [])])
    else:
        try:
            out.query = run(query)
        except InputError as e:  # a value in no box (a cursor): said, no box marked
            out.detail = out.error = str(e)
    return out


def _each(query: bottle.FormsDict) -> dict[str, EventQuery | str]:
    """Each box's value checked on its own: its query, or its error (a str).  Why: with a bad
    plate and a bad date both are named at once, not the plate first and then the date."""
    out: dict[str, EventQuery | str] = {}
    for name in FILTERS:
        alone = bottle.FormsDict()
        for value in query.getall(name):
            alone.append(name, value)
        try:
            out[name] = run(alone)
        except InputError as e:
            out[name] = str(e)
    return out


def _fits_box(value: str) -> bool:
    """Whether ``value`` is a real time in the boxes' form (not '2024-13-45 10:00', 'yesterday',
    '...Z'): such a one, beside a bad value, is shown again as typed."""
    if not value:
        return True
    if _BOX_TIME.fullmatch(value) is None:
        return False
    try:  # a real date and time (the form alone passes 2024-02-30)
        parse_timestamp(value)
    except InputError:
        return False
    return True


def run(query: bottle.FormsDict) -> EventQuery:
    """The validated query of the console's search (``InputError`` names a bad value)."""
    query = utf8_query(query)
    picked = bottle.FormsDict()
    for name in (*FILTERS, "cursor"):
        values = query.getall(name)
        value = str(values[-1]) if values else ""
        if value.strip():
            picked[name] = value
    parsed = parse_query(picked, csv_out=False)
    return EventQuery(parsed.plate, parsed.max_distance, parsed.camera, parsed.since,
                      parsed.until, parsed.list, RECENT_EVENTS, parsed.after)
