"""Client text that the 201 of POST /v1/plate-reader/ echoes and that events, the history's
log lines, CSV exports and webhooks carry on (``camera_id``, the file name of an
``upload_url``, a watch list entry's ``label``) holds no control character: a newline there
would forge a journal line and split a CSV row for a tool that reads it line by line.  Such text
is a 400 naming the field and the first bad character's position, over a real socket; printable
Unicode (accents, other scripts, emoji, spaces) stays accepted and is echoed whole."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import bottle
import pytest
import requests

from edge_alpr.api.app import request_said
from edge_alpr.watchlists import STATE_FILE
from tests.test_api_errors import detail

READ = "/v1/plate-reader/"
# each refused character: C0 (incl. \t \n \r), DEL, C1 (NEL), the Unicode line and paragraph
# separators (str.splitlines breaks on them) and a lone surrogate (UTF-8 cannot encode it)
REFUSED = ["\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x85", "\x9b", "\u2028", "\u2029", "\ud800"]
ACCEPTED = "Entrée Nord – 北門 🚗 gate 1"


def _post(api: Any, how: str, upload: bytes, fields: dict[str, str]) -> requests.Response:
    """The read, sent as multipart file bytes, a urlencoded form or a JSON body."""
    if how == "multipart":
        return requests.post(api.url + READ, files={"upload": upload}, data=fields, timeout=30)
    text = base64.b64encode(upload).decode()
    if how == "json":  # json.dumps escapes the surrogate as \ud800, as a client's JSON may
        return requests.post(api.url + READ, data=json.dumps({"upload": text, **fields}),
                             headers={"Content-Type": "application/json"}, timeout=30)
    return requests.post(api.url + READ, data={"upload": text, **fields}, timeout=30)


@pytest.mark.parametrize("how", ["form", "multipart", "json"])
def test_a_camera_id_with_a_control_character_is_a_clear_400(api: Any, sample_images: list[Path],
                                                             how: str) -> None:
    upload = sample_images[0].read_bytes()
    for bad in REFUSED:
        if bad == "\ud800" and how != "json":
            continue  # form bodies are UTF-8 bytes, which cannot hold a lone surrogate
        said = detail(_post(api, how, upload, {"camera_id": "gate" + bad + "x"}), 400)
        assert said.startswith("camera_id:"), (repr(bad), said)
        assert "character 5" in said and f"U+{ord(bad):04X}" in said, (repr(bad), said)
        assert bad not in said, said  # the message is one clean line too


@pytest.mark.parametrize("how", ["form", "multipart", "json"])
def test_a_camera_id_in_printable_unicode_is_echoed_and_kept(api_factory: Any, sample_images: list[Path],
                                                             how: str) -> None:
    api = api_factory({"history": {"api_reads": True}})
    response = _post(api, how, sample_images[0].read_bytes(), {"camera_id": ACCEPTED})
    assert response.status_code == 201, response.text
    assert response.json()["camera_id"] == ACCEPTED
    found = requests.get(api.url + "/v1/events/", params={"camera": ACCEPTED}, timeout=30)
    assert found.status_code == 200, found.text
    assert found.json()["results"], "the sample has a plate: the read is kept under its camera"


@pytest.mark.parametrize("how", ["form", "multipart", "json"])
def test_a_camera_id_s_surrounding_spaces_are_dropped_and_a_position_counts_them(
        api: Any, sample_images: list[Path], how: str) -> None:
    """``curl -F camera_id=<file`` sends a file written by ``echo`` with its final newline: taken
    as the name without it (a 400 before), as an upload_url is stripped.  A bad character's
    position is its place in the value as sent, in characters (code points), spaces before it
    and a character outside the BMP (two UTF-16 units) counted once."""
    upload = sample_images[0].read_bytes()
    response = _post(api, how, upload, {"camera_id": " gate1\n"})
    assert response.status_code == 201, response.text
    assert response.json()["camera_id"] == "gate1"
    for sent, place in (("  gate\x1bx", 7), ("\U0001F697\U0001F697\ngate", 3), ("\t\u202egate", 2)):
        said = detail(_post(api, how, upload, {"camera_id": sent}), 400)
        assert f"as character {place} " in said, (sent, said)
    longest = _post(api, how, upload, {"camera_id": "   " + "g" * 64 + "\n"})  # 64 once stripped
    assert longest.status_code == 201 and longest.json()["camera_id"] == "g" * 64, longest.text


@pytest.mark.parametrize("bad", ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067",
                                 "\u2068", "\u2069", "\u200b", "\ufeff",
                                 # other invisible format characters: word joiner, soft hyphen, a tag
                                 # character, an invisible separator; the Hangul filler (a blank letter)
                                 "\u2060", "\u00ad", "\U000E0041", "\u2063", "\u3164", "\uffa0", "\u115f"])
def test_a_bidirectional_control_or_an_invisible_space_in_a_camera_id_is_refused(
        api: Any, sample_images: list[Path], bad: str) -> None:
    """A right-to-left override shows ``gate\u202egpj.exe`` as ``gateexe.jpg`` in the console, a log
    or a CSV export; a zero-width space or byte order mark makes ``gate`` and another camera look
    alike.  Refused by code point and position; the joiners and the direction marks that scripts
    and emoji need are kept (``ACCEPTED`` and the test after this one)."""
    said = detail(_post(api, "form", sample_images[0].read_bytes(), {"camera_id": "gate" + bad + "x"}), 400)
    assert said.startswith("camera_id:") and f"U+{ord(bad):04X} as character 5 " in said, said


def test_joiners_and_direction_marks_stay_accepted_in_a_camera_id(api: Any, sample_images: list[Path]) -> None:
    # a woman mechanic (two emoji joined), Hebrew then a digit and a right-to-left mark, a Persian
    # word with its zero-width non-joiner, a left-to-right mark, an Arabic digit and letter mark
    kept = ("\U0001F469\u200d\U0001F527 \u05e9\u05e2\u05e8 2\u200f "
            "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 \u200ex \u0661\u061c2")
    response = _post(api, "form", sample_images[0].read_bytes(), {"camera_id": kept})
    assert response.status_code == 201, response.text
    assert response.json()["camera_id"] == kept


@pytest.mark.parametrize("bad", ["\n", "\r", "\t", "\x7f", "\x85", "\u2028"])
def test_an_upload_url_with_a_control_character_is_refused_before_fetching(api_factory: Any, bad: str) -> None:
    """urlsplit drops \\t \\r \\n silently, so such a URL was fetched and its file name, newline and
    all, echoed; refused now before anything is fetched (port 9 answers nothing)."""
    api = api_factory({"api": {"upload_url": {"enabled": True, "timeout_s": 2}}})
    url = f"http://127.0.0.1:9/snap{bad}shot.jpg"
    said = detail(requests.post(api.url + READ, data={"upload_url": url}, timeout=30), 400)
    assert said.startswith("upload_url:"), said
    assert "character 24" in said and f"U+{ord(bad):04X}" in said, said
    said = detail(requests.post(api.url + READ, data={"upload_url": "  " + url}, timeout=30), 400)
    assert "character 26" in said, said  # in the value as sent, its stripped spaces counted


def test_a_watch_list_label_with_a_control_character_is_a_clear_400(api: Any) -> None:
    url = api.url + "/v1/watchlists/deny/"
    for bad in ("\n", "\r", "\x00", "\x85", "\u2029"):
        body = {"plates": ["AB123CD", {"plate": "XY99ZZ", "label": "van" + bad + "forged"}]}
        said = detail(requests.put(url, json=body, timeout=30), 400)
        assert "plates[1].label" in said and "character 4" in said, (repr(bad), said)
        assert f"U+{ord(bad):04X}" in said, said
    assert requests.get(url, timeout=30).status_code == 404  # nothing was stored
    body = {"plates": [{"plate": "XY99ZZ", "label": ACCEPTED}]}
    response = requests.put(url, json=body, timeout=30)
    assert response.status_code in (200, 201), response.text
    assert requests.get(url, timeout=30).json()["plates"][0]["label"] == ACCEPTED


def test_a_label_stored_before_the_rule_survives_an_edit_of_its_list(api_factory: Any, tmp_path: Path) -> None:
    """A list stored before control characters were refused loads with its labels; a client
    edits it by sending it whole (the console's Add and Remove do), so a label sent unchanged
    for its plate is taken; a new or changed label, or the old one on another plate, is not."""
    state = tmp_path / "kept"
    state.mkdir()
    (state / STATE_FILE).write_text(json.dumps({"version": 1, "lists": {"deny": {"max_distance": 1, "plates": [
        {"plate": "AB123CD", "label": "van\tblue"}, {"plate": "XY99ZZ", "label": "car"}]}}}))
    api = api_factory(state_dir=state)
    url = api.url + "/v1/watchlists/deny/"
    got = requests.get(url, timeout=30).json()
    plates = [{"plate": p["plate"], "label": p["label"]} for p in got["plates"]]
    added = {"max_distance": got["max_distance"], "plates": [*plates, {"plate": "NEW1", "label": ""}]}
    response = requests.put(url, json=added, timeout=30)
    assert response.status_code in (200, 201), response.text
    removed = {"plates": [p for p in added["plates"] if p["plate"] != "XY99ZZ"]}
    response = requests.put(url, json=removed, timeout=30)
    assert response.status_code in (200, 201), response.text
    assert [(p["plate"], p["label"]) for p in requests.get(url, timeout=30).json()["plates"]] == \
        [("AB123CD", "van\tblue"), ("NEW1", "")]
    for plates in ([{"plate": "AB-123-CD", "label": "van\tred"}],  # changed
                   [{"plate": "NEW1", "label": "van\tblue"}],  # the old label on another plate
                   [{"plate": "ZZ1", "label": "new\tone"}]):  # new
        said = detail(requests.put(url, json={"plates": plates}, timeout=30), 400)
        assert "plates[0].label" in said and "U+0009" in said, said
    other = detail(requests.put(api.url + "/v1/watchlists/other/", timeout=30,
                                json={"plates": [{"plate": "AB123CD", "label": "van\tblue"}]}), 400)
    assert "U+0009" in other, other  # the stored label counts for its own list only
    assert len(requests.get(url, timeout=30).json()["plates"]) == 2  # nothing refused was stored


def test_a_request_path_in_a_log_line_is_quoted_on_one_line() -> None:
    """The log names the request of a full disk's 503 and of a 500 by its path, which bottle
    decodes: a %0A there started a line of the client's own in the journal.  Quoted now, as the
    client's other values are (the running server's line: ``test_state_dir.py``)."""
    bottle.request.bind({"REQUEST_METHOD": "GET", "PATH_INFO": "/v1/events/x\nERROR forged/"})
    said = request_said()
    assert "\n" not in said and r"'/v1/events/x\nERROR forged/'" in said, said
