"""The accelerator reader trainer's data path (``scripts/data/pack_reader_gpu.py``, ``train_reader_gpu.py``,
``export_reader.py``).

No TensorFlow and no JAX: what is tested is what travels (crops, labels, weights) and how the
trainer keeps rendered plates and scores its log, so a pack that loses or reorders labels, or a
monitor that misreads masked characters, fails here rather than after a GPU run; and what
would waste a GPU run's time limit: a warm-up that cannot end, or a run its export refuses.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
import pytest

from edge_alpr.errors import ModelError
from scripts.data import pack_reader_gpu
from scripts.train import export_reader, reader_model, train_reader_gpu


def test_packed_crops_come_back_in_order_with_their_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    # smooth images (JPEG keeps them within a few levels), each a different brightness
    base = np.linspace(0, 1, reader_model.IN_W)[None, :, None] * np.ones((reader_model.IN_H, 1, 3))
    x = np.stack([(base * 100 + 20 * i).astype(np.uint8) for i in range(5)])
    texts, regs = ["AB123", "?385?MW", "1", "XYZ9876543", "Q0"], ["de", "es", "", "us-ca", "nowhere"]
    regions = ["de", "es", "us-ca"]
    w = rng.uniform(1, 10, 5)
    pack_reader_gpu._save_crops(tmp_path / "c.npz", x, texts, regs, ["a", "b", "a", "c", "b"], regions, w)
    got = train_reader_gpu.load_crops(tmp_path / "c.npz")
    assert got["x"].shape == x.shape
    assert np.abs(got["x"].astype(int) - x.astype(int)).max() <= 6
    assert list(got["texts"]) == texts
    assert ["".join(reader_model.ALPHABET[i] for i in v if i != reader_model.PAD) for v in got["y"]] == texts
    assert list(got["r"]) == [0, 1, -1, 2, -1]
    assert list(got["sets"]) == ["a", "b", "a", "c", "b"]
    np.testing.assert_allclose(got["w"], w, rtol=1e-6)


def test_monitor_matches_masked_characters_as_evaluate_does() -> None:
    assert reader_model.matches("0385XMW", "?385?MW")
    assert not reader_model.matches("385XMW", "?385?MW")  # a dropped character is a miss
    assert not reader_model.matches("0385XMW", "0385?MV")
    assert reader_model.matches("AB1", "AB1")


def test_ring_keeps_the_newest_plates() -> None:
    ring = train_reader_gpu.Ring(4)
    for i in range(3):
        x = np.full((2, reader_model.IN_H, reader_model.IN_W, 3), i, np.uint8)
        ring.add(x, np.full((2, reader_model.MAX_LEN), i, np.int32), np.full(2, i, np.int32))
    assert ring.made == 6 and ring.n == 4
    assert sorted(ring.r.tolist()) == [1, 1, 2, 2]  # plates 0 and 1 (batch 0) overwritten
    assert sorted(ring.x[:, 0, 0, 0].tolist()) == [1, 1, 2, 2]


def test_warm_up_waits_for_no_more_plates_than_the_ring_holds() -> None:
    # a ring smaller than the warm-up (a quick run's --ring 2000) filled once is enough to start
    assert train_reader_gpu.warm_up_plates(2000, 32) == 2000
    assert train_reader_gpu.warm_up_plates(1, 256) == 1
    # the defaults still wait for 20 render chunks, or 4 batches of a large batch
    assert train_reader_gpu.warm_up_plates(200_000, 256) == 20 * train_reader_gpu.CHUNK
    assert train_reader_gpu.warm_up_plates(200_000, 2048) == 4 * 2048


def _run(tmp_path: Path, heads_left: list[str], record: dict) -> Path:
    for head in heads_left:
        (tmp_path / f"reader_{head}.weights.h5").write_bytes(b"")
    (tmp_path / "run.json").write_text(json.dumps(record))
    return tmp_path


def test_export_takes_the_heads_the_run_trained(tmp_path: Path) -> None:
    run = _run(tmp_path, ["ctc"], {"heads": ["ctc"]})
    assert export_reader.run_heads(run, {"heads": ["ctc"]}, None) == ["ctc"]
    # a run from before run.json named its heads: the heads it left weights for
    assert export_reader.run_heads(run, {}, None) == ["ctc"]
    assert export_reader.run_heads(run, {}, "ctc") == ["ctc"]


def test_export_of_a_head_the_run_did_not_train_names_the_ones_it_did(tmp_path: Path) -> None:
    run = _run(tmp_path, ["ctc"], {"heads": ["ctc"]})
    with pytest.raises(ModelError, match=r"no reader_attention\.weights\.h5.*--heads ctc"):
        export_reader.run_heads(run, {"heads": ["ctc"]}, "attention,ctc")
    with pytest.raises(ModelError, match="'slot'.*attention, ctc"):
        export_reader.run_heads(run, {}, "slot")


def test_packed_fonts_can_be_replaced_by_the_next_pack(tmp_path: Path) -> None:
    src = tmp_path / "fonts"
    (src / "family").mkdir(parents=True)
    (src / "family" / "a.ttf").write_bytes(b"font")
    read_only = [src / "family" / "a.ttf", src / "family", src]
    for p in read_only:  # as the data folder is
        p.chmod(0o444 if p.is_file() else 0o555)
    try:
        pack_reader_gpu._copy_writable(src, tmp_path / "pack" / "fonts")
    finally:
        for p in reversed(read_only):
            p.chmod(0o755 if p.is_dir() else 0o644)
    copies = [tmp_path / "pack" / "fonts", *(tmp_path / "pack" / "fonts").rglob("*")]
    assert len(copies) == 3 and (tmp_path / "pack" / "fonts" / "family" / "a.ttf").read_bytes() == b"font"
    assert all(p.stat().st_mode & stat.S_IWUSR for p in copies)
