"""How ``edge-alpr read`` sorts its words into image files and region codes, wherever they stand:
``--regions`` takes every word up to the next option, so a file after it is given back to the
images, a region code is never taken for a file of the same name in the current folder, and a
word that is neither is named.  The real command as a process, in a folder of its own, reading
copies of the bundled samples (their plates from the samples' labels)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "edge_alpr" / "samples"
LABELS = json.loads((SAMPLES / "labels.json").read_text())
FIRST, SECOND = sorted(LABELS)[:2]


def plate(sample: str) -> str:
    return str(LABELS[sample]["plates"][0]["text"]).lower()


def read_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command as a user's shell runs it: without ``PYTHONUNBUFFERED`` (stdout buffered)."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    return subprocess.run([sys.executable, "-m", "edge_alpr", "read", *args], capture_output=True, text=True,
                          timeout=120, cwd=folder, env={**env, "PYTHONPATH": str(ROOT)})


def read_json(out: subprocess.CompletedProcess[str]) -> list[tuple[str, str]]:
    """(file name, first plate) of each line of ``read --json``, in the order printed."""
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    return [(line["filename"], line["results"][0]["plate"]) for line in lines]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder with car.jpg and b.jpg, two different samples."""
    (tmp_path / "car.jpg").write_bytes((SAMPLES / FIRST).read_bytes())
    (tmp_path / "b.jpg").write_bytes((SAMPLES / SECOND).read_bytes())
    return tmp_path


def test_a_region_code_stays_a_region_where_a_file_has_its_name(folder: Path) -> None:
    (folder / "gb").write_text("notes\n")
    out = read_in(folder, "car.jpg", "--regions", "gb", "--json")
    assert read_json(out) == [("car.jpg", plate(FIRST))]
    assert out.stderr == "", out.stderr


def test_files_before_between_and_after_options_are_read_in_the_order_given(folder: Path) -> None:
    assert read_json(read_in(folder, "car.jpg", "--json", "b.jpg")) == [("car.jpg", plate(FIRST)),
                                                                        ("b.jpg", plate(SECOND))]
    assert read_json(read_in(folder, "--regions", "ro", "b.jpg", "--json", "car.jpg")) == \
        [("b.jpg", plate(SECOND)), ("car.jpg", plate(FIRST))]


def test_the_words_after_dashes_are_files_whatever_they_start_with(folder: Path) -> None:
    """``read -- -x.jpg b.jpg`` (a file named like an option, or ``read -- *.jpg`` where one is):
    every word after the first ``--`` is read, after the files before it."""
    (folder / "car.jpg").rename(folder / "-x.jpg")
    assert read_json(read_in(folder, "--json", "--", "-x.jpg", "b.jpg")) == [("-x.jpg", plate(FIRST)),
                                                                           ("b.jpg", plate(SECOND))]
    assert read_json(read_in(folder, "b.jpg", "--json", "--", "-x.jpg")) == [("b.jpg", plate(SECOND)),
                                                                           ("-x.jpg", plate(FIRST))]


def test_a_file_given_as_regions_equals_is_read_in_its_place(folder: Path) -> None:
    """``read --regions=car.jpg b.jpg``: the file ``--regions=`` took is read, first, not skipped."""
    assert read_json(read_in(folder, "--json", "--regions=car.jpg", "b.jpg")) == [("car.jpg", plate(FIRST)),
                                                                                ("b.jpg", plate(SECOND))]


def test_a_file_without_a_dot_after_regions_is_read(folder: Path) -> None:
    (folder / "car.jpg").rename(folder / "IMG0001")
    assert read_json(read_in(folder, "--json", "--regions", "ro", "IMG0001")) == [("IMG0001", plate(FIRST))]


def test_a_folder_after_regions_gets_the_advice_it_gets_first(folder: Path) -> None:
    (folder / "shots").mkdir()
    first = read_in(folder, "shots")
    after = read_in(folder, "--regions", "ro", "shots")
    assert "shots: error: is a directory" in first.stderr, first.stderr
    assert (after.returncode, after.stderr) == (first.returncode, first.stderr)


def test_a_word_that_is_neither_a_region_nor_a_file_is_named(folder: Path) -> None:
    out = read_in(folder, "--regions", "ro", "IMG0002")
    assert out.returncode == 2, out.stderr
    assert "edge-alpr read: error: 'IMG0002' is neither a region code nor a file" in out.stderr, out.stderr
    assert "required" not in out.stderr, out.stderr
    out = read_in(folder, "--regions", "ro")  # codes only: the image is what is missing
    assert out.returncode == 2 and "the following arguments are required: IMAGE" in out.stderr, out.stderr


def test_regions_given_twice_are_both_kept(folder: Path) -> None:
    """The second ``--regions`` replaced the first: a bad code given first went unsaid."""
    out = read_in(folder, "--regions", "zz", "--regions", "gb", "car.jpg")
    assert out.returncode == 1 and "unknown region 'zz'" in out.stderr, out.stderr
    from edge_alpr.cli_args import parse

    args = parse(["read", "--regions", "gb", "--regions", "ro", "us-ca", "car.jpg"])
    assert (args.regions, args.images) == (["gb", "ro", "us-ca"], ["car.jpg"])


def test_the_usage_of_read_fits_80_columns(folder: Path) -> None:
    """As --help shows it, and a usage error (the usage is written by hand: argparse wraps none of it)."""
    for shown in (read_in(folder, "--help").stdout, read_in(folder, "--mode", "x").stderr):
        lines = shown.splitlines()
        assert lines[0].startswith("usage: edge-alpr read"), shown
        usage = lines[:next(i for i, line in enumerate(lines) if not line.startswith(("usage:", " ")))]
        assert len(usage) >= 2 and max(len(line) for line in usage) <= 80, usage
