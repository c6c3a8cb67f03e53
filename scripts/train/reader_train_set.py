"""The reader's training set as ``train_reader.py``'s options make it, and its record in the sidecar.

Why a module of its own: which crops a reader learns from (rendered plates, real crops and the
copies made of them: repeated sets, hard examples, low-resolution, pasted into scenes, turned,
jittered, cut into rows, detection-scene plates with human or teacher text) is a recipe apart
from the network and its loop, and the sidecar's ``training_data`` must say exactly that recipe.
The building blocks are ``scripts/data/reader_data.py``'s (its scene cuts ``reader_cuts.py``'s).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np

from scripts.data import datasets
from scripts.data import reader_data as rd
from scripts.train import hard_examples
from scripts.train import reader_model as rm

IN_H, IN_W = rd.IN_H, rd.IN_W
TILTED_SEED = 13  # --tilted's pasted crops: other pastes than --scene-crops' (seed 9)
ANY_STATE = "us"  # a region label: an American plate, state unknown (rm.region_group_loss)


@dataclass(frozen=True)
class TrainSet:
    """One epoch's crops with their labels, and what they were made of (for the sidecar)."""

    x: np.ndarray  # model-sized RGB crops: synthetic, real x --real-repeat, scene copies
    y: np.ndarray  # the encoded texts (rm.encode)
    r: np.ndarray  # region indices; rm.ANY_OF_GROUP for any American state, -1 unlabelled
    regions: list[str]
    synthetic: int  # rendered plates in x
    hard: dict[str, int]  # misread crops given extra copies, per kind
    ocr_train: list[datasets.OcrItem]
    ocr_held: list[datasets.OcrItem]
    det_train: list[datasets.DetItem]


def repeat_sets(ap: argparse.ArgumentParser, specs: list[str]) -> dict[str, int]:
    """--repeat-set SET=K options as {SET: K}."""
    extra = {}
    for spec in specs:
        name, _, k = spec.partition("=")
        if name not in datasets.OCR_SETS + datasets.OCR_EXTRA or not k.isdigit():
            ap.error(f"--repeat-set {spec!r}: expected SET=K with SET one of "
                     f"{', '.join(datasets.OCR_SETS + datasets.OCR_EXTRA)}")
        extra[name] = int(k)
    return extra


def _known(regs: list[str], regions: list[str]) -> list[str]:
    """The labels a region layer of ``regions`` can learn; '' for the others."""
    return [r if r in regions else "" for r in regs]


