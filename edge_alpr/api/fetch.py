"""Fetch an image from ``upload_url`` (IP-camera snapshot URLs), bounded in size and time.

Off unless ``api.upload_url.enabled``: a server that fetches URLs for its callers can be used to
probe the network it sits in, so the owner must opt in.  Only http/https, also for redirects
(at most ``MAX_REDIRECTS``); the whole fetch (connect, headers, body, every redirect) must
finish within ``timeout_s`` and stay within ``max_bytes``.  Whatever the other server does
(a broken status line, endless headers, bytes dripped one at a time, a bad chunk) the answer
is a 4xx naming it, never a worker held past the deadline; and at most half the workers fetch
at once (``FetchSlots``).  A URL with a user name or password in it is refused (400): they
would not be sent, and no camera's login is forwarded to wherever a redirect points.  A URL of
non-ASCII text (an IRI: ``http://files.example/Straße/bild.jpg``, ``http://bücher.example/``) is
fetched as a browser or curl would fetch it (``fetch_urls.ascii_url``), a redirect's ``Location`` too, every
check above applying to what is sent; a host that urllib reads otherwise than the checks (``%3A``
after an [IPv6] literal's ']', an escaped '@') is refused (``url_reading``).

Why a timer cuts the socket: a socket timeout bounds one ``recv`` only, so a server sending a
byte a second would hold a worker for as long as it likes, in the headers or in the body.  The
connection itself (name lookup, TCP connect, TLS handshake) gets what is left of the same
deadline (``fetch_connect``).
"""

from __future__ import annotations

import http.client
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from ..config import UploadUrlConfig
from ..credentials import hide_credentials
from ..errors import InputError, Throttled
from ..names import control_problem
from ..url_reading import url_problem
from .fetch_connect import Deadline, connect
from .fetch_urls import ascii_url, check_url, host_as_written

_CHUNK = 64 * 1024
MAX_REDIRECTS = 5
MAX_URL_CHARS = 4096  # as long as the form field of an upload_url may be (api/request.py)


class _Redirects(urllib.request.HTTPRedirectHandler):
    max_redirections = MAX_REDIRECTS

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> urllib.request.Request | None:
        if len(newurl) > MAX_URL_CHARS:  # before any of it is shown or parsed
            raise InputError(f"upload_url redirects to a URL of {len(newurl)} characters; at most "
                             f"{MAX_URL_CHARS} are followed")
        sent = _as_sent(headers, req.full_url) or newurl  # what the messages quote
        if urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise InputError(f"upload_url redirects to {hide_credentials(sent)[:200]!r}; only http:// and "
                             "https:// are fetched")
        check_url(newurl, "upload_url redirects to", sent)
        newurl = ascii_url(newurl, "upload_url redirects to a URL whose host name", sent)  # as the first URL
        check_url(newurl, "upload_url redirects to", sent)  # what is sent passes the same checks
        return super().redirect_request(req, fp, code, msg, headers, newurl)

    def http_error_302(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any) -> Any:
        """Python 3.13's urllib refuses text after an [IPv6] literal in its own words ("Invalid
        IPv6 URL") before ``redirect_request`` sees it: the checks read such a Location first."""
        location = headers["location"] if "location" in headers else headers.get("uri")
        if isinstance(location, str) and len(location) <= MAX_URL_CHARS and (problem := url_problem(location)):
            raise InputError(f"upload_url redirects to {hide_credentials(location)[:200]!r} is not a valid URL: "
                             f"{problem}")
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def _as_sent(headers: Any, base: str) -> str | None:
    """A redirect's ``Location`` as the server wrote it (joined to ``base`` where relative), its
    bytes read as UTF-8; ``None`` where it is ASCII (urllib's text is the server's then) or not
    UTF-8 outside its host.  Why: urllib turns each non-ASCII byte of a ``Location`` into a
    ``%XX`` escape (``Straße`` -> ``Stra%C3%9Fe``), which a message quoting it shows although the
    server sent none.  ``InputError`` where the host's bytes are not UTF-8 (a Latin-1 ``ü``, the
    byte 0xFC): that is no name, whatever the escape urllib made of it (``%FC``) would decode to."""
    location = headers["location"] if "location" in headers else headers.get("uri")
    if not isinstance(location, str) or location.isascii():
        return None
    try:
        raw = location.encode("latin-1")  # http.client reads header bytes as Latin-1: the bytes again
    except UnicodeEncodeError:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        try:
            host = host_as_written(location)
        except ValueError:  # the checks name it
            return None
        if host.isascii():  # a path's or query's bytes: sent as the escapes urllib made of them
            return None
        raise InputError(f"upload_url redirects to a Location that is not UTF-8: its host "
                         f"{str(host.encode('latin-1'))[1:][:200]} holds the byte 0x{raw[e.start]:02X} ({e.reason}), "
                         "and a host name is UTF-8 text; fix the redirect, or give the URL it should lead "
                         "to") from e
    try:
        return urljoin(base, text)
    except ValueError:  # brackets urljoin refuses: the checks name them
        return None


