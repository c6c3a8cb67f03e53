"""The console's HTTP answers: its pages' headers, its forms' bodies and its static files.

Why apart from ``console.py``: these are the page's transport, not its content.  Every HTML
answer carries the same ``SECURITY_HEADERS`` (scripts, styles and pictures from this server
only, no framing, no caching); a form body is read whole only up to ``MAX_FORM_BYTES`` (the
login and logout forms hold one short field); a static file is served only if ``STATIC`` names
it, so no path a client sends reaches the file system.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

import bottle

from ..errors import InputError
from .body import BODY_UNREAD, read_body

FILES = Path(__file__).resolve().parent / "console_files"
MAX_FORM_BYTES = 4096
STATIC = {"console.js": "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8",
          "photo.js": "text/javascript; charset=utf-8",  # the "Try a photo" form
          "scene.js": "text/javascript; charset=utf-8",  # an event's scene, over the page
          "patch.js": "text/javascript; charset=utf-8",  # a part updated in place (the cameras)
          "search.js": "text/javascript; charset=utf-8",  # the search's times in the browser's zone
          "noscript.css": "text/css; charset=utf-8",  # linked from a <noscript>: without script
          "icon.svg": "image/svg+xml"}  # the tab's icon (else every browser asks for /favicon.ico)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self'; connect-src 'self'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def html_response(status_code: int, body: str, extra: dict[str, str] | None = None) -> bottle.HTTPResponse:
    """An HTML page or form answer, with the console's ``SECURITY_HEADERS``."""
    headers = {"Content-Type": "text/html; charset=utf-8", **SECURITY_HEADERS, **(extra or {})}
    if bottle.request.environ.get(BODY_UNREAD):
        headers["Connection"] = "close"  # answered before the body's end: the rest can't be framed
    return bottle.HTTPResponse(body, status=status_code, headers=headers)


def form_field(name: str) -> str:
    """One field of the urlencoded form body (at most ``MAX_FORM_BYTES``); '' when absent."""
    environ = bottle.request.environ
    kind = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise InputError("send the form as application/x-www-form-urlencoded", status=415)
    try:
        body = read_body(environ, MAX_FORM_BYTES)
    except InputError as e:
        if e.status == 413:
            raise InputError(f"the form is over {MAX_FORM_BYTES} bytes", status=413) from e
        raise
    try:
        fields = parse_qs(body.decode("latin-1"), encoding="utf-8", errors="replace",
                          max_num_fields=8)
    except ValueError as e:
        raise InputError(f"the form is malformed: {e}") from e
    values = fields.get(name, [])
    return values[-1] if values else ""


def static_file(name: str) -> bottle.HTTPResponse:
    """One of the ``STATIC`` files; any other name is a 404."""
    if name not in STATIC:
        raise bottle.HTTPError(404, "Not found.")
    return bottle.HTTPResponse((FILES / name).read_bytes(), status=200, headers={
        "Content-Type": STATIC[name], "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})

