"""Pack what ``train_reader_gpu.py`` needs on a GPU machine into ``.gpu/reader/`` (git-ignored).

Why: that machine reaches no network and takes at most 64 MiB with the checkout, so the real
training crops travel already cut to the reader's input (JPEG, in order, with their labels and
sampling weights), the fonts and a few train scenes go along for the renderer, and each head's
starting weights are recovered here from the shipped int8 reader (TensorFlow is only here).
The hold-out is ``datasets.reader_holdout``'s, as ``train_reader.py --holdout`` makes it, so
``select_reader.py`` scores the result on the same held-out items.

    python -m scripts.data.pack_reader_gpu                      # then: bash scripts/train/train_reader_gpu.sh
    bash scripts/train/prep_gpu.sh reader --det-jitter 3         # the pack and the wheels in one step
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import cv2
import numpy as np

from edge_alpr.engine.runtime import model_path
from edge_alpr.errors import ModelError
from scripts import REPO
from scripts.data import datasets
from scripts.data import reader_data as rd
from scripts.data.synth_layouts import LAYOUTS
from scripts.train import reader_model as rm
from scripts.train import tfcommon

ROOT = REPO
CROP_QUALITY, SCENE_QUALITY, SCENE_LONG = 92, 85, 800
# sampling weight of one crop per set: the CPU recipe's copies (--real-repeat 4, --det-crops 3,
# --repeat-set ar_crops=2 se_crops=3 gives 4, 12, 12 and 16 copies per epoch)
WEIGHTS = {"us_states": 4.0, "uc3m_crops": 4.0, "br_crops": 4.0, "ar_crops": 12.0, "se_crops": 16.0, "scene": 12.0}
# each head starts from the newest int8 reader of its kind in --init-from (the shipped ones by default)
HEADS = {"attention": "reader", "ctc": "reader_ctc"}


def _jpeg(crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All crops JPEG-encoded into one byte array and the offsets of each."""
    blobs = [cv2.imencode(".jpg", c[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, CROP_QUALITY])[1].ravel() for c in crops]
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    return np.concatenate(blobs).astype(np.uint8), offsets


def _save_crops(path: Path, x: np.ndarray, texts: list[str], regs: list[str], sets: list[str],
                regions: list[str], weights: np.ndarray) -> None:
    data, offsets = _jpeg(x)
    np.savez(path, jpg=data, offsets=offsets, y=np.stack([rm.encode(t) for t in texts]),
             r=np.array([regions.index(v) if v in regions else -1 for v in regs], np.int32),
             sets=np.array(sets), texts=np.array(texts), w=weights.astype(np.float32))


def _copy_writable(src: Path, dst: Path) -> None:
    """``src`` copied to ``dst`` with every copy writable by its owner.

    Why: the data folder is read-only, and a copy that keeps its modes (``shutil.copytree``) is a
    pack the next pack cannot replace (``rmtree`` may not empty a read-only folder) except as root."""
    shutil.copytree(src, dst, copy_function=shutil.copyfile)
    for d in [dst, *dst.rglob("*")]:
        d.chmod(d.stat().st_mode | 0o200)


