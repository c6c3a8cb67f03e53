"""Tracker semantics with recorded PlateResult values (no model involved)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from edge_alpr.stream.config import EventConfig
from edge_alpr.stream.tracker import Tracker, edit_distance
from edge_alpr.types import Box, Frame, PlateRead, PlateResult, VehicleRead

T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)
IMG = np.zeros((240, 320, 3), np.uint8)


def _res(plate: str, score: float, x: int = 100) -> PlateResult:
    box = Box(x, 100, x + 80, 120)
    return PlateResult(box, 0.9, PlateRead(plate, score, (), "es", 0.8),
                       VehicleRead("Sedan", 0.7, Box(x - 40, 40, x + 120, 200)))


def _frame(t: float, i: int = 0) -> Frame:
    return Frame(IMG, "gate", T0 + timedelta(seconds=t), i)


def test_one_event_per_passage_with_best_read_after_delay() -> None:
    tr = Tracker("gate", EventConfig(max_prediction_delay=2.0, memory_decay=10.0))
    out = []
    reads = ["1234ABC", "1284ABC", "1234A8C", "1234ABC"]  # OCR noise on one vehicle
    scores = [0.7, 0.6, 0.5, 0.95]
    for i, (p, s) in enumerate(zip(reads, scores, strict=False)):
        out += tr.update(_frame(i * 0.4, i), [_res(p, s, 100 + i * 5)])
    assert out == []  # not before max_prediction_delay
    out += tr.tick(T0.timestamp() + 2.5)
    assert len(out) == 1
    ev = out[0]
    assert ev.result.read.plate == "1234ABC" and ev.result.read.score == 0.95
    assert ev.frames == 4 and ev.timestamp == T0 + timedelta(seconds=1.2)
    payload = ev.to_payload()
    assert payload["plate"] == "1234abc" and payload["camera_id"] == "gate" and payload["id"] == ev.id
    assert payload["timestamp"] == "2026-11-25T12:00:01.200Z"


def test_memory_decay_suppresses_same_plate_until_unseen() -> None:
    tr = Tracker("gate", EventConfig(max_prediction_delay=1.0, memory_decay=5.0))
    events = []
    for i in range(40):  # a parked car seen for 20 s
        events += tr.update(_frame(i * 0.5), [_res("1234ABC", 0.8)])
    assert len(events) == 1 and tr.suppressed > 0
    events += tr.tick(T0.timestamp() + 19.5 + 6.0)  # gone for > memory_decay
    events += tr.update(_frame(30.0), [_res("1234ABC", 0.8)])
    events += tr.tick(T0.timestamp() + 32.0)
    assert len(events) == 2  # it came back after the memory decayed: a new passage


def test_two_vehicles_in_one_frame_are_two_events_with_distinct_ids() -> None:
    tr = Tracker("gate", EventConfig(max_prediction_delay=1.0))
    tr.update(_frame(0), [_res("1234ABC", 0.8, 10), _res("9876XYZ", 0.8, 200)])
    events = tr.flush()
    assert sorted(e.result.read.plate for e in events) == ["1234ABC", "9876XYZ"]
    assert len({e.id for e in events}) == 2


def test_event_ids_are_stable_for_the_same_input() -> None:
    def run() -> list[str]:
        tr = Tracker("gate", EventConfig(max_prediction_delay=1.0), id_salt="dev1")
        tr.update(_frame(0), [_res("1234ABC", 0.8)])
        return [e.id for e in tr.flush()]
    assert run() == run()
    other = Tracker("gate", EventConfig(max_prediction_delay=1.0), id_salt="dev2")
    other.update(_frame(0), [_res("1234ABC", 0.8)])
    assert [e.id for e in other.flush()] != run()


def test_empty_reads_are_ignored_and_edit_distance() -> None:
    tr = Tracker("gate", EventConfig())
    assert tr.update(_frame(0), [_res("", 0.9)]) == [] and tr.active == 0
    assert edit_distance("1234ABC", "1234ABC") == 0
    assert edit_distance("1234ABC", "1284ABC") == 1
    assert edit_distance("1234ABC", "234ABC") == 1
    assert edit_distance("ABC", "XYZ") == 3


def test_next_vehicle_at_same_spot_is_not_merged() -> None:
    tr = Tracker("gate", EventConfig(max_prediction_delay=5.0))
    tr.update(_frame(0.0), [_res("1234ABC", 0.8)])
    tr.update(_frame(0.1), [])  # a gap: the first car has left
    tr.update(_frame(0.2), [_res("9876XYZ", 0.8)])  # same place, different plate
    tr.update(_frame(0.3), [_res("9876XYZ", 0.9)])
    assert sorted(e.result.read.plate for e in tr.flush()) == ["1234ABC", "9876XYZ"]


def test_a_plate_read_too_unsurely_gives_no_event_and_is_not_remembered() -> None:
    tr = Tracker("gate", EventConfig(max_prediction_delay=1.0, memory_decay=60.0))
    assert tr.cfg.min_score == 0.1  # the default: reads right less than 1 time in 10 give no event
    events = []
    for i in range(3):  # a distant plate, read from a few pixels: the lowest calibrated score
        events += tr.update(_frame(i * 0.3), [_res("QQ44CSQ", 0.03)])
    events += tr.tick(T0.timestamp() + 3.0)
    assert events == [] and tr.unsure == 1
    for i in range(3):  # the same plate closer, read well: reported (the unsure one was not remembered)
        events += tr.update(_frame(4.0 + i * 0.3), [_res("QQ44CSQ", 0.9)])
    events += tr.tick(T0.timestamp() + 7.0)
    assert [e.result.read.plate for e in events] == ["QQ44CSQ"] and tr.unsure == 1
    everything = Tracker("gate", EventConfig(max_prediction_delay=1.0, min_score=0.0))
    everything.update(_frame(0.0), [_res("QQ44CSQ", 0.03)])
    assert len(everything.flush()) == 1 and everything.unsure == 0


def test_a_suppressed_plate_that_comes_back_is_listed_once_and_a_parked_one_never() -> None:
    """The same image dropped into a folder again gave no event and said nothing: the return of a
    suppressed plate after a gap is listed (once per event) for the loop to log why."""
    tr = Tracker("gate", EventConfig(max_prediction_delay=1.0, memory_decay=300.0))
    events = []
    for i in range(10):  # a parked car: suppressed frame after frame, no return
        events += tr.update(_frame(i * 0.5), [_res("1234ABC", 0.8)])
    assert len(events) == 1 and tr.take_returns() == []
    events += tr.update(_frame(20.0), [_res("1234ABC", 0.8)])  # back after 15.5 s
    events += tr.update(_frame(40.0), [_res("1234ABC", 0.8)])  # and again: said once already
    assert len(events) == 1
    assert tr.take_returns() == [("1234ABC", 15.5)] and tr.take_returns() == []
