"""What a plate carries besides its characters: bands, emblems, seals, stickers, frames, slogans.

Why: the reader must learn to skip all of it.  Seals and coats of arms between character groups
look like letters to a reader that never saw them (a round German seal like ``O``, a Croatian
chequered shield like ``H``), and US frames, stickers and slogans sit right against the
characters.  Each shape is a few drawn polygons (no images), varied in colour and size so the
reader cannot learn one exact picture.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import ImageDraw, ImageFont

from scripts.data.synth_layout_base import EU_BLUE, STAR_YELLOW, Layout, Rgb

Box = tuple[float, float, float, float]
FontFn = Callable[[str, int], ImageFont.FreeTypeFont]

SHIELD_COLOURS: tuple[tuple[Rgb, Rgb], ...] = (
    ((200, 30, 40), (245, 245, 245)),  # red with white (Austria, Swiss cantons, Serbia)
    ((20, 60, 160), (245, 200, 30)),  # blue with gold (Kosovo, Bosnia, Slovenia)
    ((240, 200, 30), (20, 20, 24)),  # gold with black (Liechtenstein, cantons)
    ((30, 120, 60), (245, 245, 245)),  # green with white (Styria, cantons)
    ((200, 30, 40), (245, 200, 30)),  # red with gold (Montenegro, Macedonia)
)
SEAL_COLOURS: tuple[Rgb, ...] = ((60, 60, 60), (30, 80, 150), (170, 40, 40), (40, 110, 60), (150, 150, 150))
STICKER_COLOURS: tuple[Rgb, ...] = (
    (230, 130, 40), (40, 120, 200), (230, 220, 60), (150, 90, 60), (230, 120, 170), (60, 170, 80),
)
DEALERS = ("SMITH FORD", "AUTO MALL", "HONDA OF TOWN", "CITY TOYOTA", "CARMAX", "CHEVROLET")


def _pick(rng: np.random.Generator, items: tuple) -> object:
    return items[rng.integers(len(items))]


def _shield(x1: float, y1: float, x2: float, y2: float) -> list[tuple[float, float]]:
    """A heraldic shield outline: straight top and sides, a pointed bottom."""
    w, h = x2 - x1, y2 - y1
    return [(x1, y1), (x2, y1), (x2, y1 + h * 0.6), (x1 + w / 2, y2), (x1, y1 + h * 0.6)]


def emblem(draw: ImageDraw.ImageDraw, kind: str, box: Box, rng: np.random.Generator) -> None:
    """Draw ``kind`` inside ``box`` (the gap a ``*`` leaves between character groups): seal,
    checker, flag, map, eagle, swiss (red, white cross), or a shield of random arms (shield,
    canton)."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    if kind == "seal":  # German: inspection sticker above the round registration seal
        d = min(w, h / 2) * rng.uniform(0.8, 0.98)
        cx = (x1 + x2) / 2
        if rng.random() < 0.75:
            sticker = _pick(rng, STICKER_COLOURS)
            draw.ellipse((cx - d / 2, y1, cx + d / 2, y1 + d), fill=sticker, outline=(30, 30, 30))
            a = rng.uniform(0, 360)
            draw.pieslice((cx - d / 2, y1, cx + d / 2, y1 + d), a, a + 30, fill=(30, 30, 30))
        sy = y2 - d
        seal = _pick(rng, SEAL_COLOURS)
        draw.ellipse((cx - d / 2, sy, cx + d / 2, sy + d), fill=(210, 210, 205), outline=seal, width=max(1, int(d / 7)))
        draw.ellipse((cx - d / 5, sy + d * 0.3, cx + d / 5, sy + d * 0.7), fill=seal)
        return
    sw = min(w, h * 0.8) * rng.uniform(0.75, 0.95)
    sh = min(h, sw * 1.25)
    sx, sy = (x1 + x2 - sw) / 2, y1 + (h - sh) / 2
    field, charge = ((200, 30, 40), (245, 245, 245)) if kind == "swiss" else _pick(rng, SHIELD_COLOURS)
    if kind == "checker":  # Croatian: red and white squares under a crown of small shields
        n = 5
        crown = sh * 0.22
        crown_colours = ((20, 60, 160), (60, 140, 210))
        for i in range(5):
            cw = sw / 5
            draw.rectangle((sx + i * cw, sy, sx + (i + 1) * cw - 1, sy + crown), fill=crown_colours[i % 2])
        cell, top = sw / n, sy + crown
        for r in range(n):
            for c in range(n):
                fill = (200, 30, 40) if (r + c) % 2 == 0 else (245, 245, 245)
                draw.rectangle((sx + c * cell, top + r * cell * 0.8, sx + (c + 1) * cell, top + (r + 1) * cell * 0.8),
                               fill=fill)
        return
    if kind == "flag":  # a small flag (Iceland: blue with a red-on-white cross)
        fh = sw * 0.7
        fy = y1 + (h - fh) / 2
        draw.rectangle((sx, fy, sx + sw, fy + fh), fill=(20, 60, 160))
        draw.rectangle((sx + sw * 0.28, fy, sx + sw * 0.46, fy + fh), fill=(245, 245, 245))
        draw.rectangle((sx, fy + fh * 0.4, sx + sw, fy + fh * 0.6), fill=(245, 245, 245))
        draw.rectangle((sx + sw * 0.33, fy, sx + sw * 0.41, fy + fh), fill=(200, 30, 40))
        draw.rectangle((sx, fy + fh * 0.45, sx + sw, fy + fh * 0.55), fill=(200, 30, 40))
        return
    if kind == "map":  # Kosovo: a gold country outline on blue
        draw.polygon(_shield(sx, sy, sx + sw, sy + sh), fill=(20, 60, 160))
        pts = [(sx + sw * rng.uniform(0.2, 0.8), sy + sh * rng.uniform(0.2, 0.8)) for _ in range(6)]
        draw.polygon(pts, fill=(245, 200, 30))
        return
    draw.polygon(_shield(sx, sy, sx + sw, sy + sh), fill=field, outline=(30, 30, 30))
    if kind == "eagle":  # a pale double-headed bird: two heads, a body, spread wings
        cx = sx + sw / 2
        draw.polygon([(sx + sw * 0.15, sy + sh * 0.3), (cx, sy + sh * 0.45), (sx + sw * 0.85, sy + sh * 0.3),
                      (cx + sw * 0.1, sy + sh * 0.8), (cx - sw * 0.1, sy + sh * 0.8)], fill=charge)
        for hx in (cx - sw * 0.15, cx + sw * 0.15):
            draw.ellipse((hx - sw * 0.07, sy + sh * 0.12, hx + sw * 0.07, sy + sh * 0.26), fill=charge)
    elif kind == "swiss" or rng.random() < 0.4:  # a cross (the Swiss shield, some arms) or a bar
        t = sw * 0.18
        cx, cy = sx + sw / 2, sy + sh * 0.42
        draw.rectangle((cx - t / 2, cy - sw * 0.3, cx + t / 2, cy + sw * 0.3), fill=charge)
        draw.rectangle((cx - sw * 0.3, cy - t / 2, cx + sw * 0.3, cy + t / 2), fill=charge)
    else:  # a fess: the bar of the Austrian arms
        draw.rectangle((sx, sy + sh * 0.35, sx + sw, sy + sh * 0.55), fill=charge)


