"""A camera's login is answered right, or not at all: a wrong answer blames a right password in
``last_error`` and counts as a failed login (cameras lock a client out after a few).

Real parts: an HTTP camera on loopback that checks each ``Authorization`` as RFC 7616/7617 say
(its own reading of the header, not the service's), counts the failed logins of the service's
own check (user agent ``edge-alpr``; OpenCV's FFmpeg answers for itself) and answers a login it
accepts with 404, so that ``last_error`` shows the login was accepted.  Before, a realm with a
comma, MD5-sess, SHA-256, ``opaque`` without ``qop`` and a user name with a quote were each
answered wrongly (a refused password, a failed login counted), and a camera offering Digest and
Basic was sent the password in clear.  The answer itself is checked against the RFCs' worked
examples.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import re
import threading
import time
from collections.abc import Iterator

import pytest

from edge_alpr.stream.config import StreamConfig
from edge_alpr.stream.sources import camera_auth, open_source
from edge_alpr.stream.sources.camera_auth import authorization, challenges

PASSWORD = "s3cret"
LOGGED_IN = "the camera has no stream at /video (404 Not Found)"  # what a login it accepted says
HASH = {"md5": lambda s: hashlib.md5(s.encode(), usedforsecurity=False).hexdigest(),
        "sha-256": lambda s: hashlib.sha256(s.encode()).hexdigest()}


def _params(text: str) -> dict[str, str]:
    """A header's name=value pairs, quoted strings unquoted (RFC 7230 3.2.6)."""
    pairs = re.findall(r'([\w-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)', text)
    return {k.lower(): re.sub(r"\\(.)", r"\1", v[1:-1]) if v.startswith('"') else v for k, v in pairs}


def _accepted(auth: str, challenge: str, user: str) -> bool:
    """Whether ``auth`` is a right answer to ``challenge`` (one Digest or Basic) for ``user``."""
    if challenge.startswith("Basic"):
        return auth == "Basic " + base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
    if not auth.startswith("Digest "):
        return False
    want, got = _params(challenge[7:]), _params(auth[7:])
    algorithm = want.get("algorithm", "MD5").lower()
    h = HASH[algorithm.removesuffix("-sess")]
    ha1 = h(f"{user}:{want['realm']}:{PASSWORD}")
    if algorithm.endswith("-sess"):
        ha1 = h(f"{ha1}:{want['nonce']}:{got.get('cnonce')}")
    ha2 = h(f"GET:{got.get('uri')}")
    response = (h(f"{ha1}:{want['nonce']}:{got.get('nc')}:{got.get('cnonce')}:auth:{ha2}") if "qop" in want
                else h(f"{ha1}:{want['nonce']}:{ha2}"))
    # the algorithm echoed where it is not the default (RFC 2617 lets an MD5 answer leave it out)
    echoed = all(got.get(k) == want[k] for k in ("realm", "nonce", "opaque", "algorithm") if k in want
                 and (k != "algorithm" or algorithm != "md5"))
    return got.get("username") == user and got.get("response") == response and echoed and (
        "qop" not in want or got.get("qop") == "auth")


class Camera:
    """Offers ``offered`` (one WWW-Authenticate header each) for user ``user``; ``failed``: the
    check's refused logins, ``sent``: the check's Authorization headers."""

    def __init__(self, offered: list[str], user: str, stale: bool = False) -> None:
        self.failed, self.sent = 0, []
        camera = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                auth, ours = self.headers.get("Authorization", ""), self.headers.get("User-Agent") == "edge-alpr"
                if ours and auth:
                    camera.sent.append(auth)
                if auth and not stale and any(_accepted(auth, c, user) for c in offered):
                    self.send_response(404)  # logged in; no stream here
                else:
                    camera.failed += bool(auth) and ours
                    self.send_response(401)
                    for challenge in offered:  # a stale camera: every nonce expired by the time it is used
                        stamp = ", stale=true" if stale and auth and challenge.startswith("Digest") else ""
                        self.send_header("WWW-Authenticate", challenge + stamp)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_address[1]


@pytest.fixture
def serve() -> Iterator[list[Camera]]:
    cameras: list[Camera] = []
    yield cameras
    for camera in cameras:
        camera.server.shutdown()
        camera.server.server_close()


def _first_error(serve: list[Camera], offered: list[str], user: str = "admin", userinfo: str = "",
                 stale: bool = False) -> str:
    """The first ``last_error`` of a camera of the url ``/video`` (the url's user and the right password)."""
    camera = Camera(offered, user, stale)
    serve.append(camera)
    url = f"http://{userinfo or user}:{PASSWORD}@127.0.0.1:{camera.port}/video"
    stream = StreamConfig.from_dict({"cameras": [{"id": "gate", "source": {
        "kind": "opencv", "url": url, "read_timeout": 3, "reconnect_min": 5}}]}, "t")
    source = open_source(stream.cameras[0], threading.Event())
    started = time.monotonic()
    try:
        while source.errors == 0 and time.monotonic() - started < 15:
            source.read(0.25)
    finally:
        source.close()
    return source.last_error or ""


@pytest.mark.parametrize("challenge", [
    'Digest realm="cam", nonce="4e1c2f", qop="auth", algorithm=MD5',
    'Digest realm="Gate \\"A\\", lobby", nonce="4e,1c", qop="auth"',
    'Digest realm="cam", nonce="4e1c2f", qop="auth-int, auth", algorithm=MD5-sess',
    'Digest realm="cam", nonce="4e1c2f", qop="auth", algorithm=SHA-256',
    'Digest realm="cam", nonce="4e1c2f", opaque="5c, c0"',
], ids=["md5", "quoted-comma", "md5-sess", "sha-256", "opaque-without-qop"])
def test_a_right_password_is_answered_right(serve: list[Camera], challenge: str) -> None:
    error = _first_error(serve, [challenge])
    assert LOGGED_IN in error and serve[0].failed == 0, (error, serve[0].sent)


