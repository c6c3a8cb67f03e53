"""Training data for the plate reader: synthetic plates, real crops, scene crops, low-res copies.

Why a module of its own: ``train_reader.py`` (the model and its loop) and ``select_reader.py``
(comparing candidates on held-out train data) must cut and hold out crops the same way.

* ``real``: the ready-made OCR crops (high resolution: the longer side is 160 px or more).
* ``lowres``: OCR crops re-rendered at the size a plate has in a camera frame (45 to 110 px
  wide) and JPEG-compressed there, then cut like a scene crop.  uc3m scenes show why: with the
  true box, reader_v3 read 0.93 of the high-resolution uc3m crops but 0.54 of the same kind of
  plate cut from a 320 px scene (dev figures, measured once to find the cause; the fine-tune
  is chosen on held-out train data).
* ``scene_crops``: tight real plate crops warped into real train scenes, degraded like a camera
  frame and cut by a detector-like box a few pixels off (held-out real plates read
  0.84-0.95 as ready crops but 0.61-0.74 from their box once pasted into a scene).
* ``det_crops``, ``jittered_det_crops``, ``tilted_det_crops``: the plates of labelled
  detection scenes, cut level, by a box off or turned, as the service cuts a detection; they
  live in ``reader_cuts.py`` with the input size and margins every set here is cut to, and
  import from here as well.
"""

from __future__ import annotations

import io
import multiprocessing as mp
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from edge_alpr.engine.preprocess import crop_resize, expand, resize
from edge_alpr.types import Box
from scripts.data import datasets
from scripts.data.reader_cuts import (
    IN_H,
    IN_W,
    MARGIN_X,
    MARGIN_Y,
    MAX_LEN,
    det_crops,
    det_regions,
    jittered_box,
    jittered_det_crops,
    labelled_plates,
    plates_of,
    tilted_det_crops,
    trainable,
    turned_cut,
)
from scripts.train import tfcommon

# what callers import from here, whichever of the reader's data modules defines it
__all__ = ["IN_H", "IN_W", "LOWRES_QUALITY", "LOWRES_WIDTH", "MARGIN_X", "MARGIN_Y", "MAX_LEN", "SCENE_BOX_JITTER",
           "SCENE_LONG_SIDE", "SCENE_PLATE_H", "SCENE_SHARE", "TIGHT_SETS", "chunk_scenes", "det_crops", "det_regions",
           "in_chunks", "jittered_box", "jittered_det_crops", "labelled_plates", "lowres", "plates_of", "real",
           "render_plates", "scene_copy", "scene_crop", "scene_crops", "synthetic", "tilted_det_crops",
           "trainable", "turned_cut"]

# Plate widths (px) and JPEG qualities of the low-resolution copies: about the smallest scored
# uc3m scene plates (12 px high, so about 55 px wide) up to twice that, and the compression of
# typical camera streams.  Width, not height: a US plate (2:1) as high as a European one
# (4.7:1) would have unreadable 5 px characters.
LOWRES_WIDTH = (45.0, 110.0)
LOWRES_QUALITY = (50, 92)
# Scene crops: frame long side and plate height (px) of the pasted plate, as bench_regions.py tests
# the pipeline (640/1280 frames, 30-110 px plates) a little wider; and how far each edge of the
# cut box strays, as a fraction of the box (the detector's boxes are a few pixels off).
SCENE_LONG_SIDE = (640.0, 1280.0)
SCENE_PLATE_H = (20.0, 110.0)
SCENE_BOX_JITTER = 0.06
# Rendered plates set on a real train scene (the rest on a plain colour)
SCENE_SHARE = 0.7
# OCR sets whose crops are the plate itself (uc3m crops come with their own scenes: det_crops)
TIGHT_SETS = ("us_states", "br_crops", "ar_crops")


def chunk_scenes(seed: int) -> list[np.ndarray]:
    """The train scenes a rendering chunk sets its plates on (every 97th, from ``seed % 7``)."""
    return [datasets.load_rgb(it.path) for it in datasets.det_items("train")[seed % 7 :: 97]]


