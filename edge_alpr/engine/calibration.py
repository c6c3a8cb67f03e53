"""Score calibration: a monotone map from a model's raw score to the probability it is right.

Why: the reader's raw score (the geometric mean of two heads' string probabilities, averaged over
re-read crops) ranks readings well but is not a probability; on held-out plates a raw 0.3 is right
far more often than 30 % of the time.  Users set ``threshold_o`` as "keep reads that are right at
least this often", so the service reports ``score`` through a map fitted offline on held-out
items (``scripts/eval/calibrate_reader.py``): isotonic regression by pool-adjacent-violators, the
least-squares non-decreasing fit, which assumes nothing about the shape of the map beyond "a
higher raw score is never less likely to be right".  The detector's ``dscore`` is mapped the same
way.  The map lives in the model's sidecar under ``calibration``; without one, scores stay raw.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ModelError
from ..types import Candidate, PlateRead

log = logging.getLogger(__name__)
METHOD = "isotonic"


def pav(y: Sequence[float] | np.ndarray, w: Sequence[float] | np.ndarray | None = None) -> np.ndarray:
    """Pool adjacent violators: the non-decreasing sequence closest to ``y`` in weighted squares.

    ``y`` is in the order of its inputs (sorted by raw score).  Each run of values that breaks the
    order is replaced by its weighted mean, repeatedly, until none does; the result holds one value
    per input.
    """
    vals = np.asarray(y, np.float64)
    wts = np.ones(len(vals)) if w is None else np.asarray(w, np.float64)
    means: list[float] = []
    weights: list[float] = []
    counts: list[int] = []
    for v, wt in zip(vals.tolist(), wts.tolist(), strict=True):
        means.append(v)
        weights.append(wt)
        counts.append(1)
        while len(means) > 1 and means[-2] > means[-1]:  # the newest block breaks the order: pool it
            m, wt2, c = means.pop(), weights.pop(), counts.pop()
            total = weights[-1] + wt2
            means[-1] = (means[-1] * weights[-1] + m * wt2) / total if total > 0 else (means[-1] + m) / 2
            weights[-1] = total
            counts[-1] += c
    return np.repeat(np.array(means), counts)


def _runs(values: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of every run of equal neighbouring values."""
    out = []
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        out.append((i, j))
        i = j + 1
    return out


