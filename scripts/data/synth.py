"""Synthetic licence plates: render a layout, then degrade it like a real camera would.

Used by the reader training (plate crops) and the detector training (plates composited into
real scenes).  Everything is driven by a ``numpy`` Generator so runs are reproducible.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from scripts import SHARED
from scripts.data import synth_decor
from scripts.data.synth_layouts import EU_BLUE, Layout, random_layout

FONT_DIR = SHARED / "data" / "fonts"
FONTS = (
    "Barlow-Medium.ttf",
    "Barlow-SemiBold.ttf",
    "BarlowSemiCondensed-Medium.ttf",
    "Overpass[wght].ttf",
    "OSP-DIN.ttf",
    "BebasNeue-Regular.otf",
    "routed-gothic-narrow.ttf",
)
LETTERS, DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789"
PLATE_H = 110  # render height of a one-line plate, px


def set_font_dir(path: Path) -> None:
    """Point the generator at another fonts folder (tests, other checkouts)."""
    global FONT_DIR
    FONT_DIR = path
    _font.cache_clear()
    _present.cache_clear()
    _advance.cache_clear()
    _zero_bbox.cache_clear()


@lru_cache(maxsize=256)
def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / name), size)


@lru_cache(maxsize=1 << 16)
def _advance(name: str, size: int, char: str) -> float:
    """A glyph's advance width: measured once per font, size and character (FreeType's answer
    does not change, and measuring was an eighth of the renderer's time)."""
    return _font(name, size).getlength(char)


@lru_cache(maxsize=256)
def _zero_bbox(name: str, size: int) -> tuple[int, int, int, int]:
    """The box of a ``0`` in this font: the glyph height every character of a line is set to."""
    return _font(name, size).getbbox("0")  # type: ignore[return-value]


@lru_cache(maxsize=64)
def _present(names: tuple[str, ...]) -> tuple[str, ...]:
    """The fonts of ``names`` this fonts folder has: a layout's preferred fonts include folders a
    smaller copy of the fonts may lack, and then the plate falls back to the common ones."""
    return tuple(n for n in names if (FONT_DIR / n).exists())


def random_text(fmt: str, rng: np.random.Generator, letters: str = LETTERS) -> str:
    """Fill a format such as ``LL NN LLL`` with random characters (gaps, marks and literals kept);
    ``letters`` is the pool for ``L`` (countries that issue only some letters)."""
    out = []
    for c in fmt:
        pool = {"L": letters, "N": DIGITS, "X": letters + DIGITS}.get(c)
        out.append(pool[rng.integers(len(pool))] if pool else c)
    return "".join(out)


def plate_text(shown: str) -> str:
    """What the reader must output for a drawn string: its letters and digits only."""
    return "".join(c for c in shown if c.isalnum())


# width of the marks that are drawn but never read, in font sizes
MARK_W = {" ": 0.4, "-": 0.4, ".": 0.3, "*": 0.85, "|": 0.0}


def _text_line(
    draw: ImageDraw.ImageDraw,
    text: str,
    box: tuple[int, int, int, int],
    font_name: str,
    color: tuple[int, int, int],
    rng: np.random.Generator,
) -> list[tuple[float, float, float, float]]:
    """Draw ``text`` centred in ``box`` with the largest font that fits, spaced per glyph.

    Returns the boxes left for the ``*`` emblem slots (glyph height, the slot's width)."""
    x1, y1, x2, y2 = box
    size = max(8, int((y2 - y1) * rng.uniform(1.0, 1.25)))
    for _ in range(12):
        font, font_size = _font(font_name, size), size
        widths = [size * MARK_W[c] if c in MARK_W else _advance(font_name, size, c) for c in text]
        spacing = size * rng.uniform(0.02, 0.12)
        total = sum(widths) + spacing * (len(text) - 1)
        if total <= (x2 - x1) * 0.96:
            break
        size = int(size * 0.92)
    bb = _zero_bbox(font_name, font_size)  # the size drawn: twelve misses leave ``size`` one step smaller
    glyph_h = bb[3] - bb[1]
    y = y1 + ((y2 - y1) - glyph_h) / 2 - bb[1]
    x = x1 + ((x2 - x1) - total) / 2
    slots = []
    for c, w in zip(text, widths):
        if c == "-" and rng.random() < 0.7:
            draw.text((x + w * 0.1, y), "-", font=font, fill=color)
        elif c == ".":
            r = max(1.0, size * 0.05)
            cy = y + bb[1] + glyph_h / 2
            draw.ellipse((x + w / 2 - r, cy - r, x + w / 2 + r, cy + r), fill=color)
        elif c == "*":
            slots.append((x, y + bb[1], x + w, y + bb[3]))
        elif c not in MARK_W:
            draw.text((x, y), c, font=font, fill=color)
        x += w + spacing
    return slots


