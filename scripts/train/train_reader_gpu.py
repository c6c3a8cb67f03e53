"""Train both reader heads side by side on an accelerator, from a pack of ``pack_reader_gpu.py``.

Why a trainer of its own: on the CPU the reader sees about 80k crops an epoch and three epochs
take half an hour; on a GPU the network is no limit, the renderer is.  So worker processes
render fresh plates (every layout of ``synth.py``) into a ring buffer for the whole run, every
batch is mostly fresh plates (``--synth-share``), the rest real crops drawn by their sampling weight, and the
augmentation of ``train_reader.py`` runs on the device.  Both heads learn from the same
batches.  The learning rate follows a cosine over the wall-clock budget (the step count is not
known in advance), and the float weights are saved every minute, so a run cut short still
leaves weights.  ``export_reader.py`` turns them into int8 readers with sidecars.

Keras on the JAX backend (no TensorFlow on the accelerator machine):

    KERAS_BACKEND=jax python -m scripts.train.train_reader_gpu --pack .gpu/reader --out out --seconds 420
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time
from pathlib import Path

import cv2
import numpy as np

from scripts.data import reader_data as rd
from scripts.data import row_crops
from scripts.train import reader_aug_jax
from scripts.train import reader_model as rm

IN_H, IN_W = rm.IN_H, rm.IN_W
CHUNK = 128  # plates per render task
_SCENES: list[np.ndarray] = []


def _init_worker(fonts: str, scenes: list[str]) -> None:
    from scripts.data import synth

    synth.set_font_dir(Path(fonts))
    _SCENES.extend(cv2.imread(p)[..., ::-1].copy() for p in scenes)


def _render(seed: int, row_share: float) -> tuple[np.ndarray, list[str], list[str]]:
    """``CHUNK`` crops as ``reader_data`` renders plates (70 % over a real scene), ``row_share`` of
    them the top and bottom rows of two-row plates, cut as the service reads a row at a time."""
    rng = np.random.default_rng(seed)
    pairs = int(round(CHUNK * row_share / 2))
    x, ts, rs = rd.render_plates(rng, CHUNK - 2 * pairs, _SCENES)
    if not pairs:
        return x, ts, rs
    wx, wt, wr = row_crops.cut_rows(rng, pairs, _SCENES)
    return np.concatenate([x, wx]), ts + wt, rs + wr


def load_crops(path: Path) -> dict[str, np.ndarray]:
    """A crops file of ``pack_reader_gpu.py``: pixels decoded, labels and weights as packed."""
    z = np.load(path)
    jpg, off = z["jpg"], z["offsets"]
    x = np.stack([cv2.imdecode(jpg[off[i] : off[i + 1]], cv2.IMREAD_COLOR)[..., ::-1] for i in range(len(off) - 1)])
    return {"x": x, "y": z["y"], "r": z["r"], "w": z["w"], "sets": z["sets"], "texts": z["texts"]}


class Ring:
    """Rendered plates, the oldest overwritten once full."""

    def __init__(self, cap: int) -> None:
        self.x = np.zeros((cap, IN_H, IN_W, 3), np.uint8)
        self.y = np.zeros((cap, rm.MAX_LEN), np.int32)
        self.r = np.zeros(cap, np.int32)
        self.n = self.made = 0

    def add(self, x: np.ndarray, y: np.ndarray, r: np.ndarray) -> None:
        idx = (self.made + np.arange(len(x))) % len(self.x)
        self.x[idx], self.y[idx], self.r[idx] = x, y, r
        self.made += len(x)
        self.n = min(len(self.x), self.made)


def warm_up_plates(ring: int, batch: int) -> int:
    """Rendered plates to wait for before the first step: enough that the first batches do not
    repeat a handful of plates, but never more than the ring holds (it would wait for ever)."""
    return min(ring, max(4 * batch, 20 * CHUNK))


def save(out: Path, models: dict, record: dict) -> None:
    """Each head's float weights, then ``run.json``, each written whole or not at all: they are
    rewritten every minute, so that a run cut off (at the accelerator call's time limit, perhaps
    while saving) still leaves a run ``export_reader.py`` can export."""
    for head, m in models.items():
        part = out / f"reader_{head}.part.weights.h5"  # Keras wants the .weights.h5 ending
        m.save_weights(part)
        os.replace(part, out / f"reader_{head}.weights.h5")
    tmp = out / "run.json.part"
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, out / "run.json")


def held_out_exact(models: dict, held: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Float exact read (``matches``) of the held-out crops per set, for the log."""
    out = {}
    for head, m in models.items():
        pred = np.asarray(m.predict(held["x"], verbose=0, batch_size=512)[0])
        ok = np.array([rm.matches(rm.decode(p, head), t) for p, t in zip(pred, held["texts"])])
        out[head] = {str(s): round(float(ok[held["sets"] == s].mean()), 3) for s in sorted(set(held["sets"]))}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pack", type=Path, default=Path(".gpu/reader"), help="folder made by pack_reader_gpu.py")
    ap.add_argument("--out", type=Path, default=Path("out"), help="where weights, log and run record go")
    ap.add_argument("--seconds", type=float, default=420, help="wall-clock training budget (after warm-up)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--synth-share", type=float, default=0.6, help="share of each batch that is rendered plates")
    ap.add_argument("--row-share", type=float, default=0.15,
                    help="share of the rendered crops that are rows of two-row plates (scripts/data/row_crops.py: "
                         "a reader continued on such crops read rendered two-row plates 0.74 -> 0.84)")
    ap.add_argument("--reuse", type=float, default=1.5,
                    help="a rendered plate is drawn about this many times on average: training waits for "
                         "the renderers rather than repeat plates more often")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    ap.add_argument("--ring", type=int, default=200_000,
                    help="rendered plates kept (training starts once min(RING, 20 render chunks) are in)")
    ap.add_argument("--heads", default="attention,ctc")
    ap.add_argument("--init-dir", type=Path,
                    help="continue from an earlier run's folder (its reader_<head>.weights.h5 and run.json) "
                         "instead of the pack's starting weights")
    ap.add_argument("--context", type=int, default=0, metavar="BLOCKS",
                    help="residual context blocks on the CTC head (reader_model.with_context); starting "
                         "weights without them are grown (reader_model.grow), so the run starts as they read")
    ap.add_argument("--eval-every", type=float, default=120, help="seconds between held-out float reads")
    args = ap.parse_args()
    if not 0 <= args.row_share <= 0.5:
        ap.error(f"--row-share {args.row_share}: expected a share from 0 to 0.5 (rows beside whole plates)")
    for name in ("ring", "batch", "workers"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} {getattr(args, name)}: expected at least 1")
    os.environ.setdefault("KERAS_BACKEND", "jax")  # before Keras is first imported
    import jax
    import keras

    meta = json.loads((args.pack / "meta.json").read_text())
    regions = meta["regions"]
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    print(f"devices: {jax.devices()}", flush=True)
    train, held = load_crops(args.pack / "train.npz"), load_crops(args.pack / "held.npz")
    p_real = train["w"] / train["w"].sum()
    print(f"real: {len(train['x'])} train crops, {len(held['x'])} held out ({time.time() - t0:.0f}s)", flush=True)
    scenes = sorted(str(p) for p in (args.pack / "scenes").glob("*.jpg"))
    pool = mp.get_context("spawn").Pool(args.workers, _init_worker, (str(args.pack / "fonts"), scenes))
    seeds = iter(range(10_000_000, 10**9))
    pending = [pool.apply_async(_render, (next(seeds), args.row_share)) for _ in range(args.workers * 3)]
    ring = Ring(args.ring)
    unknown_regions: set[str] = set()

    def drain(block: bool = False) -> None:
        """Move finished renders into the ring (with ``block``, wait for the oldest one at least)
        and start as many new render tasks."""
        nonlocal pending
        done = [res for res in pending if res.ready()] or (pending[:1] if block else [])
        for res in done:
            x, ts, rs = res.get()
            ring.add(x, np.stack([rm.encode(t) for t in ts]),
                     np.array([regions.index(v) if v in regions else -1 for v in rs], np.int32))
            unknown_regions.update(v for v in rs if v not in regions)
        pending = [res for res in pending if res not in done]
        pending += [pool.apply_async(_render, (next(seeds), args.row_share)) for _ in done]

    models = {}
    # the context blocks of the weights this run starts from: an earlier run's, or none (the pack's)
    started_with = json.loads((args.init_dir / "run.json").read_text()).get("context", 0) if args.init_dir else 0
    for head in args.heads.split(","):
        blocks = args.context if head == "ctc" else 0
        m = rm.build(len(regions), head, blocks)
        init = args.init_dir / f"reader_{head}.weights.h5" if args.init_dir else args.pack / f"init_{head}.weights.h5"
        if head == "ctc" and started_with not in (0, blocks):
            ap.error(f"--context {blocks}: --init-dir {args.init_dir} has {started_with} context blocks; "
                     f"continue it with --context {started_with}")
        if blocks and not started_with:
            plain = rm.build(len(regions), head, started_with)
            plain.load_weights(init)
            print(f"{head}: {rm.grow(plain, m)} layers from {init}, {blocks} context blocks added", flush=True)
        else:
            m.load_weights(init)
        m.compile(keras.optimizers.AdamW(args.lr, weight_decay=args.weight_decay),
                  loss={"chars": rm.ctc_loss if head == "ctc" else rm.slot_loss, "region": rm.region_loss},
                  loss_weights={"chars": 1.0, "region": 0.2})
        models[head] = m
    aug = reader_aug_jax.Augmenter(IN_H, IN_W)
    rng = np.random.default_rng(0)
    key = jax.random.PRNGKey(0)
    n_synth = int(round(args.batch * args.synth_share))
    while ring.n < warm_up_plates(args.ring, args.batch):
        drain(block=True)
    held_now = held_out_exact(models, held)
    print(f"start: initial held-out float exact {held_now}; {ring.made} plates rendered "
          f"({time.time() - t0:.0f}s)", flush=True)
    t_start, last_save, last_eval, step, drawn, losses = time.time(), time.time(), time.time(), 0, 0, {}
    log: list[dict] = []
    earlier = json.loads((args.init_dir / "run.json").read_text()) if args.init_dir else None

    def record(held_out: dict[str, dict[str, float]], done: bool) -> dict:
        """What ``run.json`` says of the run so far (``done``: the budget was spent and the held-out
        reads are of the final weights, not of the last save's)."""
        return {**meta, "continued_from": earlier and {k: earlier.get(k) for k in (
                    "steps", "batch", "lr", "train_seconds", "synthetic_plates", "continued_from")},
                "heads": list(models), "finished": done,
                "steps": step, "batch": args.batch, "synth_share": args.synth_share, "row_share": args.row_share,
                "lr": args.lr, "weight_decay": args.weight_decay, "context": args.context,
                "train_seconds": round(time.time() - t_start),
                # synthetic_plates: rendered crops, the row crops (--row-share) among them
                "synthetic_plates": ring.made, "synthetic_draws": drawn,
                "real_draws": step * (args.batch - n_synth),
                "unknown_regions": sorted(unknown_regions), "held_out_float_exact": held_out, "log": log,
                "devices": [str(d) for d in jax.devices()]}

    while (elapsed := time.time() - t_start) < args.seconds:
        drain()
        if drawn > args.reuse * ring.made:  # the renderers are behind: wait for the next chunk
            drain(block=True)
            continue
        frac = elapsed / args.seconds
        lr = args.lr * min(1.0, frac / 0.03) * 0.5 * (1 + np.cos(np.pi * frac))
        si = rng.integers(0, ring.n, n_synth)
        ri = rng.choice(len(p_real), args.batch - n_synth, p=p_real)
        x = np.concatenate([ring.x[si], train["x"][ri]])
        y = {"chars": np.concatenate([ring.y[si], train["y"][ri]]),
             "region": np.concatenate([ring.r[si], train["r"][ri]])}
        key, sub = jax.random.split(key)
        xa = aug(sub, x, rng)
        for head, m in models.items():
            m.optimizer.learning_rate.assign(lr)
            out = m.train_on_batch(xa, y, return_dict=True)
            loss = float(out["loss"])
            losses[head] = 0.98 * losses.get(head, loss) + 0.02 * loss
        step += 1
        drawn += n_synth
        now = time.time()
        if now - last_save > 60 or now - last_eval > args.eval_every:
            rate = {"steps": step, "s": round(now - t_start), "steps_per_s": round(step / (now - t_start), 1),
                    "rendered": ring.made, "lr": float(lr), "loss": {h: round(v, 4) for h, v in losses.items()}}
            if now - last_eval > args.eval_every:
                rate["held_out"] = held_now = held_out_exact(models, held)
                last_eval = now
            print(json.dumps(rate), flush=True)
            log.append(rate)
            save(args.out, models, record(held_now, False))
            last_save = now
    pool.terminate()
    final = held_out_exact(models, held)
    save(args.out, models, record(final, True))
    print(f"done: {step} steps, {ring.made} plates rendered, held-out float exact {final} "
          f"({time.time() - t0:.0f}s)", flush=True)


if __name__ == "__main__":
    main()
