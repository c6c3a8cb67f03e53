"""Every error path of the API over a real socket: JSON {"detail"} with the right status."""

from __future__ import annotations

import base64
import gzip
import io
import socket
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import jpeg_bytes

READ = "/v1/plate-reader/"


def detail(response: requests.Response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"detail"} and isinstance(body["detail"], str) and body["detail"]
    return str(body["detail"])


def test_missing_upload(api: Any) -> None:
    said = detail(requests.post(api.url + READ, data={"regions": "gb"}), 400)
    assert said.startswith("upload is required: send"), said


def test_an_image_under_another_field_name_is_named(api: Any, sample_images: list[Path]) -> None:
    """Clients written for other ALPR APIs send the picture as ``image``: the 400 names the field
    it came in and the one to use, not only that ``upload`` is missing."""
    files = {"image": ("car.jpg", sample_images[0].read_bytes())}
    said = detail(requests.post(api.url + READ, files=files, data={"regions": "gb"}), 400)
    assert said.startswith("upload is required, and this request sent 'image', which this API does not read: "
                           "name the image's field upload ("), said
    assert said.count(":") == 1, said  # one sentence, its fix after the colon, no clause nested in another
    assert "'regions'" not in said, said  # a field the endpoint reads is no slip


def test_a_wrong_method_is_told_the_one_to_use(api: Any) -> None:
    """A browser or a bare ``curl URL`` GETs the plate reader: the 405 says it takes POST."""
    response = requests.get(api.url + READ)
    said = detail(response, 405)
    assert said == "Method 'GET' not allowed here; this path takes POST.", said
    assert response.headers["Allow"] == "POST"


@pytest.mark.parametrize("payload", [b"not an image at all", b"\xff\xd8\xff\xe0" + b"\0" * 50, b""])
def test_undecodable_image(api: Any, payload: bytes) -> None:
    said = detail(requests.post(api.url + READ, files={"upload": ("x.jpg", payload)}), 400)
    assert "upload" in said or "image" in said, said
    assert "send" in said and "the file" not in said, said  # the remedy is for the client that sent it


def test_truncated_jpeg(api: Any, sample_images: list[Path]) -> None:
    data = sample_images[0].read_bytes()[:2000]
    detail(requests.post(api.url + READ, files={"upload": ("t.jpg", data)}), 400)


def test_bad_base64(api: Any) -> None:
    message = detail(requests.post(api.url + READ, data={"upload": "@@@not base64!!"}), 400)
    assert "base64" in message
    message = detail(requests.post(api.url + READ, json={"upload": "%%%%"}), 400)
    assert "base64" in message


def test_unknown_region_names_near_codes_and_where_the_list_is(api: Any, sample_images: list[Path]) -> None:
    message = detail(requests.post(api.url + READ, files={"upload": sample_images[0].read_bytes()},
                                   data={"regions": ["gb", "qqmx"]}), 400)
    assert message.startswith("unknown region 'qqmx' (near it: "), message
    assert "edge-alpr regions" in message and len(message) < 200, message
    assert "GET /info/" in message, "a remote client cannot run the CLI: where it finds the list"
    listed = requests.get(api.url + "/info/").json()["regions"]
    assert {"gb", "us-ca", "br-sc"} <= set(listed) and "qqmx" not in listed
    assert str(len(listed)) in message.split("valid codes", 1)[0], message


@pytest.mark.parametrize(("sent", "quoted"), [
    ({"regions": "IRL"}, "'IRL' (did you mean 'ie'?"),
    ({"regions": ["GB", "it, Us-Cal"]}, "'Us-Cal' (did you mean 'us-ca'"),
    ({"regions": ["fr", "FR", "Br_Qq"]}, "'Br_Qq' (did you mean 'br'?"),
], ids=["a three-letter code", "a state in a list", "after a repeat"])
def test_an_unknown_region_is_quoted_as_the_client_sent_it(api: Any, sample_images: list[Path],
                                                           sent: dict[str, Any], quoted: str) -> None:
    """The code is compared in lower case, but the 400 quotes the client's own text: ``'irl'``
    for a client that sent ``IRL`` named a value it never sent; over multipart and JSON alike."""
    image = sample_images[0].read_bytes()
    message = detail(requests.post(api.url + READ, files={"upload": image}, data=sent), 400)
    assert message.startswith("unknown region " + quoted), message
    message = detail(requests.post(api.url + READ, json={"upload": base64.b64encode(image).decode(), **sent}), 400)
    assert message.startswith("unknown region " + quoted), message