def assemble(args: argparse.Namespace, seeds: list[int], extra: dict[str, int],
             fail: Callable[[str], NoReturn]) -> TrainSet:
    """The crops and labels ``args`` ask for; ``extra``: extra copies per OCR set (--repeat-set);
    ``fail`` reports an option the data cannot satisfy (argparse's ``error``)."""
    parts = [rd.synthetic(args.synthetic, workers=2, seed=seed) for seed in seeds]
    sx = np.concatenate([p[0] for p in parts])
    st, sr = [t for p in parts for t in p[1]], [r for p in parts for r in p[2]]
    all_synth_regions = set(sr)
    if args.synthetic_use:
        keep = np.random.default_rng(3).choice(len(sx), args.synthetic_use, replace=False)
        sx, st, sr = sx[keep], [st[i] for i in keep], [sr[i] for i in keep]
    try:
        split = datasets.reader_holdout(args.holdout, args.holdout_offset, args.teacher_conf)
    except ValueError as e:
        fail(f"--holdout-offset: {e}")
    except FileNotFoundError as e:
        fail(f"--teacher-conf: {e}")
    ocr_train, ocr_held, det_train, det_held = split.ocr_train, split.ocr_held, split.det_train, split.det_held
    rx, rt, rr, rsets = rd.real(ocr_train)
    regions = (json.loads(args.regions_from.read_text())["regions"] if args.regions_from
               else sorted(all_synth_regions | set(rr)))
    base_x, base_t, base_r = rx, rt, rr
    hard: dict[str, int] = {}
    if args.hard_from:
        keep = np.flatnonzero(hard_examples.misread(args.hard_from, base_x, base_t, "OCR train crops"))
        rx = np.concatenate([rx] + [base_x[keep]] * args.hard_repeat)
        rt, rr = rt + [base_t[i] for i in keep] * args.hard_repeat, rr + [base_r[i] for i in keep] * args.hard_repeat
        hard["ocr_crops"] = len(keep)
        print(f"hard examples: {len(keep)} of {len(base_x)} OCR train crops misread, x{args.hard_repeat} extra",
              flush=True)
    for name, k in extra.items():
        keep = [i for i, d in enumerate(rsets) if d == name]
        rx = np.concatenate([rx] + [base_x[keep]] * k)
        rt, rr = rt + [base_t[i] for i in keep] * k, rr + [base_r[i] for i in keep] * k
        print(f"{name}: {len(keep)} crops x{k} extra", flush=True)
    if args.lowres:
        lx = rd.lowres(ocr_train, args.lowres, workers=2)
        rx, rt, rr = np.concatenate([rx, lx]), rt + base_t * args.lowres, rr + base_r * args.lowres
        print(f"low-resolution copies: {len(lx)}", flush=True)
    if args.scene_crops or args.tilted:
        # scenes behind the pasted plates: none that any hold-out keeps out (the reader's, and the
        # detector's offset-0 one that bench_regions.py pastes held-out plates into)
        det_kept = {it.path for it in datasets.holdout(datasets.det_items("train"), datasets.HOLDOUT_EVERY)[0]}
        scenes = [it.path for it in det_train if it.dataset != "uc3m" and it.path in det_kept]
        tight = [it for it in ocr_train if it.dataset in rd.TIGHT_SETS]
        if not tight or not scenes:
            fail(f"--scene-crops/--tilted: {len(tight)} tight crops ({', '.join(rd.TIGHT_SETS)}) and "
                 f"{len(scenes)} non-uc3m train scenes outside every hold-out; both must be > 0 "
                 "(is ../shared/data complete?)")
    # scene crops and turned copies are distinct copies, added once per epoch (not --real-repeat times)
    qx, qt, qr = np.zeros((0, IN_H, IN_W, 3), np.uint8), [], []
    if args.scene_crops:
        qx = rd.scene_crops(tight, scenes, args.scene_crops, workers=2)
        qt, qr = [it.text for it in tight] * args.scene_crops, [it.region for it in tight] * args.scene_crops
        print(f"scene crops: {len(qx)} ({len(tight)} tight crops x{args.scene_crops}, {len(scenes)} scenes)",
              flush=True)
    if args.tilted:
        ux, ut, ur = rd.tilted_det_crops(det_train, args.tilted, args.tilt_deg)
        vx = rd.scene_crops(tight, scenes, args.tilted, workers=2, seed=TILTED_SEED, tilt_deg=args.tilt_deg)
        qx = np.concatenate([qx, ux, vx])
        qt += ut + [it.text for it in tight] * args.tilted
        qr += _known(ur, regions) + [it.region for it in tight] * args.tilted
        print(f"turned copies (up to {args.tilt_deg:g} degrees): {len(ux)} detection-scene plates, {len(vx)} pasted "
              "tight crops", flush=True)
    if args.det_jitter:
        jx, jt, jr = rd.jittered_det_crops(det_train, args.det_jitter)
        qx, qt, qr = np.concatenate([qx, jx]), qt + jt, qr + _known(jr, regions)
        print(f"jittered detection-scene cuts: {len(jx)} ({args.det_jitter} per plate)", flush=True)
    if args.row_crops:
        from scripts.data.row_crops import row_crops

        wx, wt, wr = row_crops(args.row_crops, args.row_seed, workers=2)
        qx, qt, qr = np.concatenate([qx, wx]), qt + wt, qr + _known(wr, regions)
        print(f"row crops: {len(wx)} (top and bottom rows of {args.row_crops} two-row plates)", flush=True)
    if args.det_crops:
        cx, ct, cr = rd.det_crops(det_train)
        if args.teacher_regions:
            cr = rd.det_regions(det_train, regions, args.teacher_conf or datasets.TEACHER_CONF)
            print(f"detection-scene plates with a teacher's region: {sum(1 for v in cr if v)} of {len(cr)}", flush=True)
        rx, rt = np.concatenate([rx] + [cx] * args.det_crops), rt + ct * args.det_crops
        rr = rr + [r if r in regions or r == ANY_STATE else "" for r in cr] * args.det_crops
        print(f"detection-scene crops: {len(cx)} x{args.det_crops}", flush=True)
        if args.hard_from:
            keep = np.flatnonzero(hard_examples.misread(args.hard_from, cx, ct, "detection-scene plates"))
            rx = np.concatenate([rx] + [cx[keep]] * args.hard_repeat)
            rt = rt + [ct[i] for i in keep] * args.hard_repeat
            rr = rr + [cr[i] if cr[i] in regions or cr[i] == ANY_STATE else "" for i in keep] * args.hard_repeat
            hard["detection_scene_plates"] = len(keep)
            print(f"hard examples: {len(keep)} of {len(cx)} detection-scene plates misread, x{args.hard_repeat} extra",
                  flush=True)
    if args.holdout:
        print(f"held out: {len(ocr_held)} OCR crops, {len(det_held)} detection scenes; training keeps "
              f"{len(ocr_train)} crops and {len(det_train)} scenes with no held-out plate", flush=True)
    x = np.concatenate([sx] + [rx] * args.real_repeat + [qx])
    texts = st + rt * args.real_repeat + qt
    regs = sr + rr * args.real_repeat + qr
    y = np.stack([rm.encode(t) for t in texts])
    # Crops without a region label get -1 and are masked out of the region loss.
    r = np.array([regions.index(v) if v in regions else rm.ANY_OF_GROUP if v == ANY_STATE else -1 for v in regs],
                 np.int32)
    n_scene = len(x) - len(sx) - len(rx) * args.real_repeat
    print(f"train: {len(sx)} synthetic + {len(rx)} real x{args.real_repeat} + {n_scene} scene crops; "
          f"{len(regions)} regions", flush=True)
    return TrainSet(x, y, r, regions, len(sx), hard, ocr_train, ocr_held, det_train)


