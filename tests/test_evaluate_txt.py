"""``evaluate.py`` on folders of image + ``.txt`` labels (the one-plate format of public ALPR
benchmarks), built here from real dev scenes of the fixture set (tests/data: Romanian dash-cam
frames) whose boxes and texts come from the labels, written the ways such folders drift: spaces
for tabs, CRLF, a byte-order mark, a label naming ``.jpg`` beside a ``.jpeg`` image, a README
among the labels.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from data_paths import FIXTURE

from edge_alpr.recognizer import RecognizeOptions
from edge_alpr.types import Box
from scripts.data import txt_labels
from scripts.eval import evaluate

ROOT = Path(__file__).resolve().parents[1]

SCENES = FIXTURE / "detection" / "romanian"


def dev_scenes(n: int, min_h: int = 12) -> list[tuple[Path, Box, str]]:
    """The first ``n`` dev scenes with a text-labelled plate at least ``min_h`` px high."""
    out = []
    for line in (SCENES / "labels.jsonl").read_text().splitlines():
        r = json.loads(line)
        plate = next((p for p in r["plates"] if p.get("text") and p["box"][3] - p["box"][1] >= min_h), None)
        if r["split"] == "dev" and plate:
            out.append((SCENES / r["image"], Box(*plate["box"]), plate["text"]))
        if len(out) == n:
            break
    return out


def write_folder(folder: Path, scenes: list[tuple[Path, Box, str]]) -> dict[str, tuple[Box, str]]:
    """One label file per scene, each drifting from the format in its own way; returns what each says."""
    folder.mkdir(parents=True)
    expected = {}
    for i, (img, box, text) in enumerate(scenes):
        stem = f"car{i}"
        shutil.copy(img, folder / (stem + (".jpeg" if i % 4 == 1 else ".jpg")))  # the label says .jpg
        sep = " " if i % 4 == 2 else "\t"
        line = sep.join([f"{stem}.jpg", str(box.xmin), str(box.ymin), str(box.width), str(box.height), text])
        bom, end = ("\ufeff", "\r\n") if i % 4 == 3 else ("", "\n")
        (folder / f"{stem}.txt").write_text(bom + line + end, encoding="utf-8")
        expected[stem] = (box, text)
    return expected


def test_parse_line_accepts_tabs_or_whitespace_and_names_what_is_wrong() -> None:
    name, plate = txt_labels.parse_line("a.jpg\t10\t20\t30\t15\tAB 123")
    assert (name, plate.box, plate.text) == ("a.jpg", Box(10, 20, 40, 35), "AB 123")
    name, plate = txt_labels.parse_line("b.jpg 1 2 3.0 4 XYZ9")
    assert (name, plate.box, plate.text) == ("b.jpg", Box(1, 2, 4, 6), "XYZ9")
    assert txt_labels.parse_line("c.jpg\t1\t2\t3\t4")[1].text is None
    with pytest.raises(ValueError, match="3 field"):
        txt_labels.parse_line("c.jpg\t1\t2")
    with pytest.raises(ValueError, match="not four numbers"):
        txt_labels.parse_line("c.jpg\tx\t2\t3\t4\tAB")
    with pytest.raises(ValueError, match="must be > 0"):
        txt_labels.parse_line("c.jpg\t1\t2\t0\t4\tAB")
    with pytest.raises(ValueError, match="finite"):
        txt_labels.parse_line("c.jpg\tinf\t2\t1e999\t4\tAB")


def test_a_drifted_folder_loads_every_plate_and_reports_what_it_cannot_use(tmp_path: Path) -> None:
    scenes = dev_scenes(8)
    expected = write_folder(tmp_path / "us", scenes)
    (tmp_path / "us" / "README.txt").write_text("Benchmark images, licence AGPL-3.0.\n")
    (tmp_path / "us" / "gone.txt").write_text("gone.jpg\t1\t2\t3\t4\tAB123\n")
    (tmp_path / "us" / "empty.txt").write_text("\n")
    (tmp_path / "us" / "long.txt").write_text("x" * 300 + ".jpg\t1\t2\t3\t4\tAB123\n")  # no file system holds it
    got = txt_labels.load_folder(tmp_path / "us")
    assert {p.stem: [(x.box, x.text) for x in plates] for p, plates in got.images} == {
        k: [v] for k, v in expected.items()}
    assert sorted(s.split(":")[0] for s in got.skipped) == ["README.txt", "empty.txt", "gone.txt", "long.txt"]
    assert "no image 'gone.jpg'" in next(s for s in got.skipped if s.startswith("gone"))


def test_a_second_line_is_a_second_plate_of_the_same_image(tmp_path: Path) -> None:
    (img, box, text), (_, box2, text2) = dev_scenes(2)
    shutil.copy(img, tmp_path / "two.jpg")
    rows = [f"two.jpg\t{b.xmin}\t{b.ymin}\t{b.width}\t{b.height}\t{t}" for b, t in ((box, text), (box2, text2))]
    (tmp_path / "two.txt").write_text("\n".join(rows) + "\n")
    [(path, plates)] = txt_labels.load_folder(tmp_path).images
    assert path.name == "two.jpg" and [(p.box, p.text) for p in plates] == [(box, text), (box2, text2)]


def test_a_benchmark_root_stands_for_its_country_folders(tmp_path: Path) -> None:
    scenes = dev_scenes(4)
    write_folder(tmp_path / "bench" / "es", scenes[:2])
    write_folder(tmp_path / "bench" / "eu", scenes[2:])
    (tmp_path / "bench" / "notes").mkdir()
    (tmp_path / "bench" / "LICENSE.txt").write_text("AGPL-3.0\n")  # beside the country folders, as shipped
    assert evaluate.expand([tmp_path / "bench"]) == [tmp_path / "bench" / "es", tmp_path / "bench" / "eu"]
    with pytest.raises(SystemExit, match="holds no usable .txt labels"):
        evaluate.expand([tmp_path / "bench" / "notes"])
    with pytest.raises(SystemExit, match="does not exist"):
        evaluate.expand([tmp_path / "nowhere"])


def test_the_folder_is_scored_plate_for_plate_as_the_pipeline_reads_it(recognizer: Any, tmp_path: Path) -> None:
    """Every labelled plate is scored once, with its label's box and text (the expected reads are
    the labels compared with what the service's pipeline returns for that box)."""
    scenes = dev_scenes(8)
    write_folder(tmp_path / "es", scenes)
    tally = evaluate.run_set(recognizer, tmp_path / "es", "dev", RecognizeOptions(), 12, 0)
    want = []
    for img, box, text in scenes:
        results = recognizer.recognize(evaluate.decode(img.read_bytes(), evaluate.MAX_PIXELS), RecognizeOptions())
        best = max(results, key=lambda r: r.box.iou(box), default=None)
        want.append(best is not None and best.box.iou(box) >= 0.5 and evaluate.same(best.read.plate, text))
    assert tally.reads == want
    assert tally.tp + tally.fn == len(scenes)
    assert sum(want) >= 3  # the pipeline reads real dev plates: a loader feeding wrong boxes scores none


