"""A URL whose host and port urllib reads otherwise than ``urlsplit`` is refused where a URL is
configured too (a webhook's, a camera's), not only as an ``upload_url``: a webhook's POST goes
through urllib, which decoded ``http://[::1]%3A8443/hook`` into port 8443 (the checks and the
failures' ``host``/``port`` said 80) and ``%3A`` plus twenty digits into an ``OverflowError`` on
every delivery.  The words name no part of the URL (it may hold a password); the caller quotes
it with the credentials hidden."""

from __future__ import annotations

import pytest
import yaml

from edge_alpr import config
from edge_alpr.errors import ConfigError
from edge_alpr.url_reading import url_problem

REFUSED = {
    "http://[::1]%3A8443/hook": "after its ']'",
    "http://[::1]%3A" + "9" * 22 + "/hook": "after its ']'",
    "http://hooks[::1]/hook": "before its '['",
    "http://[::1%3A80]/hook": "%XX escape",  # urllib connects to ::1:80, the checks read ::1
    "http://hooks.example%3A8443/hook": "decode to ':'",
    "http://user%40hooks.example/hook": "decode to '@'",
    "http://hooks.example%2Fx/hook": "decode to '/'",
}


@pytest.mark.parametrize("url", sorted(REFUSED))
def test_a_host_urllib_reads_otherwise_is_refused_in_words(url: str) -> None:
    problem = url_problem(url)
    assert REFUSED[url] in problem, problem
    assert "hooks" not in problem and "8443" not in problem, problem  # no part of the URL


@pytest.mark.parametrize("url", ["http://[::1]:8443/hook", "http://[::1]:/hook", "http://[fe80::1%25eth0]:81/",
                                 "http://[fe80::1%eth0]/", "http://admin:p%40ss%3A@hooks.example/hook",
                                 "http://b%C3%BCcher.example/", "rtsp://admin:pw@[::1]:554/stream1"])
def test_a_host_read_alike_is_accepted(url: str) -> None:
    assert url_problem(url) == ""


@pytest.mark.parametrize("url", ["http://[::1]%3A8443/hook", "http://hooks.example%3A8443/hook"])
def test_a_webhook_url_urllib_reads_otherwise_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError) as raised:
        config.from_dict(yaml.safe_load(f"webhooks: {{targets: ['{url}']}}"), "<test>")
    assert f"{url!r} cannot be read" in str(raised.value), raised.value


def test_a_camera_url_urllib_reads_otherwise_is_a_config_error() -> None:
    raw = "stream: {cameras: [{id: gate, source: {kind: opencv, url: 'rtsp://admin:pw@[::1]%3A8554/live'}}]}"
    with pytest.raises(ConfigError) as raised:
        config.from_dict(yaml.safe_load(raw), "<test>")
    assert "'rtsp://[::1]%3A8554/live' cannot be read" in str(raised.value), raised.value
    assert "pw" not in str(raised.value).replace("rtsp://", "")


def test_text_after_an_ipv6_literal_is_named_before_urlsplit_reads_it() -> None:
    """Python 3.13's urlsplit refuses ``[::1]%3A80`` itself ("Invalid IPv6 URL"), which read as an
    unclosed address; the text around the brackets is named on every Python."""
    for url in ("http://[::1]%3A80/x.jpg", "http://[::1]x:80/", "http://x[::1]/"):
        assert "text before its '[' or after its ']'" in url_problem(url), url
    assert "not closed" in url_problem("http://[::1/x.jpg")
