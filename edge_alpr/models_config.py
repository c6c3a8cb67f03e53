"""The ``models`` config section: where the models are and how the recognition pipeline uses them.

Why its own module: every setting here was chosen by a measured rule, and its comment says which
and with what result, so the section is long; the pipeline that reads it lives in
``recognizer.py`` (which re-exports ``ModelsConfig``).  It imports no model code (nor numpy):
the defaults the engine shares with this section (``TOP_N``, ``BEAM_WIDTH``,
``VehicleBoxFactors``) are defined here and imported by ``engine.reader`` and ``engine.vehicle``,
so loading the config (``edge-alpr check-config``) stays fast on a Raspberry Pi.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .configutil import Section, parse_section, setting
from .errors import ConfigError
from .names import shown
from .types import Box

# Defaults of one read, shared by every reader (``engine.reader.ReadSettings``'s defaults) and by
# this section, because callers may swap one reader for another: a second copy of them could drift.
TOP_N, BEAM_WIDTH = 5, 8
MODES = ("default", "fast", "redaction")  # a request's or a camera's recognition mode
RUNTIME_CHOICES = ("auto", "ai_edge_litert", "tflite_runtime")
FINE_PASSES = ("tiles", "looks")  # default mode's finer pass (fine_pass below)
# both settings of the rescue are one rule, named whichever is out of range
RESCUE_RULE = "rescue_threshold_d must be in (0, 1) and rescue_min_read >= 0 (over 1 turns the rescue off)"


def margins(value: Any, where: str) -> tuple[tuple[float, float], ...]:
    """``reread_margins``: a list of [x, y] crop margins, each a fraction of the box in [0, 1)."""
    example = "e.g. [[0.03, 0.05], [0, 0]]"
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where}: expected a list of [x, y] margins ({example}), got {shown(value)}")
    out = []
    for m in value:
        ok = isinstance(m, (list, tuple)) and len(m) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1 for v in m)
        if not ok:
            raise ConfigError(f"{where}: {shown(m)} is not an [x, y] pair of fractions in [0, 1) ({example})")
        out.append((float(m[0]), float(m[1])))
    return tuple(out)


@dataclass(frozen=True)
class VehicleBoxFactors:
    """Vehicle box around a plate, in plate widths."""

    width: float = 3.6  # vehicle box width, centred on the plate, in plate widths
    above: float = 2.4  # how far it reaches above the plate's top, in plate widths
    below: float = 0.5  # how far it reaches below the plate's bottom, in plate widths

    def around(self, plate: Box, width: int, height: int) -> Box:
        pw = plate.width
        cx = (plate.xmin + plate.xmax) / 2
        return Box(
            max(0, int(cx - pw * self.width / 2)),
            max(0, int(plate.ymin - pw * self.above)),
            min(width, int(cx + pw * self.width / 2)),
            min(height, int(plate.ymax + pw * self.below)),
        )


MARGINS_SCHEMA = {"type": "array", "items": {"type": "array", "minItems": 2, "maxItems": 2,
                                             "items": {"type": "number", "minimum": 0, "exclusiveMaximum": 1}}}


@dataclass(frozen=True)
class ModelsConfig(Section):
    """The ``models`` config section: where the models are and how the pipeline uses them."""

    # The folder of the models (each `<name>_v<N>.tflite` with its .json sidecar; the highest N of
    # each name loads); "" = the models bundled with edge-alpr.  A folder that does not exist (yet)
    # makes run and serve exit 1, which the unit retries (a disk mounted after boot: add
    # RequiresMountsFor=); one without the models, unreadable, or with a model that disagrees with
    # its sidecar exits 78 (not retried).  check-config warns of either.
    directory: str = ""
    threads: int = setting(1, min=1)  # CPU threads of each model's interpreter
    runtime: str = setting("auto", choices=RUNTIME_CHOICES)  # auto: ai_edge_litert, else tflite_runtime
    xnnpack: bool = True  # false: the runtimes' built-in int8 kernels (slower, bit-identical across runtimes)
    top_n: int = setting(TOP_N, min=1)  # candidates per plate
    beam_width: int = setting(BEAM_WIDTH, min=1)  # beam width of the reader's character decoding
    # The finer pass: tile_grid x tile_grid tiles.  3 (not 2) was chosen on TRAIN images: it
    # finds the small plates of 960-px romanian scenes (train recall 0.61 -> 0.90, precision
    # 0.80 -> 0.81) for ~40 % more default-mode time.
    tile_grid: int = setting(3, min=1)
    tile_overlap: float = setting(0.2, min=0, below=0.9)  # share of a tile's width and height shared with a neighbour
    # Default mode runs a tile only where the whole-image map reaches this plate probability inside it
    # (0 = every tile): the coarse pass points at where a small plate may be.  0.3 was the largest of
    # 0.02-0.3 to lose no held-out train plate; on dev it lost none either, ran 3.0 of 9 tiles of
    # the 960-px romanian scenes (69 -> 29 ms median) and raised their precision 0.857 -> 0.894.
    tile_gate: float = setting(0.3, min=0, max=1)
    # Default mode's finer pass where the gate opens: "tiles" (the gated 3x3 tiles) or "looks" (a window
    # around each lit spot of the map, two to a detector run; never more runs than the gated tiles).
    # Looks cut a 1280x720 frame's default-mode time by a third (bench_models 30 -> 20 ms) with fewer
    # false boxes, but find fewer plates (dev scenes resized to 1280x720: 780 of 984, 129 false boxes,
    # against 794 and 169; held-out native: 189 of 246 against 190), so tiles stay the default.
    # Looks need a gate above 0 (tile_gate 0 runs the tiles).
    fine_pass: str = setting("tiles", choices=FINE_PASSES)
    # Default mode tiles only images with a longer side over this.  480 tiles VGA photos too:
    # held-out real 2:1 plate crops pasted 18-48 px high into held-out 640 px scenes were found
    # 0.44 -> 0.93 of the time (8.5 -> 46 ms), but on the dev scenes of that size (andrewmvd)
    # precision fell (0.92 -> 0.84 with detector_v4), so 640 stays the default: set 480 for
    # cameras whose plates are small in VGA frames.  Tiling the 320-400 px scenes cut held-out
    # precision from 0.89 to 0.73.
    tile_min_side: int = 640
    # redaction mode: the detection threshold times this (lower finds more plates)
    redaction_threshold_factor: float = 0.6
    # Default mode (with no request threshold_d) also decodes the whole-image pass at
    # rescue_threshold_d, reads each weaker plate candidate that overlaps no detection, and keeps
    # it if its plate score is at least rescue_min_read (over 1 turns this off).  Held-out train
    # (held-out train): real US/BR/AR plates pasted 18-48 px high into 640 px scenes found 0.43 ->
    # 0.51 and read 0.30 -> 0.36, no new false positive in 1005 train scenes; +1-5 ms per image.
    rescue_threshold_d: float = setting(0.5, above=0, below=1, error=RESCUE_RULE)
    # the raw read score a rescued plate needs (see rescue_threshold_d); over 1: rescue off
    rescue_min_read: float = setting(0.2, min=0, error=RESCUE_RULE)
    min_read_score: float = 0.0  # reads scoring under this are dropped when a request gives no threshold_o
    region_prior_score: float = 0.5  # use the predicted region's plate templates from this score (>1: off)
    # auto: pair the slot reader with a CTC reader (`reader_ctc_v<N>`) when the folder has one, as the
    # CTC sidecar's `pairing` says (joint: both heads score every reading, engine/pair.py; states: the
    # CTC head reads alone and the slot head names US states, engine/states.py); on: require one;
    # off: the slot reader alone
    reader_pair: str = setting("auto", choices=("auto", "on", "off"))
    # Outside fast mode a box about as tall as wide is also read as two rows.  auto: the rows are
    # read by a row reader (`reader_rows_v<N>`, trained on rows cut from two-row plates) when the
    # folder has one, else by the plate reader itself; on: require one; off: the plate reader
    row_reader: str = setting("auto", choices=("auto", "on", "off"))
    # Outside fast mode, a read scoring under reread_below is read again as the mean of several
    # crops of its box: the trained margin plus reread_margins ((x, y) fractions of the box).
    # Held-out train: real plates pasted into scenes read 0.487 -> 0.517 this way, and
    # held-out scene plates +0 / +4 of 55 / 54; about half of those pasted reads score under 0.5.
    # One extra view (the box itself, no margin) instead of two kept that (pasted
    # reads 956 vs 957 of 1404, scene plates 68 vs 69 of 109, two held-out reader pairs) for 2.6
    # instead of 3.8 ms per uncertain plate (x86, 1 thread).  0 or [] turns it off.
    reread_below: float = setting(0.5, min=0, max=1)
    # the re-read's crops: [x, y] margins, fractions of the box in [0, 1)
    reread_margins: tuple[tuple[float, float], ...] = setting(((0.0, 0.0),), parse=margins, schema=MARGINS_SCHEMA)
    vehicle_box: VehicleBoxFactors = field(default_factory=VehicleBoxFactors)

    @classmethod
    def from_dict(cls, obj: Any, where: str = "models") -> ModelsConfig:
        return parse_section(cls, obj, where)
