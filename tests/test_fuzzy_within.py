"""The history's plate search finds exactly what a straightforward search finds: every plate
compared with the scalar ``fuzzy.distance``, one by one.  ``within`` skips the plates whose
characters alone put them too far (the search over 200,000 distinct plates held the history's
lock for 0.35-0.55 s comparing each); it must never skip one within, nor change a distance.
Plates full of the characters a reader confuses, of every length, duplicates and the empty one.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from pathlib import Path

from edge_alpr.fuzzy import CONFUSION_PAIRS, distance, pack, within
from edge_alpr.history.config import HistoryConfig
from edge_alpr.history.store import EventQuery, History, Sighting
from edge_alpr.types import Box

CONFUSABLE = "".join(c for pair in CONFUSION_PAIRS for c in pair)
ALPHABET = CONFUSABLE * 3 + "ACEGHKMNPRTVXY34679"
DISTANCES = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)


def _plates(rng: random.Random, n: int) -> list[str]:
    return ["".join(rng.choices(ALPHABET, k=rng.choice([0, 1, 2, 3, 5, 6, 7, 7, 7, 8, 9, 10]))) for _ in range(n)]


def _near(query: str, base: str, rng: random.Random) -> str:
    """``base`` with a few edits: a confusion swapped, a character dropped or added."""
    out = list(base)
    for _ in range(rng.randint(0, 3)):
        i = rng.randrange(len(out) + 1)
        kind = rng.choice("sdi")
        if kind == "s" and i < len(out):
            out[i] = rng.choice(ALPHABET)
        elif kind == "d" and i < len(out):
            del out[i]
        else:
            out.insert(i, rng.choice(ALPHABET))
    return "".join(out) or query


def reference(query: str, plates: list[str], max_distance: float) -> dict[int, float]:
    return {i: d for i, p in enumerate(plates) if (d := distance(query, p)) <= max_distance + 1e-6}


def test_within_finds_what_comparing_every_plate_finds() -> None:
    rng = random.Random(5)
    queries = ["B310VLV", "CJ12ABC", "0OD", "I1", "S5Z2B8", "AB", "OOOOOOOO", "DB123SZ"]
    plates = _plates(rng, 1500) + [_near(q, q, rng) for q in queries for _ in range(40)] + ["", "B310VLV"]
    packed = pack("\n".join(plates))
    assert [packed.plate(i) for i in range(len(plates))] == plates
    for query in queries:
        for max_distance in DISTANCES:
            found, costs = within(query, packed, max_distance)
            got = {int(i): float(d) for i, d in zip(found, costs)}
            assert got == reference(query, plates, max_distance), (query, max_distance)
    assert within("AB", pack(None), 3.0)[0].size == 0  # a history without plates
    assert [int(i) for i in within("AB", pack(""), 2.0)[0]] == [0]  # one empty plate: 2 insertions away


def test_the_history_s_search_matches_the_reference(tmp_path: Path) -> None:
    rng = random.Random(11)
    plates = sorted(set(_plates(rng, 400) + [_near("B310VLV", "B310VLV", rng) for _ in range(60)]) - {""})
    history = History(HistoryConfig(min_free_bytes=0), tmp_path / "h")
    try:
        now = datetime.now(timezone.utc)
        for n, plate in enumerate(plates):
            history.publish(Sighting(f"e{n}", "camera", "gate", now, plate, 0.9, Box(1, 1, 9, 5),
                                     {"plate": plate.lower()}))
        for query in ("B310VLV", "8310ULV", "SZ0"):
            for max_distance in (0.0, 1.0, 1.5, 3.0):
                events = history.query(EventQuery(plate=query, max_distance=max_distance, limit=500))[0]
                want = reference(query, plates, max_distance)
                assert {e["plate"].upper(): e["distance"] for e in events} == \
                    {plates[i]: round(d, 2) for i, d in want.items()}, (query, max_distance)
    finally:
        history.close()
