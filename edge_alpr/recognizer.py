"""The recognition pipeline: detect -> crop -> read -> region -> vehicle, with the API's modes.

Modes (the API's ``config``):
- ``default``: a whole-image pass, then a finer tiled pass when the image is large enough that
  small plates shrink below what the detector resolves; uncertain reads are read again from
  more crops, and a box about as tall as wide is also read row by row (``engine.rows``; by the row
  reader where the model folder has one).
- ``fast``: exactly one detection step, one read per plate.
- ``redaction``: tiled pass always and a lower detection threshold: misses fewer plates.

This module knows nothing of HTTP, MQTT or cameras.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import json_input
from .engine import looks, rows
from .engine import regions as reg
from .engine.calibration import Calibration
from .engine.detector import Detector, WholePass
from .engine.pair import PairedReader
from .engine.reader import Reader, ReadSettings
from .engine.runtime import model_path
from .engine.states import StatedReader
from .engine.vehicle import VehicleClassifier
from .errors import InputError, ModelError
from .models_config import MODES, ModelsConfig
from .names import shown
from .types import Box, Detection, PlateRead, PlateResult


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
                    obj = json_input.loads(obj, "config")
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
            raise InputError(f"config mode {shown(mode)} is not one of {', '.join(MODES)}")

        def thr(key: str) -> float | None:
            v = obj.get(key)
            if v is None:
                return None
            # compared as sent: float() of an integer of 309 digits or more raises OverflowError
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise InputError(f"config {key} must be a number between 0 and 1, got {shown(v)}")
            return float(v)

        for key in ("region", "detection_rule"):
            if obj.get(key, "normal") not in ("normal", "strict"):
                raise InputError(f'config {key} must be "strict" or "normal", got {shown(obj[key])}')
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


PAIRINGS = ("joint", "states")  # how a CTC reader's sidecar says it reads beside the slot reader


def pair_with(slot: Reader, ctc: Reader) -> PairedReader | StatedReader:
    """The two readers as the CTC model's sidecar asks: ``joint`` (both score every reading,
    ``engine.pair``) or ``states`` (the CTC head reads alone, the slot head names US states,
    ``engine.states``)."""
    pairing = ctc.model.meta.get("pairing", "joint")
    if pairing not in PAIRINGS:
        raise ModelError(f"{ctc.model.name}: sidecar pairing {pairing!r} is not one of {', '.join(PAIRINGS)}; "
                         "upgrade edge-alpr or fix the sidecar")
    return StatedReader(ctc, slot) if pairing == "states" else PairedReader(slot, ctc)


class Recognizer:
    """Detector + reader + vehicle classifier behind one call; safe to share between threads.

    No lock of its own: each model's interpreter has one (``engine.runtime.Model.run``), and
    everything else here works on the caller's arrays.  Why: one lock over the whole pipeline
    let a 12 MP upload hold every camera for its whole recognition; with the models' locks a
    camera waits at most for one model run of another caller.
    """

    def __init__(
        self, detector: Detector, reader: Reader | PairedReader | StatedReader, vehicle: VehicleClassifier,
        cfg: ModelsConfig, rows: Reader | None = None,
    ) -> None:
        """``rows``: the reader of two-row plates' rows (none: ``reader`` reads them too).  The read
        score's map is the one fitted with that row reader (``calibration.for_reader``)."""
        self.detector, self.reader, self.vehicle, self.cfg = detector, reader, vehicle, cfg
        self.rows = rows
        if rows is not None:
            self.reader.calibration = reader.calibration_for(rows.model.sha256)
        # dscore's map (identity without one in the detector's sidecar); the read score's is the reader's
        self.dscore = Calibration.from_meta(detector.model.meta, detector.model.name)

    @classmethod
    def from_config(cls, cfg: ModelsConfig) -> Recognizer:
        def load(name: str) -> Any:
            return model_path(cfg.directory or None, name)

        def reader_if(name: str, setting: str) -> Reader | None:
            """The ``name`` reader as an auto|on|off setting asks: auto loads it where the folder
            has one, on requires it (the loader's error names the missing model), off never loads it."""
            if setting == "off":
                return None
            try:
                path = load(name)
            except ModelError:
                if setting == "on":
                    raise
                return None
            return Reader(path, cfg.threads, cfg.runtime, cfg.xnnpack)

        slot = Reader(load("reader"), cfg.threads, cfg.runtime, cfg.xnnpack)
        partner = reader_if("reader_ctc", cfg.reader_pair)
        reader: Reader | PairedReader | StatedReader = slot if partner is None else pair_with(slot, partner)
        rows = reader_if("reader_rows", cfg.row_reader)
        return cls(
            Detector(load("detector"), cfg.threads, cfg.runtime, cfg.xnnpack),
            reader,
            VehicleClassifier(load("vehicle"), cfg.threads, cfg.runtime, cfg.xnnpack),
            cfg,
            rows,
        )

    def info(self) -> dict[str, Any]:
        """Model names, versions and hashes."""
        row_models = () if self.rows is None else self.rows.models
        models = (self.detector.model, *self.reader.models, *row_models, self.vehicle.model)
        return {m.name: m.describe() for m in models}

    def detect(self, image: np.ndarray, options: RecognizeOptions) -> list[Any]:
        """The detection step(s) of the requested mode, with the detector's raw scores (``dscore``
        maps one to the probability that the box is a plate)."""
        return self._detect(image, options)[0]

    def _detect(self, image: np.ndarray, options: RecognizeOptions) -> tuple[list[Detection], dict[Box, PlateRead]]:
        """``detect``, with the reads it made to rescue weak detections (``recognize`` reuses them)."""
        # threshold_d is stated on the calibrated dscore: the raw threshold that keeps the same boxes
        base = (self.detector.threshold if options.threshold_d is None
                else min(self.dscore.inverse(options.threshold_d), 1.5))
        thr = base * self.cfg.redaction_threshold_factor if options.mode == "redaction" else base
        rescue = (options.mode == "default" and options.threshold_d is None and self.cfg.rescue_min_read <= 1.0
                  and self.cfg.rescue_threshold_d < thr)
        whole = self.detector.detect_pass(image, (thr, self.cfg.rescue_threshold_d) if rescue else (thr,))
        levels = whole.levels
        dets = levels[0]
        h, w = image.shape[:2]
        tiled = (options.mode == "default" and max(h, w) > self.cfg.tile_min_side) or (
            options.mode == "redaction" and max(h, w) > self.detector.size
        )
        if tiled:
            windows = self.detector.windows(w, h, self.cfg.tile_grid, self.cfg.tile_overlap)
            if options.mode == "default" and self.cfg.tile_gate > 0:
                windows = [win for win in windows if self.detector.interest(whole, win) >= self.cfg.tile_gate]
            placed = self._looks(whole, w, h, dets, len(windows)) if options.mode == "default" else None
            # looks never cost more detector runs than the gated tiles (a map lit up all over)
            if placed is not None and looks.canvases(placed) <= len(windows):
                finer = looks.detect_looks(self.detector, image, placed, thr)
            else:
                finer = self.detector.detect_tiled(image, self.cfg.tile_grid, self.cfg.tile_overlap, thr, windows)
            dets = self.detector.merge(dets + finer)
        reads: dict[Box, PlateRead] = {}
        if rescue:
            reads = self._rescue(image, options, levels[1], dets, thr)
            dets = dets + [d for d in levels[1] if d.box in reads]
        return dets, reads

    def _looks(self, whole: WholePass, w: int, h: int, found: list[Detection], tiles: int) -> list[looks.Look] | None:
        """Where default mode's finer pass looks (``models.fine_pass: looks``, with a gate: without
        one every map cell would want a look); None: it runs the ``tiles`` gated tiles."""
        if self.cfg.fine_pass != "looks" or self.cfg.tile_gate <= 0:
            return None
        size = looks.look_size(self.detector, w, h, self.cfg.tile_grid, self.cfg.tile_overlap)
        return looks.place(self.detector, whole, self.cfg.tile_gate, size, w, h, found, looks.PER_CANVAS * tiles)

    def _rescue(self, image: np.ndarray, opts: RecognizeOptions, weak: list[Detection], kept: list[Detection],
                thr: float) -> dict[Box, PlateRead]:
        """The reads of weaker detections (under ``thr``, clear of every kept one) whose plate reads well.

        Why: the detector's score is calibrated on the European plates of its real scenes, and
        real US, Brazilian and Argentine plates in mid-size scenes often score under its
        threshold; but a non-plate (a lamp, a grille, lettering) reads as no plate the reader
        believes in.
        """
        out = {}
        for d in weak:
            if d.score < thr and all(d.box.iou(k.box) == 0.0 for k in kept):
                read = self._read(image, d.box, opts)
                if read.score >= self.cfg.rescue_min_read:
                    out[d.box] = read
        return out

    def read(self, image: np.ndarray, box: Box, opts: RecognizeOptions) -> PlateRead:
        """Read the plate in ``box``, with calibrated scores (the probability that a reading is
        exactly right); outside fast mode, an uncertain read is read again from several crops
        (``ModelsConfig.reread_below``)."""
        return self.reader.calibrate(self._read(image, box, opts))

    def read_settings(self, regions: tuple[str, ...] = ()) -> ReadSettings:
        """How the reader reads a plate for a request with these ``regions`` (its hint): the models
        section's top-N, beam width and region-prior score."""
        return ReadSettings(top_n=self.cfg.top_n, beam_width=self.cfg.beam_width, hint=regions,
                            self_hint_score=self.cfg.region_prior_score)

    def _read(self, image: np.ndarray, box: Box, opts: RecognizeOptions) -> PlateRead:
        """``read`` with the reader's raw scores.  Why raw: ``reread_below`` and ``rescue_min_read`` were tuned on the
        raw score, and the calibration map is fitted on the reads this makes."""
        settings = self.read_settings(opts.regions)
        read = self._read_box(image, box, settings, opts)
        if opts.mode == "fast":
            return read
        by_row = rows.row_settings(settings)
        row_reader = self.rows or self.reader
        return rows.read_by_rows(lambda b: self._read_box(image, b, by_row, opts, row_reader), box, read,
                                 settings.top_n)

    def _read_box(self, image: np.ndarray, box: Box, settings: ReadSettings, opts: RecognizeOptions,
                  reader: Reader | PairedReader | StatedReader | None = None) -> PlateRead:
        """One crop's reading by ``reader`` (default: the plate reader), raw scores; outside fast
        mode, read again from several crops when uncertain."""
        by = reader or self.reader
        views: list[Any] = [by.infer(by.crop(image, box))]  # kept for a re-read
        read = by.decode(views, settings)
        if opts.mode == "fast" or read.score >= self.cfg.reread_below or not self.cfg.reread_margins:
            return read
        views += [by.infer(by.crop(image, box, m)) for m in self.cfg.reread_margins]
        return by.decode(views, settings)

    def recognize(self, image: np.ndarray, options: RecognizeOptions | None = None) -> list[PlateResult]:
        """All plates in an RGB uint8 image, best detection first.

        ``score`` and every candidate's score are calibrated (``engine.calibration``), and so is
        ``dscore`` where the detector's sidecar has a map; ``threshold_o`` filters on the
        calibrated score, ``threshold_d`` on the calibrated ``dscore``.
        """
        opts = options or RecognizeOptions()
        thr_o = self.cfg.min_read_score if opts.threshold_o is None else opts.threshold_o
        h, w = image.shape[:2]
        results = []
        dets, known = self._detect(image, opts)
        for det in dets:
            read = self.reader.calibrate(known[det.box] if det.box in known else self._read(image, det.box, opts))
            if not read.plate or read.score < thr_o:
                continue
            if opts.region_strict and opts.regions and not any(reg.matches(read.plate, r) for r in opts.regions):
                continue
            vehicle = self.vehicle.classify(image, self.cfg.vehicle_box.around(det.box, w, h))
            if opts.detection_rule_strict and vehicle.type == "Unknown":
                continue
            results.append(PlateResult(det.box, self.dscore(det.score), read, vehicle))
        return results
