"""The event history on a real SQLite file and real JPEGs: fuzzy search, retention, full disks.

Retention is tested by filling small quotas: the oldest events go first, their files with them,
and nothing else in the state directory is touched; a file system that fills up (a real tmpfs
where the test may mount one) costs events, never the service.
"""

from __future__ import annotations

import json
import os
import random
import string
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge_alpr.fuzzy import CONFUSION_PAIRS, distance, distances, normalize
from edge_alpr.history.config import HistoryConfig
from edge_alpr.history.store import EventQuery, History, Sighting
from edge_alpr.types import Box

SAMPLES = Path(__file__).resolve().parent.parent / "edge_alpr" / "samples"
SCENE = np.asarray(Image.open(sorted(SAMPLES.glob("*.jpg"))[0]).convert("RGB"))
BOX = Box(111, 134, 245, 165)


def sighting(n: int, plate: str, camera: str = "gate", ts: float | None = None) -> Sighting:
    stamp = datetime.fromtimestamp(ts if ts is not None else 1_700_000_000 + n, timezone.utc)
    return Sighting(f"ev-{n:06d}", "camera", camera, stamp, plate, 0.9, BOX,
                    {"plate": plate.lower(), "camera_id": camera}, None, SCENE)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------------------- fuzzy


@pytest.mark.parametrize(("a", "b"), CONFUSION_PAIRS)
def test_each_confusion_pair_costs_half_an_edit(a: str, b: str) -> None:
    assert distance(f"AB{a}123", f"AB{b}123") == 0.5
    assert distance(f"AB{b}123", f"AB{a}123") == 0.5
    assert distance(f"AB{a}123", "ABX123") == 1.0  # any other substitution: a whole edit


def test_confusions_rank_before_real_differences() -> None:
    plates = ["AB0123", "ABO123", "AB7123", "AB01234", "XY9999", "DB0I23"]
    found = distances("ABO123", plates)
    # DB0I23: A->D costs 1, O->0 and 1->I half each
    assert found.tolist() == [0.5, 0.0, 1.0, 1.5, 6.0, 2.0]
    assert normalize("ab-0 12.3") == "AB0123"


def test_vectorised_and_scalar_distances_agree() -> None:
    rng = random.Random(7)
    alphabet = string.ascii_uppercase + string.digits
    plates = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 9))) for _ in range(500)]
    for query in ("", "A", "S0I8Z2D", "ABC1234XYZ"):
        found = distances(query, plates)
        assert [round(float(v), 3) for v in found] == [distance(query, p) for p in plates]


# ------------------------------------------------------------------------------- queries


def test_query_fuzzy_filters_and_pages(tmp_path: Path) -> None:
    history = History(HistoryConfig(), tmp_path / "history")
    plates = ["S010JOK", "5010J0K", "ZZ999", "5010JOK"]
    for n, plate in enumerate(plates):
        assert history.publish(sighting(n, plate, camera="gate" if n % 2 == 0 else "yard"))
    found, _ = history.query(EventQuery(plate="5O1OJOK", max_distance=1.5))
    assert [e["plate"] for e in found] == ["5010jok", "5010j0k", "s010jok"]  # newest first
    assert [e["distance"] for e in found] == [1.0, 1.5, 1.5]
    closer, _ = history.query(EventQuery(plate="5O1OJOK", max_distance=1.0))
    assert [e["id"] for e in closer] == ["ev-000003"]
    exact, _ = history.query(EventQuery(plate="5010JOK", max_distance=0.0))
    assert [e["id"] for e in exact] == ["ev-000003"]
    yard, _ = history.query(EventQuery(camera="yard"))
    assert [e["id"] for e in yard] == ["ev-000003", "ev-000001"]
    window, _ = history.query(EventQuery(since=1_700_000_001, until=1_700_000_003))
    assert [e["id"] for e in window] == ["ev-000002", "ev-000001"]
    page, after = history.query(EventQuery(limit=3))
    rest, last = history.query(EventQuery(limit=3, after=after))
    assert [e["id"] for e in page + rest] == [f"ev-{n:06d}" for n in (3, 2, 1, 0)] and last is None
    event = history.get("ev-000002")
    assert event is not None and event["images"]["plate"] == "/v1/events/ev-000002/plate.jpg"
    for kind in ("plate", "scene"):
        path = history.image("ev-000002", kind)
        assert path is not None and path.read_bytes()[:3] == b"\xff\xd8\xff"
    with Image.open(history.image("ev-000002", "scene") or "") as thumb:
        assert thumb.width == HistoryConfig().thumbnail_width
    assert history.get("nope") is None and history.image("nope", "plate") is None
    history.close()


