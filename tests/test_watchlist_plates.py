"""One plate of a watch list added, replaced or removed in one request, over the real API server
(``PUT|DELETE /v1/watchlists/<name>/plates/<plate>/``).

Why: a client that edits a list by reading it and sending it back whole (``PUT`` of the list)
loses a plate that another client added in between; the console's Add and Remove were such a
client, so two quick adds kept one plate.  A per-plate edit is read and written under the lists'
lock: every plate sent concurrently is kept.
"""

from __future__ import annotations

import gzip
import http.client
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from conftest import RunningApi

PLATES = [f"AB{i:03d}CD" for i in range(12)]


def _plate(api: RunningApi, method: str, name: str, plate: str, body: Any = None, **kw: Any) -> requests.Response:
    return requests.request(method, f"{api.url}/v1/watchlists/{name}/plates/{plate}/", json=body,
                            timeout=30, **kw)


def _plates(api: RunningApi, name: str) -> list[tuple[str, str]]:
    got = requests.get(f"{api.url}/v1/watchlists/{name}/", timeout=10).json()
    return [(p["plate"], p["label"]) for p in got["plates"]]


def test_plates_added_at_the_same_time_are_all_kept(api_factory: Callable[..., RunningApi],
                                                    tmp_path: Path) -> None:
    state = tmp_path / "state"
    api = api_factory({"api": {"threads": 8}}, state_dir=state)
    assert requests.put(f"{api.url}/v1/watchlists/visitors/", json={"plates": []}, timeout=10).status_code == 200
    start = threading.Barrier(len(PLATES))
    answers: list[int] = []

    def add(plate: str) -> None:
        start.wait()
        answers.append(_plate(api, "PUT", "visitors", plate, {"label": plate.lower()}).status_code)

    threads = [threading.Thread(target=add, args=(p,)) for p in PLATES]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert answers == [200] * len(PLATES)
    assert sorted(_plates(api, "visitors")) == [(p, p.lower()) for p in PLATES]
    stored = json.loads((state / "watchlists.json").read_text())["lists"]["visitors"]["plates"]
    assert sorted(p["plate"] for p in stored) == PLATES


def test_one_plate_is_replaced_in_its_place_and_removed(api_factory: Callable[..., RunningApi]) -> None:
    api = api_factory()
    r = requests.put(f"{api.url}/v1/watchlists/visitors/",
                     json={"max_distance": 0.5, "plates": ["AA111AA", {"plate": "BB222BB", "label": "Bob"}, "CC333CC"]},
                     timeout=10)
    assert r.status_code == 200
    r = _plate(api, "PUT", "visitors", "bb-222-bb", {"label": "Robert", "max_distance": 0})  # normalised
    assert r.status_code == 200 and r.json()["max_distance"] == 0.5  # the list's own is kept
    assert _plates(api, "visitors") == [("AA111AA", ""), ("BB222BB", "Robert"), ("CC333CC", "")]
    assert requests.get(f"{api.url}/v1/watchlists/visitors/", timeout=10).json()["plates"][1]["max_distance"] == 0
    assert _plate(api, "PUT", "visitors", "DD444DD", headers={"Content-Type": "application/json"}).status_code == 200
    r = _plate(api, "DELETE", "visitors", "AA111AA")
    assert r.status_code == 200 and [p["plate"] for p in r.json()["plates"]] == ["BB222BB", "CC333CC", "DD444DD"]
    again = _plate(api, "DELETE", "visitors", "AA111AA")  # a second click: said, nothing else removed
    assert again.status_code == 404 and "no plate 'AA111AA'" in again.json()["detail"]
    assert [p for p, _ in _plates(api, "visitors")] == ["BB222BB", "CC333CC", "DD444DD"]


