"""Who may use the API and the console: the token header, or the console's session cookie.

The API's rule is unchanged: with no token configured (the server then listens on loopback
only, ``listener.check_bind``) everyone may; otherwise a request sends
``Authorization: Token <key>``.  A client on loopback gets no exemption when a token is set:
a reverse proxy on the device makes every client look local.

A browser cannot send that header from a plain page, so the console's login form trades the
token for a session cookie:

* The cookie is ``<issued>.<nonce>.<mac>``, the MAC an HMAC-SHA256 under a key derived from
  the token: no session table to grow or lose on a restart, and changing the token ends every
  session at once.  It expires after ``SESSION_S``; logging out clears it in the browser (a
  copied cookie stays valid until it expires: rotate the token to end every session).
* ``HttpOnly`` (scripts cannot read it), ``SameSite=Strict`` (no other site's page can make
  the browser send it), ``Path=/``.  ``Secure`` only when the request came over https, or
  through a TLS proxy that says so in ``X-Forwarded-Proto``: the server itself speaks plain
  HTTP, whether a proxy sits in front is unknowable otherwise, and a ``Secure`` cookie over
  plain HTTP would never come back (a forged header only makes the forger's own cookie stricter).
* CSRF: every request with the cookie but a method other than GET/HEAD must carry the
  session's CSRF token (an HMAC of the cookie) in ``X-CSRF-Token`` (the console's script
  does) or, for the logout form, a ``csrf`` field; SameSite=Strict is the first wall.
* Wrong tokens are throttled per client, at the form and in the header alike
  (``auth_throttle``): the token cannot be guessed at network speed through either.
* A write without an ``Authorization`` header that a browser says comes from a page of another
  site (``Sec-Fetch-Site`` ``cross-site`` or ``same-site``) is refused: a server without a
  token has no cookie and no CSRF token, and a page the device's own browser opens could
  otherwise post reads to it (a multipart form needs no CORS preflight).  The console's own
  page sends ``same-origin``; programs and older browsers send no such header and pass.  The
  login and logout forms refuse them too (another site could otherwise log a user out).  A
  request with a ``Token`` header is not refused (a ``Basic`` one, which a browser replays by
  itself for a proxy's password, is): a browser adds that header only at a page's request,
  after a CORS preflight this server never allows, so a page holding the token (a dashboard
  on a sibling host behind a proxy that adds CORS) is the token holder's own.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from ..errors import InputError, Throttled
from .auth_throttle import Client, Refused, TokenThrottle, client_of, retry_after

log = logging.getLogger(__name__)

COOKIE = "edge_alpr_session"
CSRF_HEADER = "HTTP_X_CSRF_TOKEN"
SESSION_S = 12 * 3600
_SAFE_METHODS = ("GET", "HEAD")
_OTHER_SITES = ("cross-site", "same-site")


class ConsoleAuth:
    """The checks of one server; ``token`` None: no auth (a loopback-only server)."""

    def __init__(self, token: str | None, clock: Callable[[], float] = time.time) -> None:
        self.token = token.encode() if token else None
        self._key = hashlib.sha256(b"edge-alpr console session\0" + self.token).digest() \
            if self.token else b""
        self._clock = clock
        self.throttle = TokenThrottle()

    @property
    def required(self) -> bool:
        return self.token is not None

    # -- sessions -------------------------------------------------------------------------------

    def _mac(self, purpose: str, value: str) -> str:
        return hmac.new(self._key, f"{purpose}\0{value}".encode(), hashlib.sha256).hexdigest()

    def new_session(self) -> str:
        """A fresh cookie value (only after the token was shown)."""
        body = f"{int(self._clock()):x}.{secrets.token_hex(12)}"
        return f"{body}.{self._mac('session', body)}"

    def session(self, environ: dict[str, Any]) -> str | None:
        """The request's valid, unexpired session cookie, or None."""
        if self.token is None:
            return None
        value = _cookie(environ.get("HTTP_COOKIE", ""), COOKIE)
        issued, dot, rest = value.partition(".")
        body, _, mac = value.rpartition(".")
        if not dot or not rest or len(value) > 128 or not hmac.compare_digest(
                mac.encode(), self._mac("session", body).encode()):
            return None
        try:
            age = self._clock() - int(issued, 16)
        except ValueError:
            return None
        return value if 0 <= age <= SESSION_S else None

    def csrf(self, session: str | None) -> str:
        """The CSRF token of ``session`` ('' without auth: nothing to forge)."""
        return self._mac("csrf", session)[:32] if session else ""

    def cookie_header(self, value: str, environ: dict[str, Any], max_age: int = SESSION_S) -> str:
        """The ``Set-Cookie`` value of a session (``max_age`` 0 clears it)."""
        secure = environ.get("wsgi.url_scheme") == "https" or \
            environ.get("HTTP_X_FORWARDED_PROTO", "").strip().lower() == "https"
        return (f"{COOKIE}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Strict"
                + ("; Secure" if secure else ""))

    # -- checks ---------------------------------------------------------------------------------

    def check(self, environ: dict[str, Any]) -> None:
        """Pass, or raise ``InputError`` 403 saying what is missing (the API's wording), 429
        (``Throttled``) when this client sent too many wrong tokens."""
        method = environ.get("REQUEST_METHOD", "GET")
        header = environ.get("HTTP_AUTHORIZATION", "")
        if not _token_scheme(header):  # a Basic header the browser adds by itself exempts nothing
            refuse_other_site(environ)
        if self.token is None:
            return
        if not header.strip():
            session = self.session(environ)
            if session is not None:
                if method not in _SAFE_METHODS and not \
                        self.csrf_ok(session, environ.get(CSRF_HEADER, "")):
                    raise InputError("The console's CSRF token is missing or wrong; reload the "
                                     "page.", status=403)
                return
        scheme, key = _scheme_and_key(header)
        if scheme.lower() != "token" or not key:
            # the reference's words, and what was wrong: no header at all, or a scheme not read
            # (a 'Bearer' token is a common slip)
            other = (" (the request has no Authorization header)" if not scheme
                     else f" (the {scheme[:20]!r} scheme is not read)" if scheme.lower() != "token" else "")
            raise InputError(f"Authentication credentials were not provided{other}. Send the header "
                             "'Authorization: Token <key>'.", status=403)
        try:
            raw = key.encode("latin-1")  # WSGI hands headers over as Latin-1
        except UnicodeEncodeError:
            raw = b""
        if not self._token_ok(raw, client_of(environ)):
            raise InputError("Invalid token.", status=403)

    def csrf_ok(self, session: str | None, supplied: str) -> bool:
        expected = self.csrf(session)
        return bool(expected) and hmac.compare_digest(supplied.encode("latin-1", "replace"),
                                                       expected.encode())

    def _token_ok(self, supplied: bytes, client: Client) -> bool:
        """Whether ``supplied`` (the token's UTF-8 bytes) is the token, compared in constant
        time; ``Throttled`` before any comparison when ``client`` guessed too often.  The try is
        counted before the comparison, so parallel requests get no extra guesses."""
        attempt = self.throttle.attempt(client)
        if isinstance(attempt, Refused):
            wait = retry_after(attempt.wait_s)
            if attempt.first:
                log.warning("api: too many wrong tokens from %s: its token checks are refused for %d s "
                            "(someone may be guessing the token, or a client still sends an old one)",
                            attempt.whose, wait)
            raise Throttled(f"Too many wrong tokens from {attempt.whose}; wait {wait} s, and "
                            "check the token the client sends.", wait)
        if self.token is not None and hmac.compare_digest(supplied, self.token):
            attempt.right()
            return True
        return False

    def login(self, supplied: str, client: Client) -> str:
        """A new session for the right token (the form's text); ``InputError`` 403 when wrong,
        ``Throttled`` when ``client`` sent too many wrong ones."""
        if not self._token_ok(supplied.strip().encode("utf-8", "replace"), client):
            raise InputError("Wrong token.", status=403)
        return self.new_session()


