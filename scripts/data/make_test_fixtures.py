"""Make ``tests/data``, the small licensed fixture set the tests read, from the full data.

    python -m scripts.data.make_test_fixtures            # (re)write tests/data from ../shared/data
    python -m scripts.data.make_test_fixtures --check    # exit 1 unless tests/data is what it would write

The full data (``../shared/data``, or ``EDGE_ALPR_DATA``) is not in the repository; a plain
clone runs the tests on this fixture instead (``tests/data/README.md``: sources, licences,
attribution).  Only sets whose licence allows redistribution with this Apache-2.0 project are
used: ``detection/romanian`` (MIT), ``detection/andrewmvd`` (CC0), ``ocr/se_crops`` (MIT),
``vehicles`` (CC BY 4.0) and the plate fonts (SIL OFL 1.1).  Not used: uc3m (ODbL share-alike,
commercial use only by agreement), us_states / br_crops (AGPL-3.0), ar_crops (GPL-3.0), and the
teacher-read sets (experiment_plates names no copyright holder for its MIT grant and holds Open
Images photos; openimages_lp photos are CC BY 2.0 by authors the data does not name).

The selection is fixed below (no randomness, no model in the loop): images are copied byte for
byte, label rows keep the data's layout and order.  The detection sets have no plate texts
(``text: null``); the texts in ``EYE_TEXTS`` were read by eye from the images for this fixture
(never from a model's output), and each plate so labelled says so in ``text_source``.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import shutil
import sys
import tempfile
from pathlib import Path

from scripts import REPO
from scripts.data import datasets

ROOT = REPO
OUT = ROOT / "tests" / "data"
EYE = "read by eye for tests/data"

# Detection scenes: image -> the text of each labelled plate, in the row's plate order (None:
# too small or blurred to read with certainty).  romanian: dev frames of distinct cars (day and
# night rides); andrewmvd: Cars17 and Cars7 (train) are the scenes whose plate only the
# read-verified rescue finds with the shipped models (tests/test_rescue.py), the rest dev.
EYE_TEXTS: dict[str, dict[str, tuple[str | None, ...]]] = {
    "romanian": {
        "images/dayride_type1_001_t1058.jpg": ("B21GSB",),
        "images/dayride_type1_001_t1130.jpg": ("B172WAW", None),
        "images/dayride_type1_001_t1135.jpg": ("SB90TZI",),
        "images/dayride_type1_001_t1206.jpg": ("B01XEN", "IF82EVA"),
        "images/dayride_type1_001_t1392.jpg": ("TR95XMI",),
        "images/dayride_type1_001_t201.jpg": ("B089414",),
        "images/dayride_type1_001_t282.jpg": ("IF05TAC",),
        "images/dayride_type1_001_t37.jpg": ("B144MOS",),
        "images/dayride_type1_001_t467.jpg": ("B320WTW",),
        "images/dayride_type1_001_t485.jpg": ("B121PHD",),
        "images/dayride_type1_001_t522.jpg": (None, "B311ALY"),
        "images/dayride_type1_001_t604.jpg": ("B310VLV",),
        "images/dayride_type1_001_t773.jpg": ("BR07AAC",),
        "images/dayride_type1_001_t808.jpg": ("B961TAG",),
        "images/dayride_type1_001_t891.jpg": ("B305CIL",),
        "images/dayride_type1_002_t352.jpg": ("B68SPK", None),
        "images/dayride_type1_002_t75.jpg": ("SB014882",),
        "images/dayride_type1_003_t46.jpg": (None, "IF99STK"),
        "images/dayride_type1_003_t97.jpg": ("DB48SCF",),
        "images/nightride_type3_001_t155.jpg": ("B911BLG",),
        "images/nightride_type3_001_t2.jpg": ("TR05RBG",),
        "images/nightride_type3_001_t358.jpg": ("B201TXM",),
        "images/nightride_type3_001_t45.jpg": ("B276WOW",),
        "images/nightride_type3_001_t543.jpg": ("B95GSV",),
    },
    "andrewmvd": {
        "images/Cars7.jpg": ("YSX213",),
        "images/Cars12.jpg": ("MH12BG7237",),
        "images/Cars17.jpg": ("YSX213",),
        "images/Cars109.jpg": ("CZ17KOD",),
        "images/Cars112.jpg": ("SHAKNBK",),
        "images/Cars163.jpg": ("LR33TEE",),
        "images/Cars167.jpg": ("15LK10898",),
    },
}
OCR_SETS = {"se_crops": "dev"}  # every crop of that split
VEHICLES_PER_CLASS = 2  # the first dev crops of each class
FONT_FILES = (
    "Barlow-Medium.ttf", "Barlow-SemiBold.ttf", "BarlowSemiCondensed-Medium.ttf", "Barlow-OFL.txt",
    "Overpass[wght].ttf", "Overpass-LICENSE.txt", "OSP-DIN.ttf", "OSP-DIN.copyright",
    "BebasNeue-Regular.otf", "BebasNeue-Regular-LICENSE.txt",
    "routed-gothic-narrow.ttf", "routed-gothic-narrow-LICENSE.txt",
)

MIT = """MIT License

