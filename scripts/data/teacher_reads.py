"""Pseudo-labels for real plates that have a box but no text, read by the teacher reader.

Why: our reader learned from ~5k real crops of four countries; every detection scene we hold
shows more real plates (andrewmvd: mixed countries, romanian: dash-cam frames) whose boxes
have ``text: null``.  The pretrained teacher in ``../shared/teachers`` reads them, and its
confident reads become training labels (``datasets.det_items(..., teacher_conf=...)``).  The
teacher is a training-time tool only: nothing in ``edge_alpr/`` loads it or its outputs.

Its reads are written to ``$EDGE_ALPR_CACHE/teacher_reads.jsonl``, one line per plate box
(``set``, ``image``, ``box``, ``teacher_text``, ``teacher_conf``, ``teacher_min_char_prob``,
``teacher_region``),
in the same form as the teacher fields of the teacher-read detection sets.  Needs the
``train`` extra plus ``pip install onnxruntime``.

    python -m scripts.data.teacher_reads                 # andrewmvd and romanian, all splits
    python -m scripts.data.teacher_reads --sets uc3m     # also for finding label errors
    python -m scripts.data.teacher_reads --audit-ocr     # OCR crops whose label a confident teacher read contradicts

``--audit-ocr`` lists the human-labelled OCR crops where the teacher, at least ``--conf`` sure,
reads something else: candidates for a label error (or a teacher error) to look at by eye.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from edge_alpr.engine.preprocess import crop_resize, expand
from edge_alpr.types import Box
from scripts.data import datasets
from scripts.progress import Progress
from scripts.train import tfcommon

TEACHER = datasets.DATA.parent / "teachers" / "fast-plate-ocr-cct-xs-v2-global" / "cct_xs_v2_global.onnx"
# The teacher's region head names these (its plate config's ``plate_regions``, in output order)
TEACHER_REGIONS = (
    "Albania", "Andorra", "Argentina", "Armenia", "Australia", "Austria", "Azerbaijan", "Bahrain", "Belarus", "Belgium",
    "Bosnia and Herzegovina", "Brazil", "Bulgaria", "Cambodia", "Canada", "Croatia", "Cyprus", "Czech Republic",
    "Denmark", "Estonia", "Finland", "France", "Georgia", "Germany", "Gibraltar", "Greece", "Guernsey", "Hungary",
    "Iceland", "Indonesia", "Ireland", "Israel", "Italy", "Latvia", "Liechtenstein", "Lithuania", "Luxembourg",
    "Malaysia", "Malta", "Mexico", "Moldova", "Monaco", "Montenegro", "Netherlands", "New Zealand", "North Macedonia",
    "Norway", "Poland", "Portugal", "Qatar", "Romania", "San Marino", "Serbia", "Singapore", "Slovakia", "Slovenia",
    "Spain", "Sweden", "Switzerland", "Thailand", "Turkey", "United States", "Ukraine", "United Kingdom", "Vietnam",
    "Unknown",
)
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_"  # the teacher's classes; "_" pads
MARGIN = 0.08  # the teacher's crop margin on every side (its README)
OUT = tfcommon.CACHE / "teacher_reads.jsonl"


class Teacher:
    """The teacher reader (ONNX, 64x128 RGB uint8 in, 10 slots x 37 classes out)."""

    def __init__(self, path: Path = TEACHER) -> None:
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise SystemExit("the teacher needs onnxruntime: pip install onnxruntime") from e
        if not path.exists():
            raise SystemExit(f"teacher model not found: {path} (is ../shared/teachers beside the repo?)")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    @staticmethod
    def cut(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        h, w = image.shape[:2]
        return crop_resize(image, expand(Box(*box), MARGIN, MARGIN, w, h), 128, 64)

    def read(self, crops: np.ndarray) -> list[tuple[str, float, float, str]]:
        """(text, product of slot maxima, smallest slot maximum, region name) per 64x128 crop."""
        probs, regions = self.session.run(["plate", "region"], {self.input: crops})
        out = []
        for p, r in zip(probs, regions):
            best = p.argmax(-1)
            top = p.max(-1)
            text = "".join(ALPHABET[i] for i in best if ALPHABET[i] != "_")
            out.append((text, float(np.prod(top)), float(top.min()), TEACHER_REGIONS[int(np.argmax(r))]))
        return out


def audit_ocr(teacher: Teacher, conf: float) -> None:
    """Print per set how often the teacher agrees with the labels, and each confident disagreement."""
    from edge_alpr.engine.preprocess import resize

    items = [it for sp in ("train", "dev") for it in datasets.ocr_items(sp, datasets.OCR_SETS + datasets.OCR_EXTRA)]
    per: dict[str, list[tuple[bool, float]]] = {}
    odd = []
    for i in range(0, len(items), 64):
        batch = items[i : i + 64]
        crops = []
        for it in batch:  # the crops are the plate itself: give them the teacher's margin from their border
            img = datasets.load_rgb(it.path)
            py, px = round(img.shape[0] * MARGIN), round(img.shape[1] * MARGIN)
            crops.append(resize(np.pad(img, ((py, py), (px, px), (0, 0)), mode="edge"), 128, 64))
        for it, (text, c, _, _) in zip(batch, teacher.read(np.stack(crops))):
            ok = len(text) == len(it.text) and all(a == b or b == "?" for a, b in zip(text, it.text))
            per.setdefault(it.dataset, []).append((ok, c))
            if c >= conf and not ok and "?" not in it.text:
                odd.append(f"{it.dataset}\t{it.path.name}\tlabel {it.text}\tteacher {text or '(none)'}\t{c:.3f}")
    for name, v in per.items():
        a = np.array(v)
        sure = a[:, 1] >= conf
        print(f"{name:12s} crops {len(v):5d}  agreement {a[:, 0].mean():.3f}  teacher sure {sure.mean():.3f}  "
              f"agreement where sure {a[sure, 0].mean() if sure.any() else float('nan'):.3f}")
    print(f"{len(odd)} confident disagreements:")
    print("\n".join(odd))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", nargs="+", default=["andrewmvd", "romanian"],
                    help="detection sets whose plate boxes are read (default: the two without texts)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--audit-ocr", action="store_true",
                    help="instead: list the OCR crops whose label a confident teacher read contradicts")
    ap.add_argument("--conf", type=float, default=0.9, help="--audit-ocr: the teacher confidence that counts")
    args = ap.parse_args()
    teacher = Teacher()
    if args.audit_ocr:
        audit_ocr(teacher, args.conf)
        return
    items = [it for split in ("train", "dev") for it in datasets.det_items(split, tuple(args.sets))]
    rows = []
    bar = Progress("teacher reads", len(items))
    for it in items:
        img = datasets.load_rgb(it.path)
        crops = np.stack([teacher.cut(img, b) for b in it.boxes])
        for box, (text, conf, low, region) in zip(it.boxes, teacher.read(crops)):
            rows.append({"set": it.dataset, "image": it.path.name, "box": list(box), "teacher_text": text,
                         "teacher_conf": round(conf, 4), "teacher_min_char_prob": round(low, 4),
                         "teacher_region": region})
        bar.update()
    bar.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(args.out)
    sure = sum(1 for r in rows if r["teacher_conf"] >= 0.9 and r["teacher_text"])
    print(f"wrote {args.out}: {len(rows)} plates, {sure} read with confidence >= 0.9")


if __name__ == "__main__":
    main()