def _synth_chunk(args: tuple[int, int]) -> tuple[np.ndarray, list[str], list[str]]:
    seed, n = args
    return render_plates(np.random.default_rng(seed), n, chunk_scenes(seed))


def render_plates(rng: np.random.Generator, n: int,
                  scenes: list[np.ndarray]) -> tuple[np.ndarray, list[str], list[str]]:
    """``n`` rendered plate crops at the reader's input size, 70 % of them over one of ``scenes``."""
    from scripts.data import synth

    xs, ts, rs = [], [], []
    for _ in range(n):
        bg = scenes[rng.integers(len(scenes))] if scenes and rng.random() < SCENE_SHARE else None
        img, text, region = synth.plate_crop(rng, bg)
        xs.append(resize(img, IN_W, IN_H))
        ts.append(text)
        rs.append(region)
    return np.stack(xs), ts, rs


def synthetic(n: int, workers: int, seed: int = 1) -> tuple[np.ndarray, list[str], list[str]]:
    """``n`` rendered plates (cached: rendering 60k takes about 4 minutes on 2 cores).

    The cache name carries a digest of the renderer's sources, so a changed layout renders anew."""
    import hashlib

    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(here.glob("synth*.py")))).hexdigest()[:10]
    cache = tfcommon.CACHE / f"reader_synth_{n}_{seed}_{IN_H}x{IN_W}_{digest}.npz"
    if cache.exists():
        z = np.load(cache)
        return z["x"], list(z["t"]), list(z["r"])
    x, ts, rs = in_chunks(_synth_chunk, n, seed, 1000, workers, "synthetic plates")
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, x=x, t=np.array(ts), r=np.array(rs))
    return x, ts, rs