@dataclass(frozen=True)
class Calibration:
    """A non-decreasing piecewise-linear map on knots ``x`` -> ``y`` (constant beyond the ends).

    An empty map is the identity: the score as the model gives it.
    """

    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()

    @property
    def identity(self) -> bool:
        """True when scores pass through unchanged (no map in the sidecar)."""
        return not self.x

    def __call__(self, score: float) -> float:
        """The calibrated probability of a raw score."""
        if not self.x:
            return float(score)
        return float(np.interp(score, self.x, self.y))

    def inverse(self, p: float) -> float:
        """The smallest raw score whose calibrated value is at least ``p`` (above 1: none is).

        Why: the detector's threshold works on its raw map, so a ``threshold_d`` stated on the
        calibrated ``dscore`` is turned into the raw threshold that keeps exactly the same boxes.
        """
        if not self.x:
            return float(p)
        xs, ys = self.x, self.y
        if ys[0] >= p:
            return 0.0
        for i in range(1, len(xs)):
            if ys[i] >= p:  # the segment from knot i-1 crosses p
                frac = (p - ys[i - 1]) / (ys[i] - ys[i - 1])
                return float(xs[i - 1] + frac * (xs[i] - xs[i - 1]))
        return float("inf")

    @classmethod
    def fit(cls, scores: Sequence[float] | np.ndarray, correct: Sequence[bool] | np.ndarray,
            prior: float = 1.0) -> Calibration:
        """The isotonic map of ``correct`` (0/1) on ``scores``: flat within each pooled block,
        linear between neighbouring blocks (so the served score does not jump at a block's edge).

        ``prior``: each pooled block's rate is ``(right + prior) / (n + 2 prior)`` (pooled again
        where that breaks the order).  Why: a top block of 40 plates all read right says "very
        likely", not "certain"; without it the map would promise 1.0 (and 0.0) on a few items.
        """
        s = np.asarray(scores, np.float64)
        c = np.asarray(correct, np.float64)
        if not len(s):
            raise ValueError("calibration needs at least one scored item")
        order = np.argsort(s, kind="stable")
        s, c = s[order], c[order]
        # items with one raw score are one point: PAV must not order them among themselves
        xs, start = np.unique(s, return_index=True)
        n = np.diff(np.append(start, len(s)))
        right = np.add.reduceat(c, start)
        fitted = pav(right / n, n)
        if prior > 0:
            runs = _runs(fitted)
            bn = np.array([n[i : j + 1].sum() for i, j in runs], np.float64)
            bk = np.array([right[i : j + 1].sum() for i, j in runs])
            smooth = pav((bk + prior) / (bn + 2 * prior), bn + 2 * prior)
            fitted = np.repeat(smooth, [j - i + 1 for i, j in runs])
        kx: list[float] = []
        ky: list[float] = []
        for i, j in _runs(fitted):  # one knot at each end of every run of equal fitted values
            for k in dict.fromkeys((i, j)):
                kx.append(float(xs[k]))
                ky.append(float(fitted[i]))
        return cls(tuple(kx), tuple(ky))

    @classmethod
    def from_meta(cls, meta: dict[str, Any], name: str) -> Calibration:
        """The map in a sidecar's ``calibration`` (identity when absent); a malformed one is refused.

        Why refuse: a map that is not non-decreasing or leaves [0, 1] would reorder or misstate
        every score the service returns, which no request could notice.  A map fitted on another
        model file (``model_sha256``: the same weights rewritten keep the rest of the sidecar)
        is not applied.
        """
        cal = meta.get("calibration")
        if cal is None:
            return cls()
        if not isinstance(cal, dict):
            raise ModelError(f"{name}: sidecar calibration must be an object; rewrite it with "
                             "scripts/eval/calibrate_reader.py")
        try:
            method, x, y = cal["method"], [float(v) for v in cal["x"]], [float(v) for v in cal["y"]]
        except (KeyError, TypeError, ValueError) as e:
            raise ModelError(f"{name}: sidecar calibration needs method, x and y ({e}); "
                             "rewrite it with scripts/eval/calibrate_reader.py") from e
        ok = (method == METHOD and len(x) == len(y) >= 1 and all(np.isfinite(x + y))
              and all(0.0 <= v <= 1.0 for v in y) and all(np.diff(x) >= 0) and all(np.diff(y) >= 0))
        if not ok:
            raise ModelError(f"{name}: sidecar calibration must be method {METHOD!r} with equally long, "
                             "non-decreasing x and y (y in [0, 1]); rewrite it with scripts/eval/calibrate_reader.py")
        if cal.get("model_sha256", meta.get("sha256")) != meta.get("sha256"):
            log.warning("%s: calibration was fitted on another model file; scores stay raw", name)
            return cls()
        return cls(tuple(x), tuple(y))

    def to_meta(self) -> dict[str, Any]:
        """The sidecar form of the map (the caller adds what it was fitted on and how well)."""
        return {"method": METHOD, "x": [round(v, 6) for v in self.x], "y": [round(v, 6) for v in self.y]}

    def read(self, read: PlateRead) -> PlateRead:
        """``read`` with its score and every candidate's score calibrated, best first.

        The candidates keep the reader's order (a region's plate template may put a reading
        first over one the heads score higher), so the plate stays the first candidate; a
        candidate's score is capped at the one above it, so the list is sorted by score and no
        reading below the plate is said to be likelier than the plate.  The map is fitted on the
        returned plates only, so for a lower candidate the calibrated value is an upper bound.
        """
        cands: list[Candidate] = []
        cap = 1.0
        for c in read.candidates:
            cap = min(cap, self(c.score))
            cands.append(Candidate(c.plate, cap))
        if not read.plate:  # nothing read: nothing that could be right
            score = read.score
        else:
            score = cands[0].score if cands and cands[0].plate == read.plate else self(read.score)
        return PlateRead(read.plate, score, tuple(cands), read.region, read.region_score)


def for_reader(meta: dict[str, Any], name: str, reads: str, partner: str | None = None,
               rows: str | None = None) -> Calibration:
    """The sidecar's map if it was fitted on this way of reading (identity otherwise).

    Why: a reader alone and the same reader paired with a CTC head give different raw scores, and
    a pair's map holds only with the partner it was fitted with (``partner_sha256``) and with the
    row reader that read two-row plates' rows when it was fitted (``rows_sha256``; none: the
    reader itself), so a map fitted on another combination would misstate every score; the loader
    checks its form anyway.
    """
    cal = Calibration.from_meta(meta, name)
    fitted = meta.get("calibration") or {}
    if (fitted.get("reads", "single") != reads or fitted.get("partner_sha256") != partner
            or fitted.get("rows_sha256") != rows):
        return Calibration()
    return cal


def reliability(p: Sequence[float] | np.ndarray, correct: Sequence[bool] | np.ndarray,
                bins: int = 10) -> list[dict[str, float]]:
    """Equal-count bins of predicted probability: range, count, mean prediction, observed accuracy.

    Why equal-count: scores crowd near 0 and 1, so fixed-width bins leave most of them empty and a
    few holding almost every item.
    """
    pr = np.asarray(p, np.float64)
    ok = np.asarray(correct, np.float64)
    order = np.argsort(pr, kind="stable")
    rows = []
    for idx in np.array_split(order, min(bins, len(order))):
        if len(idx):
            rows.append({"lo": float(pr[idx].min()), "hi": float(pr[idx].max()), "n": int(len(idx)),
                         "predicted": float(pr[idx].mean()), "observed": float(ok[idx].mean())})
    return rows


def ece(p: Sequence[float] | np.ndarray, correct: Sequence[bool] | np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: the count-weighted mean |predicted - observed| over the bins."""
    rows = reliability(p, correct, bins)
    total = sum(r["n"] for r in rows)
    return float(sum(r["n"] * abs(r["predicted"] - r["observed"]) for r in rows) / max(total, 1))
