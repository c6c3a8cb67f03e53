"""The bundled sample images (edge_alpr/samples): redistributable, labelled by people, read right.

The package ships them and `edge-alpr run` reads them by default, so each must come from a set
whose licence allows redistribution in a package (MIT, CC0), with its notice in the samples'
README and in debian/copyright; each is a byte-identical copy of a fixture-set file (tests/data,
whose README records the sources and whose texts were read by eye), and its labels are that
file's labels.  The shipped models must read every labelled plate exactly.
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path
from typing import Any

import pytest

from edge_alpr.imaging import decode
from edge_alpr.recognizer import RecognizeOptions

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "edge_alpr" / "samples"
FIXTURE = ROOT / "tests" / "data" / "detection"
# the sets a package may carry: their licence in debian/copyright and the words their notice must
# have there and in the README (ODbL uc3m, copyleft and unattributable sets are out:
# tests/data/README.md)
ALLOWED = {"romanian": ("Expat", ("MIT", "Robert Lucian Chiriac")),
           "andrewmvd": ("CC0-1.0", ("CC0", "andrewmvd"))}


def copyright_paragraph(name: str) -> str:
    """The paragraph of debian/copyright that governs edge_alpr/samples/<name>: the last one whose
    ``Files`` patterns match it (copyright-format 1.0)."""
    path = f"edge_alpr/samples/{name}"
    found = ""
    for para in (ROOT / "debian" / "copyright").read_text().split("\n\n"):
        files = re.match(r"Files:((?:.*\n?)(?: .*\n?)*)", para)
        if files and any(fnmatch.fnmatch(path, f) for f in files.group(1).split()):
            found = para
    assert found and "Files: *\n" not in found, f"debian/copyright has no Files paragraph for {path}"
    return found


def fixture_row(source: str) -> dict[str, Any]:
    dataset, image = source.split("/", 1)
    rows = [json.loads(x) for x in (FIXTURE / dataset / "labels.jsonl").read_text().splitlines() if x.strip()]
    found = [r for r in rows if r["image"] == image]
    assert len(found) == 1, f"{source} is not in tests/data/detection/{dataset}/labels.jsonl"
    return found[0]


def test_samples_are_labelled_copies_of_redistributable_fixture_images(sample_labels: dict[str, Any]) -> None:
    jpgs = sorted(p.name for p in SAMPLES.glob("*.jpg"))
    assert jpgs and jpgs == sorted(sample_labels), "every image has labels and every label an image"
    readme = (SAMPLES / "README.md").read_text()
    for name, label in sample_labels.items():
        dataset = label["source"].split("/", 1)[0]
        assert dataset in ALLOWED, f"{name}: set {dataset!r} may not ship in the package"
        assert (SAMPLES / name).read_bytes() == (FIXTURE / label["source"]).read_bytes(), name
        row = fixture_row(label["source"])
        assert label["plates"] == [{"box": p["box"], "text": p["text"]} for p in row["plates"]], name
        assert all(p["text"] and "?" not in p["text"] for p in label["plates"]), f"{name}: a plate without text"
        assert (label["width"], label["height"]) == (row["width"], row["height"])
        assert f"`{name}`" in readme, f"{name} is not in edge_alpr/samples/README.md"
        licence, words = ALLOWED[dataset]
        para = copyright_paragraph(name)
        assert re.search(rf"^License: {re.escape(licence)}$", para, re.M), f"{name}: not {licence} in debian/copyright"
        for word in words:
            assert word in readme and word in para, f"{dataset}: {word!r} missing from a notice"
        assert not re.search(r"uc3m|odbl", para, re.I), para
    # the MIT notice travels with the copies: the fixture's licence text, up to its end
    notice = (FIXTURE / "romanian" / "LICENSE").read_text().split("SOFTWARE.\n")[0]
    assert "Robert Lucian Chiriac" in notice and (SAMPLES / "LICENSE-romanian.txt").read_text().startswith(notice)


@pytest.mark.parametrize("mode", ["default", "fast"])
def test_the_shipped_models_read_every_sample_plate(recognizer: Any, sample_labels: dict[str, Any],
                                                    mode: str) -> None:
    wrong = {}
    for name, label in sample_labels.items():
        results = recognizer.recognize(decode((SAMPLES / name).read_bytes(), 10**8), RecognizeOptions(mode=mode))
        reads = [r.read.plate for r in results]
        missed = [p["text"] for p in label["plates"] if p["text"] not in reads]
        if missed:
            wrong[name] = (missed, reads)
    assert not wrong, f"{mode} mode misread: {wrong}"
