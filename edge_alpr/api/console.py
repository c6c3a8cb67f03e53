"""The device console: ``GET /``, a page served by the API's own bottle app.

Why here and this small: an installer or site owner opens the device's address and sees what
the cameras see and what was read, with nothing to build or fetch (no CDN, works offline).
The page is rendered on the server from the templates in ``console_files/`` (bottle's
SimpleTemplate, which escapes every ``{{value}}``: plates, labels and camera names come from
cameras, clients and config files); ``console.js`` refreshes its parts every few seconds
(``GET /console/parts``: the same fragments, as JSON; the cameras table updated in place by
``patch.js``) and edits the watch lists through the watch-list API; ``search.js`` shows the
search's times in the browser's zone; ``photo.js`` sends a photo the admin tries to
``POST /v1/plate-reader/`` and draws what was read; ``scene.js`` shows an event's scene over the
page.  The page opens with a summary of what needs attention, counted in its title
(``console_trouble``).
``Content-Security-Policy`` allows scripts from this server only, so a value that slipped
through escaping still would not run.

Routes: ``GET /`` (search with ``plate, distance, camera, since, until, list``: the filters
of ``GET /v1/events/``, and ``cursor`` for an older page; ``console_search``), ``GET|POST /login``,
``POST /logout``, ``GET /console/parts``, ``GET /console/cameras/<n>/view.jpg``,
``GET /console/static/<file>``.  Auth is the API's
(``console_auth``): the page answers a browser without a session with the login form.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import bottle

from .. import __version__
from ..errors import InputError, Throttled
from ..history.images import crop_size
from ..history.queries import iso
from ..history.store import EventQuery
from ..types import Box
from . import console_status as status
from . import console_trouble as trouble
from .auth_throttle import client_of
from .console_auth import ConsoleAuth, refuse_other_site
from .console_http import FILES, form_field, html_response, static_file
from .console_search import BOX_FORMAT, RECENT_EVENTS, Search, search
from .console_view import view_jpeg
from .events import Guard, cursor_text

if TYPE_CHECKING:
    from .app import ApiContext

log = logging.getLogger(__name__)

REFRESH_S = 3
MAX_CAMERA_DIGITS = 6  # a camera number longer than this names no camera
# plates of a list the page shows (the rest are counted, and the API has them all).  Why: the
# lists may hold 32 x 10,000 plates, which made an 89 MB page; four of them rendered at once
# took the service from 365 to 995 MB (a 1 GB board's OOM), and a browser would hang on it
SHOWN_PLATES = 500

def _template(name: str) -> bottle.SimpleTemplate:
    return bottle.SimpleTemplate(source=(FILES / name).read_text(encoding="utf-8"), noescape=False)


def crop_size_html(event: dict[str, Any]) -> str:
    """An event's crop's ``width`` and ``height`` attributes: the crop's link is its size before
    the picture arrives (crops load lazily, after the page has loaded; on a busy device well
    after), so a click on its place opens the scene and the columns do not shift as each one arrives.  For
    a row from before the history kept the frame's size, the size of a crop the frame did not
    clip; "" without a box."""
    frame, box = event.get("frame") or {}, (event.get("result") or {}).get("box")
    if not isinstance(box, dict):
        return ""
    try:
        plate = Box(*(int(box[k]) for k in ("xmin", "ymin", "xmax", "ymax")))
        width, height = crop_size(plate, int(frame.get("width") or 2**31), int(frame.get("height") or 2**31))
    except (KeyError, TypeError, ValueError):
        return ""
    return f' width="{width}" height="{height}"'


class Console:
    """The console's pages and parts over one ``ApiContext``."""

    def __init__(self, ctx: ApiContext, auth: ConsoleAuth, drops: trouble.DropWatch | None = None) -> None:
        self.ctx = ctx
        self.auth = auth
        self.drops = drops or trouble.DropWatch()
        self.templates = {name: _template(f"{name}.tpl") for name in
                          ("page", "login", "cameras", "health", "counters", "events", "lists", "trouble")}

    def render(self, name: str, **values: Any) -> str:
        """A template filled with ``values``; ``when(stamp)`` writes any time it shows and
        ``unknown(why)`` a value not known yet; ``plate_box(event)`` where its plate lies on its scene;
        ``crop_size(event)`` its crop's size attributes; ``duration(s)`` and ``size(bytes)`` in the
        unit a person reads at a glance; ``FILE_TIME`` marks a time that is a file's (the events
        of ``file_timed`` cameras, which only the live events part knows); ``BOX_FORMAT`` the form
        the search's time boxes take."""
        return str(self.templates[name].render(when=status.time_html, unknown=status.unknown_html,
                                               plate_box=status.plate_box, crop_size=crop_size_html,
                                               duration=status.duration,
                                               size=status.size, FILE_TIME=status.FILE_TIME,
                                               BOX_FORMAT=BOX_FORMAT, **values))

    # -- parts ----------------------------------------------------------------------------------

    def events_part(self, query: EventQuery | None, error: str = "",
                    shown: dict[str, str] | None = None) -> str:
        """The events table; ``shown`` (the search) keeps the search in the paging links."""
        history = self.ctx.history
        found, after = history.query(query) if history is not None and query is not None else ([], None)
        search = {k: v for k, v in (shown or {}).items() if v}
        older = "/?" + urlencode({**search, "cursor": cursor_text(after)}) if after else ""
        newest = "/?" + urlencode(search) if query is not None and query.after is not None else ""
        first_page = query is None or replace(query, after=None) == EventQuery(limit=RECENT_EVENTS)
        return self.render("events", events=found, enabled=history is not None, error=error,
                           searching=not first_page, older=older, newest=newest,
                           file_timed=status.file_timed(self.ctx))

    def live_parts(self, query: EventQuery | None, error: str = "",
                   shown: dict[str, str] | None = None) -> tuple[dict[str, str], str]:
        """The parts that refresh, and the page's title (the count of things in trouble)."""
        views, sinks, c = status.camera_views(self.ctx), status.sinks(self.ctx), status.counters(self.ctx)
        items = trouble.summary(views, sinks, c, trouble.stalled_workers(self.ctx),
                                self.drops.since_start(c.get("dropped", 0)), trouble.restarted_workers(self.ctx))
        title = trouble.title(items)
        return {"trouble": self.render("trouble", items=items, title=title),
                "cameras": self.render("cameras", cameras=views),
                "health": self.render("health", sinks=sinks, kept=self.ctx.history is not None),
                "counters": self.render("counters", c=c),
                "events": self.events_part(query, error, shown)}, title

    def lists_part(self) -> str:
        wl = self.ctx.watchlists
        return self.render("lists", lists=wl.lists() if wl is not None else None, shown_plates=SHOWN_PLATES,
                           matches=dict(wl.matches) if wl is not None else {},
                           since=iso(wl.counting_since) if wl is not None else "")

    def search(self, query: bottle.FormsDict) -> Search:
        """The search of a request; none without a history.  Why: there is nothing to search, the
        page has no search form to correct a bad value in, and its refresh sends the address's
        query every few seconds, so a bad one (``/?since=yesterday``) kept every part stale."""
        return search(query if self.ctx.history is not None else bottle.FormsDict())

    # -- routes ---------------------------------------------------------------------------------

    def page(self) -> bottle.HTTPResponse:
        environ = bottle.request.environ
        session = self.auth.session(environ)
        if self.auth.required and session is None:
            try:
                self.auth.check(environ)  # a client sending the token header may see the page
            except InputError:
                return bottle.HTTPResponse(status=303, headers={"Location": "/login",
                                                                "Cache-Control": "no-store"})
        found = self.search(bottle.request.query)
        shown = found.shown
        views = status.camera_views(self.ctx)
        live, title = self.live_parts(found.query, found.error, shown)
        body = self.render(
            "page", version=__version__, csrf=self.auth.csrf(session), logout=session is not None,
            refresh_s=REFRESH_S, search=found, history=self.ctx.history is not None, views=views,
            photo=status.photo_form(self.ctx),
            csv_url="/v1/events/?" + urlencode({"format": "csv", **found.api_params()}),
            title=title, parts={**live, "lists": self.lists_part()})
        return html_response(400 if found.error else 200, body)

    def login_form(self) -> bottle.HTTPResponse:
        if not self.auth.required:
            return bottle.HTTPResponse(status=303, headers={"Location": "/"})
        return html_response(200, self.render("login", message=""))

    def login(self) -> bottle.HTTPResponse:
        if not self.auth.required:
            return bottle.HTTPResponse(status=303, headers={"Location": "/"})
        try:
            refuse_other_site(bottle.request.environ)
            supplied = form_field("token")
            session = self.auth.login(supplied, client_of(bottle.request.environ))
        except Throttled as e:
            return html_response(e.status, self.render("login", message=str(e)),
                                 {"Retry-After": str(e.retry_after_s)})
        except InputError as e:
            return html_response(e.status, self.render("login", message=str(e)))
        return bottle.HTTPResponse(status=303, headers={
            "Location": "/", "Cache-Control": "no-store",
            "Set-Cookie": self.auth.cookie_header(session, bottle.request.environ)})

    def logout(self) -> bottle.HTTPResponse:
        environ = bottle.request.environ
        session = self.auth.session(environ)
        try:
            refuse_other_site(environ)
            supplied = form_field("csrf")
        except InputError as e:
            return html_response(e.status, self.render("login", message=str(e)))
        if session is not None and not self.auth.csrf_ok(session, supplied):
            return html_response(403, self.render("login", message="The form's CSRF token is wrong; "
                                                                   "reload the console and retry."))
        return bottle.HTTPResponse(status=303, headers={
            "Location": "/login" if self.auth.required else "/", "Cache-Control": "no-store",
            "Set-Cookie": self.auth.cookie_header("", environ, max_age=0)})

    def parts(self) -> bottle.HTTPResponse:
        query = bottle.request.query
        wanted = str(query.get("parts", "live"))
        if wanted == "lists":
            out = {"lists": self.lists_part()}
        elif wanted == "live":
            found = self.search(query)
            if found.query is None:
                raise InputError(found.detail)
            out = self.live_parts(found.query, shown=found.shown)[0]
        else:
            raise InputError("parts: must be live or lists")
        return bottle.HTTPResponse(json.dumps(out), status=200, headers={
            "Content-Type": "application/json", "Cache-Control": "no-store"})

    def view(self, index: str) -> bottle.HTTPResponse:
        loops = status.cameras(self.ctx)
        # ASCII digits only (not '²'), and few: int() refuses over 4,300 digits with a ValueError
        if not (index.isascii() and index.isdigit() and len(index) <= MAX_CAMERA_DIGITS) \
                or int(index) >= len(loops):
            raise InputError(f"no camera number {index[:20]!r}", status=404)
        wl = self.ctx.watchlists
        data = view_jpeg(loops[int(index)],
                                (lambda p: wl.match(p, counted=False) is not None) if wl is not None
                                else (lambda p: False))
        if data is None:
            raise InputError("this camera has recognised no frame yet", status=404)
        return bottle.HTTPResponse(data, status=200, headers={"Content-Type": "image/jpeg",
                                                              "Cache-Control": "no-store"})


def install(app: bottle.Bottle, guarded: Guard, ctx: ApiContext, auth: ConsoleAuth) -> None:
    """Add the console's routes to ``app``; JSON and image routes behind ``guarded``."""
    console = Console(ctx, auth, trouble.DropWatch.starting(ctx))
    routes: list[tuple[str, str, Callable[..., bottle.HTTPResponse]]] = [
        ("/", "GET", console.page), ("/login", "GET", console.login_form),
        ("/login", "POST", console.login), ("/logout", "POST", console.logout),
        ("/console/parts", "GET", guarded(console.parts)),
        ("/console/cameras/<index>/view.jpg", "GET", guarded(console.view)),
        ("/console/static/<name>", "GET", static_file),
    ]
    for path, method, handler in routes:
        app.route(path, method, handler)
