"""Turn a ``POST /v1/plate-reader/`` request into a validated ``ReadRequest``.

Why the care: the reference accepts the image three ways (multipart file bytes, base64 in a
form field, a JSON body) and clients in the wild use all of them.  Bottle's own limits get in
the way: it answers 413 for a urlencoded or JSON body over ``MEMFILE_MAX`` (100 KB) and turns a
multipart *form field* over that size into a file upload.  So the body is read once here
(``body.read_body``, bounded by ``max_upload_bytes``); urlencoded and JSON bodies are parsed here, multipart by
``multipart.split`` when it is the plain form every common client sends, else by bottle's parser
with the limit raised to ``max_upload_bytes`` (parts stay in memory, so a large base64 field
stays a field; its file form is still accepted, should a parser spool it).  Every malformed
input becomes an ``InputError`` with the status the API returns; nothing here may raise
anything else.

Bounds against amplification: a form (urlencoded, multipart or JSON) has at most
``MAX_FIELDS`` fields and ``regions`` at most ``MAX_REGIONS`` distinct codes (repeats are
dropped), so a 10 MB body of ``regions=fr`` is refused at once instead of costing seconds.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import bottle

from .. import json_input
from ..engine.regions import normalise, validate_regions
from ..errors import InputError
from ..names import control_problem, shown
from . import multipart
from .body import missing_upload, read_body, refuse_bare_image
from .fetch import url_file_name
from .timestamps import parse_timestamp

_MAX_FIELD_CHARS = 4096  # any field other than ``upload`` (regions, config, camera_id, ...)
# Values the 201 echoes and events, the history and webhooks carry on, stored once per read:
# a camera_id as long as GET /v1/events/ can search for (its ``camera``), a file name as long as
# a file system takes (a multipart file's name is cut there by bottle; an upload_url's is refused)
MAX_CAMERA_ID_CHARS = 64
MAX_FILENAME_CHARS = 255
MAX_FIELDS = 256  # fields of one form, all names together
MAX_REGIONS = 32  # distinct region codes of one request
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"BM", b"RIFF", b"GIF8")
_DATA_URL = re.compile(r"^data:[\w/+.-]*;base64,", re.IGNORECASE)
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off", ""}
_BOUNDARY_PARAM = re.compile(r"[;,]\s*boundary\s*=", re.IGNORECASE)  # a boundary parameter starts


@dataclass(frozen=True)
class ReadRequest:
    """A validated recognition request; ``image`` is ``None`` when ``upload_url`` is given."""

    image: bytes | None
    upload_url: str | None
    filename: str
    regions: tuple[str, ...] = ()
    camera_id: str | None = None
    timestamp: datetime | None = None
    mmc: bool = False
    config: dict[str, Any] = field(default_factory=dict)


@functools.lru_cache(maxsize=4)
def _in_memory_request(max_bytes: int) -> type[bottle.BaseRequest]:
    """A request class whose multipart parser keeps parts of up to ``max_bytes`` in memory.

    Why: with bottle's default ``MEMFILE_MAX`` (100 KB) a typical camera JPEG is copied into a
    temporary file twice (the body, then the part) -- about a millisecond of disk I/O per
    request on this machine and far more on an SD card.  The body is already in memory and
    bounded by ``body.read_body``, so parsing it there costs no extra memory bound.  A subclass
    keeps bottle's global ``BaseRequest`` untouched.
    """
    return type("InMemoryRequest", (bottle.BaseRequest,), {"MEMFILE_MAX": max_bytes})


def _too_many_fields(count: int | str) -> InputError:
    return InputError(f"The form has {count} fields; at most {MAX_FIELDS} are accepted.")


def _boundary(content_type: str) -> bytes | None:
    """The boundary the parsers split the body on: bottle's reading of the Content-Type (the last
    ``boundary`` parameter, quotes undone; ``multipart.split`` reads plain ones alike), as the
    bytes bottle looks for; ``InputError`` when the Content-Type names more than one."""
    if len(_BOUNDARY_PARAM.findall(content_type)) > 1:
        raise InputError(f"The Content-Type names more than one boundary ({content_type[:120]!r}); "
                         "send one boundary parameter.")
    try:
        boundary = bottle._parse_http_header(content_type)[0][1].get("boundary")
    except (ValueError, IndexError, AttributeError):  # bottle's parser refuses it in turn
        return None
    return boundary.encode("utf-8") if boundary else None  # bottle's own encoding (``tob``)


def _multipart_fields(request: bottle.BaseRequest, body: bytes,
                      max_bytes: int) -> dict[str, list[Any]]:
    content_type = request.environ.get("CONTENT_TYPE", "")
    boundary = _boundary(content_type)
    if boundary and body.count(b"--" + boundary) > MAX_FIELDS + 1:
        raise _too_many_fields("more than " + str(MAX_FIELDS))
    fields = multipart.split(body, content_type)
    if fields is not None:
        return fields
    try:
        post = _in_memory_request(max_bytes)(request.environ).POST
        fields = {key: post.getall(key) for key in post.keys()}
    except bottle.MultipartError as e:
        raise InputError(f"Malformed multipart/form-data body: {e}") from e
    except (UnicodeDecodeError, LookupError, ValueError) as e:
        raise InputError(f"Malformed multipart/form-data body (bad encoding: {e}); "
                         "form fields must be UTF-8") from e
    count = sum(len(values) for values in fields.values())
    if count > MAX_FIELDS:
        raise _too_many_fields(count)
    return fields


def _json_fields(body: bytes) -> dict[str, list[Any]]:
    try:
        obj = json_input.loads(body, "The JSON body")
    except ValueError as e:  # UnicodeDecodeError is a ValueError
        raise InputError(f"The JSON body is not valid JSON: {e}") from e
    if not isinstance(obj, dict):
        raise InputError("The JSON body must be an object like {\"upload\": \"<base64>\"}")
    fields = {k: (v if isinstance(v, list) and k == "regions" else [v]) for k, v in obj.items()}
    count = sum(len(values) for values in fields.values())
    if count > MAX_FIELDS:
        raise _too_many_fields(count)
    return fields


def _form_fields(body: bytes) -> dict[str, list[Any]]:
    count = body.count(b"&") + body.count(b";") + 1 if body else 0
    if count > MAX_FIELDS:  # counted in the bytes: decoding or parse_qs would copy the body first
        raise _too_many_fields(count)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"The form body is not valid UTF-8 urlencoded data: {e}") from e
    try:
        return dict(parse_qs(text, keep_blank_values=True, errors="strict"))
    except (UnicodeDecodeError, ValueError) as e:
        raise InputError(f"The form body is not valid UTF-8 urlencoded data: {e}") from e


def _decode_base64(text: str) -> bytes:
    # Form encoders turn '+' into ' ' when a client forgets to escape it; spaces are never
    # valid base64, so undoing that is safe.  Newlines (MIME style) are dropped.
    cleaned = _DATA_URL.sub("", text.strip(), count=1)
    cleaned = re.sub(r"[\r\n\t]", "", cleaned).replace(" ", "+")
    cleaned = cleaned.replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        data = base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InputError("upload: not an image file and not valid base64 "
                         f"({e}); send the file bytes as multipart or base64 text") from e
    if not data:
        raise InputError("upload: the base64 text decodes to nothing")
    return data


def _upload_bytes(value: Any, max_bytes: int) -> tuple[bytes, str]:
    """Image bytes and a file name from a multipart file, a big form field or a string."""
    if isinstance(value, bottle.FileUpload):
        raw = value.file.read(max_bytes + 1)
        if len(raw) > max_bytes:
            raise InputError(f"upload is over the limit of {max_bytes} bytes", status=413)
        if value.raw_filename:  # a real file: its bytes, unless it is base64 text
            if raw.startswith(_IMAGE_MAGIC):
                return raw, value.filename
            try:
                return _decode_base64(raw.decode("ascii")), value.filename
            except (InputError, UnicodeDecodeError):
                return raw, value.filename  # let the decoder say what is wrong with it
        try:  # a form field a parser spooled to a file (defensive: ours keeps fields): base64
            text = raw.decode("ascii")
        except UnicodeDecodeError as e:
            raise InputError("upload: not valid base64 text; send the file bytes as multipart "
                             "with a file name, or base64 text") from e
        return _decode_base64(text), "upload"
    if isinstance(value, str):
        if not value.strip():
            raise InputError("upload is empty; send an image as multipart file bytes or base64")
        return _decode_base64(value), "upload"
    raise InputError("upload must be a file or a base64 string")


def _text(fields: dict[str, list[Any]], key: str) -> list[str]:
    values = fields.get(key, [])
    out = []
    for value in values:
        if isinstance(value, (bool, int, float)) and key == "mmc":
            value = str(value).lower()
        if not isinstance(value, str):
            raise InputError(f"{key}: expected text, got {type(value).__name__}")
        if len(value) > _MAX_FIELD_CHARS:
            raise _too_long(key, len(value), _MAX_FIELD_CHARS)
        out.append(value)
    return out


def _too_long(key: str, chars: int, limit: int, what: str = "", why: str = "") -> InputError:
    return InputError(f"{key}: {what}too long ({chars} characters); at most {limit} are accepted{why}")


def _distinct_regions(fields: dict[str, list[Any]]) -> int:
    return len({normalise(r) for value in _text(fields, "regions") for r in value.split(",") if r.strip()})


def _config(values: list[Any]) -> dict[str, Any]:
    if not values:
        return {}
    value = values[-1]
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        raise InputError('config must be a JSON object such as {"mode":"fast"}')
    if not value.strip():
        return {}
    try:
        obj = json_input.loads(value, "config")
    except ValueError as e:
        raise InputError(f'config is not valid JSON ({e}); e.g. {{"mode":"fast"}}') from e
    if not isinstance(obj, dict):
        raise InputError('config must be a JSON object such as {"mode":"fast"}')
    return obj


def parse_read_request(request: bottle.BaseRequest, max_bytes: int) -> ReadRequest:
    """Read and validate every parameter of the reference's plate-reader endpoint."""
    body = read_body(request.environ, max_bytes)
    content_type = request.environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type.startswith("multipart/"):
        fields = _multipart_fields(request, body, max_bytes)
    elif content_type == "application/json":
        fields = _json_fields(body)
    else:
        refuse_bare_image(body, request.environ.get("CONTENT_TYPE", ""))
        fields = _form_fields(body)

    uploads = fields.get("upload", [])
    url_values = _text(fields, "upload_url")
    if len(uploads) > 1:
        raise InputError("upload was given more than once; send one image per request")
    if uploads and url_values:
        raise InputError("give either upload or upload_url, not both")
    image: bytes | None = None
    upload_url: str | None = None
    filename = "upload"
    if uploads:
        image, filename = _upload_bytes(uploads[0], max_bytes)
    elif url_values and url_values[-1].strip():
        upload_url = url_values[-1].strip()  # a position counts what is stripped before it
        if problem := control_problem(upload_url, url_values[-1].index(upload_url)):  # urlsplit drops \t \r \n
            raise InputError(f"upload_url: the URL {problem}, percent-encoded where a URL needs one (%0A)")
        filename = url_file_name(upload_url)
        if len(filename) > MAX_FILENAME_CHARS:  # the response's filename, echoed and carried on
            raise _too_long("upload_url", len(filename), MAX_FILENAME_CHARS,
                            "its file name (the last part of its path) is ")
    else:
        raise missing_upload(list(fields))

    regions: dict[str, str] = {}  # each distinct code, in order: the client's text (an error quotes it)
    for value in _text(fields, "regions"):
        for code in filter(None, (r.strip() for r in value.split(","))):
            regions.setdefault(normalise(code), code)
        if len(regions) > MAX_REGIONS:
            raise InputError(f"regions: at most {MAX_REGIONS} distinct region codes per request, "
                             f"got {_distinct_regions(fields)}")
    sent = _text(fields, "camera_id")
    # stripped as upload_url is: ``curl -F camera_id=<file`` sends the file's final newline
    camera = sent[-1].strip() if sent else ""
    if len(camera) > MAX_CAMERA_ID_CHARS:
        raise _too_long("camera_id", len(camera), MAX_CAMERA_ID_CHARS,
                        why=", as many as GET /v1/events/?camera= searches for")
    if problem := control_problem(camera, sent[-1].index(camera) if sent else 0):
        raise InputError(f"camera_id: {shown(sent[-1])} {problem}")
    stamp = _text(fields, "timestamp")
    mmc = [v.strip().lower() for v in _text(fields, "mmc")]
    if mmc and mmc[-1] not in _TRUE | _FALSE:
        raise InputError(f"mmc must be true or false, got {shown(mmc[-1])}")
    return ReadRequest(
        image=image,
        upload_url=upload_url,
        filename=filename,
        regions=validate_regions(list(regions.values())),
        camera_id=camera or None,
        timestamp=parse_timestamp(stamp[-1]) if stamp and stamp[-1].strip() else None,
        mmc=bool(mmc) and mmc[-1] in _TRUE,
        config=_config(fields.get("config", [])),
    )