def test_unknown_region_suggests_the_code_meant(api: Any, sample_images: list[Path]) -> None:
    """``uk`` is not the United Kingdom's code (``gb`` is): the detail says so, a typo gets the
    closest codes, and every code the reference lists (any case, ``br_sc``) is still accepted."""
    image = sample_images[0].read_bytes()
    message = detail(requests.post(api.url + READ, files={"upload": image}, data={"regions": "uk"}), 400)
    assert message.startswith("unknown region 'uk' (did you mean 'gb'? the United Kingdom's code is gb"), message
    assert "edge-alpr regions" in message and len(message) < 200, "the hint, not the ~180 codes after it"
    message = detail(requests.post(api.url + READ, files={"upload": image}, data={"regions": "us-cal"}), 400)
    assert message.startswith("unknown region 'us-cal' (did you mean 'us-ca'"), message
    message = detail(requests.post(api.url + READ, json={"upload": base64.b64encode(image).decode(),
                                                         "regions": ["tx"]}), 400)
    assert message.startswith("unknown region 'tx' (did you mean 'us-tx'?)"), message
    ok = requests.post(api.url + READ, files={"upload": image}, data={"regions": ["GB", "br_sc", "us-ca"]})
    assert ok.status_code == 201, ok.text


@pytest.mark.parametrize("stamp", ["yesterday", "2019-13-45T00:00:00", "2019-08-19T13:11:25+02:00"])
def test_bad_timestamp(api: Any, sample_images: list[Path], stamp: str) -> None:
    message = detail(requests.post(api.url + READ, files={"upload": sample_images[0].read_bytes()},
                                   data={"timestamp": stamp}), 400)
    assert "timestamp" in message


@pytest.mark.parametrize("config", ["{not json", "[1,2]", '{"mode":"warp"}', '{"bogus":1}',
                                    # integers past a float's range (float() of one overflows: was a 500)
                                    '{"threshold_d": 1%s}' % ("0" * 400), '{"threshold_o": -1%s}' % ("0" * 309)])
def test_bad_config(api: Any, sample_images: list[Path], config: str) -> None:
    detail(requests.post(api.url + READ, files={"upload": sample_images[0].read_bytes()},
                         data={"config": config}), 400)


def test_bad_mmc_and_bad_json_body(api: Any, sample_images: list[Path]) -> None:
    detail(requests.post(api.url + READ, files={"upload": sample_images[0].read_bytes()},
                         data={"mmc": "perhaps"}), 400)
    detail(requests.post(api.url + READ, data=b"{broken", headers={"Content-Type": "application/json"}), 400)
    detail(requests.post(api.url + READ, json=[1, 2, 3]), 400)


@pytest.mark.parametrize("config", ["[" * 5000 + "]" * 5000, '{"a":' * 5000 + "1" + "}" * 5000])
def test_a_config_nested_past_the_parsers_depth_is_a_400(api: Any, sample_images: list[Path], config: str) -> None:
    """A few kB of brackets (under every size limit) must not reach Python's recursion limit as a 500."""
    upload = sample_images[0].read_bytes()
    said = detail(requests.post(api.url + READ, files={"upload": upload}, data={"config": config}), 400)
    assert "config" in said and "nested" in said, said
    said = detail(requests.post(api.url + READ, json={"upload": base64.b64encode(upload).decode(), "config": config}),
                  400)
    assert "config" in said and "nested" in said, said
    nested = '{"a":' * 3000 + "1" + "}" * 3000
    body = '{"upload": "' + base64.b64encode(upload).decode() + '", "config": ' + nested + "}"
    said = detail(requests.post(api.url + READ, data=body, headers={"Content-Type": "application/json"}), 400)
    assert "nested" in said, said


