"""Routes of the watch lists, beside the reference API's.

``GET /v1/watchlists/``: every list.  ``GET|PUT|DELETE /v1/watchlists/<name>/``: one list; a
``PUT`` body is the JSON of one whole list (``{"max_distance": 1, "plates": ["AB123CD",
{"plate", "label", "max_distance"}]}``) and creates or replaces it.
``PUT|DELETE /v1/watchlists/<name>/plates/<plate>/``: one plate of an existing list, added (or
its ``{"label", "max_distance"}`` replaced, the body optional) or removed, read and written on
the device in one step.  Why both: a client that reads a list, changes it and sends it back whole
loses what another client (or a second click) changed in between; the console edits one plate at
a time so two quick adds keep both plates.

Every body must be sent as ``application/json``: a cross-site page cannot send that type without
the browser asking first, so a page a user visits cannot edit the lists of a device on the
user's network (a per-plate ``PUT`` without a body sends the type too, for the same reason).
"""

from __future__ import annotations

from typing import Any

import bottle

from .. import json_input
from ..errors import InputError
from ..watchlists import WatchLists
from ..watchlists_config import MAX_PLATE_CHARS, NAME
from .body import read_body
from .events import Guard, json_answer

MAX_LIST_BODY = 2 * 1024 * 1024
MAX_PLATE_BODY = 4096  # one plate's label and distance
# what to do about a body over its limit (fixed: no setting raises it), by the body's name
# (what the list's says fits is sent in tests/test_watchlist_plates.py)
_OVER = {MAX_LIST_BODY: "send fewer plates or shorter labels, or split the list in two. 10,000 plates "
                        "fit with labels of 80 ASCII letters or digits, but a character outside ASCII "
                        "takes 6 bytes as a \\uXXXX escape (12 past U+FFFF), as most JSON encoders "
                        "write it by default (so does GET here), and 2-4 sent as UTF-8 (Python: json.dumps(..., "
                        "ensure_ascii=False))",
         MAX_PLATE_BODY: 'send only {"label": ..., "max_distance": ...} (a label is at most 80 characters)'}


def _body(limit: int, what: str, optional: bool = False) -> Any:
    """The request's JSON body (415 for another type, 400 for JSON that is not); None for an
    empty one where ``optional``."""
    env = bottle.request.environ
    if env.get("CONTENT_TYPE", "").split(";")[0].strip().lower() != "application/json":
        raise InputError(f"send {what} as a JSON body with Content-Type: application/json", status=415)
    try:
        data = read_body(env, limit)
    except InputError as e:
        if e.status != 413:
            raise
        # read_body names api.max_upload_bytes, which is the plate reader's limit, not this one
        raise InputError(f"the body ({what}) is over its limit of {limit} bytes ({limit / 2**20:g} MiB); "
                         f"{_OVER[limit]}", status=413) from e
    if not data.strip():
        if optional:
            return None
        # said so: the JSON parser's "Expecting value: line 1 column 1" does not say the body is missing
        raise InputError(f"the body is empty; send {what} as JSON, with its Content-Length or chunked")
    try:
        return json_input.loads(data, "the body")
    except ValueError as e:
        raise InputError(f"the body is not valid JSON: {e}") from e


def _name(name: str) -> str:
    if not NAME.match(name):
        raise InputError(f"watch list name {name[:80]!r} must be 1-32 letters, digits, _ or -")
    return name


def _plate(plate: str) -> str:
    """The plate as the client wrote it in the path.  The server keeps an escaped slash
    (``%2F``) escaped in the path, so that it does not split it; left so, ``AB%2FCD`` (a plate
    written ``AB/CD``, escaped as clients escape a path segment) was the plate ``AB2FCD``.
    Refused past four times the longest plate, before any work on it: the path may be as long as
    the request head (64 KB), and an edit compares it with every entry under the lists' lock."""
    if len(plate) > 4 * MAX_PLATE_CHARS:
        raise InputError(f"plate {plate[:32]!r}... is {len(plate)} characters long; a plate holds at most "
                         f"{MAX_PLATE_CHARS} letters or digits")
    return plate.replace("%2F", "/").replace("%2f", "/")


def install(app: bottle.Bottle, guarded: Guard, watchlists: WatchLists | None) -> None:
    """Add the watch-list routes to ``app``, each behind the API's auth."""

    def need_lists() -> WatchLists:
        if watchlists is None:
            raise InputError("Watch lists are not available here.", status=404)
        return watchlists

    @guarded
    def lists() -> bottle.HTTPResponse:
        return json_answer(200, {"lists": [wl.to_dict() for wl in need_lists().lists()]})

    @guarded
    def get_list(name: str) -> bottle.HTTPResponse:
        found = need_lists().get(_name(name))
        if found is None:
            raise InputError(f"no watch list named {name!r}", status=404)
        return json_answer(200, found.to_dict())

    @guarded
    def put_list(name: str) -> bottle.HTTPResponse:
        body = _body(MAX_LIST_BODY, "the list")
        return json_answer(200, need_lists().put(_name(name), body).to_dict())

    @guarded
    def delete_list(name: str) -> bottle.HTTPResponse:
        need_lists().delete(_name(name))
        return bottle.HTTPResponse(status=204)

    @guarded
    def put_plate(name: str, plate: str) -> bottle.HTTPResponse:
        body = _body(MAX_PLATE_BODY, "the plate's label and max_distance", optional=True)
        return json_answer(200, need_lists().put_plate(_name(name), _plate(plate), body).to_dict())

    @guarded
    def delete_plate(name: str, plate: str) -> bottle.HTTPResponse:
        return json_answer(200, need_lists().remove_plate(_name(name), _plate(plate)).to_dict())

    for path in ("/v1/watchlists/", "/v1/watchlists"):
        app.route(path, "GET", lists)
    app.route("/v1/watchlists/<name>/", "GET", get_list)
    app.route("/v1/watchlists/<name>/", "PUT", put_list)
    app.route("/v1/watchlists/<name>/", "DELETE", delete_list)
    app.route("/v1/watchlists/<name>/plates/<plate>/", "PUT", put_plate)
    app.route("/v1/watchlists/<name>/plates/<plate>/", "DELETE", delete_plate)
