"""Labelled folders in the common one-plate-per-image text format, for ``evaluate.py``.

Each ``image.txt`` beside its image holds a line ``file<TAB>x<TAB>y<TAB>w<TAB>h<TAB>TEXT``: the
image's file name, the plate box (top-left corner and size, in pixels) and the plate text.  This
is the layout of public end-to-end ALPR benchmarks such as ``openalpr/benchmarks``' ``endtoend``
folders (one folder per country).

Why a module of its own, and why lenient where it is safe: a benchmark copied by hand drifts from
the format in small ways that must not silently shrink the benchmark.  Seen in the wild:

* a label naming ``X.jpg`` beside an image saved as ``X.jpeg``;
* fields separated by spaces instead of tabs (OpenALPR's own reader splits on any whitespace);
* Windows line ends and a byte-order mark;
* other ``.txt`` files (a README, a licence) in the same folder.

So an image is looked for under the named file, then under the label's and the named file's stem
with any image suffix; a line may use tabs or, when it has none, any whitespace; and every file
that still cannot be used is reported with its reason (``TxtSet.skipped``) rather than dropped
without a word.  More than one line (a second plate in the same image) is read as more plates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from edge_alpr.types import Box

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
FORMAT = "file<TAB>x<TAB>y<TAB>w<TAB>h<TAB>TEXT"
MAX_LABEL_BYTES = 1 << 20  # a label is a line or a few; a bigger .txt is something else


@dataclass(frozen=True)
class Plate:
    """One labelled plate: its box in image pixels and its text (None: no text labelled)."""

    box: Box
    text: str | None


@dataclass
class TxtSet:
    """A folder's labelled images (sorted by label file) and the label files that could not be used."""

    folder: Path
    images: list[tuple[Path, list[Plate]]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "name.txt: why"


def parse_line(line: str) -> tuple[str, Plate]:
    """One label line -> (image file name, plate).  Raises ValueError saying what is wrong."""
    fields = line.split("\t") if "\t" in line else line.split()
    fields = [f.strip() for f in fields]
    if len(fields) < 5:
        raise ValueError(f"has {len(fields)} field(s), expected {FORMAT}")
    try:
        numbers = [float(v) for v in fields[1:5]]
    except ValueError as e:
        raise ValueError(f"box {fields[1:5]} is not four numbers ({FORMAT})") from e
    if not all(math.isfinite(v) for v in numbers):
        raise ValueError(f"box {fields[1:5]} is not four finite numbers ({FORMAT})")
    x, y, w, h = (int(round(v)) for v in numbers)
    if w <= 0 or h <= 0:
        raise ValueError(f"box w={w} h={h}: a plate's width and height must be > 0")
    text = " ".join(f for f in fields[5:] if f) or None
    return fields[0], Plate(Box(x, y, x + w, y + h), text)


def image_index(folder: Path) -> dict[str, Path]:
    """The folder's images by stem (first by name), to find ``X.jpeg`` for a label naming ``X.jpg``."""
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in IMAGE_SUFFIXES and p.stem not in out and p.is_file():
            out[p.stem] = p
    return out


def find_image(label: Path, name: str, index: dict[str, Path]) -> Path | None:
    """The image a label line names: that file, else the same stem with another image suffix."""
    named = label.parent / name
    try:
        if named.is_file():
            return named
    except OSError:  # a name the file system cannot hold (too long, ...): look it up by stem
        pass
    return index.get(Path(name).stem) or index.get(label.stem)


def load_folder(folder: Path) -> TxtSet:
    """Every usable label file in ``folder`` (not its subfolders)."""
    out = TxtSet(folder)
    index: dict[str, Path] | None = None  # built on the first label whose named file is missing
    for label in sorted(folder.glob("*.txt")):
        try:
            if label.stat().st_size > MAX_LABEL_BYTES:
                out.skipped.append(f"{label.name}: {label.stat().st_size} bytes, too big for a label file")
                continue
            lines = [x for x in label.read_text(encoding="utf-8-sig").splitlines() if x.strip()]
        except (OSError, UnicodeDecodeError) as e:
            out.skipped.append(f"{label.name}: unreadable ({e})")
            continue
        if not lines:
            out.skipped.append(f"{label.name}: empty")
            continue
        plates: dict[Path, list[Plate]] = {}
        try:
            for i, line in enumerate(lines, 1):
                try:
                    name, plate = parse_line(line)
                except ValueError as e:
                    raise ValueError(f"line {i} {e}") from e
                img = find_image(label, name, {})
                if img is None:
                    index = image_index(folder) if index is None else index
                    img = find_image(label, name, index)
                if img is None:
                    raise ValueError(f"line {i}: no image {name!r} (nor {Path(name).stem} or {label.stem} "
                                     f"with {'/'.join(IMAGE_SUFFIXES)}) in {folder}")
                plates.setdefault(img, []).append(plate)
        except ValueError as e:
            out.skipped.append(f"{label.name}: {e}")
            continue
        out.images.extend(plates.items())
    return out


def label_folders(folder: Path) -> list[Path]:
    """``folder`` if it holds usable labels, else each subfolder that does (one set per country).

    Why: benchmarks ship one folder per country (``endtoend/us``, ``endtoend/eu``, ...), often
    with a README or licence beside them, and pointing the evaluation at their parent should
    score each, not find nothing.
    """
    if load_folder(folder).images:
        return [folder]
    return [d for d in sorted(folder.iterdir()) if d.is_dir() and load_folder(d).images]
