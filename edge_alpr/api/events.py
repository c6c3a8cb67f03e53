"""Routes of the event history, beside the reference API's.

``GET /v1/events/?plate=&distance=&camera=&since=&until=&list=&limit=&cursor=&format=``
answers ``{"count", "next", "results"}`` newest first (``format=csv``: a CSV file of the same
events, up to ``MAX_CSV_ROWS``); ``next`` is the ``cursor`` of the following page.  ``plate``
is matched with the OCR-forgiving distance (``fuzzy``) up to ``distance`` (default 1).
``GET /v1/events/<id>/`` is one event; ``.../plate.jpg`` and ``.../scene.jpg`` its images.

The watch lists' routes are in ``watchlist_routes``; ``read_results`` matches the API's reads
against the lists.

Every parameter is bounded and checked; a bad one is a 400 naming it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import bottle

from ..errors import InputError
from ..fuzzy import MAX_PLATE_CHARS, normalize
from ..history.store import EventQuery, History, Sighting
from ..names import shown
from ..plate_text import foreign, foreign_said
from ..types import PlateResult
from ..watchlists import WatchLists
from ..watchlists_config import MAX_DISTANCE, NAME
from .timestamps import parse_timestamp

MAX_PAGE = 500
MAX_CSV_ROWS = 10_000
MAX_PARAM_CHARS = 64
MAX_SEQ = 2**63 - 1
_PARAMS = {"plate", "distance", "camera", "since", "until", "list", "limit", "cursor", "format"}
_EVENT_ID = re.compile(r"^[0-9A-Za-z-]{1,64}$")
_CURSOR = re.compile(r"^([0-9.eE+-]{1,32})_([0-9]{1,19})$")
_CSV_COLUMNS = ("id", "timestamp", "camera_id", "source", "plate", "score", "region",
                "vehicle_type", "match_list", "match_plate", "match_label", "match_distance",
                "distance")

Guard = Callable[[Callable[..., bottle.HTTPResponse]], Callable[..., bottle.HTTPResponse]]


def json_answer(status: int, obj: Any) -> bottle.HTTPResponse:
    """``obj`` as a JSON answer (the history's and the watch lists' routes)."""
    return bottle.HTTPResponse(json.dumps(obj), status=status,
                               headers={"Content-Type": "application/json"})


def utf8_query(query: bottle.FormsDict) -> bottle.FormsDict:
    """``query`` with its names and values read as UTF-8, as browsers encode them (bottle hands
    them over as Latin-1: a search for the camera "Süd" would look for "SÃ¼d" and find nothing);
    ``InputError`` 400 names a parameter that is not UTF-8."""
    out = bottle.FormsDict()
    out.recode_unicode = False  # already text: attribute access must not decode it again
    for key, value in query.allitems():
        try:
            name = key.encode("latin-1").decode("utf-8")
        except UnicodeError as e:
            raise InputError(f"a parameter name {shown(key)} is not UTF-8; percent-encode names as UTF-8") from e
        try:
            out.append(name, value.encode("latin-1").decode("utf-8"))
        except UnicodeError as e:
            raise InputError(f"{name}: {value[:MAX_PARAM_CHARS]!r} is not UTF-8; percent-encode the "
                             "text as UTF-8") from e
    return out


def _param(query: bottle.FormsDict, name: str) -> str:
    values = query.getall(name)
    value = str(values[-1]) if values else ""
    if len(value) > MAX_PARAM_CHARS:
        raise InputError(f"{name}: at most {MAX_PARAM_CHARS} characters, got {len(value)}")
    return value.strip()


def _number(text: str, name: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError as e:
        raise InputError(f"{name}: {text!r} is not a number") from e
    if not (math.isfinite(value) and low <= value <= high):
        raise InputError(f"{name}: must be {low:g}..{high:g}, got {text!r}")
    return value


def _time(text: str, name: str) -> float | None:
    if not text:
        return None
    try:
        return parse_timestamp(text).timestamp()
    except InputError as e:
        raise InputError(f"{name}: {e}") from e


def cursor_text(after: tuple[float, int]) -> str:
    """The ``cursor`` parameter of the page after ``after`` (the ``next`` of a response)."""
    return f"{after[0]!r}_{after[1]}"


def parse_query(query: bottle.FormsDict, csv_out: bool) -> EventQuery:
    """The validated filters of ``GET /v1/events/``; ``InputError`` 400 names a bad one."""
    unknown = sorted(set(query.keys()) - _PARAMS)
    if unknown:
        raise InputError(f"unknown parameter {shown(unknown[0])}; the parameters are "
                         f"{', '.join(sorted(_PARAMS))}")
    plate = _param(query, "plate")
    if plate and (odd := foreign(plate)):
        raise InputError(f"plate: {plate[:80]!r} {foreign_said(plate, odd)}")
    if plate and not 1 <= len(normalize(plate)) <= MAX_PLATE_CHARS:
        raise InputError(f"plate: {plate!r} must hold 1-{MAX_PLATE_CHARS} letters or digits")
    distance = _param(query, "distance")
    listed = _param(query, "list")
    if listed and not NAME.match(listed):
        raise InputError(f"list: {listed!r} is not a watch list name (letters, digits, _ or -)")
    most = MAX_CSV_ROWS if csv_out else MAX_PAGE
    limit = _param(query, "limit")
    if limit and not (limit.isascii() and limit.isdigit() and 1 <= int(limit) <= most):  # not '²'
        raise InputError(f"limit: must be an integer 1..{most}, got {limit!r}")
    cursor = _param(query, "cursor")
    after = None
    if cursor:
        found = _CURSOR.fullmatch(cursor)
        stamp = float(found.group(1)) if found and _is_float(found.group(1)) else math.nan
        seq = int(found.group(2)) if found else 0
        if found is None or not math.isfinite(stamp) or seq > MAX_SEQ:  # SQLite's are 64-bit
            raise InputError(f"cursor: {cursor!r} is not a cursor; use the 'next' of a response")
        after = (stamp, seq)
    return EventQuery(
        plate=normalize(plate),
        max_distance=_number(distance, "distance", 0.0, MAX_DISTANCE) if distance else 1.0,
        camera=_param(query, "camera"), since=_time(_param(query, "since"), "since"),
        until=_time(_param(query, "until"), "until"), list=listed,
        limit=int(limit) if limit else (1000 if csv_out else 50), after=after)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run as a formula (camera ids come from clients)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(events: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_CSV_COLUMNS)
    for e in events:
        result, match = e["result"], e.get("match") or {}
        writer.writerow([_cell(v) for v in (
            e["id"], e["timestamp"], e["camera_id"], e["source"], e["plate"], e["score"],
            (result.get("region") or {}).get("code", ""), (result.get("vehicle") or {}).get("type", ""),
            match.get("list", ""), match.get("plate", ""), match.get("label", ""),
            match.get("distance", ""), e.get("distance", ""))])
    return out.getvalue()


def read_results(history: History | None, keep_reads: bool, watchlists: WatchLists | None,
                 results: list[PlateResult], image: Any, camera_id: str | None,
                 stamp: datetime, clock: float | None = None) -> list[dict[str, Any]]:
    """The API's ``results`` with ``match`` where a watch list matches; kept in the history
    when ``history.api_reads`` is on (``image`` is the decoded RGB array; ``clock``: the wall
    clock's offset where ``stamp`` was read from it, ``Sighting.clock``)."""
    out = []
    for result in results:
        found = result.to_dict()
        match = watchlists.match(result.read.plate) if watchlists is not None else None
        if match is not None:
            found["match"] = match.to_dict()
        if history is not None and keep_reads:
            history.publish(Sighting(str(uuid.uuid4()), "api", camera_id or "api", stamp,
                                     result.read.plate, result.read.score, result.box, found,
                                     match, image, clock))
        out.append(found)
    return out


def install(app: bottle.Bottle, guarded: Guard, history: History | None) -> None:
    """Add the history's routes to ``app``, each behind the API's auth (the watch lists':
    ``watchlist_routes``)."""

    def need_history() -> History:
        if history is None:
            raise InputError("The event history is off (history.enabled and history.api_reads "
                             "are false).", status=404)
        return history

    @guarded
    def events() -> bottle.HTTPResponse:
        query = utf8_query(bottle.request.query)
        csv_out = _param(query, "format").lower() == "csv"
        if _param(query, "format").lower() not in ("", "json", "csv"):
            raise InputError("format: must be json or csv")
        found, after = need_history().query(parse_query(query, csv_out))
        if csv_out:
            return bottle.HTTPResponse(to_csv(found), status=200, headers={
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": 'attachment; filename="events.csv"'})
        return json_answer(200, {"count": len(found), "next": cursor_text(after) if after else None,
                           "results": found})

    def _id(event_id: str) -> str:
        if not _EVENT_ID.fullmatch(event_id):
            raise InputError(f"event id {event_id[:80]!r} is malformed", status=404)
        return event_id

    @guarded
    def event(event_id: str) -> bottle.HTTPResponse:
        found = need_history().get(_id(event_id))
        if found is None:
            raise InputError(f"no event {event_id!r} in the history (it may have been deleted "
                             "by the history's bounds)", status=404)
        return json_answer(200, found)

    @guarded
    def image(event_id: str, kind: str) -> bottle.HTTPResponse:
        path = need_history().image(_id(event_id), kind)
        if path is None:
            raise InputError(f"no {kind} image for event {event_id!r}", status=404)
        try:
            data = path.read_bytes()
        except OSError as e:  # deleted by the bounds meanwhile
            raise InputError(f"the {kind} image of event {event_id!r} is gone", status=404) from e
        return bottle.HTTPResponse(data, status=200, headers={
            "Content-Type": "image/jpeg", "Cache-Control": "private, max-age=86400"})

    for path in ("/v1/events/", "/v1/events"):
        app.route(path, "GET", events)
    app.route("/v1/events/<event_id>/", "GET", event)
    app.route("/v1/events/<event_id>/<kind:re:plate|scene>.jpg", "GET", image)
