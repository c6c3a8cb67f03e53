"""Readers for ``../shared/data``: OCR crops, detection images and vehicle crops.

Only these helpers know the JSONL layout, so training and evaluation pick splits the same way.
Training scripts call them with ``split="train"``; evaluation with ``split="dev"``.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from scripts import SHARED

# The full data: ../shared/data beside the checkout unless EDGE_ALPR_DATA names another folder in
# its layout (the tests point it at tests/data, the small fixture set in the repository).
DEFAULT_DATA = SHARED / "data"
DATA = Path(os.environ.get("EDGE_ALPR_DATA", DEFAULT_DATA))
OCR_SETS = ("us_states", "uc3m_crops", "ar_crops", "br_crops")
# OCR sets added after the first readers: trained on, but after OCR_SETS in every list, so the
# hold-out of OCR_SETS' crops stays the items it always was
OCR_EXTRA = ("se_crops",)
DET_SETS = ("andrewmvd", "romanian", "uc3m")
# Real photos whose plates carry only a teacher's reading (``teacher_text``, ``teacher_conf``)
TEACHER_SETS = ("openimages_lp", "experiment_plates", "rxg4e")
# A teacher read is a training label from this confidence on (48 of 49 right in the data's
# spot-check); below it a plate stays unlabelled.
TEACHER_CONF = 0.9
# The teacher's reads of the plates of DET_SETS that have no text (scripts/data/teacher_reads.py)
TEACHER_READS = Path(os.environ.get("EDGE_ALPR_CACHE", "/tmp/edge_alpr_cache")) / "teacher_reads.jsonl"


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


def _teacher_text(plate: dict, min_conf: float) -> str | None:
    text = plate.get("teacher_text") or ""
    return text if text and (plate.get("teacher_conf") or 0.0) >= min_conf else None


def teacher_reads(path: Path = TEACHER_READS) -> dict[tuple[str, str, tuple[int, ...]], dict]:
    """The cached teacher reads keyed by (set, image name, box); empty when none were made."""
    if not path.exists():
        return {}
    return {(r["set"], r["image"], tuple(r["box"])): r for r in _rows(path)}


# The teacher's region names that are regions of ours ("United States": any US state, see
# ``teacher_country``); the rest (Israel, Malaysia, "Unknown"...) teach no region
TEACHER_REGION_CODES = {
    "Albania": "al", "Argentina": "ar", "Australia": "au", "Austria": "at", "Belarus": "by", "Belgium": "be",
    "Bosnia and Herzegovina": "ba", "Brazil": "br", "Bulgaria": "bg", "Canada": "ca", "Croatia": "hr", "Cyprus": "cy",
    "Czech Republic": "cz", "Denmark": "dk", "Estonia": "ee", "Finland": "fi", "France": "fr", "Germany": "de",
    "Greece": "gr", "Hungary": "hu", "Iceland": "is", "Ireland": "ie", "Italy": "it", "Latvia": "lv",
    "Liechtenstein": "li", "Lithuania": "lt", "Luxembourg": "lu", "Malta": "mt", "Mexico": "mx", "Moldova": "md",
    "Montenegro": "me", "Netherlands": "nl", "North Macedonia": "mk", "Norway": "no", "Poland": "pl",
    "Portugal": "pt", "Romania": "ro", "Serbia": "rs", "Slovakia": "sk", "Slovenia": "si", "Spain": "es",
    "Sweden": "se", "Switzerland": "ch", "Turkey": "tr", "Ukraine": "ua", "United Kingdom": "gb",
    "United States": "us",
}


def teacher_country(text: str, name: str) -> str:
    """Our country code for a plate the teacher read as ``text`` in the country ``name`` ("us": an
    American plate, state unknown); "" where the teacher named no country of ours or the text fits
    none of that country's formats.

    Why the format check: the teacher has no India or Vietnam and calls such plates American or
    British; a reading that fits no format of the named country is not taken as its plate.
    """
    from edge_alpr.engine import regions

    code = TEACHER_REGION_CODES.get(name, "")
    return code if code and regions.matches(text, code) else ""


def teacher_regions(min_conf: float = TEACHER_CONF) -> dict[tuple[str, str, tuple[int, ...]], tuple[str, str]]:
    """(text, region name) the teacher gave each plate it read at least ``min_conf`` sure, keyed by
    (set, image name, box): the teacher-read sets' own fields and the cached reads of the others
    (a set not in the data names none)."""
    out = {}
    for name in TEACHER_SETS:
        labels = DATA / "detection" / name / "labels.jsonl"
        for r in _rows(labels) if labels.exists() else []:
            for p in r["plates"]:
                if _teacher_text(p, min_conf) and p.get("teacher_region"):
                    out[(name, Path(r["image"]).name, tuple(p["box"]))] = (p["teacher_text"], p["teacher_region"])
    for key, r in teacher_reads(TEACHER_READS).items():
        if _teacher_text(r, min_conf) and r.get("teacher_region"):
            out[key] = (r["teacher_text"], r["teacher_region"])
    return out


def det_sets(text: str) -> tuple[str, ...]:
    """Comma-separated detection set names (an argparse type): each must be a folder of the data."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    known = DET_SETS + TEACHER_SETS
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown detection sets {bad or text!r}; known: {', '.join(known)}")
    return names


