"""Two reader heads on one crop: a slot head and a CTC head, as a product of experts.

Why: the two heads fail differently.  The slot head names "the 3rd character" directly, so two
slots looking at one glyph read ``444MWK`` as ``444WWW``; the CTC head takes the order of the
characters from the image, but on tiny plates it can merge two adjacent identical glyphs (the
grey-masked ``??`` of uc3m plates) into one and read a shorter string.  Each failure is a string
the *other* head gives almost no probability, so the pair reads every candidate of both heads,
scores each one exactly under both, and ranks by the geometric mean of the two probabilities.

The region (and so the plate-template prior) comes from the slot head alone: its region head
trains beside a per-plate loss, the CTC head's beside a loss summed over 64 frames, and the CTC
head's region is the weaker of the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelError
from ..types import Box, Candidate, PlateRead
from .calibration import Calibration, for_reader
from .reader import DEFAULT_READ, Reader, ReadSettings, require_same_crop, rerank
from .runtime import Model


@dataclass(eq=False)
class PairView:
    """One crop as both heads saw it, with what ``decode`` worked out from it kept.

    Why kept: a re-read decodes the first view again beside the new ones, with the same prior;
    its proposals and the two heads' string probabilities are the same numbers as before.
    """

    slot_chars: np.ndarray
    region_p: np.ndarray
    ctc_chars: np.ndarray
    proposals: dict[tuple[object, ...], list[str]] = field(default_factory=dict)
    p_slot: dict[str, float] = field(default_factory=dict)
    p_ctc: dict[str, float] = field(default_factory=dict)


def joint(texts: list[str], p_slot: np.ndarray, p_ctc: np.ndarray, ctc_weight: float = 0.5) -> list[Candidate]:
    """Candidates ranked by the (weighted) geometric mean of their two probabilities (a score in [0, 1]).

    Why the geometric mean: it is the product of experts (a string wins only if neither head
    rules it out) kept on the scale of one head's probability.  A score of 0 means the heads
    agree on no candidate (one of them gives each an int8 zero somewhere); the order is then
    the proposals' (slot head's first), and the calibration map (``engine.calibration``) says
    how often such a reading is right.  Ranking such reads by floored slot probabilities
    instead was tried twice on held-out train (for every read, and only when every score is 0)
    and lost scene reads both times.

    With several views of one plate (rows of ``p_slot`` and ``p_ctc``, one per crop), a
    candidate's score is its mean geometric-mean score over the views.

    ``ctc_weight`` w weights the heads as ``p_slot ** (1 - w) * p_ctc ** w`` (0.5: the plain
    geometric mean): a CTC head that reads real plates better than its slot partner gets more
    say, while the slot head can still rule out what the CTC head cannot tell apart (two
    adjacent identical glyphs merged into one on a tiny plate).
    """
    ps = np.atleast_2d(np.asarray(p_slot, np.float64))
    pc = np.atleast_2d(np.asarray(p_ctc, np.float64))
    per_view = np.sqrt(ps * pc) if ctc_weight == 0.5 else ps ** (1 - ctc_weight) * pc**ctc_weight
    scores = per_view.mean(axis=0)
    order = np.argsort(-scores, kind="stable")
    return [Candidate(texts[i], min(1.0, float(scores[i]))) for i in order]


class PairedReader:
    """A slot-head :class:`Reader` and a CTC-head :class:`Reader` behind the ``Reader`` interface."""

    def __init__(self, slot: Reader, ctc: Reader) -> None:
        if slot.ctc or not ctc.ctc:
            raise ModelError(f"a reader pair needs a slot head and a CTC head; got {slot.model.name} "
                             f"(ctc={slot.ctc}) and {ctc.model.name} (ctc={ctc.ctc})")
        require_same_crop(slot, ctc)
        self.slot, self.ctc = slot, ctc
        self.regions = slot.regions
        # how much the CTC head counts in the joint score (``joint``); its sidecar may say
        weight = ctc.model.meta.get("pair_ctc_weight", 0.5)
        if not isinstance(weight, (int, float)) or not 0 < weight < 1:
            raise ModelError(f"{ctc.model.name}: sidecar pair_ctc_weight {weight!r} is not a number between 0 and 1 "
                             "(exclusive); fix the sidecar or remove the key (default 0.5)")
        self.ctc_weight = float(weight)
        # the pair's score map is kept in the slot reader's sidecar, fitted with this CTC partner
        self.calibration: Calibration = self.calibration_for()

    @property
    def models(self) -> tuple[Model, ...]:
        """Both int8 models (for ``/info/`` and benchmarks)."""
        return (self.slot.model, self.ctc.model)

    def crop(self, image: np.ndarray, box: Box, margin: tuple[float, float] | None = None) -> np.ndarray:
        """The shared model input for a detection (``Reader.crop``)."""
        return self.slot.crop(image, box, margin)

    def infer(self, crop: np.ndarray) -> PairView:
        """Both heads' outputs for one crop (``decode`` reads them)."""
        slot_chars, region_p = self.slot.infer(crop)
        return PairView(slot_chars, region_p, self.ctc.infer(crop)[0])

    def read(self, crop: np.ndarray, settings: ReadSettings = DEFAULT_READ) -> PlateRead:
        """Read a model-sized crop with both heads; ``settings`` mean what they do for ``Reader.read``."""
        return self.decode([self.infer(crop)], settings)

    def decode(self, views: Sequence[PairView], settings: ReadSettings = DEFAULT_READ) -> PlateRead:
        """The reading from ``infer`` outputs of one plate: one view, or several crops of it.

        Why several: the heads' reading of a plate cut from a scene depends on where the crop's
        edges fall (a detector box a few pixels off moves every character), so the recognizer
        reads an uncertain plate again from tighter crops.  Every view's candidates are pooled and
        each is ranked by its mean joint score over the views (``joint``); the region and the
        template prior come from the first view.  The scores are raw (``calibrate`` maps them).
        """
        code, score = self.slot.region(views[0].region_p)
        return self.decode_as(views, code, score, settings)

    def decode_as(
        self, views: Sequence[PairView], code: str, score: float, settings: ReadSettings = DEFAULT_READ
    ) -> PlateRead:
        """``decode`` with the region (``code`` and its ``score``, hence the template prior) given
        by the caller instead of the slot head (``engine.states`` names it with the CTC head)."""
        prior = self.slot.prior(code, score, settings)
        key = (prior, settings.beam_width, settings.proposals, settings.hint_ratio)
        for v in views:
            if key not in v.proposals:
                own = (self.slot.candidates(v.slot_chars, prior, settings)
                       + self.ctc.candidates(v.ctc_chars, prior, settings))
                v.proposals[key] = [c.plate for c in own]
        texts = list(dict.fromkeys(t for v in views for t in v.proposals[key]))
        if not texts:
            return PlateRead("", 0.0, (), code, score)
        p_slot = [self._probs(self.slot, v.slot_chars, v.p_slot, texts) for v in views]
        p_ctc = [self._probs(self.ctc, v.ctc_chars, v.p_ctc, texts) for v in views]
        cands = rerank(joint(texts, np.array(p_slot), np.array(p_ctc), self.ctc_weight), [], prior,
                       settings.hint_ratio)
        top = cands[0]
        return PlateRead(top.plate, top.score, tuple(cands[:settings.top_n]), code, score)

    def calibration_for(self, rows: str | None = None) -> Calibration:
        """The slot sidecar's pair map, two-row plates' rows read by the model of sha256 ``rows``
        (none: by this pair); identity where the map was fitted otherwise."""
        return for_reader(self.slot.model.meta, self.slot.model.name, "pair", self.ctc.model.sha256, rows)

    def calibrate(self, read: PlateRead) -> PlateRead:
        """``read`` with calibrated scores (the slot sidecar's pair map; ``Calibration.read``)."""
        return self.calibration.read(read)

    @staticmethod
    def _probs(head: Reader, chars: np.ndarray, known: dict[str, float], texts: list[str]) -> np.ndarray:
        """``head.string_probs`` of ``texts``, computing only those not in ``known`` (and keeping them)."""
        todo = [t for t in texts if t not in known]
        if todo:
            known.update(zip(todo, head.string_probs(chars, todo).tolist()))
        return np.array([known[t] for t in texts])
