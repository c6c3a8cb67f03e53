"""The worker processes that render fresh detector samples for ``train_detector_stream.py``.

Why a module of its own: each worker renders whole batches (``detector_samples.sample``) into
numbered slots of two shared-memory blocks (images and target maps), so the trainer only hands
out (seed, slot) jobs and reads a slot back, never pickling a batch; the worker side is a
process's setup and its loop body, apart from the trainer's schedule and models.  The pool is
forked before the deep-learning backend is imported (a forked CUDA context breaks), so nothing
here imports one.
"""

from __future__ import annotations

from multiprocessing import shared_memory
from pathlib import Path

import numpy as np

from scripts.data import datasets
from scripts.train import detector_samples as ds

_W: dict = {}  # a worker process's state, set once by ``init_worker``


def init_worker(items: list, names: tuple[str, str], batch: int, synth_p: float, fonts: str,
                crops: tuple[str, ...] = (), crop_p: float = 0.0, robust_p: float = 0.0,
                canvas: tuple[int, int] = (ds.SIZE, ds.SIZE), zoom: tuple[float, float] = ds.ZOOM) -> None:
    """Set up one worker process: the items it draws from, the sample recipe, and the two
    shared-memory blocks (``names``: images, targets) it renders batches into."""
    import cv2

    from scripts.data import synth

    cv2.setNumThreads(1)
    if fonts:
        synth.set_font_dir(Path(fonts))
    shm_x, shm_t = shared_memory.SharedMemory(name=names[0]), shared_memory.SharedMemory(name=names[1])
    _W.update(items=items, batch=batch, synth_p=synth_p, shm=(shm_x, shm_t), crops=crops, crop_p=crop_p,
              robust_p=robust_p, canvas=canvas, zoom=zoom)


def fill(job: tuple[int, int, int]) -> int:
    """Render one batch of fresh samples into shared-memory slot ``slot``."""
    seed, slot, nslots = job
    items, batch = _W["items"], _W["batch"]
    shm_x, shm_t = _W["shm"]
    h, w = _W["canvas"]
    xs = np.ndarray((nslots, batch, h, w, 3), np.uint8, buffer=shm_x.buf)
    ts = np.ndarray((nslots, batch, h // ds.STRIDE, w // ds.STRIDE, 7), np.float16, buffer=shm_t.buf)
    rng = np.random.default_rng(seed)
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    for j in range(batch):
        path, boxes = items[rng.integers(len(items))]
        x, t = ds.sample(datasets.load_rgb(Path(path)), boxes, rng, _W["synth_p"], side, _W["crops"],
                         _W["crop_p"], _W["robust_p"], _W["zoom"])
        # a wide canvas is the middle band of a square sample (targets cut at the same rows)
        xs[slot, j] = x[top:top + h, left:left + w]
        ts[slot, j] = t[top // ds.STRIDE:(top + h) // ds.STRIDE, left // ds.STRIDE:(left + w) // ds.STRIDE]
    return slot
