"""A reader grown with context blocks reads exactly as the reader it grew from (training extra only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="the training extra (pip install -e '.[train]') builds Keras readers")

from scripts.train import reader_model as rm  # noqa: E402  (after the skip: needs Keras)


def test_context_blocks_start_as_the_identity() -> None:
    base = rm.build(5, "ctc")
    grown = rm.build(5, "ctc", context=4)
    rng = np.random.default_rng(0)
    for layer in base.layers:  # random weights, so a passing test cannot come from an all-zero network
        layer.set_weights([rng.normal(0, 0.1, w.shape).astype(np.float32) if w.ndim > 1 else w
                           for w in layer.get_weights()])
    assert rm.grow(base, grown) == len([lyr for lyr in base.layers if lyr.get_weights()])
    new = [lyr.name for lyr in grown.layers if lyr.get_weights() and lyr.name.startswith(rm.CONTEXT_PREFIX)]
    assert len(new) == 10
    x = rng.integers(0, 255, (4, rm.IN_H, rm.IN_W, 3)).astype(np.float32)
    a, b = base.predict(x, verbose=0), grown.predict(x, verbose=0)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    # and the blocks do change the reading once their projections are trained away from zero
    out = grown.get_layer(f"{rm.CONTEXT_PREFIX}0_out")
    out.set_weights([np.full_like(w, 0.05) for w in out.get_weights()])
    assert np.abs(grown.predict(x, verbose=0)[0] - a[0]).max() > 1e-3


def test_context_only_trains_the_context_blocks_alone(tmp_path: Path) -> None:
    import argparse

    from scripts.train import train_reader

    grown = rm.build(5, "ctc", context=2)
    weights = tmp_path / "start.weights.h5"
    grown.save_weights(weights)
    args = argparse.Namespace(init=weights, init_tflite=None, trunk_from=None, region_only=False,
                              context_only=True, context=2, average_from=0.0)
    train_reader.start_from(argparse.ArgumentParser(), args, grown, [], np.zeros((1,)))
    trainable = {v.path.split("/")[0] for v in grown.trainable_weights}
    assert trainable and all(name.startswith(rm.CONTEXT_PREFIX) for name in trainable), trainable
    assert len(trainable) == 2 * 2 + 2  # two blocks (a convolution and its projection each), the plate's two
    assert grown.get_layer("region").trainable is False
    args.context, args.init = 0, None  # --context-only without context blocks is refused, naming the flag
    with pytest.raises(SystemExit):
        train_reader.start_from(argparse.ArgumentParser(), args, rm.build(5, "ctc"), [], np.zeros((1,)))