def _scene_crops(items: list[datasets.DetItem]) -> tuple[np.ndarray, list[str], list[str], list[str]]:
    if not items:
        return np.zeros((0, rd.IN_H, rd.IN_W, 3), np.uint8), [], [], []
    cx, ct, cr = rd.det_crops(items)
    sets = [it.dataset for it in items for _ in rd.plates_of(it)]
    return cx, ct, cr, sets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / ".gpu" / "reader", help="folder to fill (replaced)")
    ap.add_argument("--holdout", type=int, default=datasets.HOLDOUT_EVERY, help="as train_reader.py --holdout")
    ap.add_argument("--holdout-offset", type=int, default=0)
    ap.add_argument("--teacher-conf", type=float, default=datasets.TEACHER_CONF,
                    help="confident teacher reads become labels (run scripts/data/teacher_reads.py first)")
    ap.add_argument("--scenes", type=int, default=150, help="train scenes the renderer draws backgrounds from")
    ap.add_argument("--det-jitter", type=int, default=0, choices=range(0, 9), metavar="K",
                    help="also K cuts of every train scene plate by a detector-like box (reader_cuts."
                         "jittered_det_crops); the plate's sampling weight is shared by its K + 1 crops")
    ap.add_argument("--init-from", type=Path, default=tfcommon.MODELS,
                    help="folder of the int8 readers each head starts from (the newest "
                         + " and ".join(f"{n}_v<N>" for n in HEADS.values()) + "; default: the shipped ones)")
    args = ap.parse_args()
    try:
        starts = {head: model_path(args.init_from, name) for head, name in HEADS.items()}
    except ModelError as e:
        ap.error(f"--init-from: {e}")
    if args.out.exists():
        if not (args.out / "meta.json").exists():
            ap.error(f"--out {args.out} exists and holds no pack (meta.json); remove it or choose another folder")
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    split = datasets.reader_holdout(args.holdout, args.holdout_offset, args.teacher_conf)
    rx, rt, rr, rsets = rd.real(split.ocr_train)
    cx, ct, cr, csets = _scene_crops(split.det_train)
    plate_sets = list(csets)
    if args.det_jitter and len(cx):
        jx, jt, jr = rd.jittered_det_crops(split.det_train, args.det_jitter)  # K per plate, in cx's order
        cx, ct, cr = np.concatenate([cx, jx]), ct + jt, cr + jr
        csets = csets + [s for s in csets for _ in range(args.det_jitter)]
    regions = sorted({lay.region for lay in LAYOUTS} | {v for v in rr + cr if v})
    w = np.array([WEIGHTS[s] for s in rsets] + [WEIGHTS["scene"] / (1 + args.det_jitter)] * len(cx))
    _save_crops(args.out / "train.npz", np.concatenate([rx, cx]), rt + ct, rr + cr, rsets + csets, regions, w)
    hx, ht, hr, hsets = rd.real(split.ocr_held)
    gx, gt, gr, gsets = _scene_crops(split.det_held)
    _save_crops(args.out / "held.npz", np.concatenate([hx, gx]), ht + gt, hr + gr,
                hsets + [f"scene:{s}" for s in gsets], regions, np.ones(len(hx) + len(gx)))
    # backgrounds: train scenes of the human-labelled sets that no hold-out keeps out
    held_paths = {it.path for it in split.det_held}
    pool = [it.path for it in datasets.det_items("train") if it.path not in held_paths]
    (args.out / "scenes").mkdir()
    for i, p in enumerate(pool[:: max(1, len(pool) // args.scenes)][: args.scenes]):
        img = cv2.imread(str(p))
        s = SCENE_LONG / max(img.shape[:2])
        if s < 1:
            img = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(args.out / "scenes" / f"{i:04d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, SCENE_QUALITY])
    _copy_writable(datasets.DATA / "fonts", args.out / "fonts")
    tfcommon.setup_tf(2)
    from scripts.train import tflite_weights

    sample_synth, _, _ = rd._synth_chunk((4, 1500))
    sample = np.concatenate([sample_synth, rx[np.random.default_rng(4).choice(len(rx), 1500, replace=False)]])
    for head, start in starts.items():
        model = rm.build(len(regions), head)
        fresh = tflite_weights.to_keras(model, tflite_weights.int8_constants(start))
        if set(fresh) - {"region"}:
            raise SystemExit(f"{start.name}: no weights recovered for layers {fresh}")
        tflite_weights.reestimate_bn(model, sample)
        model.save_weights(args.out / f"init_{head}.weights.h5")
    meta = {
        "regions": regions, "alphabet": rm.ALPHABET, "max_len": rm.MAX_LEN, "input": [rd.IN_H, rd.IN_W],
        "held_out_every": args.holdout, "held_out_offset": args.holdout_offset, "teacher_min_conf": args.teacher_conf,
        "weights": WEIGHTS, "init": {h: p.name for h, p in starts.items()}, "det_jitter": args.det_jitter,
        "real_train_crops": {s: rsets.count(s) for s in sorted(set(rsets))},
        "scene_plates": {s: plate_sets.count(s) for s in sorted(set(plate_sets))},
        "held_out_crops": {s: (hsets + gsets).count(s) for s in sorted(set(hsets + gsets))},
    }
    (args.out / "meta.json").write_text(json.dumps(meta, indent=1))
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file()) / 2**20
    print(f"packed {len(rx)} OCR + {len(cx)} scene crops for training, {len(hx) + len(gx)} held out, "
          f"{len(regions)} regions: {size:.1f} MiB in {args.out}")


if __name__ == "__main__":
    main()
