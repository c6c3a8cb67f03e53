"""Hard examples: the real training crops a reader still misreads, to be seen more often.

Why: a reader continued on its own recipe meets the few real crops it still gets wrong as rarely
as the many it reads, so a short run spends most of its steps where nothing is left to learn.
Repeating the misread ones (``train_reader.py --hard-from MODEL --hard-repeat K``) points the
run at them.  They are found among the training crops only (the hold-out and dev are never
read here), by the int8 model itself, read as the service reads a crop with that head alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scripts.progress import Progress
from scripts.train.reader_model import matches as same  # an exact read, a label's ``?``: any character

__all__ = ["misread", "same"]


def misread(model: Path, crops: np.ndarray, texts: list[str], what: str) -> np.ndarray:
    """True where the reader ``model`` (an int8 reader with its sidecar) misreads a model-sized crop."""
    from edge_alpr.engine.reader import Reader

    reader = Reader(model, threads=2)
    wrong = np.zeros(len(texts), bool)
    bar = Progress(f"reading {what} with {model.name}", len(texts))
    for i, (crop, text) in enumerate(zip(crops, texts, strict=True)):
        wrong[i] = not same(reader.read(crop).plate, text)
        bar.update()
    bar.close()
    return wrong