def refuse_other_site(environ: dict[str, Any]) -> None:
    """``InputError`` 403 for a write a browser says a page of another site sent."""
    method = environ.get("REQUEST_METHOD", "GET")
    site = environ.get("HTTP_SEC_FETCH_SITE", "").strip().lower()
    if method not in _SAFE_METHODS and site in _OTHER_SITES:
        raise InputError(f"A page of another site may not send {method} here (Sec-Fetch-Site: "
                         f"{site}); use the console's own page, or a program.", status=403)


def _token_scheme(header: str) -> bool:
    """Whether an ``Authorization`` header is of the ``Token`` scheme.

    Why only that one exempts a write from ``refuse_other_site``: a browser adds a ``Token``
    header only at a page's request, after a CORS preflight this server never allows, but it
    adds cached ``Basic`` (or Digest, NTLM) credentials to any request to that origin by
    itself, a cross-site form's post too: a reverse proxy with its own password in front of a
    server without a token would otherwise let any page the admin opens post reads."""
    return _scheme_and_key(header)[0].lower() == "token"


def _scheme_and_key(header: str) -> tuple[str, str]:
    """An ``Authorization`` header's scheme and what follows it, split at any run of spaces or
    tabs.  Why not at a space alone: ``Token<TAB>key`` was read as the scheme
    ``Token<TAB>key`` and refused as a scheme not read, quoting the key's start back."""
    parts = header.split(None, 1)
    return (parts[0], parts[1].strip()) if len(parts) == 2 else ((parts[0], "") if parts else ("", ""))


def _cookie(header: str, name: str) -> str:
    """The value of cookie ``name`` in a ``Cookie`` header ('' when absent)."""
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value.strip()
    return ""
