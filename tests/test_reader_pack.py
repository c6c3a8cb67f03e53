"""The accelerator reader trainer's data path (``scripts/data/pack_reader_gpu.py``, ``train_reader_gpu.py``).

No TensorFlow and no JAX: what is tested is what travels (crops, labels, weights) and how the
trainer keeps rendered plates and scores its log, so a pack that loses or reorders labels, or a
monitor that misreads masked characters, fails here rather than after a GPU run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scripts.data import pack_reader_gpu
from scripts.train import reader_model, train_reader_gpu


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
