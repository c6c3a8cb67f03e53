"""The recognition pipeline: detect -> crop -> read -> region -> vehicle, with the API's modes.

Modes (the API's ``config``):
- ``default``: a whole-image pass, then a finer tiled pass when the image is large enough that
  small plates shrink below what the detector resolves.
- ``fast``: exactly one detection step.
- ``redaction``: tiled pass always and a lower detection threshold: misses fewer plates.

This module knows nothing of HTTP, MQTT or cameras.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .configutil import check_keys, typed
from .engine import regions as reg
from .engine.detector import Detector
from .engine.pair import PairedReader
from .engine.reader import BEAM_WIDTH, TOP_N, Reader
from .engine.runtime import model_path
from .engine.vehicle import VehicleBoxFactors, VehicleClassifier
from .errors import ConfigError, InputError, ModelError
from .types import Box, Detection, PlateRead, PlateResult

MODES = ("default", "fast", "redaction")


@dataclass(frozen=True)
class RecognizeOptions:
    """Per-request options (the API's ``regions`` and ``config``)."""

    mode: str = "default"
    threshold_d: float | None = None
    threshold_o: float | None = None
    regions: tuple[str, ...] = ()
    region_strict: bool = False
    detection_rule_strict: bool = False

    @classmethod
    def from_request_config(cls, obj: Any, regions: tuple[str, ...] = ()) -> RecognizeOptions:
        """Parse the API's ``config`` (a JSON string or object); raise ``InputError`` naming the problem."""
        if isinstance(obj, (str, bytes)):
            if not obj.strip():
                obj = {}
            else:
                try:
                    obj = json.loads(obj)
                except (ValueError, UnicodeDecodeError) as e:
                    raise InputError(f'config is not valid JSON ({e}); example: config={{"mode":"fast"}}') from e
        if obj is None:
            obj = {}
        if not isinstance(obj, dict):
            raise InputError('config must be a JSON object such as {"mode":"fast"}')
        allowed = {"mode", "threshold_d", "threshold_o", "region", "detection_rule", "detection_mode"}
        unknown = sorted(set(obj) - allowed)
        if unknown:
            raise InputError(f"unknown config key {unknown[0]!r}; supported keys: {', '.join(sorted(allowed))}")
        mode = obj.get("mode", "default")
        if mode not in MODES:
            raise InputError(f"config mode {mode!r} is not one of {', '.join(MODES)}")

        def thr(key: str) -> float | None:
            v = obj.get(key)
            if v is None:
                return None
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
                raise InputError(f"config {key} must be a number between 0 and 1, got {v!r}")
            return float(v)

        for key in ("region", "detection_rule"):
            if obj.get(key, "normal") not in ("normal", "strict"):
                raise InputError(f'config {key} must be "strict" or "normal", got {obj[key]!r}')
        if obj.get("detection_mode", "plate") != "plate":
            raise InputError('config detection_mode: only "plate" is supported (no vehicle-only detection)')
        return cls(
            mode=mode,
            threshold_d=thr("threshold_d"),
            threshold_o=thr("threshold_o"),
            regions=regions,
            region_strict=obj.get("region") == "strict",
            detection_rule_strict=obj.get("detection_rule") == "strict",
        )


@dataclass(frozen=True)
class ModelsConfig:
    """The ``models`` config section: where the models are and how the pipeline uses them."""

    directory: str = ""  # "" = the models bundled with edge-alpr
    threads: int = 1
    runtime: str = "auto"  # auto | ai_edge_litert | tflite_runtime
    xnnpack: bool = True  # False: the runtimes' built-in int8 kernels (slower, bit-identical across runtimes)
    top_n: int = TOP_N  # candidates per plate
    beam_width: int = BEAM_WIDTH
    # The finer pass: tile_grid x tile_grid tiles.  3 (not 2) was chosen on TRAIN images: it
    # finds the small plates of 960-px romanian scenes (train recall 0.61 -> 0.90, precision
    # 0.80 -> 0.81) for ~40 % more default-mode time.
    tile_grid: int = 3
    tile_overlap: float = 0.2
    # Default mode tiles only images with a longer side over this.  480 tiles VGA photos too:
    # held-out real 2:1 plate crops pasted 18-48 px high into held-out 640 px scenes were found
    # 0.44 -> 0.93 of the time (8.5 -> 46 ms), but on the dev scenes of that size (andrewmvd)
    # precision fell (0.92 -> 0.84 with detector_v4), so 640 stays the default: set 480 for
    # cameras whose plates are small in VGA frames.  Tiling the 320-400 px scenes cut held-out
    # precision from 0.89 to 0.73.
    tile_min_side: int = 640
    redaction_threshold_factor: float = 0.6
    # Default mode (with no request threshold_d) also decodes the whole-image pass at
    # rescue_threshold_d, reads each weaker plate candidate that overlaps no detection, and keeps
    # it if its plate score is at least rescue_min_read (over 1 turns this off).  Held-out train
    # (session 12): real US/BR/AR plates pasted 18-48 px high into 640 px scenes found 0.43 ->
    # 0.51 and read 0.30 -> 0.36, no new false positive in 1005 train scenes; +1-5 ms per image.
    rescue_threshold_d: float = 0.5
    rescue_min_read: float = 0.2
    min_read_score: float = 0.0  # default threshold_o
    region_prior_score: float = 0.5  # use the predicted region's plate templates from this score (>1: off)
    # auto: pair the slot reader with a CTC reader (reader_ctc_v<N>) when the folder has one;
    # on: require one; off: the slot reader alone (engine/pair.py says why a pair reads better)
    reader_pair: str = "auto"
    # Outside fast mode, a read scoring under reread_below is read again as the mean of several
    # crops of its box: the trained margin plus reread_margins ((x, y) fractions of the box).
    # Held-out train (session 9): real plates pasted into scenes read 0.487 -> 0.517 this way, and
    # held-out scene plates +0 / +4 of 55 / 54; about half of those pasted reads score under 0.5.
    # Session 12: one extra view (the box itself, no margin) instead of two kept that (pasted
    # reads 956 vs 957 of 1404, scene plates 68 vs 69 of 109, two held-out reader pairs) for 2.6
    # instead of 3.8 ms per uncertain plate (x86, 1 thread).  0 or [] turns it off.
    reread_below: float = 0.5
    reread_margins: tuple[tuple[float, float], ...] = ((0.0, 0.0),)
    vehicle_box: VehicleBoxFactors = field(default_factory=VehicleBoxFactors)

    @classmethod
    def from_dict(cls, obj: Any, where: str = "models") -> ModelsConfig:
        d = check_keys(obj, set(cls.__dataclass_fields__), where)
        vb = check_keys(d.get("vehicle_box"), {"width", "above", "below"}, f"{where}.vehicle_box")
        base, vbase = cls(), VehicleBoxFactors()
        cfg = cls(
            directory=typed(d, "directory", str, base.directory, where),
            threads=typed(d, "threads", int, base.threads, where),
            runtime=typed(d, "runtime", str, base.runtime, where),
            xnnpack=typed(d, "xnnpack", bool, base.xnnpack, where),
            top_n=typed(d, "top_n", int, base.top_n, where),
            beam_width=typed(d, "beam_width", int, base.beam_width, where),
            tile_grid=typed(d, "tile_grid", int, base.tile_grid, where),
            tile_overlap=typed(d, "tile_overlap", float, base.tile_overlap, where),
            tile_min_side=typed(d, "tile_min_side", int, base.tile_min_side, where),
            redaction_threshold_factor=typed(
                d, "redaction_threshold_factor", float, base.redaction_threshold_factor, where
            ),
            rescue_threshold_d=typed(d, "rescue_threshold_d", float, base.rescue_threshold_d, where),
            rescue_min_read=typed(d, "rescue_min_read", float, base.rescue_min_read, where),
            min_read_score=typed(d, "min_read_score", float, base.min_read_score, where),
            region_prior_score=typed(d, "region_prior_score", float, base.region_prior_score, where),
            reader_pair=typed(d, "reader_pair", str, base.reader_pair, where),
            reread_below=typed(d, "reread_below", float, base.reread_below, where),
            reread_margins=margins(d.get("reread_margins", base.reread_margins), f"{where}.reread_margins"),
            vehicle_box=VehicleBoxFactors(
                *(typed(vb, k, float, getattr(vbase, k), f"{where}.vehicle_box") for k in ("width", "above", "below"))
            ),
        )
        if cfg.runtime not in ("auto", "ai_edge_litert", "tflite_runtime"):
            raise ConfigError(f"{where}.runtime: {cfg.runtime!r} is not auto, ai_edge_litert or tflite_runtime")
        if cfg.reader_pair not in ("auto", "on", "off"):
            raise ConfigError(f"{where}.reader_pair: {cfg.reader_pair!r} is not auto, on or off")
        if not 0.0 <= cfg.reread_below <= 1.0:
            raise ConfigError(f"{where}.reread_below: must be in [0, 1] (0 turns re-reading off), "
                              f"got {cfg.reread_below}")
        for name in ("threads", "top_n", "beam_width", "tile_grid"):
            if getattr(cfg, name) < 1:
                raise ConfigError(f"{where}.{name}: must be at least 1, got {getattr(cfg, name)}")
        if not 0.0 < cfg.rescue_threshold_d < 1.0 or cfg.rescue_min_read < 0.0:
            raise ConfigError(f"{where}: rescue_threshold_d must be in (0, 1) and rescue_min_read >= 0 (over 1 "
                              f"turns the rescue off), got {cfg.rescue_threshold_d} and {cfg.rescue_min_read}")
        if not 0.0 <= cfg.tile_overlap < 0.9:
            raise ConfigError(f"{where}.tile_overlap: must be in [0, 0.9), got {cfg.tile_overlap}")
        return cfg


def margins(value: Any, where: str) -> tuple[tuple[float, float], ...]:
    """``reread_margins``: a list of [x, y] crop margins, each a fraction of the box in [0, 1)."""
    example = "e.g. [[0.03, 0.05], [0, 0]]"
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where}: expected a list of [x, y] margins ({example}), got {value!r}")
    out = []
    for m in value:
        ok = isinstance(m, (list, tuple)) and len(m) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1 for v in m)
        if not ok:
            raise ConfigError(f"{where}: {m!r} is not an [x, y] pair of fractions in [0, 1) ({example})")
        out.append((float(m[0]), float(m[1])))
    return tuple(out)


