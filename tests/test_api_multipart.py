"""The fast multipart splitter against bottle's parser: whenever it answers, bottle agrees.

``edge_alpr.api.multipart.split`` handles the plain multipart bodies real clients send and
returns ``None`` for anything else, leaving it to bottle.  These tests hold it to that
contract on encoder-built bodies (it must answer, and equal bottle) and on random mutations of
them (it may decline, but an answer must equal bottle's).  ``MULTIPART_EXAMPLES=5000`` runs
a deeper search than CI's default.
"""

from __future__ import annotations

import io
import os
from typing import Any

import bottle
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from urllib3.filepost import encode_multipart_formdata

from edge_alpr.api import multipart

_LIMIT = 10 * 1024 * 1024


class _Request(bottle.BaseRequest):
    MEMFILE_MAX = _LIMIT


def bottle_fields(body: bytes, content_type: str) -> dict[str, list[Any]] | None:
    """What bottle parses, normalised; ``None`` when bottle rejects the body."""
    environ = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": content_type,
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    try:
        post = _Request(environ).POST
        return {key: [normalise(v) for v in post.getall(key)] for key in post.keys()}
    except (bottle.MultipartError, UnicodeDecodeError, LookupError, ValueError):
        return None


def normalise(value: Any) -> tuple[Any, ...]:
    if isinstance(value, bottle.FileUpload):
        value.file.seek(0)
        return ("file", value.name, value.raw_filename, value.filename, value.file.read())
    assert isinstance(value, str)
    return ("text", value)


def fast_fields(body: bytes, content_type: str) -> dict[str, list[Any]] | None:
    fields = multipart.split(body, content_type)
    if fields is None:
        return None
    return {key: [normalise(v) for v in values] for key, values in fields.items()}


_names = st.text(st.characters(codec="utf-8", exclude_characters='"\\%',
                               exclude_categories=("Cc", "Cs")), min_size=1, max_size=12)
_text_values = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200)
_files = st.tuples(_names, st.binary(max_size=3000))
_fields = st.lists(st.tuples(_names, st.one_of(_text_values, _files)), min_size=1, max_size=5)


def encode(fields: list[tuple[str, Any]], boundary: str | None = None) -> tuple[bytes, str]:
    return encode_multipart_formdata(fields, boundary=boundary)


def test_a_camera_upload_is_split_like_bottle() -> None:
    jpeg = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 400 + b"\r\n--not-the-boundary\r\n\xff\xd9"
    body, ctype = encode([("upload", ("frame.jpg", jpeg)), ("regions", "gb"), ("regions", "fr"),
                          ("config", '{"mode":"fast"}'), ("camera_id", "gate-1")])
    fast = fast_fields(body, ctype)
    assert fast is not None, "the splitter declined a plain requests/urllib3 body"
    assert fast == bottle_fields(body, ctype)
    assert fast["upload"] == [("file", "upload", "frame.jpg", "frame.jpg", jpeg)]
    assert fast["regions"] == [("text", "gb"), ("text", "fr")]