def _opener(deadline: Deadline, own_port: int | None) -> urllib.request.OpenerDirector:
    """An opener whose connections are all made within ``deadline`` and cut at it, none to this
    machine's ``own_port`` (the API server itself)."""

    def within(address: tuple[str, int], timeout: Any = None, source_address: Any = None) -> Any:
        return connect(address, deadline, own_port)  # http.client's timeout is the whole fetch's: too long

    class Plain(http.client.HTTPConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._create_connection = within

        def connect(self) -> None:
            super().connect()
            deadline.arm(self.sock)

    class Tls(http.client.HTTPSConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._create_connection = within

        def connect(self) -> None:
            super().connect()  # the handshake on a socket whose timeout is what is left
            deadline.arm(self.sock)

    class HttpHandler(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(Plain, req)

    class HttpsHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(Tls, req, context=getattr(self, "_context", None))

    return urllib.request.build_opener(HttpHandler, HttpsHandler, _Redirects)


class FetchSlots:
    """``upload_url`` fetches running at once: at most half the workers (the config takes fetching
    only with two or more: ``ApiConfig``; one where a caller builds it with fewer).

    Why: a fetch holds its worker for up to ``timeout_s``; four slow image servers held all four
    workers for 5 s, and every other client (file uploads, ``/info/``) waited.  A fetch over the
    cap waits ``WAIT_S`` for a slot (a camera's snapshot takes milliseconds), then is answered 429
    with ``Retry-After``, as the cloud API answers a client over its rate.
    """

    WAIT_S = 0.25

    def __init__(self, threads: int) -> None:
        self.limit = max(1, threads // 2)
        self._free = threading.BoundedSemaphore(self.limit)

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self._free.acquire(timeout=self.WAIT_S):
            raise Throttled(f"Request was throttled: {self.limit} upload_url fetches are already "
                            "running (at most half of api.threads, so that other requests are still "
                            "answered); expected available in 1 second(s). Retry, or send the image "
                            "as upload", retry_after_s=1)
        try:
            yield
        finally:
            self._free.release()


def fetch_image(url: str, cfg: UploadUrlConfig, own_port: int | None = None,
                slots: FetchSlots | None = None) -> bytes:
    """Return the body at ``url`` or raise ``InputError`` (400, 413 when too large, 429 when
    ``slots`` has none free); ``own_port``: the API server's, which a fetch may not reach on this
    machine."""
    if not cfg.enabled:
        raise InputError("upload_url is disabled on this server; send the image as upload, or "
                         "enable api.upload_url.enabled in the config")
    check_url(url)
    url = ascii_url(url)
    check_url(url)  # what is sent passes the same checks
    if slots is None:
        return _fetch(url, cfg, own_port)
    with slots.slot():
        return _fetch(url, cfg, own_port)


def _fetch(url: str, cfg: UploadUrlConfig, own_port: int | None) -> bytes:
    deadline = Deadline(cfg.timeout_s)
    late = InputError(f"upload_url took longer than {cfg.timeout_s} s (api.upload_url.timeout_s)")
    request = urllib.request.Request(url, headers={"User-Agent": "edge-alpr"})
    try:
        with _opener(deadline, own_port).open(request, timeout=cfg.timeout_s) as response:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > cfg.max_bytes:
                raise InputError(f"upload_url body is {declared} bytes; the limit is "
                                 f"{cfg.max_bytes} (api.upload_url.max_bytes)", status=413)
            chunks, size = [], 0
            while chunk := response.read(_CHUNK):
                size += len(chunk)
                if size > cfg.max_bytes:
                    raise InputError(f"upload_url body is over {cfg.max_bytes} bytes "
                                     "(api.upload_url.max_bytes)", status=413)
                chunks.append(chunk)
    except urllib.error.HTTPError as e:
        raise InputError(f"upload_url answered HTTP {e.code}; check the URL") from e
    except (urllib.error.URLError, OSError, ValueError, OverflowError, http.client.HTTPException) as e:
        if deadline.expired or deadline.passed():  # cut, or a step timed out on what was left
            raise late from e
        raise InputError(f"upload_url could not be fetched: {hide_credentials(str(e))[:300]}") from e
    finally:
        deadline.cancel()
    if deadline.expired:  # cut short by the deadline: what came is not the whole image
        raise late
    return b"".join(chunks)


def url_file_name(url: str) -> str:
    """The file name a read of ``url`` echoes: its path's last non-empty segment, percent-decoded
    (measured as it reads), else ``upload``.  Why the path alone: a query or fragment may hold a
    ``/`` (``?next=/a``, ``?password=hun/ter2``), whose tail was echoed and kept in events."""
    try:
        path = urlsplit(url).path
    except ValueError:  # a malformed URL: the fetch says so (a 400)
        return "upload"
    segments = [segment for segment in path.split("/") if segment]
    if not segments:
        return "upload"
    name = unquote(segments[-1], errors="replace")
    return segments[-1] if control_problem(name) else name  # a %0A stays encoded: no forged lines