def test_malformed_multipart(api: Any) -> None:
    body = b"--xyz\r\nContent-Disposition: form-data; name=\"upload\"\r\n\r\nabc"  # no terminator
    detail(requests.post(api.url + READ, data=body,
                         headers={"Content-Type": "multipart/form-data; boundary=xyz"}), 400)
    detail(requests.post(api.url + READ, data=b"abc",
                         headers={"Content-Type": "multipart/form-data"}), 400)


def test_not_found_and_method_not_allowed(api: Any) -> None:
    assert "/v1/plate-reader/" in detail(requests.get(api.url + "/nope/"), 404)
    detail(requests.get(api.url + READ), 405)
    detail(requests.delete(api.url + "/info/"), 405)


def test_upload_over_limit_is_413(api_factory: Any) -> None:
    server = api_factory({"api": {"max_upload_bytes": 50_000}})
    big = jpeg_bytes(400, 400)
    assert len(big) > 50_000
    message = detail(requests.post(server.url + READ, files={"upload": ("big.jpg", big)}), 413)
    assert "50000" in message


def test_chunked_upload_over_limit_is_413(api_factory: Any) -> None:
    server = api_factory({"api": {"max_upload_bytes": 50_000}})

    def chunks() -> Any:
        for _ in range(20):
            yield b"A" * 10_000

    detail(requests.post(server.url + READ, data=chunks(),
                         headers={"Content-Type": "application/x-www-form-urlencoded"}), 413)


def test_decompression_bomb_is_refused(api_factory: Any) -> None:
    from PIL import Image

    server = api_factory({"api": {"max_pixels": 1_000_000}})
    buf = io.BytesIO()
    Image.new("L", (4000, 4000)).save(buf, "PNG")  # 16 Mpx, a few KB compressed
    response = requests.post(server.url + READ, files={"upload": ("bomb.png", buf.getvalue())})
    assert response.status_code in (400, 413)
    assert "1000000" in detail(response, response.status_code).replace(",", "").replace("_", "")


def test_auth_required_when_token_configured(api_factory: Any, sample_images: list[Path]) -> None:
    server = api_factory(token="s3cret")
    data = sample_images[0].read_bytes()
    for headers in ({}, {"Authorization": "Token wrong"}, {"Authorization": "Bearer s3cret"},
                    {"Authorization": "Token "}):
        detail(requests.post(server.url + READ, files={"upload": data}, headers=headers), 403)
        detail(requests.get(server.url + "/info/", headers=headers), 403)
        detail(requests.get(server.url + "/v1/statistics/", headers=headers), 403)
    ok = requests.post(server.url + READ, files={"upload": data}, headers={"Authorization": "Token s3cret"})
    assert ok.status_code == 201
    # refused calls were not counted
    stats = requests.get(server.url + "/v1/statistics/", headers={"Authorization": "Token s3cret"})
    assert stats.json()["usage"]["calls"] == 1


def test_a_tab_after_the_token_scheme_is_a_separator(api_factory: Any) -> None:
    """``Token<TAB>key`` was read as one scheme, refused as not read, with the key's start
    quoted back; a scheme glued to its key is still refused."""
    server = api_factory(token="s3cret-0123456789")
    for header in ("Token\ts3cret-0123456789", "Token \t s3cret-0123456789", "token\t\ts3cret-0123456789"):
        r = requests.get(server.url + "/info/", headers={"Authorization": header}, timeout=10)
        assert r.status_code == 200, (header, r.text)
    said = detail(requests.get(server.url + "/info/", headers={"Authorization": "Tokens3cret-0123456789"},
                               timeout=10), 403)
    assert "scheme is not read" in said


def test_a_compressed_upload_is_a_415_naming_its_encoding(api: Any, sample_images: list[Path]) -> None:
    """A gzipped multipart body was "Malformed multipart/form-data body", not naming the
    compression; the connection still serves the next request."""
    prepared = requests.Request("POST", api.url + READ,
                                files={"upload": ("car.jpg", sample_images[0].read_bytes())}).prepare()
    form, kind = bytes(prepared.body or b""), prepared.headers["Content-Type"]
    with requests.Session() as session:
        r = session.post(api.url + READ, data=gzip.compress(form), timeout=30,
                         headers={"Content-Type": kind, "Content-Encoding": "gzip"})
        assert "Content-Encoding 'gzip'" in detail(r, 415)
        assert session.get(api.url + "/info/", timeout=10).status_code == 200
        ok = session.post(api.url + READ, data=form, timeout=30, headers={"Content-Type": kind})
        assert ok.status_code == 201, ok.text


