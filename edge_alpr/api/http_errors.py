"""Error answers given below the app, in the API's JSON format ``{"detail": ...}``.

Why: the app answers every error as JSON, but some requests never reach it: cheroot refuses a
malformed request line, a lower-case or unknown method form, an absolute-form URI, an HTTP
version it does not speak, and the connection gate refuses ambiguous framing, headers over the
limit or a client too slow.  A client of the API parses ``detail`` whatever went wrong, so these
answers use the same format.
"""

from __future__ import annotations

import http
import json
from typing import Any

from cheroot import errors as cheroot_errors
from cheroot import server as cheroot_server

# on every answer: a browser must not read a JSON body (which may echo a caller's text) as HTML
# or script, whatever it guesses from the bytes
NOSNIFF = ("X-Content-Type-Options", "nosniff")
# on every answer: a page of another origin may not embed it (``<img>``, ``<script>``), so a
# page the admin opens cannot load a camera's frame or an event's plate crop into its own
# process (side channels, the image's size, whether it exists), with the session cookie of a
# same-site page (another port of the device) or from a server without a token
SAME_ORIGIN = ("Cross-Origin-Resource-Policy", "same-origin")
# on every answer that names no caching of its own: plates, times and places of cars stay out
# of a shared browser's disk cache (the event crops say ``private, max-age`` themselves)
NO_STORE = ("Cache-Control", "no-store")
DEFAULT_HEADERS = (NOSNIFF, SAME_ORIGIN, NO_STORE)


def error_reply(status: int, message: str) -> bytes:
    """A whole HTTP/1.1 response (JSON body) after which the connection is closed."""
    body = json.dumps({"detail": message}).encode()
    return (f"HTTP/1.1 {status} {_phrase(status)}\r\nContent-Type: application/json\r\n"
            + "".join(f"{name}: {value}\r\n" for name, value in DEFAULT_HEADERS) +
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class JsonErrorRequest(cheroot_server.HTTPRequest):
    """cheroot's request, whose own error answers (``simple_response``) are JSON and close the
    connection: after a request it could not parse, the next one cannot be framed either."""

    def simple_response(self, status: Any, msg: Any = "") -> None:
        text = status.decode("latin-1") if isinstance(status, bytes) else str(status)
        code = int(text.split()[0])
        if code < 400:
            super().simple_response(status, msg)
            return
        message = msg.decode("latin-1") if isinstance(msg, bytes) else str(msg)
        if code == 505:  # cheroot says "Cannot fulfill request": an HTTP/2 client learns nothing from it
            message = ("The request line's HTTP version is not supported: this server speaks HTTP/1.0 and "
                       "HTTP/1.1, not HTTP/2 or later nor HTTP/0.9; send the request as HTTP/1.1.")
        self.close_connection = True
        try:
            self.conn.wfile.write(error_reply(code, message or text.partition(" ")[2] or _phrase(code)))
        except OSError as ex:
            if ex.args and ex.args[0] not in cheroot_errors.socket_errors_to_ignore:
                raise