class Recognizer:
    """Detector + reader + vehicle classifier behind one call; safe to share between threads."""

    def __init__(
        self, detector: Detector, reader: Reader | PairedReader, vehicle: VehicleClassifier, cfg: ModelsConfig
    ) -> None:
        self.detector, self.reader, self.vehicle, self.cfg = detector, reader, vehicle, cfg
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, cfg: ModelsConfig) -> Recognizer:
        def load(name: str) -> Any:
            return model_path(cfg.directory or None, name)

        slot = Reader(load("reader"), cfg.threads, cfg.runtime, cfg.xnnpack)
        reader: Reader | PairedReader = slot
        if cfg.reader_pair != "off":
            try:
                partner = load("reader_ctc")
            except ModelError:
                if cfg.reader_pair == "on":
                    raise
            else:
                reader = PairedReader(slot, Reader(partner, cfg.threads, cfg.runtime, cfg.xnnpack))
        return cls(
            Detector(load("detector"), cfg.threads, cfg.runtime, cfg.xnnpack),
            reader,
            VehicleClassifier(load("vehicle"), cfg.threads, cfg.runtime, cfg.xnnpack),
            cfg,
        )

    def info(self) -> dict[str, Any]:
        """Model names, versions and hashes."""
        models = (self.detector.model, *self.reader.models, self.vehicle.model)
        return {m.name: m.describe() for m in models}

    def detect(self, image: np.ndarray, options: RecognizeOptions) -> list[Any]:
        """The detection step(s) of the requested mode."""
        return self._detect(image, options)[0]

    def _detect(self, image: np.ndarray, options: RecognizeOptions) -> tuple[list[Detection], dict[Box, PlateRead]]:
        """``detect``, with the reads it made to rescue weak detections (``recognize`` reuses them)."""
        base = self.detector.threshold if options.threshold_d is None else options.threshold_d
        thr = base * self.cfg.redaction_threshold_factor if options.mode == "redaction" else base
        rescue = (options.mode == "default" and options.threshold_d is None and self.cfg.rescue_min_read <= 1.0
                  and self.cfg.rescue_threshold_d < thr)
        levels = self.detector.detect_levels(image, (thr, self.cfg.rescue_threshold_d) if rescue else (thr,))
        dets = levels[0]
        long_side = max(image.shape[:2])
        tiled = (options.mode == "default" and long_side > self.cfg.tile_min_side) or (
            options.mode == "redaction" and long_side > self.detector.size
        )
        if tiled:
            dets = self.detector.merge(
                dets + self.detector.detect_tiled(image, self.cfg.tile_grid, self.cfg.tile_overlap, thr)
            )
        reads: dict[Box, PlateRead] = {}
        if rescue:
            reads = self._rescue(image, options, levels[1], dets, thr)
            dets = dets + [d for d in levels[1] if d.box in reads]
        return dets, reads

    def _rescue(self, image: np.ndarray, opts: RecognizeOptions, weak: list[Detection], kept: list[Detection],
                thr: float) -> dict[Box, PlateRead]:
        """The reads of weaker detections (under ``thr``, clear of every kept one) whose plate reads well.

        Why: the detector's score is calibrated on the European plates of its real scenes, and
        real US, Brazilian and Argentine plates in mid-size scenes often score under its
        threshold; but a non-plate (a lamp, a grille, lettering) reads as no plate the reader
        believes in.  The reads run without the lock; ``recognize`` calls this under it.
        """
        out = {}
        for d in weak:
            if d.score < thr and all(d.box.iou(k.box) == 0.0 for k in kept):
                read = self._read(image, d.box, opts)
                if read.score >= self.cfg.rescue_min_read:
                    out[d.box] = read
        return out

    def read(self, image: np.ndarray, box: Box, opts: RecognizeOptions) -> PlateRead:
        """Read the plate in ``box``; outside fast mode, an uncertain read is read again from
        several crops (``ModelsConfig.reread_below``)."""
        with self._lock:
            return self._read(image, box, opts)

    def _read(self, image: np.ndarray, box: Box, opts: RecognizeOptions) -> PlateRead:
        """``read`` for a caller that holds the lock (the interpreters are not thread-safe)."""
        args = (self.cfg.top_n, self.cfg.beam_width, opts.regions)
        views: list[Any] = [self.reader.infer(self.reader.crop(image, box))]  # kept for a re-read
        read = self.reader.decode(views, *args, self_hint_score=self.cfg.region_prior_score)
        if opts.mode == "fast" or read.score >= self.cfg.reread_below or not self.cfg.reread_margins:
            return read
        views += [self.reader.infer(self.reader.crop(image, box, m)) for m in self.cfg.reread_margins]
        return self.reader.decode(views, *args, self_hint_score=self.cfg.region_prior_score)

    def recognize(self, image: np.ndarray, options: RecognizeOptions | None = None) -> list[PlateResult]:
        """All plates in an RGB uint8 image, best detection first."""
        opts = options or RecognizeOptions()
        thr_o = self.cfg.min_read_score if opts.threshold_o is None else opts.threshold_o
        h, w = image.shape[:2]
        with self._lock:
            results = []
            dets, known = self._detect(image, opts)
            for det in dets:
                read = known[det.box] if det.box in known else self._read(image, det.box, opts)
                if not read.plate or read.score < thr_o:
                    continue
                if opts.region_strict and opts.regions and not any(reg.matches(read.plate, r) for r in opts.regions):
                    continue
                vehicle = self.vehicle.classify(image, self.cfg.vehicle_box.around(det.box, w, h))
                if opts.detection_rule_strict and vehicle.type == "Unknown":
                    continue
                results.append(PlateResult(det.box, det.score, read, vehicle))
        return results
