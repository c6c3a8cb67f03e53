"""Plate reader: crop -> int8 model -> text, top-N candidates and region."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..models_config import BEAM_WIDTH, TOP_N  # shared with the models section (see there)
from ..types import Box, Candidate, PlateRead
from . import ctc, slots
from . import regions as reg
from .calibration import Calibration, for_reader
from .memo import ArrayMemo
from .preprocess import crop_resize, expand
from .runtime import Model
from .slots import UNKNOWN

HEADS = ("attention", "dense", "ctc")  # reader heads (train_reader.py --head) this decoder knows
# What the char output holds: softmax probabilities (as trained), or int8 log-probabilities
# (scripts/train/log_softmax_outputs.py: an int8 softmax rounds p < 1/512 to 0, a log-softmax does not)
CHAR_OUTPUTS = ("softmax", "log_softmax")
# A head proposes this many candidates per one returned: re-ranking by region templates (and,
# in a reader pair, by the other head) may promote one from below the top N.
PROPOSALS_PER_RESULT = 2


@dataclass(frozen=True)
class ReadSettings:
    """How one plate is read: one value, with one set of defaults, for every reader (``Reader``,
    ``engine.pair.PairedReader``, ``engine.states.StatedReader``), because callers may swap one
    for another and a second copy of the defaults could drift.

    ``top_n``: candidates returned.  ``beam_width``: the beam of the character decoding.
    ``hint``: regions whose plate templates guide the reading (the request's regions).
    ``hint_ratio``: a candidate that fits a template wins if its score is at least this share of
    the best one.  ``self_hint_score``: with no hint, the reader's own region guess guides the
    reading if its score is at least this (above 1 turns that off).  ``top_n`` and
    ``beam_width`` default to the models section's defaults, so those are defined in
    ``models_config``.
    """

    top_n: int = TOP_N
    beam_width: int = BEAM_WIDTH
    hint: tuple[str, ...] = ()
    hint_ratio: float = 0.05
    self_hint_score: float = 1.1

    @property
    def proposals(self) -> int:
        """Candidates each head proposes (``PROPOSALS_PER_RESULT`` per one returned)."""
        return max(self.top_n, 1) * PROPOSALS_PER_RESULT


DEFAULT_READ = ReadSettings()

# What a masked or unreadable character reads as (``fold_unknown``): a letter most plate series
# avoid, so such a reading is easy to tell from a real one.
STAND_IN = "Q"


def fold_unknown(probs: np.ndarray, alphabet: str) -> np.ndarray:
    """Per slot or frame, the ``?`` class's probability moved to one stand-in character (``Q``).

    Why: ``?`` marks a masked or unreadable character in the training labels (the grey
    rectangles of uc3m plates), so the heads learned "a character is here, which one is hidden";
    a plate never has a ``?`` on it, so no reading may contain one.  Moving its probability to a
    real character keeps the hidden character in the reading (a masked plate keeps its length,
    and the score it had: a ``?`` in a label matches any character) and each slot or frame still
    sums to what it did, so the tuned score thresholds keep their meaning.  Both heads' decoders,
    template fits and string scores read these arrays, so they stay consistent with each other.

    Why one fixed stand-in and not each slot's best real character: on a masked character the
    two heads' faint preferences differ, the pair then scores every reading low, and held-out
    masked plates read worse (dev uc3m scenes 0.556 exact with ``?`` readings, 0.510 with the
    best character, 0.549 with the stand-in; uc3m crops 0.953, 0.935, 0.955; the unmasked sets
    did not change).  Sharing it among all characters instead gives 36 equal readings or a
    score of 1/36 per hidden character, and giving it to the pad or blank drops the character.
    """
    q = alphabet.find(UNKNOWN)
    if q < 0:
        return probs
    stand_in = alphabet.find(STAND_IN) if STAND_IN in alphabet else int(q == 0)
    p = probs.astype(np.float64)  # a copy
    p[..., stand_in] += p[..., q]
    p[..., q] = 0.0
    return p


def rerank(cands: list[Candidate], fitted: list[Candidate], prior: tuple[str, ...],
           ratio: float) -> list[Candidate]:
    """Merge template readings into the beam's candidates (no plate twice), then put first
    those that fit a ``prior`` region and score at least ``ratio`` of the best candidate."""
    merged: dict[str, Candidate] = {}
    for c in cands + fitted:
        if c.plate not in merged or c.score > merged[c.plate].score:
            merged[c.plate] = c
    ranked = sorted(merged.values(), key=lambda c: -c.score)
    best = ranked[0].score
    fit = reg.matcher(prior)
    fits = [c for c in ranked if c.score >= best * ratio and fit(c.plate)]
    fitting = {id(c) for c in fits}
    return fits + [c for c in ranked if id(c) not in fitting]


def require_same_crop(a: Reader, b: Reader) -> None:
    """``ModelError`` unless ``a`` and ``b`` cut and size a plate alike.

    Why: readers that work together (``engine.pair``, ``engine.states``) are fed one crop; a
    reader trained with another input size or margins would read a crop it never learnt.
    """
    if (a.in_h, a.in_w, a.margin_x, a.margin_y) != (b.in_h, b.in_w, b.margin_x, b.margin_y):
        raise ModelError(f"{a.model.name} and {b.model.name} crop plates differently (input size or "
                         "margins); readers used together must read the same crop: retrain one with the "
                         "other's settings")


class Reader:
    """Reads a plate inside a detection box."""

    def __init__(self, path: Path, threads: int = 1, runtime: str = "auto", xnnpack: bool = True) -> None:
        self.model = Model(path, threads, runtime, xnnpack)
        meta = self.model.meta
        head = meta.get("head", "attention")
        if head not in HEADS:
            raise ModelError(f"{path.name}: reader head {head!r} is unknown to this edge-alpr "
                             f"(knows {', '.join(HEADS)}); upgrade edge-alpr or use a matching model")
        # a CTC head's per-frame blank, or a slot head's "no character" class: either way the
        # class after the alphabet, so the character output is the one with len(alphabet)+1
        self.ctc = head == "ctc"
        try:
            self.alphabet: str = meta["alphabet"]
            self.pad = int(meta["blank_index" if self.ctc else "pad_index"])
            self.rows = int(meta.get("text_rows", 1))
            self.regions: list[str] = meta["regions"]
            self.margin_x = float(meta["preprocess"]["crop_margin_x"])
            self.margin_y = float(meta["preprocess"]["crop_margin_y"])
        except KeyError as e:
            raise ModelError(f"{path.name}: sidecar has no {e.args[0]!r}; regenerate it with `make models`") from e
        if meta.get("char_output", "softmax") not in CHAR_OUTPUTS:
            raise ModelError(f"{path.name}: sidecar char_output {meta.get('char_output')!r} is not one of "
                             f"{', '.join(CHAR_OUTPUTS)}; upgrade edge-alpr or use a matching model")
        self.log_probs = meta.get("char_output", "softmax") == "log_softmax"
        if self.pad != len(self.alphabet):
            raise ModelError(f"{path.name}: sidecar's blank/pad class {self.pad} is not len(alphabet) "
                             f"{len(self.alphabet)}; regenerate the sidecar with `make models`")
        _, self.in_h, self.in_w, _ = self.model.inputs[0].shape
        self.calibration: Calibration = self.calibration_for()
        self._decoded: ArrayMemo[tuple[Candidate, ...]] = ArrayMemo()
        self._index = {c: i for i, c in reversed(list(enumerate(self.alphabet)))}  # first position, as str.index
        self._states = [j for j, r in enumerate(self.regions) if r.startswith("us-")]  # ``region`` reads them per read

    def crop(self, image: np.ndarray, box: Box, margin: tuple[float, float] | None = None) -> np.ndarray:
        """The reader's input for a detection: the box plus the trained margin (or ``margin``,
        an (x, y) fraction of the box, for another view of the same plate)."""
        h, w = image.shape[:2]
        mx, my = (self.margin_x, self.margin_y) if margin is None else margin
        return crop_resize(image, expand(box, mx, my, w, h), self.in_w, self.in_h)

    @property
    def models(self) -> tuple[Model, ...]:
        """The int8 models behind this reader (for ``/info/`` and benchmarks)."""
        return (self.model,)

    def infer(self, crop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run the model: decoder-ready character probabilities, and region probabilities."""
        outs = self.model.run(crop)
        chars = self.model.output_by_shape(outs, self.pad + 1)[0]
        if self.log_probs:  # back to probabilities; int8 rounding leaves each slot's sum a few % off 1
            chars = np.exp(chars)
            chars = chars / chars.sum(axis=-1, keepdims=True)
        region_p = self.model.output_by_shape(outs, len(self.regions))[0]
        chars = ctc.prepare(chars, self.pad, self.rows) if self.ctc else chars
        return fold_unknown(chars, self.alphabet), region_p

    def calibration_for(self, rows: str | None = None) -> Calibration:
        """The sidecar's map for this reader alone, two-row plates' rows read by the model of sha256
        ``rows`` (none: by this reader); identity where the map was fitted otherwise."""
        return for_reader(self.model.meta, self.model.name + ".tflite", "single", rows=rows)

    def calibrate(self, read: PlateRead) -> PlateRead:
        """``read`` with calibrated scores (the sidecar's map; ``Calibration.read``)."""
        return self.calibration.read(read)

    def prior(self, code: str, score: float, settings: ReadSettings) -> tuple[str, ...]:
        """Regions whose plate templates guide the reading: the hint, else a confident own guess."""
        return settings.hint or ((code,) if score >= settings.self_hint_score and reg.has_patterns(code) else ())

    def candidates(self, chars: np.ndarray, prior: tuple[str, ...], settings: ReadSettings) -> list[Candidate]:
        """This head's own ranked readings: its beam, with the prior regions' template fits merged in
        (looked up when these frames were decoded so before: ``memo.ArrayMemo``)."""
        key = ArrayMemo.key(chars, prior, settings.beam_width, settings.proposals, settings.hint_ratio)
        return list(self._decoded.get(key, lambda: tuple(self._candidates(chars, prior, settings))))

    def _candidates(self, chars: np.ndarray, prior: tuple[str, ...], settings: ReadSettings) -> list[Candidate]:
        decode, fit = (ctc.beam, ctc.fit_templates) if self.ctc else (slots.beam, slots.fit_templates)
        cands = decode(chars, self.alphabet, self.pad, settings.beam_width, settings.proposals)
        if prior and cands:
            cands = rerank(cands, fit(chars, self.alphabet, self.pad,
                                      tuple(t for r in prior for t in reg.templates(r))),
                           prior, settings.hint_ratio)
        return cands

    def string_probs(self, chars: np.ndarray, texts: list[str]) -> np.ndarray:
        """P(text | crop) under this head for each text, exactly (0 for what it cannot spell)."""
        index = self._index
        ids: list[list[int] | None] = []
        for t in texts:
            try:
                ids.append([index[c] for c in t])
            except KeyError:  # a character this head does not know (the other head's alphabet)
                ids.append(None)
        if self.ctc:
            return ctc.string_probs(chars, ids, self.pad)
        return slots.string_probs(chars, ids, self.pad)

    def read(self, crop: np.ndarray, settings: ReadSettings = DEFAULT_READ) -> PlateRead:
        """Read a model-sized crop.  Region plate templates re-rank the candidates.

        The templates come from ``settings.hint`` (the request's regions) or, when none is given,
        from the reader's own region prediction if its score is at least
        ``settings.self_hint_score`` (above 1 turns that off).  The best reading under each
        template joins the beam's candidates; a candidate that fits wins if its score is at least
        ``settings.hint_ratio`` of the best one, so a foreign plate with a clear reading still
        reads as it is.
        """
        return self.decode([self.infer(crop)], settings)

    def decode(
        self, views: Sequence[tuple[np.ndarray, np.ndarray]], settings: ReadSettings = DEFAULT_READ
    ) -> PlateRead:
        """The reading from ``infer`` outputs of one plate (callers keep a view to read it again).

        One view reads as described in ``read``.  With several views (crops of one plate), every
        view's candidates are pooled and each is scored by its mean probability over the views;
        region and template prior come from the first view.  The scores are raw: ``calibrate``
        maps them to the probability that a reading is right.
        """
        code, score = self.region(views[0][1])
        prior = self.prior(code, score, settings)
        if len(views) == 1:
            cands = self.candidates(views[0][0], prior, settings)
        else:
            texts = list(dict.fromkeys(c.plate for chars, _ in views
                                       for c in self.candidates(chars, prior, settings)))
            cands = []
            if texts:
                p = np.mean([self.string_probs(chars, texts) for chars, _ in views], axis=0)
                order = np.argsort(-p, kind="stable")
                cands = rerank([Candidate(texts[i], min(1.0, float(p[i]))) for i in order], [], prior,
                               settings.hint_ratio)
        top = cands[0] if cands else Candidate("", 0.0)
        return PlateRead(top.plate, top.score, tuple(cands[:settings.top_n]), code, score)

    def region(self, p: np.ndarray) -> tuple[str, float]:
        """Region code and score; a bare ``us`` (synthetic US plates) becomes the likeliest state."""
        i = int(np.argmax(p))
        code = self.regions[i]
        if code == "us" and self._states:
            j = max(self._states, key=lambda k: p[k])
            return self.regions[j], float(p[i] + p[j])
        return code, float(p[i])
