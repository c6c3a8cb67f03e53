"""Pack the train split into ``.gpu/`` for ``train_detector_gpu.sh`` on a GPU machine.

Why: a GPU machine's transfer carries at most 64 MiB (the checkout included) and reaches no network, so
the scenes travel as re-encoded JPEGs of their train rows only, the real plate crops that
``--paste-crops`` pastes travel downscaled, and the fonts and starting weights go with them.
The hold-out split is by position in each ``labels.jsonl``, so rows keep their order and every
file keeps its name: ``train_detector_stream.py`` holds out the same images there as here.

    python -m scripts.data.pack_gpu_data --init /tmp/s8F/detector_w3f.weights.h5    # then carry .gpu and .whl
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from PIL import Image

from scripts import REPO
from scripts.data import datasets
from scripts.progress import track

ROOT = REPO
# what travels: scenes re-encoded at this JPEG quality (as the stream trainer reads them), crops at most this wide
SCENE_QUALITY, CROP_MAX_W, CROP_QUALITY = 72, 192, 90
BUDGET_MIB = 64
MARKER = ".packed-by-pack_gpu_data"  # an existing --out is replaced only if this script made it


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _pack_set(src: Path, dst: Path, quality: int, max_w: int = 0) -> int:
    """The train rows of one set, in order, each image re-encoded; returns the bytes written."""
    rows = [r for r in _rows(src / "labels.jsonl") if r["split"] == "train"]
    size = 0
    for r in track(rows, f"  {src.name}"):
        out = (dst / r["image"]).with_suffix(".jpg")
        out.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(src / r["image"]) as im:
            im = im.convert("RGB")
            if max_w and im.width > max_w:
                im = im.resize((max_w, max(1, round(im.height * max_w / im.width))), Image.Resampling.BOX)
            im.save(out, quality=quality)
        r["image"] = str(out.relative_to(dst))
        size += out.stat().st_size
    (dst / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / ".gpu", help="folder to fill (git-ignored)")
    ap.add_argument("--init", type=Path, action="append", default=[],
                    help="weights a candidate starts from (with their .json record, if any); repeatable")
    ap.add_argument("--sets", type=datasets.det_sets, default=datasets.DET_SETS,
                    help="detection sets whose train rows travel (default: %(default)s; add "
                         "openimages_lp,experiment_plates,rxg4e for train_detector_stream.py --sets)")
    ap.add_argument("--quality", type=int, default=SCENE_QUALITY,
                    help="JPEG quality of the scenes (default %(default)s; all six sets with v4's weights pack to "
                         "77 / 68 / 61 MiB at 72 / 60 / 50, over the transfer: send fewer sets)")
    ap.add_argument("--paste-crops", default="us_states,br_crops,ar_crops",
                    help="OCR sets whose train crops travel for --paste-crops ('' for none)")
    args = ap.parse_args()
    if not 1 <= args.quality <= 95:
        ap.error(f"--quality {args.quality}: must be 1-95")
    names = [w.name for w in args.init]
    if len(set(names)) != len(names):
        ap.error(f"--init: two weights files share a name ({', '.join(names)}); they would overwrite each other")
    if args.out.exists():
        if not (args.out / MARKER).exists() and args.out.name != ".gpu":
            ap.error(f"--out {args.out} exists and was not made by this script; remove it or choose another folder")
        shutil.rmtree(args.out)
    data = args.out / "data"
    for name in args.sets:
        _pack_set(datasets.DATA / "detection" / name, data / "detection" / name, args.quality)
    wanted = [s for s in args.paste_crops.split(",") if s]
    for name in datasets.OCR_SETS:  # every set gets a labels file: ocr_items reads them all
        if name in wanted:
            _pack_set(datasets.DATA / "ocr" / name, data / "ocr" / name, CROP_QUALITY, CROP_MAX_W)
        else:
            (data / "ocr" / name).mkdir(parents=True)
            (data / "ocr" / name / "labels.jsonl").write_text("")
    (args.out / MARKER).write_text("")
    shutil.copytree(datasets.DATA / "fonts", args.out / "fonts")
    for w in args.init:
        shutil.copy2(w, args.out / w.name)
        if w.with_suffix(".json").exists():
            shutil.copy2(w.with_suffix(".json"), args.out / w.with_suffix(".json").name)
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    wheels = sum(p.stat().st_size for p in (ROOT / ".whl").glob("*.whl"))
    print(f"{args.out}: {total / 2**20:.1f} MiB, .whl {wheels / 2**20:.1f} MiB "
          f"(the transfer carries {BUDGET_MIB} MiB with the checkout)")
    if total + wheels > (BUDGET_MIB - 4) * 2**20:
        sys.exit("too large to carry: lower --quality, pack fewer --sets or leave out --init weights")


if __name__ == "__main__":
    main()
