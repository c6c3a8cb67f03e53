"""The renderer's shortcuts against the plain code they replaced: the same pixels, the same draws.

Why: rendering is what a training run waits for (on an accelerator the network idles while worker
processes draw plates), so ``synth.py`` measures glyph widths once per font, size and character,
makes the stain's float canvas only for the plates that get a stain, and tests each dirt blotch
only inside its own square.  A reader trained on different pixels would be a different reader;
these tests hold the plain versions as references so a shortcut can never change a plate.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from scripts.data import synth
from scripts.data.synth_layouts import LAYOUTS


def plain_stain(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``synth._stain`` as first written: the whole image, every time."""
    h, w = img.shape[:2]
    out = img.astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    if rng.random() < 0.25:
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.2, 0.8) * w
        out += 160 * rng.uniform(0.3, 1.0) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (r * r))[..., None]
    if rng.random() < 0.3:
        a, b = rng.uniform(-1, 1), rng.uniform(0, w)
        mask = (xx * a + yy * 2 - b * 0.3) > rng.uniform(0, h)
        out[mask] *= rng.uniform(0.35, 0.75)
    if rng.random() < 0.3:
        for _ in range(rng.integers(3, 15)):
            cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(2, h * 0.12)
            m = ((xx - cx) ** 2 + (yy - cy) ** 2) < r * r
            out[m] = out[m] * 0.5 + np.array([90, 70, 50]) * 0.5
    return np.clip(out, 0, 255).astype(np.uint8)


def test_stain_gives_the_plain_pixels_and_leaves_the_generator_where_the_plain_one_does() -> None:
    stained = untouched = 0
    for seed in range(300):
        plate, _ = synth.render(LAYOUTS[seed % len(LAYOUTS)], np.random.default_rng(seed))
        fast_rng, plain_rng = np.random.default_rng(seed), np.random.default_rng(seed)
        fast, plain = synth._stain(plate, fast_rng), plain_stain(plate, plain_rng)
        assert fast.dtype == np.uint8 and np.array_equal(fast, plain), seed
        assert fast_rng.random() == plain_rng.random(), seed
        if np.array_equal(plain, plate):
            untouched += 1
        else:
            stained += 1
    assert stained > 100 and untouched > 50  # both paths were exercised


def test_blotches_at_every_edge_match_the_whole_image_test() -> None:
    """Blotches centred on and beyond the borders, where the square is clipped."""
    img = np.full((40, 90, 3), 200, np.uint8)
    for seed in range(200):
        fast_rng, plain_rng = np.random.default_rng(seed), np.random.default_rng(seed)
        assert np.array_equal(synth._stain(img, fast_rng), plain_stain(img, plain_rng)), seed


def test_measured_widths_are_freetypes_own() -> None:
    for name in synth._present(synth.FONTS):
        for size in (9, 23, 57, 131):
            font = synth._font(name, size)
            for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-":
                assert synth._advance(name, size, c) == font.getlength(c)
            assert synth._zero_bbox(name, size) == font.getbbox("0")


def test_a_line_that_never_fits_is_set_in_the_last_size_it_measured() -> None:
    """Twelve shrinking tries that all miss leave ``size`` one step below the font drawn with; the
    glyph box must be the drawn font's (as it was when the font itself was asked)."""
    text = "W" * 40
    img = Image.new("RGB", (60, 30))
    drawn = synth._text_line(ImageDraw.Draw(img), text, (0, 0, 60, 30), synth.FONTS[0], (255, 255, 255),
                             np.random.default_rng(0))
    assert drawn == []
    size = max(8, int(30 * np.random.default_rng(0).uniform(1.0, 1.25)))
    for _ in range(11):
        size = int(size * 0.92)
    bb = synth._font(synth.FONTS[0], size).getbbox("0")
    y = (30 - (bb[3] - bb[1])) / 2 - bb[1]
    ref = Image.new("RGB", (60, 30))
    font = synth._font(synth.FONTS[0], size)
    rng = np.random.default_rng(0)
    rng.uniform(1.0, 1.25)
    widths = [font.getlength(c) for c in text]
    spacing = 0.0
    for _ in range(12):
        spacing = size * rng.uniform(0.02, 0.12)  # the last try's spacing (its size is the one above)
    total = sum(widths) + spacing * (len(text) - 1)
    x = (60 - total) / 2
    draw = ImageDraw.Draw(ref)
    for c, w in zip(text, widths, strict=True):
        draw.text((x, y), c, font=font, fill=(255, 255, 255))
        x += w + spacing
    assert np.array_equal(np.asarray(img), np.asarray(ref))
