"""What the evaluation scripts count: exact reads, character accuracy and detection matches.

Why a module of its own: ``evaluate.py``, the selection scripts and the benchmarks must score a
read and a detection the same way (``?`` in a label matches any character, IoU >= 0.5, plates
under the minimum height neither found nor false), so the rules live in one place.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from edge_alpr.types import Box, Detection


def norm(text: str) -> str:
    """Upper case, letters, digits and ``?`` only: plates are compared without spaces or dashes,
    as the reference's ``plate`` field has none."""
    return re.sub(r"[^A-Z0-9?]", "", text.upper())


def same(pred: str, truth: str) -> bool:
    """Exact match with ``?`` in the label matching any character."""
    p, t = norm(pred), norm(truth)
    return len(p) == len(t) and all(b == "?" or a == b for a, b in zip(p, t))


def char_acc(pred: str, truth: str) -> float:
    """1 - edit distance / label length (``?`` matches anything)."""
    p, t = norm(pred), norm(truth)
    d = list(range(len(p) + 1))
    for i, tc in enumerate(t, 1):
        prev, d[0] = d[0], i
        for j, pc in enumerate(p, 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (0 if tc in ("?", pc) else 1))
            prev, d[j] = d[j], cur
    return max(0.0, 1 - d[len(p)] / max(1, len(t)))


@dataclass
class Tally:
    """One set's counts and per-plate results, added up as the set is read and summarised once:
    the same fields serve detection scenes, OCR crops and teacher-read sets."""

    tp: int = 0
    fn: int = 0
    fp: int = 0
    reads: list[bool] = field(default_factory=list)
    chars: list[float] = field(default_factory=list)
    topn: list[bool] = field(default_factory=list)
    region: list[bool] = field(default_factory=list)
    teacher_region: list[bool] = field(default_factory=list)  # found plates: our country is the teacher's
    qmarks: int = 0  # returned plates or candidates with a "?" (a masked-character mark, never a reading)
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    by_teacher: bool = False  # the texts are a teacher's reads: the read rates are agreement

    def summary(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.tp + self.fn:
            out["det_recall"] = self.tp / (self.tp + self.fn)
            out["det_precision"] = self.tp / max(1, self.tp + self.fp)
            out["det_plates"] = self.tp + self.fn
        if self.reads and self.by_teacher:
            out["teacher_agreement"] = float(np.mean(self.reads))
            out["teacher_char_agreement"] = float(np.mean(self.chars))
            out["teacher_topn"] = float(np.mean(self.topn))
            out["teacher_plates"] = len(self.reads)
        elif self.reads:
            out["exact_read"] = float(np.mean(self.reads))
            out["char_accuracy"] = float(np.mean(self.chars))
            out["topn_read"] = float(np.mean(self.topn))
            out["plates_read"] = len(self.reads)
            out["outputs_with_qmark"] = self.qmarks
        if self.region:
            out["region_accuracy"] = float(np.mean(self.region))
        if self.teacher_region:
            out["teacher_region_agreement"] = float(np.mean(self.teacher_region))
            out["teacher_region_plates"] = len(self.teacher_region)
        for k, v in self.times.items():
            out[f"{k}_ms_median"] = float(np.median(v))
            out[f"{k}_ms_p90"] = float(np.percentile(v, 90))
        return {k: round(v, 4) for k, v in out.items()}


def match_detections(dets: list[Detection], gts: list[tuple[Box, str | None]], t: Tally, min_h: int,
                     only_labelled: bool) -> None:
    """Count TP/FN/FP at IoU >= 0.5; a hit on a plate under ``min_h`` px is neither TP nor FP."""
    used: set[int] = set()
    for d in dets:
        ious = [d.box.iou(g) for g, _ in gts]
        j = int(np.argmax(ious)) if ious else -1
        if j >= 0 and ious[j] >= 0.5:
            if gts[j][0].height >= min_h and j not in used:
                t.tp += 1
            used.add(j)
        elif not only_labelled or (j >= 0 and ious[j] > 0):
            if j < 0 or not (ious[j] > 0.1 and gts[j][0].height < min_h):
                t.fp += 1
    t.fn += sum(1 for j, (g, _) in enumerate(gts) if g.height >= min_h and j not in used)


def pooled(tallies: list[Tally]) -> Tally:
    """The sets' counts and per-plate results together (a benchmark's countries as one number)."""
    out = Tally()
    for t in tallies:
        out.tp, out.fn, out.fp = out.tp + t.tp, out.fn + t.fn, out.fp + t.fp
        out.qmarks += t.qmarks
        for name in ("reads", "chars", "topn", "region"):
            getattr(out, name).extend(getattr(t, name))
        for k, v in t.times.items():
            out.times[k].extend(v)
    return out
