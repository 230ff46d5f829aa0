"""Moving, deforming shapes of the synthetic generator and their tracks."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Sprite", "base_track", "bounce", "offscreen_point"]


@dataclass
class Sprite:
    """A moving, deforming textured shape (annotated object when ``obj_id > 0``)."""

    obj_id: int
    radius: float
    family: str  # "blob" or "box"
    aspect: float
    harmonics: np.ndarray  # [K, 3]: amplitude, frequency k, phase speed
    phases: np.ndarray  # [K]
    spin: float
    angle0: float
    texture: np.ndarray  # [S, S, 3] float (TEX for procedural textures; indexed modulo its size)
    texture_class: str
    pos: np.ndarray  # [T, 2] (y, x) screen centre
    scale: np.ndarray  # [T]

    def bound(self) -> float:
        """Largest distance from the centre any pixel of the shape can reach at scale 1."""
        wobble = 1.0 + float(np.abs(self.harmonics[:, 0]).sum()) if self.family == "blob" else math.sqrt(2.0)
        return self.radius * wobble * max(self.aspect, 1.0 / self.aspect) * 1.15

    def rasterise(self, t: int, height: int, width: int) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray] | None:
        """Mask and texture colours of frame ``t`` inside its clipped bounding box, or None."""
        scale = float(self.scale[t])
        reach = self.bound() * scale
        cy, cx = float(self.pos[t, 0]), float(self.pos[t, 1])
        y0, y1 = max(0, int(math.floor(cy - reach))), min(height, int(math.ceil(cy + reach)) + 1)
        x0, x1 = max(0, int(math.floor(cx - reach))), min(width, int(math.ceil(cx + reach)) + 1)
        if y0 >= y1 or x0 >= x1 or reach < 0.5:
            return None
        dy = np.arange(y0, y1, dtype=np.float64)[:, None] - cy
        dx = np.arange(x0, x1, dtype=np.float64)[None, :] - cx
        theta = self.angle0 + self.spin * t
        cos_t, sin_t = math.cos(theta), math.sin(theta)
        u = dx * cos_t + dy * sin_t
        v = -dx * sin_t + dy * cos_t
        stretch = self.aspect * (1.0 + 0.08 * math.sin(0.4 * t + self.angle0))
        un = u / (self.radius * scale * stretch)
        vn = v * stretch / (self.radius * scale)
        if self.family == "box":
            inside = un**4 + vn**4 <= 1.0
        else:
            rho = np.hypot(un, vn)
            phi = np.arctan2(vn, un)
            limit = np.ones_like(rho)
            for (amp, freq, speed), phase in zip(self.harmonics, self.phases):
                limit = limit + amp * np.cos(freq * phi + phase + speed * t)
            inside = rho <= limit
        if not inside.any():
            return None
        tex_h, tex_w = self.texture.shape[:2]
        tex_y = np.floor(v / max(scale, 0.25)).astype(np.int64) % tex_h
        tex_x = np.floor(u / max(scale, 0.25)).astype(np.int64) % tex_w
        colours = self.texture[tex_y, tex_x]
        return (slice(y0, y1), slice(x0, x1)), inside, colours


def bounce(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Reflect ``values`` into ``[low, high]`` (a particle bouncing off walls)."""
    if high <= low:
        return np.full_like(values, (low + high) / 2.0)
    span = high - low
    folded = np.mod(values - low, 2.0 * span)
    return low + np.where(folded > span, 2.0 * span - folded, folded)


def base_track(rng: np.random.Generator, start: np.ndarray, num_frames: int, size: tuple[int, int], margin: float) -> np.ndarray:
    """``[T, 2]`` screen centres: drift plus a wobble, bouncing inside the frame."""
    t = np.arange(num_frames, dtype=np.float64)[:, None]
    extent = np.array(size, dtype=np.float64)
    speed = rng.uniform(0.004, 0.02, size=2) * extent * rng.choice([-1.0, 1.0], size=2)
    amp = rng.uniform(0.0, 0.06, size=2) * extent
    freq = rng.uniform(0.15, 0.5, size=2)
    phase = rng.uniform(0, 2 * np.pi, size=2)
    raw = start[None, :] + speed[None, :] * t + amp * (np.sin(freq * t + phase) - np.sin(phase))
    out = np.empty_like(raw)
    for axis in range(2):
        out[:, axis] = bounce(raw[:, axis], margin, extent[axis] - 1 - margin)
    return out


def offscreen_point(point: np.ndarray, size: tuple[int, int], reach: float) -> np.ndarray:
    """The point just beyond the frame border nearest to ``point`` (fully outside by ``reach``)."""
    y, x = float(point[0]), float(point[1])
    h, w = size
    gaps = [y, h - 1 - y, x, w - 1 - x]
    side = int(np.argmin(gaps))
    if side == 0:
        return np.array([-reach - 2.0, x])
    if side == 1:
        return np.array([h - 1 + reach + 2.0, x])
    if side == 2:
        return np.array([y, -reach - 2.0])
    return np.array([y, w - 1 + reach + 2.0])