def det_items(split: str, sets: tuple[str, ...] = DET_SETS, teacher_conf: float | None = None) -> list[DetItem]:
    """Detection scenes of ``split``; with ``teacher_conf``, plates without a human text get the
    teacher's reading where it is at least that confident (a training label with errors)."""
    out = []
    reads = teacher_reads(TEACHER_READS) if teacher_conf is not None else {}
    if teacher_conf is not None and not reads and set(sets) - set(TEACHER_SETS) - {"uc3m"}:
        raise FileNotFoundError(f"{TEACHER_READS}: no teacher reads of {sets}; run scripts/data/teacher_reads.py")
    for name in sets:
        base = DATA / "detection" / name
        for r in _rows(base / "labels.jsonl"):
            if r["split"] == split:
                boxes = tuple(tuple(p["box"]) for p in r["plates"])
                texts = tuple(p.get("text") for p in r["plates"])
                if teacher_conf is not None:
                    name_ = Path(r["image"]).name
                    texts = tuple(
                        t or _teacher_text(reads.get((name, name_, tuple(p["box"])), p), teacher_conf)
                        for t, p in zip(texts, r["plates"]))
                out.append(DetItem(base / r["image"], boxes, texts, name, r.get("country")))
    return out


# The hold-out period of the detector trainer and of every selection script's default (the
# shipped models' sidecars record it as held_out_every; train_reader.py holds out nothing unless
# told): one constant, so a scene held out of the detector is never pasted into, or trained on,
# by another script.
HOLDOUT_EVERY = 10


def holdout(items: list, every: int, offset: int = 0) -> tuple[list, list]:
    """(kept, held out): every ``every``-th train item, from item ``offset``, is held out (0: none).

    The detector and reader trainers hold out the same items this way, so the selection scripts
    compare candidates on train data none of them was fitted to (never on dev).  Another
    ``offset`` draws a disjoint hold-out, to confirm a result on items no earlier choice saw.
    """
    if every <= 0:
        return list(items), []
    if not 0 <= offset < every:
        raise ValueError(f"hold-out offset {offset} must be in 0..{every - 1} for every={every}")
    held = [i % every == offset for i in range(len(items))]
    return [it for it, h in zip(items, held) if not h], [it for it, h in zip(items, held) if h]


@dataclass(frozen=True)
class ReaderSplit:
    """The reader's train items and the items held out of a fine-tuning stage."""

    ocr_train: list[OcrItem]
    ocr_held: list[OcrItem]
    det_train: list[DetItem]
    det_held: list[DetItem]


def reader_holdout(every: int, offset: int = 0, teacher_conf: float | None = None) -> ReaderSplit:
    """``holdout`` of the OCR crops and detection scenes, with no plate on both sides.

    Why: the uc3m OCR crops are high-resolution cuts of the plates in the uc3m scenes, and the
    same vehicle appears in several images, so splitting each list by position would train on
    the very plates that are held out.  Any training crop or scene whose plate text appears
    among the held-out items is dropped (texts are compared as labelled, ``?`` included).

    With ``teacher_conf`` the teacher-read sets follow the human-labelled scenes and plates
    without a text carry confident teacher reads (``det_items``); the scenes of ``DET_SETS``
    are held out exactly as without it.
    """
    ocr_train, ocr_held = holdout(ocr_items("train", OCR_SETS + OCR_EXTRA), every, offset)
    scenes = det_items("train") if teacher_conf is None else det_items("train", DET_SETS + TEACHER_SETS, teacher_conf)
    det_train, det_held = holdout(scenes, every, offset)
    held = {c.text for c in ocr_held} | {t for s in det_held for t in s.texts if t}
    return ReaderSplit(
        [c for c in ocr_train if c.text not in held],
        ocr_held,
        [s for s in det_train if not any(t in held for t in s.texts if t)],
        det_held,
    )


def vehicle_items(split: str) -> list[tuple[Path, str]]:
    base = DATA / "vehicles"
    return [(base / r["image"], r["class"]) for r in _rows(base / "labels.jsonl") if r["split"] == split]


def load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))