def band(draw: ImageDraw.ImageDraw, lay: Layout, w: int, h: int, bw: int, font: FontFn, font_name: str) -> None:
    """The blue band at the left: the EU circle of stars, a flag, or plain; the country letters
    at its foot (never part of the plate text)."""
    draw.rectangle((0, 0, bw, h), fill=EU_BLUE)
    if lay.band_flag:
        n = len(lay.band_flag)
        fy, fh = bw * 0.2, bw * 0.5
        for i, colour in enumerate(lay.band_flag):
            draw.rectangle((bw * 0.15, fy + i * fh / n, bw * 0.85, fy + (i + 1) * fh / n), fill=colour)
    elif lay.band_stars:
        cx, cy, r, s = bw / 2, bw * 0.5, bw * 0.28, max(1.0, bw * 0.045)
        for a in np.linspace(0, 2 * np.pi, 12, endpoint=False):
            x, y = cx + r * np.cos(a), cy + r * np.sin(a)
            draw.ellipse((x - s, y - s, x + s, y + s), fill=STAR_YELLOW)
    size = int(bw * (0.4 if len(lay.band) <= 2 else 0.3))
    f = font(font_name, size)
    tw = f.getlength(lay.band)
    draw.text(((bw - tw) / 2, h - size * 1.5), lay.band, font=f, fill=(250, 250, 250))


def us_dress(draw: ImageDraw.ImageDraw, w: int, h: int, fg: Rgb, rng: np.random.Generator, font: FontFn,
             font_name: str, stacked: Box | None) -> None:
    """Registration stickers in the top corners, two small stacked letters left of the number,
    and a dealer frame over the top and bottom edges (drawn last: it covers what it covers)."""
    if rng.random() < 0.5:
        corners = (0, 1, 2)[rng.integers(3)]
        for right in ((False,), (True,), (False, True))[corners]:
            sw, sh = w * rng.uniform(0.09, 0.14), h * rng.uniform(0.13, 0.2)
            x = w * 0.04 if not right else w * 0.96 - sw
            y = h * rng.uniform(0.04, 0.1)
            draw.rectangle((x, y, x + sw, y + sh), fill=_pick(rng, STICKER_COLOURS), outline=(40, 40, 40))
            draw.text((x + sw * 0.15, y + sh * 0.1), str(rng.integers(1, 13)) if right else f"{rng.integers(24, 30)}",
                      font=font(font_name, max(6, int(sh * 0.7))), fill=(20, 20, 20))
    if stacked is not None:
        x1, y1, x2, y2 = stacked
        size = max(6, int((y2 - y1) * 0.42))
        f = font(font_name, size)
        for i in range(2):
            c = chr(65 + int(rng.integers(26)))
            draw.text((x1, y1 + i * (y2 - y1) / 2), c, font=f, fill=fg)
    if rng.random() < 0.35:
        frame = ((20, 20, 24), (60, 60, 64), (180, 180, 185), (120, 20, 30))[rng.integers(4)]
        top, bottom = h * rng.uniform(0.04, 0.14), h * rng.uniform(0.08, 0.18)
        side = w * rng.uniform(0.0, 0.03)
        draw.rectangle((0, 0, w, top), fill=frame)
        draw.rectangle((0, h - bottom, w, h), fill=frame)
        if side > 1:
            draw.rectangle((0, 0, side, h), fill=frame)
            draw.rectangle((w - side, 0, w, h), fill=frame)
        if rng.random() < 0.6:
            text = str(_pick(rng, DEALERS))
            f = font(font_name, max(6, int(bottom * 0.7)))
            ink = (235, 235, 235) if sum(frame) < 400 else (20, 20, 24)
            draw.text(((w - f.getlength(text)) / 2, h - bottom * 0.9), text, font=f, fill=ink)