def test_quota_exceeded_is_403(api_factory: Any, sample_images: list[Path]) -> None:
    server = api_factory({"usage": {"max_calls": 2}})
    data = sample_images[0].read_bytes()
    for calls in (1, 2):
        r = requests.post(server.url + READ, files={"upload": data})
        assert r.status_code == 201 and r.json()["usage"] == {"calls": calls, "max_calls": 2}
    assert "max_calls" in detail(requests.post(server.url + READ, files={"upload": data}), 403)


def test_rate_limit_is_429(api_factory: Any, sample_images: list[Path]) -> None:
    server = api_factory({"api": {"rate_limit": 0.05, "rate_burst": 2}})  # 20 s per token
    data = sample_images[0].read_bytes()
    statuses = [requests.post(server.url + READ, files={"upload": data}).status_code for _ in range(4)]
    assert statuses[:2] == [201, 201] and statuses[2:] == [429, 429]
    r = requests.post(server.url + READ, files={"upload": data})
    detail(r, 429)
    assert int(r.headers["Retry-After"]) >= 1


def test_garbage_http_gets_4xx_not_a_crash(api: Any, sample_images: list[Path]) -> None:
    host, port = api.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"POST /v1/plate-reader/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n")
        reply = s.recv(1000)
    assert reply.startswith(b"HTTP/1.1 4")
    # the server still works afterwards
    assert requests.post(api.url + READ, files={"upload": sample_images[0].read_bytes()}).status_code == 201


def test_an_error_names_a_huge_bad_value_by_its_start_and_length(api: Any, sample_images: list[Path]) -> None:
    """A message naming a client's bad value quotes its first characters and says its length: it
    does not send back (nor log) the megabyte the client put in a form field or a query."""
    upload = sample_images[0].read_bytes()
    huge = "9" * 1_000_000
    for data in ({"timestamp": huge}, {"mmc": huge}):
        said = detail(requests.post(api.url + READ, files={"upload": upload}, data=data, timeout=30), 400)
        assert f"({len(huge)} characters)" in said and len(said) < 600, said[:300]
    encoded = base64.b64encode(upload).decode()
    numbers = [0.5] * 50_000
    for config, length in (({"mode": huge}, len(huge)), ({"region": huge}, len(huge)),
                           ({"threshold_d": numbers}, len(repr(numbers)))):
        said = detail(requests.post(api.url + READ, json={"upload": encoded, "config": config}, timeout=30), 400)
        assert f"({length} characters)" in said and len(said) < 600, said[:300]
    name = "x" * 20_000
    said = detail(requests.get(f"{api.url}/v1/events/?{name}=1", timeout=30), 400)
    assert "unknown parameter" in said and f"({len(name)} characters)" in said and len(said) < 600, said[:300]


@pytest.mark.parametrize("content_type", [None, "image/jpeg", "application/octet-stream", "text/plain"])
def test_a_body_that_is_the_image_file_itself_says_how_to_send_it(api: Any, sample_images: list[Path],
                                                                  content_type: str | None) -> None:
    """``curl --data-binary @car.jpg`` (a urlencoded form to curl) or a client posting the file
    as ``image/jpeg``: the answer names the two ways to send it, not the form's "fields"."""
    from PIL import Image

    png = io.BytesIO()
    Image.open(sample_images[0]).save(png, "PNG")
    webp = io.BytesIO()
    Image.open(sample_images[0]).save(webp, "WEBP")
    for image in (sample_images[0].read_bytes(), png.getvalue(), webp.getvalue()):
        headers = {"Content-Type": content_type} if content_type else {}  # requests sends none for bytes
        said = detail(requests.post(api.url + READ, data=image, headers=headers, timeout=30), 400)
        assert "The body is an image file itself" in said and "-F upload=@car.jpg" in said, said
        assert (f"(Content-Type '{content_type}')" if content_type else "(no Content-Type)") in said, said
    # a form that only starts like text is still a form
    said = detail(requests.post(api.url + READ, data={"regions": "gb"}, timeout=30), 400)
    assert "upload is required" in said, said
