"""Evaluate the shipped models with the service's own pipeline on labelled data.

    python -m scripts.eval.evaluate                      # every dev split in ../shared/data
    python -m scripts.eval.evaluate --write-sidecars     # ... and record the numbers in the sidecars
    python -m scripts.eval.evaluate path/to/labels.jsonl # one JSONL set (detection or OCR layout)
    python -m scripts.eval.evaluate --dump-fp /tmp/fp    # ... and save unmatched detections to audit
    python -m scripts.eval.evaluate path/to/folder/      # image.jpg + image.txt pairs:
                                                    #   file<TAB>x<TAB>y<TAB>w<TAB>h<TAB>TEXT
    python -m scripts.eval.evaluate benchmarks/endtoend/ # each labelled subfolder (us/, eu/, br/) as a
                                                    #   set, then all of them pooled

Prints detection recall/precision at IoU >= 0.5 (plates at least --min-height px high), the
exact plate-read rate (case- and separator-insensitive, ``?`` in a label is a wildcard),
character accuracy, top-N rate, region accuracy and latency per stage (median, p90).
On the teacher-read detection sets (plates with ``teacher_text`` but no ``text``) the read
rates are agreement with the teacher's confident reads (``--teacher-conf``), not accuracy:
they are printed as ``teacher_agreement``, ``teacher_topn`` and ``teacher_plates``; where the
teacher also named a country of ours that the reading's format fits, ``teacher_region_agreement``
is how often a found plate's region names that country.
With the one-plate ``.txt`` format only the labelled plate counts: a detection elsewhere is not
a false positive.  Label files that cannot be used (no such image, a malformed line) are listed
on stderr, never dropped silently (``txt_labels.py`` says what it accepts).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from edge_alpr.imaging import decode
from edge_alpr.recognizer import ModelsConfig, RecognizeOptions, Recognizer
from edge_alpr.types import Box
from scripts.data import datasets, txt_labels
from scripts.eval import sidecar_metrics, vehicle_scenes
from scripts.eval.scoring import Tally, char_acc, match_detections, pooled, same
from scripts.progress import track

DATA = datasets.DATA  # ../shared/data, or EDGE_ALPR_DATA
MAX_PIXELS = 50_000_000


def timed(t: Tally, key: str, fn, *a, **kw):
    t0 = time.perf_counter()
    out = fn(*a, **kw)
    t.times[key].append((time.perf_counter() - t0) * 1000)
    return out


def eval_ocr(rec: Recognizer, rows: list[dict], base: Path, t: Tally) -> None:
    """Reader on ready-made crops (the whole crop is the plate)."""
    for r in track(rows, f"{base.name} crops"):
        img = decode((base / r["image"]).read_bytes(), MAX_PIXELS)
        crop = rec.reader.crop(img, Box(0, 0, img.shape[1], img.shape[0]))
        pr = timed(t, "read", rec.reader.read, crop, rec.read_settings())
        t.reads.append(same(pr.plate, r["text"]))
        t.qmarks += sum("?" in p for p in [pr.plate, *(c.plate for c in pr.candidates)])
        t.chars.append(char_acc(pr.plate, r["text"]))
        t.topn.append(any(same(c.plate, r["text"]) for c in pr.candidates))
        if r.get("region"):
            t.region.append(pr.region == r["region"])


def dump_unmatched(folder: Path, stem: str, img: np.ndarray, dets: list, gts: list[tuple[Box, str | None]]) -> None:
    """Save the surroundings of every detection that touches no labelled box, for a visual audit.

    Why: a real plate the labels missed counts as a false positive, so precision on a set with
    unlabelled plates understates the detector; these crops show how often that happens.
    """
    from PIL import Image

    h, w = img.shape[:2]
    for d in dets:
        if any(d.box.iou(g) > 0 for g, _ in gts):
            continue
        b = d.box
        cx, cy = (b.xmin + b.xmax) // 2, (b.ymin + b.ymax) // 2
        half_w, half_h = max(2 * b.width, 40), max(3 * b.height, 20)  # the plate and its vehicle
        crop = img[max(0, cy - half_h) : min(h, cy + half_h), max(0, cx - half_w) : min(w, cx + half_w)]
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / f"{stem}_x{b.xmin}_y{b.ymin}_s{d.score:.2f}.jpg"
        Image.fromarray(np.ascontiguousarray(crop)).save(out, quality=90)


def eval_scene(
    rec: Recognizer,
    img: np.ndarray,
    gts: list[tuple[Box, str | None]],
    t: Tally,
    opts: RecognizeOptions,
    min_h: int,
    only_labelled: bool,
    dump: tuple[Path, str] | None = None,
    countries: list[str] | None = None,
) -> None:
    """Detection + end-to-end reading on one scene (``dump``: folder and name for unmatched boxes;
    ``countries``: per plate, the teacher's country where it names one of ours, else "")."""
    dets = timed(t, "detect", rec.detect, img, opts)
    match_detections(dets, gts, t, min_h, only_labelled)
    if dump:
        dump_unmatched(dump[0], dump[1], img, dets, gts)
    results = timed(t, "pipeline", rec.recognize, img, opts)
    t.qmarks += sum("?" in p for r in results for p in [r.read.plate, *(c.plate for c in r.read.candidates)])
    for j, (g, text) in enumerate(gts):
        if text is None or g.height < min_h:
            continue
        best = max(results, key=lambda r: r.box.iou(g), default=None)
        hit = best is not None and best.box.iou(g) >= 0.5
        if hit and countries and countries[j]:
            t.teacher_region.append(best.read.region.split("-", 1)[0] == countries[j])
        t.reads.append(hit and same(best.read.plate, text))
        t.chars.append(char_acc(best.read.plate, text) if hit else 0.0)
        t.topn.append(hit and any(same(c.plate, text) for c in best.read.candidates))


def eval_vehicles(rec: Recognizer, split: str) -> dict:
    """Per-class accuracy of the vehicle classifier on the vehicles set (whole crops)."""
    return vehicle_scenes.measure_crops(rec.vehicle, split)


def label_text(plate: dict, teacher_conf: float) -> tuple[str | None, bool]:
    """A plate's text for scoring and whether it is a teacher's read (only where no human text exists)."""
    if plate.get("text") or "teacher_text" not in plate:
        return plate.get("text"), False
    sure = plate.get("teacher_text") and (plate.get("teacher_conf") or 0.0) >= teacher_conf
    return (plate["teacher_text"] if sure else None), True


def run_set(rec: Recognizer, path: Path, split: str, opts: RecognizeOptions, min_h: int, limit: int,
            dump: Path | None = None, teacher_conf: float = 0.9) -> Tally:
    """One set: a JSONL file (detection scenes or OCR crops), or a folder of ``.txt`` labels."""
    t = Tally()
    if path.is_dir():
        labelled = txt_labels.load_folder(path)
        if labelled.skipped:
            print(f"warning: {path}: {len(labelled.skipped)} label file(s) not used:\n  "
                  + "\n  ".join(labelled.skipped), file=sys.stderr, flush=True)
        for img_path, plates in track(labelled.images[: limit or None], f"{path.name} images"):
            eval_scene(rec, decode(img_path.read_bytes(), MAX_PIXELS), [(p.box, p.text) for p in plates], t, opts,
                       min_h, True, (dump, img_path.stem) if dump else None)
        return t
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    rows = [r for r in rows if r.get("split", split) == split][: limit or None]
    if rows and "plates" in rows[0]:
        for r in track(rows, f"{path.parent.name} scenes"):
            img = decode((path.parent / r["image"]).read_bytes(), MAX_PIXELS)
            labels = [label_text(p, teacher_conf) for p in r["plates"]]
            t.by_teacher = t.by_teacher or any(by for _, by in labels)
            gts = [(Box(*p["box"]), text) for p, (text, _) in zip(r["plates"], labels)]
            countries = [datasets.teacher_country(text, p.get("teacher_region") or "") if by and text else ""
                         for p, (text, by) in zip(r["plates"], labels)]
            eval_scene(rec, img, gts, t, opts, min_h, False, (dump, Path(r["image"]).stem) if dump else None,
                       countries)
    else:
        eval_ocr(rec, rows, path.parent, t)
    return t


def expand(paths: list[Path]) -> list[Path]:
    """Folders without label files stand for their labelled subfolders; a bad path is an error."""
    out = []
    for p in paths:
        if p.is_dir():
            found = txt_labels.label_folders(p)
            if not found:
                why = "".join(f"\n  {x}" for x in txt_labels.load_folder(p).skipped[:5])
                raise SystemExit(f"evaluate.py: {p} holds no usable .txt labels (nor does any subfolder); expected "
                                 f"image files with one {txt_labels.FORMAT} line each in a .txt beside them{why}")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise SystemExit(f"evaluate.py: {p} does not exist; give a labels.jsonl file or a folder of .txt labels")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="*", type=Path,
                    help="labels.jsonl files or folders of image + .txt label pairs; a folder with no labels "
                         "stands for each labelled subfolder (default: all dev sets)")
    ap.add_argument("--split", default="dev")
    ap.add_argument("--mode", default="default", choices=("default", "fast", "redaction"))
    ap.add_argument("--min-height", type=int, default=12, help="plates smaller than this (px) are not scored")
    ap.add_argument("--limit", type=int, default=0, help="evaluate at most N items per set")
    ap.add_argument("--teacher-conf", type=float, default=0.9,
                    help="teacher-read sets: score agreement on the teacher's reads at least this confident")
    ap.add_argument("--models", default="", help="model folder (default: the bundled models)")
    ap.add_argument("--write-sidecars", action="store_true", help="record the metrics in the model sidecars")
    ap.add_argument("--dump-fp", type=Path, metavar="DIR",
                    help="save the surroundings of each detection that touches no labelled box to DIR/<set>/ "
                         "(to audit whether such 'false positives' are plates the labels missed)")
    args = ap.parse_args()
    paths = expand(args.paths) if args.paths else sorted((DATA / "detection").glob("*/labels.jsonl")) + sorted(
        (DATA / "ocr").glob("*/labels.jsonl")
    )
    rec = Recognizer.from_config(ModelsConfig(directory=args.models, threads=1))
    opts = RecognizeOptions(mode=args.mode)
    report = {}
    folders = []
    for p in paths:
        full = p.resolve()  # "." has no name of its own
        name = f"{full.parent.parent.name}/{full.parent.name}" if p.name == "labels.jsonl" else (
            f"{full.parent.name}/{full.name}" if p.is_dir() else p.name)
        name = name if name not in report else f"{name} ({p})"  # two folders of one name stay apart
        dump = args.dump_fp / name.replace("/", "_") if args.dump_fp else None
        tally = run_set(rec, p, args.split, opts, args.min_height, args.limit, dump, args.teacher_conf)
        folders += [tally] if p.is_dir() else []
        report[name] = tally.summary()
        print(f"{name:28s} " + " ".join(f"{k}={v}" for k, v in report[name].items()), flush=True)
    if len(folders) > 1:  # a benchmark's countries (or any folders given together) as one number too
        report["all folders"] = pooled(folders).summary()
        print(f"{'all folders':28s} " + " ".join(f"{k}={v}" for k, v in report["all folders"].items()), flush=True)
    if not args.paths:
        report["vehicles"] = eval_vehicles(rec, args.split)
        print(f"{'vehicles':28s} " + " ".join(f"{k}={v}" for k, v in report["vehicles"].items()), flush=True)
    if args.write_sidecars:
        rows = [] if rec.rows is None else [m.name for m in rec.rows.models]  # it reads two-row plates' rows
        sidecar_metrics.write_sidecars(report, args, [m.name for m in rec.reader.models] + rows)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