def in_chunks(work: Callable[[tuple[int, int]], tuple[np.ndarray, list[str], list[str]]], n: int, seed: int,
              chunk: int, workers: int, what: str) -> tuple[np.ndarray, list[str], list[str]]:
    """``n`` items made by ``work((chunk_seed, count))`` on ``workers`` processes, in order.

    Chunk i draws from seed ``seed * 100000 + i``, so each ``seed`` keeps its plates apart from
    every other's (and from ``bench_layouts``'s 9,000,000 up)."""
    jobs = [(seed * 100000 + i, min(chunk, n - i * chunk)) for i in range((n + chunk - 1) // chunk)]
    xs, ts, rs = [], [], []
    with mp.Pool(workers) as pool:
        for i, (x, t, r) in enumerate(pool.imap(work, jobs)):
            xs.append(x), ts.extend(t), rs.extend(r)
            print(f"{what} {min((i + 1) * chunk, n)}/{n}", flush=True)
    return np.concatenate(xs), ts, rs


def real(items: list[datasets.OcrItem]) -> tuple[np.ndarray, list[str], list[str], list[str]]:
    """Ready-made OCR crops stretched to the model input."""
    x = np.stack([resize(datasets.load_rgb(it.path), IN_W, IN_H) for it in items])
    return x, [it.text for it in items], [it.region for it in items], [it.dataset for it in items]


def scene_copy(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One OCR crop as a camera would see a distant plate: small, JPEG-compressed, then cut.

    The crop is pasted with the reader's margins of its own border colour (a scene crop shows
    a little of what surrounds the plate), shrunk so that the plate is ``LOWRES_WIDTH`` px
    wide, compressed, and stretched back to the model input as the service does.
    """
    h, w = crop.shape[:2]
    scale = rng.uniform(*LOWRES_WIDTH) / w
    mx, my = int(round(w * MARGIN_X)), int(round(h * MARGIN_Y))
    edge = np.concatenate([crop[0], crop[-1], crop[:, 0], crop[:, -1]]).mean(0).astype(np.uint8)
    canvas = np.empty((h + 2 * my, w + 2 * mx, 3), np.uint8)
    canvas[:] = edge
    canvas[my : my + h, mx : mx + w] = crop
    small = Image.fromarray(canvas).resize(
        (max(4, round(canvas.shape[1] * scale)), max(4, round(canvas.shape[0] * scale))), Image.BILINEAR
    )
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=int(rng.integers(*LOWRES_QUALITY)))
    buf.seek(0)
    return resize(np.asarray(Image.open(buf).convert("RGB")), IN_W, IN_H)


def _lowres_chunk(args: tuple[list[Path], tuple[int, int, int]]) -> np.ndarray:
    paths, key = args
    rng = np.random.default_rng(np.random.SeedSequence(key))
    return np.stack([scene_copy(datasets.load_rgb(p), rng) for p in paths])


def lowres(items: list[datasets.OcrItem], copies: int, workers: int, seed: int = 5) -> np.ndarray:
    """``copies`` low-resolution copies of every crop, in item order per copy."""
    paths = [it.path for it in items]
    chunk = 500
    jobs = [(paths[i : i + chunk], (seed, c, i)) for c in range(copies) for i in range(0, len(paths), chunk)]
    with mp.Pool(workers) as pool:
        return np.concatenate(list(pool.imap(_lowres_chunk, jobs)))


def scene_crop(crop: np.ndarray, scene: np.ndarray, rng: np.random.Generator, tilt_deg: float = 0.0) -> np.ndarray:
    """One real plate as the service cuts it from a camera frame (see ``scene_crops``), turned by
    U(-tilt_deg, tilt_deg) degrees when ``tilt_deg`` is set (no extra draws when it is 0)."""
    from scripts.data import synth

    img, (x1, y1, x2, y2) = synth.paste(crop, scene, rng.uniform(*SCENE_LONG_SIDE),
                                        rng.uniform(*SCENE_PLATE_H), rng)
    if tilt_deg:
        deg = float(rng.uniform(-tilt_deg, tilt_deg))
        return turned_cut(img, (x1, y1, x2, y2), deg, rng.uniform(-SCENE_BOX_JITTER, SCENE_BOX_JITTER, 4))
    bw, bh = x2 - x1, y2 - y1
    j = rng.uniform(-SCENE_BOX_JITTER, SCENE_BOX_JITTER, 4) * np.array([bw, bh, bw, bh])
    box = Box(int(round(x1 + j[0])), int(round(y1 + j[1])), int(round(x2 + j[2])), int(round(y2 + j[3])))
    h, w = img.shape[:2]
    return crop_resize(img, expand(box, MARGIN_X, MARGIN_Y, w, h), IN_W, IN_H)


def _scene_chunk(args: tuple[list[Path], list[Path], tuple[int, int, int], float]) -> np.ndarray:
    paths, scenes, key, tilt = args
    rng = np.random.default_rng(np.random.SeedSequence(key))
    return np.stack([scene_crop(datasets.load_rgb(p), datasets.load_rgb(scenes[rng.integers(len(scenes))]), rng, tilt)
                     for p in paths])


def scene_crops(items: list[datasets.OcrItem], scenes: list[Path], copies: int, workers: int,
                seed: int = 9, tilt_deg: float = 0.0) -> np.ndarray:
    """``copies`` scene crops of every item, in item order per copy, pasted into ``scenes``.

    Why: the reader trains on ready-made crops and on uc3m scene plates, but real US, Brazilian and
    Argentinian plates only ever as sharp crops; in a frame they are small, warped, blurred,
    compressed and cut by a box that is a few pixels off.  Pass only scenes kept out of every
    hold-out (``train_reader.py`` does), so no held-out scene appears behind a training plate.
    """
    paths = [it.path for it in items]
    chunk = 200
    jobs = [(paths[i : i + chunk], scenes, (seed, c, i), tilt_deg) for c in range(copies)
            for i in range(0, len(paths), chunk)]
    with mp.Pool(workers) as pool:
        return np.concatenate(list(pool.imap(_scene_chunk, jobs)))
