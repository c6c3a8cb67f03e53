"""The console and its JSON routes against a hostile client on the network and a careless admin.

The real server on a loopback socket (``api_factory``), spoken to as an attacker would: guessing
the token through the API's header, parameters a browser never sends (digits that are not ASCII,
cursors past SQLite's integers, bytes that are not UTF-8), and a page of another site posting to
a server without a token.  Each answer must be a 4xx naming the problem, never a 5xx.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from conftest import SAMPLES, RunningApi

from edge_alpr.api import auth_throttle
from edge_alpr.api.auth_throttle import Client
from edge_alpr.api.console_auth import COOKIE, ConsoleAuth
from edge_alpr.errors import InputError, Throttled

TOKEN = "console-s3cret"


def _read(api: RunningApi, headers: dict[str, str] | None = None, **data: str) -> requests.Response:
    sample = sorted(SAMPLES.glob("*.jpg"))[0].read_bytes()
    return requests.post(f"{api.url}/v1/plate-reader/", files={"upload": ("car.jpg", sample)},
                         data=data, headers=headers or {}, timeout=30)


def test_token_guesses_through_the_header_are_throttled(api_factory: Callable[..., RunningApi]) -> None:
    api = api_factory(token=TOKEN)
    ok = requests.post(f"{api.url}/login", data={"token": TOKEN}, allow_redirects=False, timeout=10)
    cookie = {COOKIE: ok.cookies[COOKIE]}
    for i in range(auth_throttle.MAX_FAILURES):
        r = requests.get(f"{api.url}/info/", headers={"Authorization": f"Token guess{i}"}, timeout=10)
        assert r.status_code == 403
    # the right token from the guessing address is not even checked: no oracle
    r = requests.get(f"{api.url}/info/", headers={"Authorization": f"Token {TOKEN}"}, timeout=10)
    assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 60
    assert "127.0.0.1" in r.json()["detail"]
    form = requests.post(f"{api.url}/login", data={"token": TOKEN}, allow_redirects=False, timeout=10)
    assert form.status_code == 429 and "Set-Cookie" not in form.headers
    # a session already open shows no token: the console keeps working
    assert requests.get(f"{api.url}/console/parts", cookies=cookie, timeout=10).status_code == 200


def test_a_token_with_letters_beyond_ascii_logs_in_at_the_form(api_factory: Callable[..., RunningApi]) -> None:
    token = "clé-sécrète-Ölweg"
    api = api_factory(token=token)
    r = requests.post(f"{api.url}/login", data={"token": token}, allow_redirects=False, timeout=10)
    assert r.status_code == 303 and COOKIE in r.cookies
    header: dict[str, str | bytes] = {"Authorization": f"Token {token}".encode()}  # sent as UTF-8
    assert requests.get(f"{api.url}/info/", headers=header, timeout=10).status_code == 200
    auth = ConsoleAuth(token)
    with pytest.raises(InputError):
        auth.login(token.encode().decode("latin-1"), Client("192.0.2.1", "192.0.2.1"))  # UTF-8 as Latin-1


def test_search_parameters_are_utf8(api_factory: Callable[..., RunningApi]) -> None:
    api = api_factory({"history": {"api_reads": True}})
    assert _read(api, camera_id="Einfahrt Süd").status_code == 201
    found = requests.get(f"{api.url}/v1/events/", params={"camera": "Einfahrt Süd"}, timeout=10)
    assert found.status_code == 200 and found.json()["count"] == 1
    page = requests.get(f"{api.url}/", params={"camera": "Einfahrt Süd"}, timeout=10)
    assert page.status_code == 200 and 'value="Einfahrt Süd"' in page.text and "Ã" not in page.text
    for path in ("/v1/events/?camera=%ff%fe", "/console/parts?camera=%ff%fe"):
        r = requests.get(f"{api.url}{path}", timeout=10)
        assert r.status_code == 400 and "camera" in r.json()["detail"] and "UTF-8" in r.json()["detail"], path
    page = requests.get(f"{api.url}/?camera=%ff%fe", timeout=10)
    assert page.status_code == 400 and "UTF-8" in page.text


@pytest.mark.parametrize("path", [
    "/console/cameras/%C2%B2/view.jpg",  # a superscript two: str.isdigit says yes, int() says no
    "/console/cameras/%D9%A0/view.jpg",  # an Arabic-Indic zero
    "/v1/events/?cursor=1_9999999999999999999",  # past SQLite's 64-bit integers
    "/console/parts?cursor=1_18446744073709551616",
    "/v1/events/?limit=%C2%B2", "/console/parts?plate=%C2%B2%C2%B3",
])
def test_numbers_a_browser_never_sends_are_4xx(api_factory: Callable[..., RunningApi], path: str) -> None:
    api = api_factory({"history": {"api_reads": True}})
    r = requests.get(f"{api.url}{path}", timeout=10)
    assert 400 <= r.status_code < 500 and r.json()["detail"], (r.status_code, r.text[:200])


def test_the_page_answers_a_cursor_past_sqlite_with_400(api_factory: Callable[..., RunningApi]) -> None:
    api = api_factory({"history": {"api_reads": True}})
    page = requests.get(f"{api.url}/?cursor=1_9999999999999999999", timeout=10)
    assert page.status_code == 400 and "cursor" in page.text


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_another_sites_page_cannot_write_to_a_server_without_token(
        api_factory: Callable[..., RunningApi], site: str) -> None:
    api = api_factory({"history": {"api_reads": True}})
    fetch = {"Sec-Fetch-Site": site, "Origin": "http://attacker.example"}
    r = _read(api, fetch, camera_id="forged")
    assert r.status_code == 403 and "another site" in r.json()["detail"]
    r = requests.delete(f"{api.url}/v1/watchlists/anything/", headers=fetch, timeout=10)
    assert r.status_code == 403
    assert requests.get(f"{api.url}/v1/events/", headers=fetch, timeout=10).status_code == 200
    assert requests.get(f"{api.url}/v1/events/", timeout=10).json()["count"] == 0
    # the console's own page, a typed address and a program without the header still write
    for own in ({"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"}, {}):
        assert _read(api, own, camera_id="gate").status_code == 201, own


@pytest.mark.parametrize("header", ["Basic YWRtaW46cHc=", "Digest username=\"admin\"", "NTLM TlRMTVNTUAAB"])
def test_a_password_the_browser_replays_does_not_let_another_site_write(
        api_factory: Callable[..., RunningApi], header: str) -> None:
    # a reverse proxy with its own password in front of a server without a token: the browser
    # adds the cached Basic credentials to another site's form post by itself
    api = api_factory({"history": {"api_reads": True}})
    fetch = {"Sec-Fetch-Site": "cross-site", "Origin": "http://attacker.example", "Authorization": header}
    r = _read(api, fetch, camera_id="forged")
    assert r.status_code == 403 and "another site" in r.json()["detail"], r.text
    assert requests.get(f"{api.url}/v1/events/", timeout=10).json()["count"] == 0
    assert _read(api, {"Authorization": header}, camera_id="gate").status_code == 201  # a program


def test_another_site_cannot_log_a_user_in_or_out(api_factory: Callable[..., RunningApi]) -> None:
    api = api_factory(token=TOKEN)
    for path, form in (("/logout", {"csrf": ""}), ("/login", {"token": TOKEN})):
        r = requests.post(f"{api.url}{path}", data=form, headers={"Sec-Fetch-Site": "cross-site"},
                          allow_redirects=False, timeout=10)
        assert r.status_code == 403 and "another site" in r.text and "Set-Cookie" not in r.headers, path
    r = requests.post(f"{api.url}/login", data={"token": TOKEN}, headers={"Sec-Fetch-Site": "same-origin"},
                      allow_redirects=False, timeout=10)
    assert r.status_code == 303 and COOKIE in r.cookies


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_a_request_with_the_token_header_is_not_refused_for_its_site(
        api_factory: Callable[..., RunningApi], site: str) -> None:
    # a browser sends that header only after a CORS preflight this server refuses: a page
    # that sends it (a dashboard behind a proxy adding CORS) holds the token itself
    api = api_factory({"history": {"api_reads": True}}, token=TOKEN)
    fetch = {"Sec-Fetch-Site": site, "Origin": "http://dashboard.example"}
    assert _read(api, {**fetch, "Authorization": f"Token {TOKEN}"}, camera_id="gate").status_code == 201
    wrong = _read(api, {**fetch, "Authorization": "Token guess"})
    assert wrong.status_code == 403 and wrong.json()["detail"] == "Invalid token."
    # the session cookie is still refused from another site's page, the CSRF token notwithstanding
    session = requests.Session()
    assert session.post(f"{api.url}/login", data={"token": TOKEN}, timeout=10).status_code == 200
    csrf = ConsoleAuth(TOKEN).csrf(session.cookies[COOKIE])
    r = session.delete(f"{api.url}/v1/watchlists/anything/", headers={**fetch, "X-CSRF-Token": csrf},
                       timeout=10)
    assert r.status_code == 403 and "another site" in r.json()["detail"]
    r = session.delete(f"{api.url}/v1/watchlists/anything/", headers={"X-CSRF-Token": csrf}, timeout=10)
    assert r.status_code == 404, r.text


def test_a_camera_number_of_thousands_of_digits_is_404(api_factory: Callable[..., RunningApi]) -> None:
    api = api_factory()
    r = requests.get(f"{api.url}/console/cameras/{'9' * 5000}/view.jpg", timeout=10)  # past int()'s
    assert r.status_code == 404 and "no camera number" in r.json()["detail"], r.text[:200]


def test_throttled_is_an_input_error() -> None:
    e = Throttled("wait", retry_after_s=3)
    assert isinstance(e, InputError) and e.status == 429 and e.retry_after_s == 3



def test_another_authorization_scheme_is_named(api_factory: Callable[..., RunningApi]) -> None:
    """``Bearer <token>`` (a common slip) is refused in the reference's words, naming the scheme
    that was not read and the header to send; a right ``Token`` is accepted."""
    api = api_factory(token=TOKEN)
    r = requests.get(f"{api.url}/info/", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert r.status_code == 403, r.text
    assert r.json()["detail"] == ("Authentication credentials were not provided (the 'Bearer' scheme is not "
                                  "read). Send the header 'Authorization: Token <key>'.")
    r = requests.get(f"{api.url}/info/", headers={"Authorization": f"Token {TOKEN}"}, timeout=10)
    assert r.status_code == 200, r.text


def test_a_request_without_the_header_is_told_so(api_factory: Callable[..., RunningApi]) -> None:
    """No Authorization header at all: said as that, not as an empty scheme ``''`` not read."""
    api = api_factory(token=TOKEN)
    r = requests.get(f"{api.url}/info/", timeout=10)
    assert r.status_code == 403, r.text
    assert r.json()["detail"] == ("Authentication credentials were not provided (the request has no "
                                  "Authorization header). Send the header 'Authorization: Token <key>'.")
