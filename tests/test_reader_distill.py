"""The reader's distillation term (scripts/train/distill.py; training extra only)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="the training extra (pip install -e '.[train]') builds Keras readers")

from scripts.train import distill  # noqa: E402  (after the skip: needs Keras)
from scripts.train import reader_model as rm  # noqa: E402


def _columns(rng: np.random.Generator, n: int) -> np.ndarray:
    logits = rng.normal(0, 2, (n, 64, rm.PAD + 1))
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


def test_kl_is_zero_for_rendered_plates_and_for_the_same_reading() -> None:
    rng = np.random.default_rng(0)
    ref, student = _columns(rng, 3), _columns(rng, 3)
    kl = np.asarray(distill.kl_loss(ref, student))
    assert kl.shape == (3,) and (kl > 1.0).all()  # 64 columns of differing distributions
    assert np.allclose(np.asarray(distill.kl_loss(ref, ref)), 0.0, atol=1e-4)
    assert np.allclose(np.asarray(distill.kl_loss(np.zeros_like(ref), student)), 0.0)
    # summed over columns: one column's KL, by hand
    by_hand = float(np.sum(ref[0, 5] * (np.log(ref[0, 5]) - np.log(student[0, 5]))))
    one = ref.copy()
    one[0] = 0.0
    one[0, 5] = ref[0, 5]
    assert float(np.asarray(distill.kl_loss(one, student))[0]) == pytest.approx(by_hand, rel=1e-4)


def test_the_trainer_shares_the_readers_weights() -> None:
    model = rm.build(5, "ctc", context=1)
    fitted = distill.trainer(model)
    assert {id(w) for w in fitted.trainable_weights} == {id(w) for w in model.trainable_weights}
    x = np.random.default_rng(1).integers(0, 255, (2, rm.IN_H, rm.IN_W, 3)).astype(np.float32)
    out = fitted(x, training=False)
    np.testing.assert_array_equal(np.asarray(out["distill"]), np.asarray(out["chars"]))
    np.testing.assert_array_equal(np.asarray(out["chars"]), model.predict(x, verbose=0)[0])
