"""Weight averaging along a training run (stochastic weight averaging), for the Keras trainers.

Why: a reader continued from a converged one at a constant small rate wanders around a minimum
that fits its ~1,600 real scene plates (it reads train plates the teacher read 97 % alike, unseen
ones about 70 %); the mean of the points it passes lies in a flatter part of that minimum, which
generalises better than any single point (Izmailov et al., "Averaging Weights Leads to Wider
Optima and Better Generalization", 2018).  The averaged network's batch norms then need the
statistics of their own inputs (``refresh_bn``), since no trained point had those weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def callback(steps: int, start: float, every: int) -> Any:
    """A Keras callback that averages the trainable and non-trainable weights every ``every``
    batches once ``start`` (a fraction of ``steps``) of the run is done; ``finish`` sets the mean."""
    import keras

    class Average(keras.callbacks.Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.step = 0
            self.count = 0
            self.mean: list[np.ndarray] | None = None

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self.step += 1
            if self.step < start * steps or self.step % every:
                return
            w = [np.asarray(v, np.float64) for v in self.model.get_weights()]
            self.count += 1
            if self.mean is None:
                self.mean = w
            else:
                self.mean = [m + (x - m) / self.count for m, x in zip(self.mean, w)]

        def finish(self) -> int:
            """Put the mean weights into the model; the number of points averaged."""
            if self.mean is not None:
                self.model.set_weights([m.astype(np.float32) for m in self.mean])
            return self.count

    return Average()


def refresh_bn(model: Any, x: np.ndarray) -> int:
    """Give every batch norm the mean and variance of its input over ``x``, as the network
    computes it in training mode (each norm's input normalised upstream by batch statistics,
    as during training); gamma and beta stay.  The number of batch norms refreshed."""
    from scripts.train.tflite_weights import bn_input_stats

    stats = bn_input_stats(model, x, training=True)
    for lyr, mean, var in stats:
        gamma, beta, _, _ = lyr.get_weights()
        lyr.set_weights([gamma, beta, mean.astype(np.float32), np.maximum(var, 0.0).astype(np.float32)])
    return len(stats)
