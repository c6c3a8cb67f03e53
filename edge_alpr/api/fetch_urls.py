"""What an ``upload_url`` (or a redirect's ``Location``) must be before it is fetched, and the
ASCII form it is sent in.

Apart from ``fetch``: these are pure text checks (no socket), shared by the first URL and every
redirect, and each must see exactly what is sent, so the order is always ``check_url``,
``ascii_url``, ``check_url`` again.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from ..credentials import hide_credentials
from ..errors import InputError
from ..names import shown
from ..url_reading import url_problem

_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_ASCII_HOST = re.compile(r"[A-Za-z0-9._-]+")  # what a name written in IDNA may hold


def check_url(url: str, what: str = "upload_url", sent: str | None = None) -> None:
    """``InputError`` where ``url`` is no http(s) URL a fetch reads as the checks do, or holds a
    user or password; the message quotes ``sent`` (what the client or server wrote) where given."""
    quoted = hide_credentials(url if sent is None else sent)[:200]
    if problem := url_problem(url):  # in words of its own: urlsplit's quote a piece of a password
        raise InputError(f"{what} {quoted!r} is not a valid URL: {problem}")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InputError(f"{what} {quoted!r} must be an http:// or https:// URL")
    if "@" in parts.netloc:  # urllib would look the whole "user:pass@host" up as a host name
        raise InputError(f"{what} {quoted!r} has a user name or password in it "
                         "(user:password@host), which is not sent: give a snapshot URL that needs no "
                         "login (many cameras take the credentials as query parameters), or fetch the "
                         "image and send it as upload")


def ascii_url(url: str, subject: str = "upload_url's host name", sent: str | None = None) -> str:
    """``url`` as it is sent: a non-ASCII host name in IDNA (``bücher.example`` ->
    ``xn--bcher-kva.example``), the path's, query's and fragment's non-ASCII characters
    percent-encoded as UTF-8 (``Straße`` -> ``Stra%C3%9Fe``), the rest (``%XX`` escapes included)
    as it was.  Why: the request line is ASCII, so such a URL failed as "'ascii' codec can't
    encode"; browsers and curl send it so.  A host name's ``%XX`` escapes stand for its UTF-8
    text, as browsers read them (``b%C3%BCcher.example`` is ``bücher.example``): a redirect's
    ``Location`` of non-ASCII text reaches here so escaped (urllib escapes it), and urllib would
    otherwise look the decoded name up as it is.  IDNA as Python's codec writes it (IDNA 2003: a
    ``ß`` in a host name becomes ``ss``, where today's browsers keep it).  ``InputError`` naming
    the host as ``sent`` spells it (the client's URL, or the server's ``Location``: ``url`` where
    not given; ``subject`` says whose) where IDNA refuses it, where its escapes are no UTF-8, or
    where its ASCII form holds what no host name may (a full-width ``！`` becomes ``!``).

    ``url`` has passed ``check_url``: no user or password (both callers refuse one), no escape
    in the host that decodes to a character around a host (``url_problem``)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    escaped = "%" in host and not parts.netloc.startswith("[")  # an IPv6 zone's %25 stays
    if url.isascii() and not escaped:
        return url
    netloc = parts.netloc
    if escaped or not host.isascii():
        spelled = host_as_written(url if sent is None else sent)  # .hostname is lower-cased
        spelled_as = shown(spelled)
        if (decoded := unquote(spelled, errors="replace")) != spelled:  # what the escapes stand for
            spelled_as += f" ({shown(decoded)} once its %XX escapes are decoded)"
        text = host
        if escaped:
            try:
                text = unquote(host, errors="strict")
            except UnicodeDecodeError as e:
                raise InputError(f"{subject} {shown(spelled)} is not UTF-8 once its %XX escapes are decoded "
                                 f"({e}); check the name, or give the address") from e
        try:
            name = text.encode("idna").decode("ascii")
        except UnicodeError as e:
            raise InputError(f"{subject} {spelled_as} cannot be written in IDNA, the ASCII form a "
                             f"URL sends ({e}); check the name, or give the address") from e
        if not _ASCII_HOST.fullmatch(name):
            raise InputError(f"{subject} {spelled_as} is {shown(name)} in IDNA, which is no host name; "
                             "check the name, or give the address")
        netloc = name if parts.port is None else f"{name}:{parts.port}"
    return _NON_ASCII.sub(lambda m: quote(m.group(), safe=""), urlunsplit(parts._replace(netloc=netloc)))


def host_as_written(url: str) -> str:
    """``url``'s host as ``urlsplit`` finds it, not lower-cased (``.hostname`` is)."""
    hostinfo = urlsplit(url).netloc.rpartition("@")[2]
    return hostinfo[1:].partition("]")[0] if hostinfo.startswith("[") else hostinfo.partition(":")[0]