def _with_prefix(fmt: str, shown: str, prefixes: tuple[str, ...], share: float, rng: np.random.Generator) -> str:
    """``shown`` (``fmt`` filled) with its leading group replaced by a real district code of the
    same length on ``share`` of the plates: plates show real codes, not random letters.  Swapped
    in after filling, so a code's own L, N or X is never taken for a format symbol."""
    lead = len(fmt) - len(fmt.lstrip("*"))  # a Swiss plate starts with its shield
    n = len(fmt) - lead - len(fmt[lead:].lstrip("LNX"))
    fits = [p for p in prefixes if len(p) == n]
    if not fits or rng.random() >= share:
        return shown
    return shown[:lead] + fits[rng.integers(len(fits))] + shown[lead + n :]


def _rows(layout: Layout, two: bool, rng: np.random.Generator) -> tuple[str, ...]:
    """The drawn rows of one plate: one, or two from ``rows2`` (else the one-row format split at
    its first gap, as the layouts without their own two-row formats always were)."""
    fmts = layout.rows2 if two and layout.rows2 else layout.formats
    fmt = fmts[rng.integers(len(fmts))]
    shown = random_text(fmt, rng, layout.letters or LETTERS)
    shown = _with_prefix(fmt, shown, layout.prefixes, layout.prefix_share, rng)
    if two and layout.rows2:
        return tuple(shown.split("|"))
    if not two:
        return (shown,)
    parts = shown.split(" ") if " " in shown else [shown[: len(shown) // 2], shown[len(shown) // 2 :]]
    first = parts[0] if len(parts) == 2 else " ".join(parts[: len(parts) // 2])
    return first, shown[len(first) :].strip(" -")


def render(layout: Layout, rng: np.random.Generator, two: bool | None = None,
           emblems: bool = True) -> tuple[np.ndarray, str]:
    """Render one clean plate; returns RGB pixels and the compact text.

    ``two`` forces the one- or two-row variant (None: the layout's odds).  ``emblems=False``
    leaves the emblem slots empty, with every other pixel the same (tests compare the two)."""
    pixels, rows = render_rows(layout, rng, two, emblems)
    return pixels, "".join(rows)


def render_rows(layout: Layout, rng: np.random.Generator, two: bool | None = None,
                emblems: bool = True) -> tuple[np.ndarray, tuple[str, ...]]:
    """``render``, with the compact text of each drawn row (top first) instead of the whole text:
    a two-row plate read a row at a time (``edge_alpr.engine.rows``) needs each row's label."""
    if two is None:
        two = bool(rng.random() < layout.two_line)
    rows = _rows(layout, two, rng)
    h = PLATE_H if not two else int(PLATE_H * 1.9)
    w = int(PLATE_H * layout.aspect) if not two else int(PLATE_H * 2.6)
    bg = tuple(
        int(v) for v in np.clip(np.array(layout.bgs[rng.integers(len(layout.bgs))]) + rng.integers(-20, 20, 3), 0, 255)
    )
    fg = layout.fgs[rng.integers(len(layout.fgs))]
    if sum(bg) < 250 and sum(fg) < 250:
        fg = (235, 235, 235)
    erng = np.random.default_rng(rng.integers(2**31))  # emblems draw from their own stream
    img = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(img)
    border = max(2, int(h * 0.04))
    if layout.border is not None:
        draw.rectangle((border, border, w - border, h - border), outline=layout.border, width=max(2, border))
    elif rng.random() < 0.7:
        draw.rectangle((border, border, w - border, h - border), outline=fg, width=max(1, border // 2))
    if layout.stripes is not None:
        sh = max(2, int(PLATE_H * 0.07))
        draw.rectangle((0, 0, w, sh), fill=layout.stripes)
        draw.rectangle((0, h - sh, w, h), fill=layout.stripes)
    x1, x2 = int(w * 0.04), int(w * 0.96)
    if layout.band:
        bw = int(PLATE_H * 0.42)
        synth_decor.band(draw, layout, w, h, bw, _font, FONTS[0])
        x1 = bw + int(w * 0.02)
    if layout.right_band:
        draw.rectangle((w - int(PLATE_H * 0.42), 0, w, h), fill=EU_BLUE)
        x2 = w - int(PLATE_H * 0.42) - int(w * 0.02)
    top = int(h * 0.1)
    if layout.header:
        head = layout.header[rng.integers(len(layout.header))]
        hs = int(h * (0.16 if not two else 0.1))
        _text_line(draw, head, (x1, int(h * 0.03), x2, int(h * 0.03) + hs), FONTS[1], fg, rng)
        top = int(h * 0.03) + hs + int(h * 0.03)
    bottom = int(h * (0.9 if not layout.header else 0.93))
    if layout.footer and rng.random() < 0.65:  # a slogan under the characters
        foot = layout.footer[rng.integers(len(layout.footer))]
        fs = int(h * (0.12 if not two else 0.08))
        _text_line(draw, foot, (x1, h - int(h * 0.04) - fs, x2, h - int(h * 0.04)), FONTS[1], fg, rng)
        bottom = h - int(h * 0.06) - fs
    stacked = None
    if layout.us and rng.random() < 0.12:  # two small letters stacked left of the number
        stacked = (x1, top, x1 + (x2 - x1) * 0.07, bottom)
        x1 += int((x2 - x1) * 0.09)
    fonts = _present(layout.fonts) or FONTS
    font_name = fonts[rng.integers(len(fonts))]
    slots = []
    if two:
        mid = (top + bottom) // 2
        slots += _text_line(draw, rows[0], (x1, top, x2, mid - 2), font_name, fg, rng)
        slots += _text_line(draw, rows[1], (x1, mid + 2, x2, bottom), font_name, fg, rng)
    else:
        slots += _text_line(draw, rows[0], (x1, top, x2, bottom), font_name, fg, rng)
    if emblems:
        for i, slot in enumerate(slots):  # a Swiss plate: the federal shield first, then the canton's
            kind = "swiss" if layout.emblem == "canton" and i == 0 else layout.emblem
            synth_decor.emblem(draw, kind, slot, erng)
    if layout.us:
        synth_decor.us_dress(draw, w, h, fg, rng, _font, FONTS[1], stacked)
    return np.asarray(img), tuple(plate_text(r) for r in rows)


def _stain(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Glare, shadow and dirt: the photometric faults of plates on real roads.

    A third of the plates get none of them; the pixel grid and the float copy are made only for those
    that do (the same pixels and the same random draws as making them always)."""
    h, w = img.shape[:2]
    out: np.ndarray | None = None
    rows = cols = np.zeros(0)

    def canvas() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        nonlocal out, rows, cols
        if out is None:
            out = img.astype(np.float32)
            rows, cols = np.mgrid[0:h, 0:w]
        return out, rows, cols

    if rng.random() < 0.25:  # glare: a bright soft spot
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.2, 0.8) * w
        px, yy, xx = canvas()
        px += 160 * rng.uniform(0.3, 1.0) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (r * r))[..., None]
    if rng.random() < 0.3:  # shadow: a dark half-plane
        a, b = rng.uniform(-1, 1), rng.uniform(0, w)
        px, yy, xx = canvas()
        mask = (xx * a + yy * 2 - b * 0.3) > rng.uniform(0, h)
        px[mask] *= rng.uniform(0.35, 0.75)
    if rng.random() < 0.3:  # dirt: brownish blotches
        px, yy, xx = canvas()
        for _ in range(rng.integers(3, 15)):
            cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(2, h * 0.12)
            # only the blotch's own square is tested: no pixel outside it is nearer than r
            x0, x1 = max(0, int(np.floor(cx - r))), min(w, int(np.ceil(cx + r)) + 1)
            y0, y1 = max(0, int(np.floor(cy - r))), min(h, int(np.ceil(cy + r)) + 1)
            win = px[y0:y1, x0:x1]
            m = ((xx[y0:y1, x0:x1] - cx) ** 2 + (yy[y0:y1, x0:x1] - cy) ** 2) < r * r
            win[m] = win[m] * 0.5 + np.array([90, 70, 50]) * 0.5
    return img.copy() if out is None else np.clip(out, 0, 255).astype(np.uint8)  # always a fresh array


def warp_into(plate: np.ndarray, canvas: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Paste ``plate`` onto ``canvas`` (in place copy) so its corners land on ``quad`` (4x2)."""
    h, w = plate.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    m = cv2.getPerspectiveTransform(src, quad.astype(np.float32))
    ch, cw = canvas.shape[:2]
    warped = cv2.warpPerspective(plate, m, (cw, ch), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), m, (cw, ch), flags=cv2.INTER_LINEAR)
    alpha = (mask.astype(np.float32) / 255)[..., None]
    return (canvas * (1 - alpha) + warped * alpha).astype(np.uint8)


def random_quad(w: float, h: float, cx: float, cy: float, rng: np.random.Generator, skew: float = 0.12) -> np.ndarray:
    """Corners of a plate of size ``w`` x ``h`` centred at ``cx, cy`` under mild perspective."""
    ang = np.deg2rad(rng.normal(0, 5))
    c, s = np.cos(ang), np.sin(ang)
    pts = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    pts = pts @ np.array([[c, s], [-s, c]])
    pts += rng.normal(0, skew, (4, 2)) * np.array([w, h]) * 0.25
    return pts + np.array([cx, cy])


def paste(plate: np.ndarray, scene: np.ndarray, long_side: float, height: float,
          rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """``plate`` warped ``height`` px high into ``scene`` resized to ``long_side``, through ``camera``.

    Returns the frame and the plate's box (x1, y1, x2, y2).  Used by ``bench_regions.py`` to test
    the pipeline on pasted plates and by ``reader_data.scene_crops`` to train on them.
    """
    s = long_side / max(scene.shape[:2])
    pil = Image.fromarray(scene).resize((max(1, round(scene.shape[1] * s)), max(1, round(scene.shape[0] * s))),
                                        Image.Resampling.BILINEAR)
    bg = np.asarray(pil)
    ph = height
    pw = ph * plate.shape[1] / plate.shape[0]
    h, w = bg.shape[:2]
    cx, cy = rng.uniform(pw / 2 + 2, w - pw / 2 - 2), rng.uniform(ph / 2 + 2, h - ph / 2 - 2)
    quad = random_quad(pw, ph, cx, cy, rng, skew=0.08)
    img = camera(warp_into(plate, bg, quad), rng)
    box = (int(quad[:, 0].min()), int(quad[:, 1].min()), int(np.ceil(quad[:, 0].max())), int(np.ceil(quad[:, 1].max())))
    return img, box


def camera(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blur, noise, colour cast and JPEG artefacts of a cheap camera."""
    pil = Image.fromarray(img)
    if rng.random() < 0.5:
        pil = pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.2, 1.6)))
    arr = pil.astype(np.float32) if isinstance(pil, np.ndarray) else np.asarray(pil).astype(np.float32)
    arr = arr * rng.uniform(0.55, 1.3) + rng.uniform(-35, 35)
    arr = arr * rng.uniform(0.85, 1.15, 3)
    if rng.random() < 0.5:
        arr += rng.normal(0, rng.uniform(2, 14), arr.shape)
    if rng.random() < 0.15:
        arr = np.repeat(arr.mean(axis=2, keepdims=True), 3, axis=2)
    out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    out.save(buf, format="JPEG", quality=int(rng.integers(25, 95)))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def plate_crop(
    rng: np.random.Generator, background: np.ndarray | None = None, layout: Layout | None = None,
    two: bool | None = None,
) -> tuple[np.ndarray, str, str]:
    """A degraded plate crop as a detector would cut it: returns pixels, text, region.

    ``layout`` and ``two`` (one or two rows) fix the plate family (benchmarks per layout)."""
    img, rows, region = plate_crop_rows(rng, background, layout, two)
    return img, "".join(rows), region


def plate_crop_rows(
    rng: np.random.Generator, background: np.ndarray | None = None, layout: Layout | None = None,
    two: bool | None = None,
) -> tuple[np.ndarray, tuple[str, ...], str]:
    """``plate_crop`` with each row's text (``render_rows``) instead of the whole text."""
    lay = layout or random_layout(rng)
    plate, rows = render_rows(lay, rng, two)
    plate = _stain(plate, rng)
    ph, pw = plate.shape[:2]
    scale = rng.uniform(0.25, 0.7)
    w, h = pw * scale, ph * scale
    mx, my = rng.uniform(0.02, 0.25), rng.uniform(0.04, 0.35)
    cw, ch = int(w * (1 + 2 * mx)), int(h * (1 + 2 * my))
    if background is not None and background.shape[0] > ch and background.shape[1] > cw:
        y0, x0 = rng.integers(0, background.shape[0] - ch), rng.integers(0, background.shape[1] - cw)
        canvas = background[y0 : y0 + ch, x0 : x0 + cw].copy()
    else:
        canvas = np.full((ch, cw, 3), rng.integers(0, 255, 3), np.uint8)
    cx, cy = cw / 2 + rng.normal(0, cw * 0.03), ch / 2 + rng.normal(0, ch * 0.04)
    canvas = warp_into(plate, canvas, random_quad(w, h, cx, cy, rng))
    return camera(canvas, rng), rows, lay.region