def test_a_bad_plate_edit_is_refused_naming_why(api_factory: Callable[..., RunningApi]) -> None:
    api = api_factory({"watchlists": {"staff": {"plates": ["AB123CD"]}}})
    assert requests.put(f"{api.url}/v1/watchlists/visitors/", json={"plates": []}, timeout=10).status_code == 200
    missing = _plate(api, "PUT", "nobody", "AB123CD", {})
    assert missing.status_code == 404 and "PUT /v1/watchlists/nobody/" in missing.json()["detail"]
    assert _plate(api, "PUT", "staff", "XY99ZZ", {}).status_code == 409  # the config file's: read-only
    assert _plate(api, "DELETE", "staff", "AB123CD").status_code == 409
    for plate, body in (("--", {}), ("AB1", {"colour": "red"}), ("AB1", {"label": "x" * 81}),
                        ("AB1", {"max_distance": 7}), ("AB1", [1])):
        r = _plate(api, "PUT", "visitors", plate, body)
        assert r.status_code == 400, (plate, body, r.text)
    form = requests.put(f"{api.url}/v1/watchlists/visitors/plates/AB1/", data="label=x", timeout=10,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415  # a cross-site form cannot edit the lists
    assert _plates(api, "visitors") == []


def test_a_plate_with_a_slash_escaped_in_the_path_is_the_plate_without_it(
        api_factory: Callable[..., RunningApi]) -> None:
    """``AB/12`` escaped as a path segment is ``AB%2F12`` (urllib's ``quote(plate, safe="")``,
    JavaScript's ``encodeURIComponent``): the plate ``AB12``, as in a whole list.  It was
    ``AB2F12``: the server keeps ``%2F`` escaped in the path."""
    api = api_factory()
    assert requests.put(f"{api.url}/v1/watchlists/visitors/", json={"plates": ["AB/34"]}, timeout=10).status_code == 200
    for escaped in ("AB%2F12", "ab%2f56"):
        assert _plate(api, "PUT", "visitors", escaped, {}).status_code == 200
    assert _plates(api, "visitors") == [("AB34", ""), ("AB12", ""), ("AB56", "")]
    assert _plate(api, "DELETE", "visitors", "AB%2F34").status_code == 200
    assert _plates(api, "visitors") == [("AB12", ""), ("AB56", "")]


def test_a_body_over_its_limit_names_that_limit_not_the_uploads(
        api_factory: Callable[..., RunningApi]) -> None:
    """The plate reader's api.max_upload_bytes does not bound these bodies: naming it sent an
    admin to raise a setting that changes nothing."""
    api = api_factory()
    assert requests.put(f"{api.url}/v1/watchlists/visitors/", json={"plates": []}, timeout=10).status_code == 200
    big = _plate(api, "PUT", "visitors", "AB1", {"label": "x" * 5000})
    assert big.status_code == 413, big.text
    said = big.json()["detail"]
    assert "max_upload_bytes" not in said and "label" in said
    whole = requests.put(f"{api.url}/v1/watchlists/visitors/", timeout=30,
                         json={"plates": [{"plate": f"AB{i}", "label": "x" * 80} for i in range(30_000)]})
    assert whole.status_code == 413, whole.text
    assert "max_upload_bytes" not in whole.json()["detail"] and "fewer plates" in whole.json()["detail"]


def test_a_plate_typed_composed_or_decomposed_is_one_plate(api_factory: Callable[..., RunningApi]) -> None:
    """``TÜ`` as one character (a PC's keyboard) and as ``U`` with a combining diaeresis (a
    Mac's, or pasted from a file name) look alike and are one plate, ``TU``: the first was
    ``T``, the second ``TU``.  A fullwidth ``ＡＢ１２`` (an East Asian input method) is
    ``AB12``; it was nothing, refused as holding no letter."""
    api = api_factory()
    composed, decomposed = "T\u00dcAB123", "TU\u0308AB123"
    r = requests.put(f"{api.url}/v1/watchlists/visitors/", timeout=10,
                     json={"plates": [composed, "\uff21\uff22\uff11\uff12"]})
    assert r.status_code == 200, r.text
    assert _plates(api, "visitors") == [("TUAB123", ""), ("AB12", "")]
    assert _plate(api, "PUT", "visitors", decomposed, {"label": "same"}).status_code == 200
    assert _plates(api, "visitors") == [("TUAB123", "same"), ("AB12", "")]
    assert _plate(api, "DELETE", "visitors", composed).status_code == 200
    assert _plates(api, "visitors") == [("AB12", "")]


def test_a_compressed_or_empty_body_is_said_so(api_factory: Callable[..., RunningApi]) -> None:
    """A gzipped body was parsed as it came ("not valid JSON: can't decode byte 0x8b"), and an
    empty one was "Expecting value: line 1 column 1": neither said what was wrong."""
    api = api_factory()
    body = json.dumps({"plates": ["AB123"]}).encode()
    packed = requests.put(f"{api.url}/v1/watchlists/visitors/", data=gzip.compress(body), timeout=10,
                          headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert packed.status_code == 415 and "Content-Encoding 'gzip'" in packed.json()["detail"], packed.text
    empty = requests.put(f"{api.url}/v1/watchlists/visitors/", data=b"", timeout=10,
                         headers={"Content-Type": "application/json"})
    assert empty.status_code == 400 and "empty" in empty.json()["detail"], empty.text
    assert requests.get(f"{api.url}/v1/watchlists/visitors/", timeout=10).status_code == 404  # neither made it
    plain = requests.put(f"{api.url}/v1/watchlists/visitors/", data=body, timeout=10,
                         headers={"Content-Type": "application/json", "Content-Encoding": "identity"})
    assert plain.status_code == 200, plain.text


def test_a_plate_stored_by_an_earlier_version_is_named_not_removed_in_its_place(
        api_factory: Callable[..., RunningApi]) -> None:
    """Earlier versions kept a plate's ASCII letters and digits alone: ``TÜ123`` was stored as
    ``T123``.  A DELETE of ``TÜ123`` that removed ``T123`` where no ``TU123`` was held removed,
    when retried after it had removed ``TU123``, another car's entry: the 404 names the stored
    form instead.  A letter no reading holds is refused, not looked for (``ЖК12`` removed ``K12``)."""
    api = api_factory()
    stored = {"plates": ["T123", "TU123", "K12", "12"]}
    assert requests.put(f"{api.url}/v1/watchlists/visitors/", json=stored, timeout=10).status_code == 200
    assert _plate(api, "DELETE", "visitors", "T\u00dc123").status_code == 200
    again = _plate(api, "DELETE", "visitors", "T\u00dc123")  # a retry
    assert again.status_code == 404 and "it holds T123" in again.json()["detail"], again.text
    foreign = _plate(api, "DELETE", "visitors", "\u0416\u041a12")
    assert foreign.status_code == 400 and "'\u0416'" in foreign.json()["detail"], foreign.text
    assert _plates(api, "visitors") == [("T123", ""), ("K12", ""), ("12", "")]


def test_a_plate_path_longer_than_any_plate_is_refused_before_it_is_compared(
        api_factory: Callable[..., RunningApi]) -> None:
    """An edit compares its plate with every entry under the lists' lock: a path plate of 60,000
    characters against 2,000 entries held another client's edit 22.7 s."""
    api = api_factory()
    assert requests.put(f"{api.url}/v1/watchlists/visitors/", json={"plates": ["AB1"]}, timeout=10).status_code == 200
    long = _plate(api, "PUT", "visitors", "A" * 65, {})
    assert long.status_code == 400 and "65 characters" in long.json()["detail"], long.text
    assert _plate(api, "PUT", "visitors", "A" * 16, {}).status_code == 200


def test_a_plate_of_foreign_characters_alone_is_named_as_such(api_factory: Callable[..., RunningApi]) -> None:
    """``가`` alone was "must hold 1-16 letters or digits", though it holds a letter; the
    characters are named as typed (``가``, not its decomposed jamo) with what earlier versions
    matched the plate as."""
    api = api_factory()
    alone = requests.put(f"{api.url}/v1/watchlists/visitors/", json={"plates": ["\uac00"]}, timeout=10)
    assert alone.status_code == 400 and "'\uac00'" in alone.json()["detail"], alone.text
    korean = requests.put(f"{api.url}/v1/watchlists/visitors/", json={"plates": ["12\uac003456"]}, timeout=10)
    said = korean.json()["detail"]
    assert korean.status_code == 400 and "'\uac00'" in said and "'123456'" in said and "\u1100" not in said, said


def _put_with_codings(api: RunningApi, *codings: str) -> tuple[int, str]:
    """A list sent with each of ``codings`` as a Content-Encoding header of its own."""
    body = json.dumps({"plates": ["AB123"]}).encode()
    host, port = api.url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.putrequest("PUT", "/v1/watchlists/visitors/")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(len(body)))
        for coding in codings:
            connection.putheader("Content-Encoding", coding)
        connection.endheaders(body)
        answer = connection.getresponse()
        return answer.status, answer.read().decode()
    finally:
        connection.close()


def test_a_list_of_codings_that_are_all_identity_is_read(api_factory: Callable[..., RunningApi]) -> None:
    """``identity,identity`` (or identity sent twice) names no compression, and was a 415."""
    api = api_factory()
    for codings in (["identity,identity"], [" Identity , identity "], ["identity", "IDENTITY"]):
        assert _put_with_codings(api, *codings)[0] == 200, codings
    for codings in (["identity, gzip"], ["identity", "gzip"], ["gzip,identity"]):
        status, said = _put_with_codings(api, *codings)
        assert status == 415 and "gzip" in said, (codings, status, said)


def test_a_plate_typed_in_cyrillic_or_greek_is_its_latin_twin(api_factory: Callable[..., RunningApi]) -> None:
    """Ukrainian ``АА1234ВС`` and Greek ``ΙΚΑ1234`` plates are made of letters that look like
    Latin ones, and the reader reads them as those: typed on their own keyboards they were
    ``1234`` (the letters dropped), an entry that matched cars it was never meant for."""
    api = api_factory()
    r = requests.put(f"{api.url}/v1/watchlists/visitors/", timeout=10,
                     json={"plates": ["\u0410\u0410 1234 \u0412\u0421", "\u0399\u039a\u0391-1234"]})
    assert r.status_code == 200, r.text
    assert _plates(api, "visitors") == [("AA1234BC", ""), ("IKA1234", "")]
    assert _plate(api, "PUT", "visitors", "\u0430\u0445\u0441\u043e1", {}).status_code == 200  # lower case
    assert _plates(api, "visitors")[-1] == ("AXCO1", "")


def test_a_plate_with_a_letter_no_reading_holds_is_refused_not_shortened(
        api_factory: Callable[..., RunningApi]) -> None:
    """``Ж`` has no Latin twin: dropped, ``ЖК12`` was stored as ``K12``."""
    api = api_factory()
    r = requests.put(f"{api.url}/v1/watchlists/visitors/", timeout=10, json={"plates": ["\u0416\u041a12"]})
    assert r.status_code == 400 and "'\u0416'" in r.json()["detail"] and "A-Z" in r.json()["detail"], r.text
    assert requests.get(f"{api.url}/v1/watchlists/visitors/", timeout=10).status_code == 404
    search = requests.get(f"{api.url}/v1/events/", params={"plate": "AB\u00b2"}, timeout=10)
    assert search.status_code == 400 and "'\u00b2'" in search.json()["detail"], search.text
    assert requests.get(f"{api.url}/v1/events/", params={"plate": "\u0410\u04121"}, timeout=10).status_code == 200


def test_a_latin_letter_with_a_stroke_is_its_base(api_factory: Callable[..., RunningApi]) -> None:
    """NFD takes no stroke off: Croatian ``ĐA123AB`` (Đakovo) was ``A123AB``, ``ŁDZ`` ``DZ``."""
    api = api_factory()
    r = requests.put(f"{api.url}/v1/watchlists/visitors/", timeout=10,
                     json={"plates": ["\u0110A123AB", "\u0141DZ123", "\u00d8RE12", "\u00c6B12"]})
    assert r.status_code == 200, r.text
    assert [p for p, _ in _plates(api, "visitors")] == ["DA123AB", "LDZ123", "ORE12", "AEB12"]


def test_an_oversized_list_is_told_what_counts(api_factory: Callable[..., RunningApi]) -> None:
    """The 413 said that 10,000 plates with labels fit, untrue of labels outside ASCII sent as
    \\uXXXX escapes (requests' ``json=``, this server's own GET): 10,000 plates with 45-character
    Cyrillic labels are 2.85 MB so, 1.21 MB as UTF-8.  What it says fits is sent here."""
    api = api_factory()
    url = f"{api.url}/v1/watchlists/big/"
    cyrillic = "\u0421\u043e\u0442\u0440\u0443\u0434\u043d\u0438\u043a " * 5  # 45 characters
    plates = [{"plate": f"AB{i:05d}", "label": cyrillic[:45]} for i in range(10_000)]
    escaped = requests.put(url, json={"plates": plates}, timeout=60)
    said = escaped.json()["detail"]
    assert escaped.status_code == 413 and str(2 * 1024 * 1024) in said, escaped.text
    assert "\\uXXXX escape" in said and "UTF-8" in said, said
    utf8 = requests.put(url, data=json.dumps({"plates": plates}, ensure_ascii=False).encode(), timeout=60,
                        headers={"Content-Type": "application/json"})
    assert utf8.status_code == 200, utf8.text[:300]
    # 10,000 plates of the longest kind, each with 80 ASCII letters and digits and its own distance
    longest = [{"plate": f"AB{i:05d}CDEFGHJK", "label": f"L{i:05d}".ljust(80, "x"), "max_distance": 1 / 3}
               for i in range(10_000)]
    ascii_list = requests.put(url, json={"max_distance": 1 / 3, "plates": longest}, timeout=60)
    assert ascii_list.status_code == 200 and len(ascii_list.json()["plates"]) == 10_000, ascii_list.text[:300]


def test_a_letter_no_reading_holds_is_refused_wherever_it_stands(api_factory: Callable[..., RunningApi]) -> None:
    """Only the first 64 characters were looked at: ``AB123``, 70 spaces and ``Ж`` was stored as
    ``AB123`` where ``AB123Ж`` was refused.  Text longer than any plate's is refused as such."""
    api = api_factory()
    padded = "AB123" + " " * 70 + "\u0416"
    listed = requests.put(f"{api.url}/v1/watchlists/visitors/", json={"plates": [padded]}, timeout=10)
    assert listed.status_code == 400 and "76 characters" in listed.json()["detail"], listed.text
    search = requests.get(f"{api.url}/v1/events/", params={"plate": padded}, timeout=10)
    assert search.status_code == 400, search.text  # (the search caps its parameters at 64)