def training_data(args: argparse.Namespace, data: TrainSet, seeds: list[int], extra: dict[str, int],
                  wall_time_s: int) -> dict[str, Any]:
    """The sidecar's ``training_data``: the recipe of ``data``, so a model says what it learnt from."""
    counts = {d: sum(1 for v in data.ocr_train if v.dataset == d) for d in datasets.OCR_SETS + datasets.OCR_EXTRA}
    teacher_plates = {d: sum(len(rd.plates_of(it)) for it in data.det_train if it.dataset == d)
                      for d in sorted({it.dataset for it in data.det_train})}
    return {
        "real_train_crops": counts,
        "synthetic_plates": data.synthetic,
        "synthetic_seeds": seeds,
        "real_repeat": args.real_repeat,
        "extra_repeats": extra,
        "lowres_copies": args.lowres,
        "scene_crop_copies": args.scene_crops,
        "detection_scene_crop_copies": args.det_crops,
        "detection_scene_jittered_copies": args.det_jitter,
        "tilted_copies": args.tilted,
        **({"hard_examples": {"misread_by": args.hard_from.name, "extra_copies": args.hard_repeat, **data.hard}}
           if args.hard_from else {}),
        "two_row_plates_cut_into_rows": args.row_crops,
        "scene_plates_read": teacher_plates,
        "teacher_min_conf": args.teacher_conf,
        "teacher_regions": args.teacher_regions,
        "init": str(args.init_tflite or args.init or args.trunk_from or ""),
        "held_out_every": args.holdout,
        "held_out_offset": args.holdout_offset,
        "epochs": args.epochs,
        "region_weight": args.region_weight,
        "region_only": args.region_only,
        **({"context_only": True} if args.context_only else {}),
        "averaged_from": args.average_from,
        **({"held_to": {"reader": args.distill_from.name, "weight": args.distill_weight, "on": "real crops"}}
           if args.distill_from else {}),
        "wall_time_s": wall_time_s,
    }
