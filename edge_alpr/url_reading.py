"""Whether a URL's host and port read the same to every reader of it: the checks, urllib, FFmpeg.

Why: the checks read a URL with ``urlsplit`` (``.hostname``, ``.port``), but a fetch
(``upload_url``) or a webhook's POST goes through urllib, which percent-decodes the host before
``http.client`` splits it from the port, and ``urlsplit`` skips what stands before an [IPv6]
literal's '[' and what follows its ']' unless that starts with ':'.  So ``http://[::1]%3A8080/``
passed the checks as port 80 and connected to 8080 (a port of twenty digits raised
``OverflowError`` in the name lookup: a 500), and ``http://evil%40127.0.0.1/`` was read as a
user and a host.  Such a URL is refused, in words that hold no part of it (``url_problem``).
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

# an [IPv6] literal alone, or with a ':' and a port (empty: the scheme's), nothing else around it
_BRACKETED = re.compile(r"\[[^\]]*\](?::[0-9]*)?")
_AROUND = ("the [IPv6] address has text before its '[' or after its ']' that is no ':' and port "
           "number, which the checks skip and a fetch reads (an escaped ':', %3A, as the port's): "
           "write the port as :PORT right after the ']'")
_DELIMITERS = ":/@?#[]"  # RFC 3986's gen-delims: what ends a host, or stands around one


def url_problem(url: str) -> str:
    """Why ``url``'s host and port cannot be read ("" when they can), in words that hold no part
    of it: ``urlsplit``'s own (``Port could not be cast to integer value as 'pa'``) quote what
    stands after the ':', which is a piece of the password when the password holds a '/', '?'
    or '#' typed unencoded; neither FFmpeg nor urllib can use such a URL either.  Also refused:
    what ``urlsplit`` skips and urllib reads (the module docstring)."""
    authority = re.split(r"[/?#]", url.partition("//")[2], maxsplit=1)[0]
    bracketed = authority.rpartition("@")[2]
    if "[" in bracketed and "]" in bracketed and not _BRACKETED.fullmatch(bracketed):
        return _AROUND  # before urlsplit: Python 3.13's refuses it in words of its own
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a bad port or [IPv6] address
    except ValueError as e:
        what = "the port is out of range" if "range" in str(e) else \
            "the [IPv6] address is not closed" if "IPv6" in str(e) else "what follows the ':' is no port number"
        return f"{what} (a password holding '/', '?' or '#' must be written percent-encoded: %2F, %3F, %23)"
    host = parts.netloc.rpartition("@")[2]
    if "[" in host or "]" in host:
        if not _BRACKETED.fullmatch(host):
            return _AROUND
        inner = host[1:host.index("]")]
        if unquote(inner).partition("%")[0] != inner.partition("%")[0]:
            return ("the [IPv6] address holds a %XX escape, which a fetch decodes into another address "
                    "(only a zone may follow it, after a '%25'): write the address without escapes")
        return ""
    found = [c for c in _DELIMITERS if c in unquote(host.partition(":")[0])]
    if found:
        return (f"the host name's %XX escapes decode to {' and '.join(repr(c) for c in found)}, a "
                "character that ends a host name or stands around one ('@' before it, ':' before a port, "
                "'/' before a path), which a fetch reads as such and the checks do not: write the name "
                "without it")
    return ""
