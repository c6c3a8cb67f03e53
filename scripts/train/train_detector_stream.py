"""Train detector candidates on a live stream of fresh augmentations (for a machine with a GPU).

Why a second trainer: ``train_detector.py`` fits the 2-core build machine by caching a fixed
pool of 6 augmented copies per image, so long training sees the same 14k samples again and
again.  With an accelerator and many cores, worker processes can render a fresh zoom/crop/
synthetic-plate sample for every step instead, and several candidate networks (different
widths) learn from the same batches.  The code is backend-agnostic Keras 3: it runs under the
TensorFlow backend here and under ``KERAS_BACKEND=torch`` on a GPU machine; the saved
``.weights.h5`` files load into the TensorFlow model that ``tfcommon.export_int8`` converts.

Every ``--holdout``-th training image is left out of this stream so that candidates can be
compared on images none of them was fitted to (``select_detector.py``), never on dev.

    KERAS_BACKEND=torch python -m scripts.train.train_detector_stream --seconds 420 \\
        --candidate w1:1.0:1e-3:detector_stage4.weights.h5 --candidate w2:2.0:3e-3 --out-dir out/
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing as mp
import os
import time
from dataclasses import dataclass
from multiprocessing import shared_memory
from pathlib import Path

import numpy as np

from scripts.data import augment, datasets
from scripts.train import detector_model as dm
from scripts.train import detector_samples as ds
from scripts.train import detector_stream_workers as stream_workers
from scripts.train import train_detector as td


@dataclass(frozen=True)
class Candidate:
    """One network to train: a name, its width multiplier, peak learning rate, optional init."""

    name: str
    width: float
    lr: float
    init: Path | None

    @staticmethod
    def parse(text: str) -> Candidate:
        parts = text.split(":")
        if len(parts) not in (3, 4):
            raise argparse.ArgumentTypeError(f"--candidate {text!r}: expected NAME:WIDTH:LR[:INIT_WEIGHTS]")
        init = Path(parts[3]) if len(parts) == 4 and parts[3] else None
        return Candidate(parts[0], float(parts[1]), float(parts[2]), init)


def _repeats(text: str) -> dict[str, int]:
    """``SET:N,...`` -> {set: N} (an argparse type)."""
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, n = part.partition(":")
        if not n.isdigit() or int(n) < 1:
            raise argparse.ArgumentTypeError(f"--repeat {part!r}: expected SET:N with N >= 1")
        out[datasets.det_sets(name)[0]] = int(n)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidate", type=Candidate.parse, action="append", required=True,
                    help="NAME:WIDTH:LR[:INIT] (repeatable; all candidates learn from the same batches)")
    ap.add_argument("--seconds", type=float, default=420, help="training wall time (cosine schedule over it)")
    ap.add_argument("--steps", type=int, default=0,
                    help="train this many batches instead, the schedule running over steps (reproducible "
                         "on any machine; --seconds is then ignored)")
    ap.add_argument("--warmup", type=float, default=15, help="seconds (or with --steps: steps) of warm-up")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    ap.add_argument("--synthetic-share", type=float, default=0.35)
    ap.add_argument("--seed", type=int, default=1000,
                    help="batch k is rendered from seed+1+k: give each stage its own seed, or it replays "
                         "the previous stage's samples (the shipped detector_v3's stages all used 1000)")
    ap.add_argument("--holdout", type=int, default=datasets.HOLDOUT_EVERY,
                    help="hold out every N-th train image, and every N-th pasted crop (0: none)")
    ap.add_argument("--paste-crops", default="",
                    help="OCR sets whose tight train crops of real plates are pasted into samples, e.g. "
                         "us_states,br_crops,ar_crops (plate shapes the scene sets hardly hold)")
    ap.add_argument("--paste-share", type=float, default=0.0, help="share of samples with 1-2 pasted crops")
    ap.add_argument("--robust-share", type=float, default=0.0,
                    help=f"share of samples whose real scene is first tilted (up to {augment.ROBUST_TILT_DEG:g} "
                         "degrees) and/or exposed flat or washed out (augment.robust)")
    ap.add_argument("--fonts", default="", help="fonts folder (default: ../shared/data/fonts)")
    ap.add_argument("--save-every", type=float, default=60, help="seconds between weight checkpoints")
    ap.add_argument("--sets", type=datasets.det_sets, default=datasets.DET_SETS,
                    help="comma-separated detection sets to train on (default: "
                         f"{','.join(datasets.DET_SETS)}; the teacher-read sets are "
                         f"{','.join(datasets.TEACHER_SETS)}); list new sets last, so the sets before "
                         "them keep their held-out images")
    ap.add_argument("--repeat", type=_repeats, default={},
                    help="SET:N,...: stream each train image of SET N times as often (default 1), "
                         "e.g. to keep older sets' share when a new set joins; the hold-out is unchanged")
    ap.add_argument("--canvas", type=td.canvas_arg, default=(ds.SIZE, ds.SIZE),
                    help="input HxW, multiples of 32 (default 320x320; e.g. 352x576 for a one-pass "
                         "detector of 16:9 frames: scripts/eval/canvas_probe.py)")
    ap.add_argument("--zoom", type=td.zoom_arg, default=ds.ZOOM, metavar="LO,HI",
                    help="scene's longer side over the canvas's, drawn log-uniform (default 0.6,3; 1 = a frame "
                         "letterboxed whole: a one-pass detector of 1280x720 frames wants about 0.5,1.5)")
    ap.add_argument("--distill-from", type=Path, metavar="WEIGHTS",
                    help="hold the background cells to this detector's map (KL, see prob_distill_loss); "
                         "its width is the first candidate's")
    ap.add_argument("--distill-weight", type=float, default=1.0, help="--distill-from: weight of that term")
    ap.add_argument("--out-dir", type=Path, required=True)
    args = ap.parse_args()
    if not 0 <= args.robust_share <= 1:
        ap.error(f"--robust-share must be in [0, 1], got {args.robust_share}")
    if not 0 <= args.paste_share <= 1 or bool(args.paste_crops) != (args.paste_share > 0):
        ap.error("--paste-crops SETS and --paste-share P (0 < P <= 1) go together")
    t0 = time.time()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for c in args.candidate:  # a record left by an earlier run must not describe this run's weights
        record_path(args.out_dir / f"detector_{c.name}.weights.h5").unlink(missing_ok=True)
    train, held = datasets.holdout(datasets.det_items("train", args.sets), args.holdout)
    items = [(str(it.path), it.boxes) for it in train for _ in range(args.repeat.get(it.dataset, 1))]
    print(f"stream over {len(train)} train images ({len(items)} with repeats), {len(held)} held out; "
          f"{args.workers} workers", flush=True)
    crops = paste_crops(args.paste_crops, args.holdout)[0]
    if args.paste_crops:
        print(f"pasting {len(crops)} real plate crops ({args.paste_crops}) into {args.paste_share:.0%} of samples",
              flush=True)

    # Workers fork before the deep-learning backend is imported (a forked CUDA context breaks).
    nslots = 3 * args.workers
    (ch, cw), s4 = args.canvas, ds.STRIDE
    shm_x = shared_memory.SharedMemory(create=True, size=nslots * args.batch * ch * cw * 3)
    shm_t = shared_memory.SharedMemory(create=True, size=nslots * args.batch * (ch // s4) * (cw // s4) * 7 * 2)
    xs = np.ndarray((nslots, args.batch, ch, cw, 3), np.uint8, buffer=shm_x.buf)
    ts = np.ndarray((nslots, args.batch, ch // s4, cw // s4, 7), np.float16, buffer=shm_t.buf)
    pool = mp.get_context("fork").Pool(
        args.workers, stream_workers.init_worker,
        (items, (shm_x.name, shm_t.name), args.batch, args.synthetic_share, args.fonts, tuple(crops), args.paste_share,
         args.robust_share, args.canvas, args.zoom),
    )
    seed = args.seed
    pending: collections.deque = collections.deque()
    for slot in range(nslots):
        pending.append(pool.apply_async(stream_workers.fill, ((seed := seed + 1, slot, nslots),)))

    import keras

    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick its fastest kernels
        print(f"torch {torch.__version__}, cuda {torch.cuda.is_available()}", flush=True)
    losses = {"prob": dm.prob_loss, "dist": dm.dist_loss}
    reference = None
    if args.distill_from:
        losses["prob"] = dm.prob_distill_loss(args.distill_weight)
        reference = dm.build(args.candidate[0].width, args.canvas)
        reference.load_weights(args.distill_from)
        print(f"background held to {args.distill_from} (weight {args.distill_weight})", flush=True)
    models = []
    for c in args.candidate:
        m = dm.build(c.width, args.canvas)
        if c.init:
            m.load_weights(c.init)
        opt = keras.optimizers.Adam(c.lr, clipnorm=5.0)
        m.compile(opt, loss=losses)
        models.append((c, m, opt))
        print(f"{c.name}: width {c.width} params {m.count_params()} lr {c.lr} init {c.init}", flush=True)

    def to_batch(slot: int) -> tuple:
        if backend == "torch":
            import torch

            dev = "cuda" if torch.cuda.is_available() else "cpu"
            x = torch.from_numpy(xs[slot]).to(dev, non_blocking=False).float()
            t = torch.from_numpy(ts[slot]).to(dev).float()
            return x, {"prob": t[..., 0:2], "dist": t[..., 2:7]}
        t = ts[slot].astype(np.float32)
        return xs[slot].astype(np.float32), {"prob": t[..., 0:2], "dist": t[..., 2:7]}

    def save(tag: str) -> None:
        for c, m, _ in models:
            tmp = args.out_dir / f"detector_{c.name}.tmp.weights.h5"
            m.save_weights(tmp)
            tmp.replace(args.out_dir / f"detector_{c.name}.weights.h5")
        print(f"saved weights ({tag})", flush=True)

    start = time.time()
    steps, wait, last_log, last_save = 0, 0.0, start, start
    run = {c.name: collections.deque(maxlen=50) for c, _, _ in models}
    def progress(el: float) -> float:
        return steps / args.steps if args.steps else el / args.seconds

    while (el := time.time() - start) < args.seconds or args.steps:
        if args.steps and steps >= args.steps:
            break
        tw = time.time()
        slot = pending.popleft().get()
        wait += time.time() - tw
        x, y = to_batch(slot)
        if reference is not None:
            ref_map = keras.ops.convert_to_tensor(reference.predict_on_batch(x)[0])
            y["prob"] = keras.ops.concatenate([y["prob"], ref_map], axis=-1)
        pending.append(pool.apply_async(stream_workers.fill, ((seed := seed + 1, slot, nslots),)))
        frac = 0.5 * (1 + np.cos(np.pi * min(1.0, progress(el))))
        warm = min(1.0, ((steps if args.steps else el) + 1) / max(1.0, args.warmup))
        for c, m, opt in models:
            opt.learning_rate.assign(c.lr * frac * warm)
            loss = m.train_on_batch(x, y, return_dict=True)
            run[c.name].append(float(loss["loss"]))
        steps += 1
        now = time.time()
        if now - last_log >= 20:
            losses_s = " ".join(f"{k}={np.mean(v):.3f}" for k, v in run.items())
            print(f"{el:.0f}s step {steps} samples {steps * args.batch} ({steps * args.batch / el:.0f}/s) "
                  f"data-wait {wait / el:.0%} lr x{frac * warm:.3f} {losses_s}", flush=True)
            last_log = now
        if now - last_save >= args.save_every:
            save(f"{el:.0f}s")
            last_save = now
    save("final")
    pool.terminate()
    shm_x.close(), shm_t.close(), shm_x.unlink(), shm_t.unlink()
    for c, m, _ in models:
        write_record(args.out_dir / f"detector_{c.name}.weights.h5", c, args, steps, time.time() - start,
                     len(items), len(held), int(m.count_params()), backend)
    print(f"done: {steps} steps, {steps * args.batch} samples in {time.time() - t0:.0f}s", flush=True)


def paste_crops(sets: str, every: int) -> tuple[list[str], list[str]]:
    """(pasted, held out) crop paths of the comma-separated OCR ``sets``: every ``every``-th crop
    of each set is held out, so ``bench_regions.py --real-crops`` can paste crops no stage saw."""
    names = [s for s in sets.split(",") if s]
    unknown = sorted(set(names) - set(datasets.OCR_SETS))
    if unknown:
        raise SystemExit(f"--paste-crops: unknown OCR set(s) {', '.join(unknown)}; "
                         f"known: {', '.join(datasets.OCR_SETS)}")
    kept: list[str] = []
    held: list[str] = []
    for name in names:
        k, h = datasets.holdout([it for it in datasets.ocr_items("train") if it.dataset == name], every)
        kept += [str(it.path) for it in k]
        held += [str(it.path) for it in h]
    return kept, held


def record_path(weights: Path) -> Path:
    """``detector_w3.weights.h5`` -> ``detector_w3.weights.json``: what made those weights."""
    return weights.with_suffix(".json")


def write_record(weights: Path, c: Candidate, args: argparse.Namespace, steps: int, seconds: float,
                 images: int, held: int, params: int, backend: str) -> None:
    """Record this stage beside its weights, chained to the record of the weights it started from.

    Why: ``select_detector.py`` puts the chain into the exported model's sidecar, so a model made
    by ``make models`` says how it was trained (stages, samples, seeds, time) without hand edits.
    """
    previous = json.loads(record_path(c.init).read_text()) if c.init and record_path(c.init).exists() else None
    stage = {
        "script": "scripts/train/train_detector_stream.py",
        "width": c.width, "params": params, "lr": c.lr, "init": str(c.init) if c.init else None,
        "steps": steps, "batch": args.batch, "samples": steps * args.batch,
        "seeds": [args.seed + 1, args.seed + steps], "warmup": args.warmup,
        "synthetic_share": args.synthetic_share, "train_images": images, "held_out_every": args.holdout,
        "pasted_crops": args.paste_crops, "paste_share": args.paste_share, "robust_share": args.robust_share,
        "held_out_images": held, "seconds": round(seconds), "backend": backend, "sets": list(args.sets),
        "repeat": args.repeat, "canvas": list(args.canvas), "zoom": list(args.zoom),
        "distill_from": str(args.distill_from) if args.distill_from else None,
        "distill_weight": args.distill_weight if args.distill_from else None,
    }
    tmp = record_path(weights).with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"stages": (previous or {}).get("stages", []) + [stage]}, indent=1) + "\n")
    tmp.replace(record_path(weights))


if __name__ == "__main__":
    main()
