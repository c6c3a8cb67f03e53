"""Readers for ``../shared/data``: OCR crops, detection images and vehicle crops.

Only these helpers know the JSONL layout, so training and evaluation pick splits the same way.
Training scripts call them with ``split="train"``; evaluation with ``split="dev"``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

DATA = Path(os.environ.get("EDGE_ALPR_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
OCR_SETS = ("us_states", "uc3m_crops", "ar_crops", "br_crops")
DET_SETS = ("andrewmvd", "romanian", "uc3m")


@dataclass(frozen=True)
class OcrItem:
    path: Path
    text: str
    region: str
    dataset: str


@dataclass(frozen=True)
class DetItem:
    path: Path
    boxes: tuple[tuple[int, int, int, int], ...]
    texts: tuple[str | None, ...]
    dataset: str
    country: str | None


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def ocr_items(split: str, sets: tuple[str, ...] = OCR_SETS) -> list[OcrItem]:
    out = []
    for name in sets:
        base = DATA / "ocr" / name
        for r in _rows(base / "labels.jsonl"):
            if r["split"] == split:
                out.append(OcrItem(base / r["image"], r["text"], r["region"] or "", name))
    return out


def det_items(split: str, sets: tuple[str, ...] = DET_SETS) -> list[DetItem]:
    out = []
    for name in sets:
        base = DATA / "detection" / name
        for r in _rows(base / "labels.jsonl"):
            if r["split"] == split:
                boxes = tuple(tuple(p["box"]) for p in r["plates"])
                texts = tuple(p.get("text") for p in r["plates"])
                out.append(DetItem(base / r["image"], boxes, texts, name, r.get("country")))
    return out


def holdout(items: list, every: int) -> tuple[list, list]:
    """(kept, held out): every ``every``-th train item is held out (0: none).

    The detector and reader trainers hold out the same items this way, so the selection scripts
    compare candidates on train data none of them was fitted to (never on dev).
    """
    if every <= 0:
        return list(items), []
    return [it for i, it in enumerate(items) if i % every], [it for i, it in enumerate(items) if i % every == 0]


def vehicle_items(split: str) -> list[tuple[Path, str]]:
    base = DATA / "vehicles"
    return [(base / r["image"], r["class"]) for r in _rows(base / "labels.jsonl") if r["split"] == split]


def load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))
