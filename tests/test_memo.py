"""Decodings looked up instead of repeated (edge_alpr.engine.memo, ``Reader.candidates``).

Real int8 models and a real sample photo: the service's reads must come out the same with the
memo as with every decoding computed afresh, while repeated decodings are no longer run.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_alpr.engine import ctc
from edge_alpr.engine.memo import ArrayMemo
from edge_alpr.engine.reader import ReadSettings
from edge_alpr.engine.states import StatedReader
from edge_alpr.imaging import decode
from edge_alpr.recognizer import ModelsConfig, RecognizeOptions, Recognizer

SAMPLES = Path(__file__).resolve().parents[1] / "edge_alpr" / "samples"


def test_the_memo_keys_on_content_and_stays_bounded() -> None:
    memo: ArrayMemo[int] = ArrayMemo(size=2)
    calls: list[int] = []

    def make(v: int) -> Any:
        return lambda: calls.append(v) or v

    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert memo.get(ArrayMemo.key(a, "s"), make(1)) == 1
    assert memo.get(ArrayMemo.key(a.copy(), "s"), make(2)) == 1  # same content: looked up
    assert memo.get(ArrayMemo.key(a, "t"), make(3)) == 3  # other settings: computed
    assert memo.get(ArrayMemo.key(a.reshape(3, 2), "s"), make(4)) == 4  # same bytes, other shape
    b = a.copy()
    b[0, 0] = 9
    assert memo.get(ArrayMemo.key(b, "s"), make(5)) == 5  # a changed buffer is not the old one
    assert calls == [1, 3, 4, 5] and len(memo._table) == 2


def _read_all(rec: Recognizer, images: list[np.ndarray]) -> list[Any]:
    return [rec.recognize(img, RecognizeOptions()) for img in images]


def test_reads_are_the_same_with_and_without_the_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    images = [decode(p.read_bytes(), 10**8) for p in sorted(SAMPLES.glob("*.jpg"))]
    assert images, f"no sample photos in {SAMPLES}"
    rec = Recognizer.from_config(ModelsConfig())
    beams: list[int] = []
    real_beam = ctc.beam

    def counted(*a: Any, **kw: Any) -> Any:
        beams.append(1)
        return real_beam(*a, **kw)

    monkeypatch.setattr(ctc, "beam", counted)
    memo_reads, memo_beams = _read_all(rec, images), len(beams)
    assert isinstance(rec.reader, StatedReader), "the bundled readers: a CTC reader with US states"
    for r in (rec.reader.text, rec.reader.states):  # every decoding computed afresh
        monkeypatch.setattr(r, "candidates", r._candidates)
    beams.clear()
    fresh_reads = _read_all(rec, images)
    assert memo_reads == fresh_reads
    assert any(res for res in fresh_reads), "the sample photos hold plates"
    assert memo_beams < len(beams), (memo_beams, len(beams))


def test_threads_share_one_memo_safely() -> None:
    rec = Recognizer.from_config(ModelsConfig())
    img = decode(sorted(SAMPLES.glob("*.jpg"))[0].read_bytes(), 10**8)
    want = rec.recognize(img, RecognizeOptions())
    got: list[Any] = []

    def work() -> None:
        for _ in range(5):
            got.append(rec.recognize(img, RecognizeOptions()))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [want] * 20


def test_a_lookup_needs_the_same_frames_and_the_same_settings() -> None:
    """The same frames decoded under other region templates or another beam are other decodings."""
    rec = Recognizer.from_config(ModelsConfig())
    assert isinstance(rec.reader, StatedReader)
    text = rec.reader.text
    img = decode(sorted(SAMPLES.glob("*.jpg"))[0].read_bytes(), 10**8)
    plate = rec.recognize(img, RecognizeOptions())[0].box
    sure, _ = text.infer(text.crop(img, plate))
    # the plate's frames blurred towards uniform, so the beam has rivals to rank
    chars = (0.3 * sure + 0.7 / sure.shape[1]).astype(sure.dtype)
    asks = [((), ReadSettings()), (("br",), ReadSettings()), (("us-ca",), ReadSettings()),
            (("br",), ReadSettings(beam_width=2)), (("br",), ReadSettings(top_n=1)),
            (("br",), ReadSettings(hint_ratio=0.0))]
    fresh = [text._candidates(chars, prior, s) for prior, s in asks]
    assert len({tuple(c) for c in fresh}) > 2, "the asks must decode differently to test anything"
    for _ in range(2):
        assert [text.candidates(chars, prior, s) for prior, s in asks] == fresh
