"""A strict in-memory splitter for well-formed multipart/form-data; bottle parses the rest.

Why: bottle's multipart parser walks the body line by line, and a JPEG is full of ``\\r\\n``
pairs, so a 130 KB camera frame costs it about 0.35 ms of a 10 ms fast-mode read on this
machine -- a third of the server's whole overhead over the bare pipeline.  Every client we
know of (requests, curl, browsers, the reference's examples) sends the plain form that
``bytes.split`` on the boundary handles in a few microseconds.  Anything unusual -- a
preamble, a quoted-pair or RFC 2231 parameter, a charset other than UTF-8, a missing
Content-Disposition, undecodable text -- returns ``None`` and the caller falls back to bottle,
which then accepts or rejects it exactly as before.  ``tests/test_api_multipart.py`` checks
that whenever this returns fields, bottle returns the same ones.
"""

from __future__ import annotations

import io
import re
from typing import Any

import bottle

_BOUNDARY = re.compile(r'(?:^|;)\s*boundary=(?:"([^"\\]{1,70})"|([0-9A-Za-z\'()+_,./:=?-]{1,70}))(?:;|\s*$)')
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_TYPE = re.compile(rf'{_TOKEN}/{_TOKEN}(\s*;\s*{_TOKEN}=("[^"\\]*"|{_TOKEN}))*')
_PARAM = re.compile(r';\s*([A-Za-z*]+)="([^"\\\r\n]*)"')
# A header line: a token, a colon, a value without control characters (tab aside).
_HEADER = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*?)[ \t]*")


def boundary_of(content_type: str) -> bytes | None:
    """The boundary of a ``multipart/form-data`` content type, if it is a plain one."""
    media, _, params = content_type.partition(";")
    if media.strip().lower() != "multipart/form-data" or "charset" in params.lower():
        return None  # a body-wide charset changes how bottle decodes every field
    match = _BOUNDARY.search(params)
    if match is None:
        return None
    return (match.group(1) or match.group(2)).encode("ascii")


def split(body: bytes, content_type: str) -> dict[str, list[Any]] | None:
    """The form's fields (text as ``str``, files as ``bottle.FileUpload``), or ``None``."""
    boundary = boundary_of(content_type)
    if boundary is None:
        return None
    delimiter = b"--" + boundary
    if not body.startswith(delimiter):
        return None
    chunks = body[len(delimiter):].split(b"\r\n" + delimiter)
    last = chunks.pop()
    if not chunks or not last.startswith(b"--") or last[2:] not in (b"", b"\r\n"):
        return None
    fields: dict[str, list[Any]] = {}
    for chunk in chunks:
        part = _part(chunk)
        if part is None:
            return None
        fields.setdefault(part[0], []).append(part[1])
    return fields


def _part(chunk: bytes) -> tuple[str, Any] | None:
    """``(name, value)`` of one part (``chunk`` starts after its delimiter line's boundary)."""
    if not chunk.startswith(b"\r\n"):
        return None
    head, sep, data = chunk[2:].partition(b"\r\n\r\n")
    if not sep:
        return None
    headers: list[tuple[str, str]] = []
    for line in head.split(b"\r\n"):
        match = _HEADER.fullmatch(line)
        if match is None:
            return None
        try:
            headers.append((match.group(1).decode("ascii"), match.group(2).decode("utf-8")))
        except UnicodeDecodeError:
            return None
    lookup = {key.lower(): value for key, value in headers}
    if len(lookup) != len(headers) or "content-disposition" not in lookup:
        return None
    disposition, _, rest = lookup["content-disposition"].partition(";")
    params = dict(_PARAM.findall(";" + rest))
    leftover = _PARAM.sub("", ";" + rest).strip()
    if disposition.strip().lower() != "form-data" or leftover or "name" not in params or \
            any(key.endswith("*") for key in params):
        return None
    name = params["name"]
    media_type = lookup.get("content-type", "text/plain").strip()
    if not _MEDIA_TYPE.fullmatch(media_type):
        return None
    if "filename" in params:  # no backslashes (``_PARAM``), so bottle's IE6 path rule is moot
        return name, bottle.FileUpload(io.BytesIO(data), name, params["filename"], headers)
    charset = re.search(r"charset=\"?([^\";\s]*)", media_type, re.IGNORECASE)
    if charset is not None and charset.group(1).lower() not in ("utf-8", "utf8"):
        return None
    try:
        return name, data.decode("utf-8")
    except UnicodeDecodeError:
        return None