def test_the_cli_scores_each_country_folder_and_pools_them(tmp_path: Path) -> None:
    scenes = dev_scenes(4)
    write_folder(tmp_path / "bench" / "es", scenes[:2])
    write_folder(tmp_path / "bench" / "eu", scenes[2:])
    (tmp_path / "bench" / "eu" / "LICENSE.txt").write_text("AGPL\n")
    out = subprocess.run([sys.executable, "-m", "scripts.eval.evaluate", str(tmp_path / "bench")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, check=True)
    report = json.loads(out.stdout[out.stdout.index("\n{") + 1:])
    assert [report[k]["det_plates"] for k in ("bench/es", "bench/eu", "all folders")] == [2, 2, 4]
    assert "LICENSE.txt" in out.stderr and "1 label file(s) not used" in out.stderr


def test_teacher_reads_are_scored_as_agreement_and_only_when_confident() -> None:
    """A plate with a human text is scored on it; a teacher-read plate counts only as agreement."""
    assert evaluate.label_text({"text": "AB123"}, 0.9) == ("AB123", False)
    assert evaluate.label_text({"text": None}, 0.9) == (None, False)
    human_and_teacher = {"text": "AB123", "teacher_text": "AB128", "teacher_conf": 0.99}
    assert evaluate.label_text(human_and_teacher, 0.9) == ("AB123", False)
    assert evaluate.label_text({"text": None, "teacher_text": "CD456", "teacher_conf": 0.95}, 0.9) == ("CD456", True)
    assert evaluate.label_text({"text": None, "teacher_text": "CD456", "teacher_conf": 0.85}, 0.9) == (None, True)
    assert evaluate.label_text({"text": None, "teacher_text": "", "teacher_conf": 1.0}, 0.9) == (None, True)
    t = evaluate.Tally(reads=[True, False], chars=[1.0, 0.5], topn=[True, True], by_teacher=True)
    summary = t.summary()
    assert summary["teacher_agreement"] == 0.5 and "exact_read" not in summary


def test_a_found_teacher_read_plate_scores_whether_its_region_names_the_teachers_country(
        recognizer: Any, tmp_path: Path) -> None:
    """``teacher_region_agreement``: counted on found plates whose teacher country is one of ours
    and whose reading fits its formats; each compared with the region the pipeline returns."""
    rows = [json.loads(x) for x in (SCENES / "labels.jsonl").read_text().splitlines() if x.strip()]
    rows = [r for r in rows if r["split"] == "dev" and any(p["text"] for p in r["plates"])][:6]
    names = ["Romania", "Romania", "Israel", "Romania", "Romania", "Romania"]
    for r, name in zip(rows, names):
        r["plates"] = [{"box": p["box"], "text": None, "teacher_text": p["text"], "teacher_conf": 0.99,
                        "teacher_region": name} for p in r["plates"] if p["text"]]
    rows[3]["plates"][0]["teacher_text"] = "1234567890"  # no Romanian format: not counted
    # counted: (row, plate) whose teacher country is ours and whose text fits a Romanian format
    # (docs/layouts.md: LL NN LLL, L NN LLL, L NNN LLL); row 2 is "Israel", row 5's B089414 fits none
    counted = {(0, 0), (1, 0), (3, 1), (4, 0)}
    assert [p["teacher_text"] for k, i in sorted(counted) for p in [rows[k]["plates"][i]]] == [
        "B21GSB", "B172WAW", "IF82EVA", "TR95XMI"]
    (tmp_path / "images").symlink_to(SCENES / "images")
    (tmp_path / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    tally = evaluate.run_set(recognizer, tmp_path / "labels.jsonl", "dev", RecognizeOptions(), 12, 0)
    want = []
    for k, r in enumerate(rows):
        img = evaluate.decode((SCENES / r["image"]).read_bytes(), evaluate.MAX_PIXELS)
        results = recognizer.recognize(img, RecognizeOptions())
        for i, p in enumerate(r["plates"]):
            box = Box(*p["box"])
            best = max(results, key=lambda x: x.box.iou(box), default=None)
            if best is not None and best.box.iou(box) >= 0.5 and (k, i) in counted:
                want.append(best.read.region.split("-")[0] == "ro")
    assert tally.teacher_region == want
    assert len(want) >= 3 and sum(want) >= 1  # found Romanian plates, some named Romanian
    assert tally.summary()["teacher_region_plates"] == len(want)
