"""Procedural textures of the synthetic generator: periodic ``[TEX, TEX]`` patterns of five
classes mixed between two colours."""

from __future__ import annotations

import numpy as np

__all__ = ["TEX", "TEXTURE_CLASSES", "pattern", "periodic_noise", "random_colour", "texture_tile"]

TEXTURE_CLASSES: tuple[str, ...] = ("stripes", "checker", "dots", "marble", "rings")
TEX = 64  # texture tile side (patterns are periodic on it)


def periodic_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth value noise ``[size, size]`` in [0, 1], periodic with period ``size``."""
    grid = rng.random((cells, cells))
    pos = np.arange(size) * (cells / size)
    lo = np.floor(pos).astype(np.int64)
    frac = pos - lo
    frac = frac * frac * (3.0 - 2.0 * frac)
    hi = (lo + 1) % cells
    rows = grid[lo] * (1 - frac)[:, None] + grid[hi] * frac[:, None]
    return rows[:, lo] * (1 - frac)[None, :] + rows[:, hi] * frac[None, :]


def pattern(rng: np.random.Generator, kind: str) -> np.ndarray:
    """A periodic ``[TEX, TEX]`` float pattern in [0, 1] of texture class ``kind``."""
    yy, xx = np.mgrid[0:TEX, 0:TEX].astype(np.float64)
    if kind == "stripes":
        period = float(rng.choice([8, 16, 32]))
        direction = rng.integers(0, 3)
        coord = xx if direction == 0 else (yy if direction == 1 else (xx + yy) % TEX)
        return 0.5 + 0.5 * np.sin(2 * np.pi * coord / period)
    if kind == "checker":
        cell = int(rng.choice([4, 8, 16]))
        return (((yy // cell) + (xx // cell)) % 2).astype(np.float64)
    if kind == "dots":
        period = int(rng.choice([8, 16]))
        radius = period * rng.uniform(0.2, 0.4)
        dy = (yy % period) - period / 2
        dx = (xx % period) - period / 2
        return (np.hypot(dy, dx) < radius).astype(np.float64)
    if kind == "rings":
        period = float(rng.choice([8, 16]))
        dist = np.hypot(yy - TEX / 2, xx - TEX / 2)
        return 0.5 + 0.5 * np.cos(2 * np.pi * dist / period)
    noise = 0.6 * periodic_noise(rng, TEX, 4) + 0.4 * periodic_noise(rng, TEX, 16)
    return np.clip((noise - noise.min()) / max(float(np.ptp(noise)), 1e-6), 0, 1)


def random_colour(rng: np.random.Generator) -> np.ndarray:
    """A random RGB colour ``[3]`` float64 in [20, 236)."""
    return rng.integers(20, 236, size=3).astype(np.float64)


def texture_tile(rng: np.random.Generator, kind: str, colours: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``[TEX, TEX, 3]`` float texture mixing two colours by a pattern of class ``kind``."""
    mix = pattern(rng, kind)[..., None]
    return colours[0] * (1.0 - mix) + colours[1] * mix