@settings(max_examples=int(os.environ.get("MULTIPART_EXAMPLES", "150")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(_fields, st.sampled_from([None, "b0undary", "----WebKitFormBoundaryx7Zq"]))
def test_encoder_bodies_are_split_exactly_like_bottle(fields: list[tuple[str, Any]],
                                                      boundary: str | None) -> None:
    body, ctype = encode(fields, boundary)
    delimiter = b"--" + ctype.split("boundary=")[1].encode()
    assume(not any(isinstance(v, tuple) and delimiter in v[1] for _, v in fields))
    fast = fast_fields(body, ctype)
    assert fast is not None, "the splitter declined an encoder-built body"
    assert fast == bottle_fields(body, ctype)


@settings(max_examples=int(os.environ.get("MULTIPART_EXAMPLES", "300")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(_fields, st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 3), st.binary(max_size=6)),
                         min_size=1, max_size=4))
def test_mutated_bodies_are_declined_or_split_like_bottle(
        fields: list[tuple[str, Any]], edits: list[tuple[int, int, bytes]]) -> None:
    body, ctype = encode(fields, "b0undary")
    mutated = bytearray(body)
    for at, cut, insert in edits:
        at %= len(mutated) + 1
        mutated[at:at + cut] = insert
    fast = fast_fields(bytes(mutated), ctype)
    if fast is not None:
        assert fast == bottle_fields(bytes(mutated), ctype)


def test_only_the_boundary_parameter_names_the_boundary() -> None:
    body, _ = encode([("regions", "gb")], "b0undary")
    content_type = "multipart/form-data; notboundary=zzz; boundary=b0undary"
    assert fast_fields(body, content_type) == bottle_fields(body, content_type) == {
        "regions": [("text", "gb")]}


@pytest.mark.parametrize("content_type", [
    "multipart/form-data",                                   # no boundary
    "multipart/form-data; boundary=b0undary; charset=latin1",  # body-wide charset
    "multipart/mixed; boundary=b0undary",
    'multipart/form-data; boundary="b0und\\"ary"',          # quoted-pair
])
def test_unusual_content_types_are_left_to_bottle(content_type: str) -> None:
    body, _ = encode([("regions", "gb")], "b0undary")
    assert multipart.split(body, content_type) is None


@pytest.mark.parametrize("head", [
    b'Content-Disposition: form-data; name*=utf-8\'\'r%C3%A9gions',   # RFC 2231
    b'Content-Disposition: form-data; name="a\\"b"',                   # quoted-pair
    b'Content-Disposition: form-data; name="regions"\r\n folded: line',
    b'Content-Type: text/plain',                                       # no disposition
    b'Content-Disposition: form-data; name="regions"\r\nContent-Type: text/plain; charset=latin1',
])
def test_unusual_parts_are_left_to_bottle(head: bytes) -> None:
    body = b"--b0undary\r\n" + head + b"\r\n\r\ngb\r\n--b0undary--\r\n"
    assert multipart.split(body, "multipart/form-data; boundary=b0undary") is None


_PLAIN = "multipart/form-data; boundary=b0undary"


def _body(*parts: tuple[bytes, bytes]) -> bytes:
    out = b"".join(b"--b0undary\r\n" + head + b"\r\n\r\n" + data + b"\r\n" for head, data in parts)
    return out + b"--b0undary--\r\n"


@pytest.mark.parametrize("content_type, body", [
    # found in review: each must be declined or parsed exactly as bottle does, never raise
    ('multipart/form-data; boundary="\xe9"', b'--\xe9\r\n'),
    ("multipart/form-data; boundary=b0undary; boundary=Q", _body((b'Content-Disposition: form-data; name="a"', b"x"))),
    ("multipart/form-data; boundary=b0undary; Boundary=Q", _body((b'Content-Disposition: form-data; name="a"', b"x"))),
    ("multipart/form-data; boundary=b0undary,Q", _body((b'Content-Disposition: form-data; name="a"', b"x"))),
    ('multipart/form-data; x="a;boundary=b0undary;"', _body((b'Content-Disposition: form-data; name="a"', b"x"))),
    ("multipart/form-data; boundary=b0undary;", _body((b'Content-Disposition: form-data; name="a"', b"x"))),
    (_PLAIN, _body((b'Content-Disposition: form-data; name="a"; Name="upload"', b"x"))),
    (_PLAIN, _body((b'Content-Disposition: form-data; name="upload"; FILENAME="x.jpg"', b"x"))),
    (_PLAIN, _body((b'Content-Disposition: form-data; name="a"\r\nContent-Type: text/plain; charset=utf-8; '
                    b'charset=latin1', "\u00e9".encode()))),
    (_PLAIN, _body((b'Content-Disposition: form-data; name="a"\r\nContent-Type: text/plain; x="charset=utf-8"; '
                    b'charset=latin1', "\u00e9".encode()))),
    (_PLAIN, _body((b'Content-Disposition: form-data; name="a"\r\nContent-Length: 1', b"xyz"))),
])
def test_reviewed_edge_cases_are_declined_or_split_like_bottle(content_type: str, body: bytes) -> None:
    fast = fast_fields(body, content_type)
    if fast is not None:
        assert fast == bottle_fields(body, content_type)


def test_an_empty_file_input_is_a_text_field_as_in_bottle() -> None:
    body = _body((b'Content-Disposition: form-data; name="regions"; filename=""', b"us-ca"))
    assert fast_fields(body, _PLAIN) == bottle_fields(body, _PLAIN) == {"regions": [("text", "us-ca")]}


def test_unquoted_and_utf8_parameters_are_split_like_bottle() -> None:
    body = _body((b"Content-Disposition: form-data; name=camera_id", b"gate"),
                 ('Content-Disposition: form-data; name="upload"; filename="caf\u00e9; 1,2.jpg"'.encode(),
                  b"\xff\xd8\xff"))
    fast = fast_fields(body, _PLAIN)
    assert fast is not None and fast == bottle_fields(body, _PLAIN)