Copyright (c) {holder}

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""
LICENCES = {
    "detection/romanian/LICENSE": MIT.format(holder="2020 Robert Lucian Chiriac")
    + "\nSource: https://github.com/RobertLucian/license-plate-dataset (commit f00f309e); frames\n"
    "downscaled from 1280x720 to 960x540 and boxes scaled in ../shared/data; plate texts added\n"
    "by eye for this fixture.\n",
    "ocr/se_crops/LICENSE": MIT.format(holder="2018 Rickard")
    + "\nSource: https://github.com/Maokei/lpr_dataset (commit bc56c39), cropped_plates/;\n"
    "re-encoded as baseline JPEG in ../shared/data.\n",
}


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _write_rows(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def build(src: Path, out: Path) -> list[Path]:
    """Write the fixture set from ``src`` (the full data) into ``out``; returns the files written."""
    written: list[Path] = []
    for name, texts in EYE_TEXTS.items():
        base = src / "detection" / name
        rows = [r for r in _rows(base / "labels.jsonl") if r["image"] in texts]
        missing = set(texts) - {r["image"] for r in rows}
        if missing:
            raise SystemExit(f"{base}: no rows for {sorted(missing)}")
        for r in rows:
            want = texts[r["image"]]
            if len(want) != len(r["plates"]):
                raise SystemExit(f"{name}/{r['image']}: {len(r['plates'])} plates, {len(want)} texts")
            for plate, text in zip(r["plates"], want):
                if plate.get("text") is not None:
                    raise SystemExit(f"{name}/{r['image']}: the data has a text now; drop the eye reading")
                if text is not None:
                    plate["text"], plate["text_source"] = text, EYE
            _copy(base / r["image"], out / "detection" / name / r["image"])
            written.append(out / "detection" / name / r["image"])
        _write_rows(out / "detection" / name / "labels.jsonl", rows)
        written.append(out / "detection" / name / "labels.jsonl")
    for name, split in OCR_SETS.items():
        base = src / "ocr" / name
        rows = [r for r in _rows(base / "labels.jsonl") if r["split"] == split]
        for r in rows:
            _copy(base / r["image"], out / "ocr" / name / r["image"])
            written.append(out / "ocr" / name / r["image"])
        _write_rows(out / "ocr" / name / "labels.jsonl", rows)
        written.append(out / "ocr" / name / "labels.jsonl")
    rows, per = [], {}
    for r in _rows(src / "vehicles" / "labels.jsonl"):
        if r["split"] == "dev" and per.get(r["class"], 0) < VEHICLES_PER_CLASS:
            per[r["class"]] = per.get(r["class"], 0) + 1
            rows.append(r)
            _copy(src / "vehicles" / r["image"], out / "vehicles" / r["image"])
            written.append(out / "vehicles" / r["image"])
    _write_rows(out / "vehicles" / "labels.jsonl", rows)
    written.append(out / "vehicles" / "labels.jsonl")
    for name in FONT_FILES:
        _copy(src / "fonts" / name, out / "fonts" / name)
        written.append(out / "fonts" / name)
    for rel, text in LICENCES.items():
        (out / rel).write_text(text)
        written.append(out / rel)
    return written


def generated(out: Path) -> list[Path]:
    """The files of ``out`` this script writes (everything but the hand-written README)."""
    return sorted(p for p in out.rglob("*") if p.is_file() and p != out / "README.md")


def check(src: Path, out: Path) -> list[str]:
    """What differs between ``out`` and a fresh build from ``src`` (empty: identical)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        build(src, fresh)
        want = {p.relative_to(fresh) for p in generated(fresh)}
        have = {p.relative_to(out) for p in generated(out)} if out.is_dir() else set()
        diffs = [f"missing: {p}" for p in sorted(want - have)] + [f"extra: {p}" for p in sorted(have - want)]
        diffs += [f"differs: {p}" for p in sorted(want & have) if not filecmp.cmp(fresh / p, out / p, shallow=False)]
    return diffs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=datasets.DATA, help="the full data (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=OUT, help="the fixture folder (default: %(default)s)")
    ap.add_argument("--check", action="store_true", help="compare, write nothing")
    args = ap.parse_args()
    if not (args.data / "detection").is_dir():
        raise SystemExit(f"{args.data}: no full data here (set EDGE_ALPR_DATA or pass --data)")
    if args.check:
        diffs = check(args.data, args.out)
        print("\n".join(diffs) or f"{args.out} is what {Path(__file__).name} makes")
        return 1 if diffs else 0
    for p in generated(args.out) if args.out.is_dir() else []:
        p.unlink()
    files = build(args.data, args.out)
    size = sum(p.stat().st_size for p in files)
    print(f"wrote {len(files)} files, {size / 1e6:.2f} MB, to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