def test_a_user_name_with_a_quote_is_escaped(serve: list[Camera]) -> None:
    error = _first_error(serve, ['Digest realm="cam", nonce="4e1c2f", qop="auth"'], 'ad"m\\in', "ad%22m%5Cin")
    assert LOGGED_IN in error and serve[0].failed == 0, (error, serve[0].sent)


def test_a_camera_offering_digest_and_basic_gets_digest(serve: list[Camera]) -> None:
    error = _first_error(serve, ['Digest realm="cam", nonce="4e1c2f", qop="auth"', 'Basic realm="cam"'])
    assert LOGGED_IN in error and serve[0].sent and not any(a.startswith("Basic") for a in serve[0].sent)


def test_basic_alone_is_answered(serve: list[Camera]) -> None:
    error = _first_error(serve, ['Basic realm="cam"'])
    assert LOGGED_IN in error and serve[0].failed == 0, error


@pytest.mark.parametrize("offered", [
    ['Digest realm="cam", nonce="4e1c2f", qop="auth", algorithm=SHA-512-256'],
    ['Digest realm="cam", nonce="4e1c2f", qop="auth", algorithm=SHA-512-256', 'Basic realm="cam"'],
], ids=["alone", "with-basic"])
def test_a_challenge_that_cannot_be_answered_gets_no_answer_and_no_verdict(serve: list[Camera],
                                                                          offered: list[str]) -> None:
    """No password is blamed, no failed login counted, and none is sent in clear instead."""
    error = _first_error(serve, offered)
    assert error == "cannot open camera" and serve[0].sent == [], (error, serve[0].sent)


def test_several_challenges_in_one_header_are_told_apart() -> None:
    found = challenges(['Digest realm="Gate, A", nonce="a\\"b", qop="auth,auth-int", Basic realm="x"',
                        'Negotiate YWJj==, Basic realm="y"'])
    assert [s for s, _ in found] == ["digest", "basic", "negotiate", "basic"]
    assert found[0][1] == {"realm": "Gate, A", "nonce": 'a"b', "qop": "auth,auth-int"} and found[3][1]["realm"] == "y"


def test_the_digest_answer_is_rfc_2617s_worked_example() -> None:
    """RFC 2617 section 3.5: Mufasa, "Circle Of Life", qop=auth, cnonce 0a4f113b."""
    offered = challenges(['Digest realm="testrealm@host.com", qop="auth,auth-int", '
                          'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'])
    said = authorization(offered, "Mufasa", "Circle Of Life", "/dir/index.html", "GET", cnonce="0a4f113b")
    assert said is not None and 'response="6629fae49393a05397450978507c4ef1"' in said
    assert 'qop=auth, nc=00000001, cnonce="0a4f113b"' in said and 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in said


@pytest.mark.parametrize("algorithm,response", [
    ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
])
def test_the_digest_answer_is_rfc_7616s_worked_example(algorithm: str, response: str) -> None:
    """RFC 7616 section 3.9.1 (its MD5 and SHA-256 challenges)."""
    common = ('realm="http-auth@example.org", qop="auth, auth-int", '
              'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
              'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"')
    offered = challenges([f"Digest {common}, algorithm={algorithm}"])
    said = authorization(offered, "Mufasa", "Circle of Life", "/dir/index.html", "GET",
                         cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")
    assert said is not None and f'response="{response}"' in said and f"algorithm={algorithm}," in said


def test_sha_256_is_answered_where_md5_is_offered_first() -> None:
    offered = challenges(['Digest realm="cam", nonce="n", qop="auth", algorithm=MD5',
                          'Digest realm="cam", nonce="n", qop="auth", algorithm=SHA-256'])
    said = authorization(offered, "admin", PASSWORD, "/video", "GET")
    assert said is not None and "algorithm=SHA-256," in said


def test_a_stale_nonce_blames_no_password(serve: list[Camera]) -> None:
    """``stale=true`` in the answer to a login says the password was right and only the nonce had
    expired (cameras tying nonces to a connection; the check asks on a new one): no verdict."""
    error = _first_error(serve, ['Digest realm="cam", nonce="4e1c2f", qop="auth"'], stale=True)
    assert serve[0].sent and error == "cannot open camera", (error, serve[0].sent)


def test_a_header_of_separators_is_read_in_one_pass() -> None:
    """A camera's header of 65,000 commas took 44 s of a capture thread (patterns that began with
    the separators rescanned the run from every comma): now the patterns start at a token, the
    separators are skipped once, and each comma costs a bounded number of matches."""
    assert camera_auth._SCHEME.match(", Digest") is None and camera_auth._PARAM.match(", a=b") is None
    calls = [0]

    class Counted:
        def __init__(self, pattern: re.Pattern[str]) -> None:
            self.pattern = pattern

        def match(self, text: str, pos: int = 0) -> re.Match[str] | None:
            calls[0] += 1
            return self.pattern.match(text, pos)

    hostile = "," * 65_000 + '"'
    with pytest.MonkeyPatch.context() as patch:
        for name in ("_SEP", "_SCHEME", "_PARAM"):
            patch.setattr(camera_auth, name, Counted(getattr(camera_auth, name)))
        assert camera_auth.challenges([hostile, "Digest " + ", " * 30_000 + 'realm="x"']) == [
            ("digest", {"realm": "x"})]
    assert calls[0] <= 20, calls
