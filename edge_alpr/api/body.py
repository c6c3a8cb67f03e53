"""Read a request's body whole, bounded in size and time, for the handlers that parse it.

Why one place: the plate reader, the events API and the console all take bodies from clients
that may declare more than they send, send slowly or never stop (chunked); each must end in a
clear 4xx, not a worker held open or memory spent past ``max_bytes``.  While a body is not read
whole, ``BODY_UNREAD`` in the WSGI environ tells the error handler to close the connection: the
rest of that body must not be taken for the next request.
"""

from __future__ import annotations

import io
from typing import Any

from ..errors import InputError
from ..names import shown

# One read takes a typical camera frame whole (one copy, no join), while a client that declares
# a large body and sends nothing only makes the server set aside this much per worker.
_READ_CHUNK = 1024 * 1024
BODY_UNREAD = "edge_alpr.body_unread"  # environ key: True while the body was not read whole


def read_body(environ: dict[str, Any], max_bytes: int) -> bytes:
    """Read the whole body (also chunked) or raise 413 past ``max_bytes``; re-arm bottle on it."""
    declared = environ.get("CONTENT_LENGTH") or ""
    try:
        length = int(declared) if declared else -1
    except ValueError as e:
        raise InputError(f"Content-Length {shown(declared)} is not a number") from e
    if length > max_bytes:
        raise InputError(f"The upload is {length} bytes; the limit is {max_bytes} bytes "
                         "(api.max_upload_bytes).", status=413)
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    stream = environ["wsgi.input"]
    parts, size = [], 0
    remaining = length if length >= 0 else (max_bytes + 1 if chunked else 0)
    environ[BODY_UNREAD] = True  # until read whole: an error answer must then end the connection
    coding = environ.get("HTTP_CONTENT_ENCODING", "").strip()
    # a list (``identity, identity``, or the header sent twice, which the server joins so) that
    # names no coding but identity is a body as it came
    if any(item.strip().lower() not in ("", "identity") for item in coding.split(",")):
        # Why refused: the body would be parsed as it came, and a gzipped JSON or form was
        # "not valid JSON" or "Malformed multipart", never naming the compression
        raise InputError(f"Content-Encoding {shown(coding)} is not read here; send the body "
                         "uncompressed (an image is compressed already).", status=415)
    while remaining > 0:
        try:
            chunk = stream.read(min(_READ_CHUNK, remaining))
        except TimeoutError as e:  # the server's body deadline (api.body_timeout_s, api.min_rate)
            raise InputError(f"The request body did not arrive in time ({size} bytes received); "
                             "send it faster (api.body_timeout_s, api.min_rate).", status=408) from e
        except ValueError as e:  # cheroot's chunked decoder: a bad chunk size or framing
            raise InputError(f"Malformed chunked request body: {e}") from e
        except OSError as e:
            raise InputError(f"The request body could not be read ({e}).") from e
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
        remaining -= len(chunk)
        if size > max_bytes:
            raise InputError(f"The upload is over the limit of {max_bytes} bytes "
                             "(api.max_upload_bytes).", status=413)
    if length >= 0 and size < length:
        raise InputError(f"The request body ended after {size} of the {length} bytes its "
                         "Content-Length declares.")
    body = b"".join(parts)
    environ[BODY_UNREAD] = False
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    return body


# the image files the API reads, by their first bytes (a WebP's are RIFF, its size, then WEBP)
_IMAGE_STARTS = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")


def refuse_bare_image(body: bytes, content_type: str) -> None:
    """An ``InputError`` saying how to send the image when the body is the image file itself.

    Why: ``curl --data-binary @car.jpg`` (sent as a urlencoded form) or a client posting the
    file as ``image/jpeg`` would otherwise be read as a form: a JPEG of 573 ``&`` and ``;`` bytes
    was "The form has 573 fields", a smaller one "upload is required", neither naming the slip."""
    if body.startswith(_IMAGE_STARTS) or (body[:4] == b"RIFF" and body[8:12] == b"WEBP"):
        sent = f"Content-Type {shown(content_type)}" if content_type else "no Content-Type"
        raise InputError(f"The body is an image file itself ({sent}); "
                         "send it as the multipart file field upload (curl -F upload=@car.jpg) or as "
                         'JSON {"upload": "<base64>"}')


# the plate reader's own fields: any other one a request sends is a guess at the image's name
READ_FIELDS = frozenset({"upload", "upload_url", "regions", "camera_id", "timestamp", "mmc", "config"})


def missing_upload(sent: list[str]) -> InputError:
    """The 400 for a read request without ``upload`` or ``upload_url``, naming the fields it did
    send that the endpoint does not know.  Why: clients written for other ALPR APIs send the
    picture as ``image`` or ``file``; "upload is required" alone did not say it was there under
    another name."""
    others = [name for name in sent if name not in READ_FIELDS]
    if not others:
        return InputError("upload is required: send the image as multipart file bytes (-F upload=@car.jpg) "
                          "or as base64 text")
    names = ", ".join(shown(name, 40) for name in others[:5]) + (" ..." if len(others) > 5 else "")
    # one colon, before the fix: the message is one sentence, not a clause inside another
    return InputError(f"upload is required, and this request sent {names}, which this API does not read: name "
                      "the image's field upload (multipart file bytes, -F upload=@car.jpg, or base64 text)")