# ------------------------------------------------------------------------------- retention


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_size_quota_deletes_oldest_first_and_nothing_else(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "history" / "images").mkdir(parents=True)
    bystanders = {state / "outbox.sqlite": b"queue", state / "history" / "notes.txt": b"mine",
                  state / "history" / "images" / "keep.jpg": b"not ours"}
    for path, data in bystanders.items():
        path.write_bytes(data)
    cfg = HistoryConfig(max_bytes=200 * 1024, min_free_bytes=0)
    history = History(cfg, state / "history")
    for n in range(60):  # ~25 kB each: the quota holds about 8
        history.publish(sighting(n, f"AB{n:04d}"))
        assert history.bytes <= cfg.max_bytes
    kept = [e["id"] for e in history.query(EventQuery(limit=500))[0]]
    assert 3 <= len(kept) < 60 and kept == [f"ev-{n:06d}" for n in range(59, 59 - len(kept), -1)]
    images = [p.name for p in (state / "history" / "images").rglob("*-*.jpg")]
    assert sorted(images) == sorted(f"{i}-{k}.jpg" for i in kept for k in ("plate", "scene"))
    on_disk = sum(p.stat().st_size for p in (state / "history" / "images").rglob("*-*.jpg"))
    assert on_disk <= cfg.max_bytes
    for path, data in bystanders.items():
        assert path.read_bytes() == data
    history.close()
    reopened = History(cfg, state / "history")  # the byte count survives a restart
    assert reopened.bytes == history.bytes and reopened.stats()["events"] == len(kept)
    reopened.close()


def test_age_bound_and_crash_leftovers(tmp_path: Path) -> None:
    clock = Clock()
    history = History(HistoryConfig(max_age_days=1, min_free_bytes=0), tmp_path / "h", clock=clock,
                      monotonic=clock)  # days that pass, not a step
    for n in range(5):
        history.publish(sighting(n, f"OLD{n}"))
    old_day = next((tmp_path / "h" / "images").iterdir())
    (old_day / "orphan-plate.jpg").write_bytes(b"left by a crash")  # written, never committed
    (old_day / "camera.mp4").write_bytes(b"not ours")
    clock.now += 2 * 86400
    history.publish(sighting(9, "NEW9"))
    assert [e["plate"] for e in history.query(EventQuery())[0]] == ["new9"]
    assert sorted(p.name for p in old_day.iterdir()) == ["camera.mp4"]  # ours gone, theirs kept
    history.close()


def test_no_free_space_drops_events_and_keeps_going(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    free = {"bytes": 10**9}
    history = History(HistoryConfig(min_free_bytes=50_000), tmp_path / "h",
                      free_bytes=lambda _: free["bytes"])
    for n in range(4):
        assert history.publish(sighting(n, f"AB{n}"))
    free["bytes"] = 0  # something else filled the disk: the history gives back all it has
    assert not history.publish(sighting(4, "AB4"))
    assert not history.publish(sighting(5, "AB5"))
    assert history.stats()["events"] == 0 and not list((tmp_path / "h" / "images").rglob("*.jpg"))
    assert sum("not kept" in r.message for r in caplog.records) == 1  # once per outage
    free["bytes"] = 10**9
    assert history.publish(sighting(6, "AB6"))
    assert [e["id"] for e in history.query(EventQuery())[0]] == ["ev-000006"]
    history.close()


def fill(path: Path) -> tuple[Path, int]:
    """Write ``path`` until the file system is full; the path and its size."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"x" * 4096):
            pass
    except OSError:  # ENOSPC
        pass
    finally:
        os.close(fd)
    return path, path.stat().st_size


def test_a_full_file_system_costs_events_not_the_service(tmp_path: Path) -> None:
    """On a real 2 MB tmpfs: the history fits itself into the space left, gives way to another
    writer that fills the disk, and survives ENOSPC from SQLite and from its JPEG writes."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.decode().strip()}")
    history = History(HistoryConfig(min_free_bytes=0), mount / "h")
    blind = None
    try:
        assert all(history.publish(sighting(n, f"AB{n:04d}")) for n in range(150))
        assert 0 < history.stats()["events"] < 150  # the oldest made room for the newest
        before = history.stats()["events"]
        filler, size = fill(mount / "other-writer.bin")  # something else takes every byte left
        assert history.publish(sighting(150, "AB0150"))  # room made from its own oldest only
        assert history.stats()["events"] <= before
        assert filler.stat().st_size == size  # never touched
        filler.unlink()
        assert history.publish(sighting(152, "AB0152"))
        history.close()
        # a free-space probe that is wrong (another writer raced it): real ENOSPC errors
        blind = History(HistoryConfig(min_free_bytes=0), mount / "h", free_bytes=lambda _: 10**12)
        results = [blind.publish(sighting(n, f"AB{n:04d}")) for n in range(200, 400)]
        assert not all(results) and blind.stats()["skipped"] > 0
        assert any(results[results.index(False):]), "never stored again after the disk filled"
        newest = blind.query(EventQuery(limit=1))[0]
        assert newest and newest[0]["id"] == f"ev-{399 - results[::-1].index(True):06d}"
    finally:
        history.close()
        if blind is not None:
            blind.close()
        subprocess.run(["umount", "-l", str(mount)], check=True)


def test_payload_round_trips(tmp_path: Path) -> None:
    history = History(HistoryConfig(), tmp_path / "h")
    s = sighting(1, "AB1")
    history.publish(s)
    history.publish(s)  # the same camera event again (re-read after a restart): kept once
    event = history.get("ev-000001")
    assert event is not None and event["result"] == json.loads(json.dumps(s.payload))
    assert history.stats()["events"] == 1
    history.close()
    assert os.path.exists(tmp_path / "h" / "history.sqlite")
