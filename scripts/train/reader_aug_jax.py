"""The reader's training augmentation (``train_reader.augment``) in JAX, for ``train_reader_gpu.py``.

Why a port: the accelerator machine has no TensorFlow, and augmenting 256 crops a step on its
CPUs would leave the device waiting.  The same draws as the TensorFlow version: box jitter (the
detector's crops are never exact), rotation up to 3 degrees and a slant, lower resolution for
half of the batches, grey frames, brightness, contrast and sensor noise.  One difference: the
box cut and the turn are one bilinear resampling here, two there (a little sharper).
"""

from __future__ import annotations

from typing import Any

import numpy as np

# the lower resolutions a batch may be shrunk to (as a share of the input size): a fixed set,
# so the device compiles a few resize shapes instead of one per batch
LOWRES_SCALES = tuple(np.round(np.arange(0.3, 1.0, 0.1), 2))


class Augmenter:
    """``aug(key, x_uint8, rng)`` -> float32 batch in 0..255 on the device."""

    def __init__(self, h: int, w: int) -> None:
        import jax

        self.h, self.w = h, w
        self._geo = jax.jit(self._geometry)
        self._photo = jax.jit(self._photometric)
        self._low = jax.jit(self._lowres, static_argnums=1)

    def __call__(self, key: Any, x: np.ndarray, rng: np.random.Generator) -> Any:
        import jax

        k1, k2 = jax.random.split(key)
        xf = self._geo(k1, x)
        if rng.random() < 0.5:
            s = float(rng.choice(LOWRES_SCALES))
            xf = self._low(xf, (max(1, round(self.h * s)), max(1, round(self.w * s))))
        return self._photo(k2, xf)

    def _geometry(self, key: Any, x: Any) -> Any:
        import jax
        import jax.numpy as jnp

        b, h, w = x.shape[0], self.h, self.w
        k = jax.random.split(key, 6)
        y1 = jax.random.uniform(k[0], (b,), minval=-0.08, maxval=0.1)
        x1 = jax.random.uniform(k[1], (b,), minval=-0.04, maxval=0.05)
        y2 = 1 - jax.random.uniform(k[2], (b,), minval=-0.08, maxval=0.1)
        x2 = 1 - jax.random.uniform(k[3], (b,), minval=-0.04, maxval=0.05)
        theta = jax.random.uniform(k[4], (b,), minval=-0.05, maxval=0.05)
        shear = jax.random.uniform(k[5], (b,), minval=-0.2, maxval=0.2)
        cos, sin = jnp.cos(theta), jnp.sin(theta)
        cx, cy = w / 2.0, h / 2.0
        a0, a1, b0, b1 = cos, -sin + shear, sin, cos
        gy, gx = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij")

        def one(img: Any, y1: Any, x1: Any, y2: Any, x2: Any, a0: Any, a1: Any, b0: Any, b1: Any) -> Any:
            # the turn maps output pixels to the cut crop's pixels (edge pixels repeat outside it) ...
            xi = jnp.clip(a0 * gx + a1 * gy + cx - a0 * cx - a1 * cy, 0, w - 1)
            yi = jnp.clip(b0 * gx + b1 * gy + cy - b0 * cx - b1 * cy, 0, h - 1)
            # ... and the jittered box maps the crop's pixels to the input's (black outside it)
            yy = (y1 + yi * (y2 - y1) / (h - 1)) * (h - 1)
            xx = (x1 + xi * (x2 - x1) / (w - 1)) * (w - 1)
            return bilinear(img.astype(jnp.float32), yy, xx)

        return jax.vmap(one)(x, y1, x1, y2, x2, a0, a1, b0, b1)

    def _lowres(self, x: Any, size: tuple[int, int]) -> Any:
        import jax

        b, c = x.shape[0], x.shape[-1]
        small = jax.image.resize(x, (b, *size, c), "bilinear", antialias=False)
        return jax.image.resize(small, (b, self.h, self.w, c), "bilinear", antialias=False)

    def _photometric(self, key: Any, x: Any) -> Any:
        import jax
        import jax.numpy as jnp

        b = x.shape[0]
        k = jax.random.split(key, 6)
        gray = jnp.broadcast_to(x.mean(axis=-1, keepdims=True), x.shape)
        x = jnp.where(jax.random.uniform(k[0], (b, 1, 1, 1)) < 0.2, gray, x)
        x = x * jax.random.uniform(k[1], (b, 1, 1, 1), minval=0.6, maxval=1.3) + jax.random.uniform(
            k[2], (b, 1, 1, 1), minval=-30, maxval=30)
        x = x + jax.random.normal(k[3], x.shape) * jax.random.uniform(k[4], (b, 1, 1, 1), minval=0.0, maxval=10.0)
        return jnp.clip(x, 0, 255)


def bilinear(img: Any, yy: Any, xx: Any) -> Any:
    """``img`` (H, W, C) sampled at float pixel coordinates; zero outside the image."""
    import jax.numpy as jnp

    h, w = img.shape[:2]
    y0, x0 = jnp.floor(yy), jnp.floor(xx)
    wy, wx = (yy - y0)[..., None], (xx - x0)[..., None]

    def px(yi: Any, xi: Any) -> Any:
        inside = (yi >= 0) & (yi <= h - 1) & (xi >= 0) & (xi <= w - 1)
        v = img[jnp.clip(yi, 0, h - 1).astype(jnp.int32), jnp.clip(xi, 0, w - 1).astype(jnp.int32)]
        return v * inside[..., None]

    return (px(y0, x0) * (1 - wy) * (1 - wx) + px(y0, x0 + 1) * (1 - wy) * wx
            + px(y0 + 1, x0) * wy * (1 - wx) + px(y0 + 1, x0 + 1) * wy * wx)
