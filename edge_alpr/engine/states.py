"""A CTC reader that reads alone, with the US state named by a slot reader's region head.

Why: a CTC head trained on rendered plates of every layout reads real plates better than a
pair whose joint score lets a slot head veto the layouts it never learned, but its region
layer sits on the trunk's pooled features, which do not carry a plate's small state name
(dev US crops: the CTC head's region right 0.25 of the time, the slot head's 0.65; training
that layer alone on the frozen trunk moved it to 0.25).  So the CTC head reads the text and
names the country; where it names the US, the slot head's region head splits the US share of
the probability among the states, and the plate-template prior follows that state.  The slot
model runs only for plates the CTC head calls American or reads uncertainly (below).

The CTC model's sidecar asks for this with ``"pairing": "states"`` (``engine.pair`` is the
other way, ``"joint"``).  With ``"joint_below": T`` as well, a reading whose raw score is under T
is read again as the joint pair (both heads score every candidate), keeping the composed region:
the slot head reads tiny plates of the countries it learned better than the CTC head, but as a
full pair it vetoes the layouts it never learned, which the CTC head reads confidently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelError
from ..types import Box, PlateRead
from .calibration import Calibration, for_reader
from .pair import PairedReader, PairView
from .reader import DEFAULT_READ, Reader, ReadSettings, require_same_crop
from .runtime import Model


def is_us(code: str) -> bool:
    """A US region code: the bare country or one of its states."""
    return code == "us" or code.startswith("us-")


@dataclass(eq=False)
class StatedView:
    """One crop as the CTC head saw it (region composed), with the slot head's outputs once needed.

    Why keep the crop: the slot model runs only for plates called American or read uncertainly,
    and a re-read decodes the first view again beside tighter crops.
    """

    chars: np.ndarray
    region_p: np.ndarray
    crop: np.ndarray
    slot: tuple[np.ndarray, np.ndarray] | None = None
    pair: PairView | None = field(default=None, repr=False)


class StatedReader:
    """A CTC-head :class:`Reader` for the text and a slot-head :class:`Reader` for US states."""

    def __init__(self, text: Reader, states: Reader) -> None:
        if not text.ctc or states.ctc:
            raise ModelError(f"a stated reader needs a CTC head for the text and a slot head for the states; got "
                             f"{text.model.name} (ctc={text.ctc}) and {states.model.name} (ctc={states.ctc})")
        require_same_crop(text, states)
        self.text, self.states = text, states
        self.regions = text.regions
        self.us = np.array([i for i, r in enumerate(text.regions) if is_us(r)], np.int64)
        self._us_set = frozenset(self.us.tolist())  # what ``infer`` asks of every plate's likeliest region
        # the slot head's states that the text reader also knows, as (slot index, text index)
        shared = [(j, text.regions.index(r)) for j, r in enumerate(states.regions)
                  if r.startswith("us-") and r in text.regions]
        if not shared:
            raise ModelError(f"{states.model.name} names no US state that {text.model.name} knows; "
                             "a stated reader needs both to list the us-* regions")
        self.state_from, self.state_to = (np.array(x, np.int64) for x in zip(*shared))
        # the map is fitted on this way of reading, with this slot model (its sha256 in the sidecar)
        self.calibration: Calibration = self.calibration_for()
        below = text.model.meta.get("joint_below")
        if below is not None and (isinstance(below, bool) or not isinstance(below, (int, float)) or not 0 < below <= 1):
            raise ModelError(f"{text.model.name}: sidecar joint_below {below!r} is not a number in (0, 1]; fix the "
                             "sidecar or remove the key (no joint fallback)")
        self.joint_below: float | None = None if below is None else float(below)
        self.pair = PairedReader(states, text) if below is not None else None

    @property
    def models(self) -> tuple[Model, ...]:
        """Both int8 models (for ``/info/`` and benchmarks)."""
        return (self.text.model, self.states.model)

    def crop(self, image: np.ndarray, box: Box, margin: tuple[float, float] | None = None) -> np.ndarray:
        """The shared model input for a detection (``Reader.crop``)."""
        return self.text.crop(image, box, margin)

    def infer(self, crop: np.ndarray) -> StatedView:
        """The CTC head's character probabilities and its region probabilities, the US share split by state."""
        chars, region_p = self.text.infer(crop)
        view = StatedView(chars, region_p, crop)
        if int(np.argmax(region_p)) in self._us_set:
            view.region_p = self.compose(region_p, self.slot_outputs(view)[1])
        return view

    def slot_outputs(self, view: StatedView) -> tuple[np.ndarray, np.ndarray]:
        """The slot head's outputs for the view's crop (run once)."""
        if view.slot is None:
            view.slot = self.states.infer(view.crop)
        return view.slot

    def compose(self, region_p: np.ndarray, state_p: np.ndarray) -> np.ndarray:
        """``region_p`` with its US mass shared among the states as the slot head's ``state_p`` shares it."""
        out = np.asarray(region_p, np.float64).copy()
        mass = out[self.us].sum()
        share = np.asarray(state_p, np.float64)[self.state_from]
        if share.sum() <= 0:  # the slot head gives every state an int8 zero: keep the CTC head's own split
            return out
        out[self.us] = 0.0
        out[self.state_to] = mass * share / share.sum()
        return out

    def read(self, crop: np.ndarray, settings: ReadSettings = DEFAULT_READ) -> PlateRead:
        """Read a model-sized crop; ``settings`` mean what they do for ``Reader.read``."""
        return self.decode([self.infer(crop)], settings)

    def decode(self, views: Sequence[StatedView], settings: ReadSettings = DEFAULT_READ) -> PlateRead:
        """The CTC reader's ``decode`` of ``infer`` outputs; under ``joint_below``, the joint pair's.

        The scores are raw (``calibrate`` maps them).
        """
        read = self.text.decode([(v.chars, v.region_p) for v in views], settings)
        if self.pair is None or self.joint_below is None or read.score >= self.joint_below:
            return read
        for v in views:
            if v.pair is None:
                slot_chars, slot_region = self.slot_outputs(v)
                v.pair = PairView(slot_chars, slot_region, v.chars)
        pviews = [v.pair for v in views if v.pair is not None]
        return self.pair.decode_as(pviews, read.region, read.region_score, settings)

    def calibration_for(self, rows: str | None = None) -> Calibration:
        """The CTC sidecar's map for this way of reading, two-row plates' rows read by the model of
        sha256 ``rows`` (none: by this reader); identity where the map was fitted otherwise."""
        return for_reader(self.text.model.meta, self.text.model.name, "states", self.states.model.sha256, rows)

    def calibrate(self, read: PlateRead) -> PlateRead:
        """``read`` with calibrated scores (the CTC sidecar's map for this way of reading)."""
        return self.calibration.read(read)
