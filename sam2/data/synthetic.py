"""Synthetic MOSE-style videos: a fast, deterministic stand-in for MOSEv2 data.

Each video is rendered in numpy (no GPU, no model) from ``(config.seed, video index)``, so a
video does not change when the number of videos changes. A scene holds:

* a textured background on a canvas larger than the frame, seen through a moving **camera**;
* **annotated objects** (ids ``1..n``, all visible on frame 0): textured, deforming shapes of
  several sizes (a few pixels up to about a third of the frame), bouncing around, rotating;
* **look-alike distractors**: unannotated (pixel value 0) copies of an annotated object's
  texture class, colours and shape family, moving on their own. MOSE annotates "the targets"
  and leaves look-alikes unannotated, so this is what we do; in **crowded** scenes several
  annotated objects also share one texture class (look-alikes among the targets);
* static **occluders** (textured pillars/walls, unannotated, drawn on top of everything);
* **disappearance/reappearance events** per annotated object: it leaves the frame and comes back
  (``"exit"``), or slides behind an occluder and shrinks so it is fully hidden (``"occluder"``),
  for a few frames; objects also hide each other by chance;
* **lighting changes**: a global gain and a drifting linear shading ramp.

Annotations are the visible pixels of each object after every layer is drawn, so they are
exact for every frame. Objects that appear only later (``late_entry_prob``) start off-screen.

API: :class:`SyntheticConfig`, :func:`generate_video` (in memory, returns :class:`SyntheticVideo`)
and :func:`write_synthetic_split` (MOSEv2 layout + ``meta.json``, written atomically as a whole).
Photographic textures from scikit-image's sample images are used only when
``photo_textures=True`` and scikit-image is installed (procedural textures otherwise).
"""

from __future__ import annotations

import io
import logging
import math
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from sam2.data.mose_layout import atomic_write_bytes, write_meta, write_palette_png
from sam2.data.palette import voc_palette

logger = logging.getLogger(__name__)

__all__ = [
    "SyntheticConfig",
    "SyntheticVideo",
    "ObjectEvent",
    "generate_video",
    "video_name",
    "write_synthetic_split",
]

TEXTURE_CLASSES: tuple[str, ...] = ("stripes", "checker", "dots", "marble", "rings")
_TEX = 64  # texture tile side (patterns are periodic on it)
DEFAULT_PHOTO_NAMES: tuple[str, ...] = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field")


@dataclass(frozen=True)
class SyntheticConfig:
    """Options of the generator (all deterministic given ``seed``).

    Attributes:
        num_videos: number of videos in a split.
        num_frames: frames per video (events need at least 12).
        height, width: frame size in pixels.
        min_objects, max_objects: annotated objects per (normal) video.
        max_distractors: unannotated look-alikes per (normal) video (0..max).
        max_occluders: static occluders per video (0..max; at least one with prob 0.75).
        crowded_prob: probability that a video is crowded (twice the objects and distractors).
        event_prob: probability that an annotated object gets disappear/reappear events.
        second_event_prob: probability of a second event for an object that has one.
        late_entry_prob: probability that an object (other than id 1) enters after frame 0.
        camera_motion: move the camera over a larger background canvas.
        lighting: vary global gain and shading over time.
        photo_textures: use scikit-image sample photos as textures when it is installed.
        photo_names: which scikit-image sample images to use (held-out splits pick others).
        jpeg_quality: JPEG quality of the written frames.
        seed: the seed; video ``i`` uses the stream ``(seed, i)``.
    """

    num_videos: int = 4
    num_frames: int = 24
    height: int = 240
    width: int = 320
    min_objects: int = 1
    max_objects: int = 3
    max_distractors: int = 2
    max_occluders: int = 2
    crowded_prob: float = 0.25
    event_prob: float = 0.85
    second_event_prob: float = 0.3
    late_entry_prob: float = 0.0
    camera_motion: bool = True
    lighting: bool = True
    photo_textures: bool = False
    photo_names: tuple[str, ...] = DEFAULT_PHOTO_NAMES
    jpeg_quality: int = 90
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num_frames < 1 or self.num_videos < 0:
            raise ValueError(f"need num_frames >= 1 and num_videos >= 0, got {self.num_frames}, {self.num_videos}")
        if self.height < 16 or self.width < 16:
            raise ValueError(f"frames must be at least 16x16, got {self.height}x{self.width}")
        if not 1 <= self.min_objects <= self.max_objects <= 255:
            raise ValueError(f"need 1 <= min_objects <= max_objects <= 255, got {self.min_objects}, {self.max_objects}")


@dataclass(frozen=True)
class ObjectEvent:
    """A planned disappearance of an object: hidden on frames ``[start, end)`` (``kind`` is
    ``"exit"``, ``"occluder"`` or ``"late_entry"``)."""

    kind: str
    start: int
    end: int


@dataclass
class SyntheticVideo:
    """One rendered video.

    Attributes:
        name: video name.
        frames: ``[T, H, W, 3]`` uint8 RGB.
        annotations: ``[T, H, W]`` uint8 object ids (0 = background / unannotated).
        events: planned events per object id.
        info: per-object description (texture class, size) and scene facts for ``meta.json``.
    """

    name: str
    frames: np.ndarray
    annotations: np.ndarray
    events: dict[int, list[ObjectEvent]] = field(default_factory=dict)
    info: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------
# Textures
# ----------------------------------------------------------------------------------------------
def _periodic_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth value noise ``[size, size]`` in [0, 1], periodic with period ``size``."""
    grid = rng.random((cells, cells))
    pos = np.arange(size) * (cells / size)
    lo = np.floor(pos).astype(np.int64)
    frac = pos - lo
    frac = frac * frac * (3.0 - 2.0 * frac)
    hi = (lo + 1) % cells
    rows = grid[lo] * (1 - frac)[:, None] + grid[hi] * frac[:, None]
    return rows[:, lo] * (1 - frac)[None, :] + rows[:, hi] * frac[None, :]


def _pattern(rng: np.random.Generator, kind: str) -> np.ndarray:
    """A periodic ``[_TEX, _TEX]`` float pattern in [0, 1] of texture class ``kind``."""
    yy, xx = np.mgrid[0:_TEX, 0:_TEX].astype(np.float64)
    if kind == "stripes":
        period = float(rng.choice([8, 16, 32]))
        direction = rng.integers(0, 3)
        coord = xx if direction == 0 else (yy if direction == 1 else (xx + yy) % _TEX)
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
        dist = np.hypot(yy - _TEX / 2, xx - _TEX / 2)
        return 0.5 + 0.5 * np.cos(2 * np.pi * dist / period)
    noise = 0.6 * _periodic_noise(rng, _TEX, 4) + 0.4 * _periodic_noise(rng, _TEX, 16)
    return np.clip((noise - noise.min()) / max(float(np.ptp(noise)), 1e-6), 0, 1)


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(20, 236, size=3).astype(np.float64)


def _texture(rng: np.random.Generator, kind: str, colours: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``[_TEX, _TEX, 3]`` float texture mixing two colours by a pattern of class ``kind``."""
    mix = _pattern(rng, kind)[..., None]
    return colours[0] * (1.0 - mix) + colours[1] * mix


class _PhotoSource:
    """Tiles cut from scikit-image sample photographs (only when it is installed)."""

    def __init__(self, names: Sequence[str]) -> None:
        self.images: list[np.ndarray] = []
        try:
            from skimage import data as skdata  # optional dependency
        except ImportError:
            logger.warning("photo_textures=True but scikit-image is not installed: using procedural textures")
            return
        for name in names:
            loader = getattr(skdata, name, None)
            if loader is None:
                logger.warning("scikit-image has no sample image %r; skipped", name)
                continue
            img = np.asarray(loader())
            if img.ndim == 2:
                img = np.repeat(img[..., None], 3, axis=2)
            self.images.append(img[..., :3].astype(np.float64))

    def tile(self, rng: np.random.Generator, size: int) -> np.ndarray | None:
        if not self.images:
            return None
        img = self.images[int(rng.integers(len(self.images)))]
        h, w = img.shape[:2]
        step = max(1, min(h, w) // (size * 2))
        y0 = int(rng.integers(0, max(1, h - size * step)))
        x0 = int(rng.integers(0, max(1, w - size * step)))
        crop = img[y0 : y0 + size * step : step, x0 : x0 + size * step : step]
        if crop.shape[0] < size or crop.shape[1] < size:
            return None
        return crop[:size, :size]


# ----------------------------------------------------------------------------------------------
# Shapes and motion
# ----------------------------------------------------------------------------------------------
@dataclass
class _Sprite:
    """A moving, deforming textured shape (annotated object when ``obj_id > 0``)."""

    obj_id: int
    radius: float
    family: str  # "blob" or "box"
    aspect: float
    harmonics: np.ndarray  # [K, 3]: amplitude, frequency k, phase speed
    phases: np.ndarray  # [K]
    spin: float
    angle0: float
    texture: np.ndarray  # [_TEX, _TEX, 3] float
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
        tex_y = np.floor(v / max(scale, 0.25)).astype(np.int64) % _TEX
        tex_x = np.floor(u / max(scale, 0.25)).astype(np.int64) % _TEX
        colours = self.texture[tex_y, tex_x]
        return (slice(y0, y1), slice(x0, x1)), inside, colours


def _bounce(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Reflect ``values`` into ``[low, high]`` (a particle bouncing off walls)."""
    if high <= low:
        return np.full_like(values, (low + high) / 2.0)
    span = high - low
    folded = np.mod(values - low, 2.0 * span)
    return low + np.where(folded > span, 2.0 * span - folded, folded)


def _base_track(rng: np.random.Generator, start: np.ndarray, num_frames: int, size: tuple[int, int], margin: float) -> np.ndarray:
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
        out[:, axis] = _bounce(raw[:, axis], margin, extent[axis] - 1 - margin)
    return out


def _offscreen_point(point: np.ndarray, size: tuple[int, int], reach: float) -> np.ndarray:
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


# ----------------------------------------------------------------------------------------------
# Scene
# ----------------------------------------------------------------------------------------------
@dataclass
class _Occluder:
    box: tuple[float, float, float, float]  # canvas y0, x0, y1, x1
    texture: np.ndarray


class _Scene:
    """All random choices of one video, then frame-by-frame rendering."""

    def __init__(self, cfg: SyntheticConfig, index: int, photos: _PhotoSource | None) -> None:
        self.cfg = cfg
        self.rng = np.random.default_rng([cfg.seed, index])
        self.size = (cfg.height, cfg.width)
        self.photos = photos
        self.crowded = bool(self.rng.random() < cfg.crowded_prob)
        self._make_camera()
        self._make_background()
        self._make_lighting()
        self._make_occluders()
        self._make_sprites()

    # -- static parts ----------------------------------------------------------------------------
    def _make_camera(self) -> None:
        cfg, rng = self.cfg, self.rng
        self.margin = int(math.ceil(0.08 * max(cfg.height, cfg.width))) if cfg.camera_motion else 0
        t = np.arange(cfg.num_frames, dtype=np.float64)
        if cfg.camera_motion:
            amp = rng.uniform(0.3, 1.0, size=2) * self.margin
            freq = rng.uniform(0.05, 0.2, size=2)
            phase = rng.uniform(0, 2 * np.pi, size=2)
            offs = self.margin + amp[None, :] * np.sin(freq[None, :] * t[:, None] + phase[None, :])
        else:
            offs = np.zeros((cfg.num_frames, 2))
        self.camera = np.rint(offs).astype(np.int64)  # [T, 2] canvas offset of the screen origin

    def _make_background(self) -> None:
        cfg, rng = self.cfg, self.rng
        ch, cw = cfg.height + 2 * self.margin, cfg.width + 2 * self.margin
        side = max(ch, cw)
        noise = 0.5 * _periodic_noise(rng, side, 3) + 0.3 * _periodic_noise(rng, side, 8) + 0.2 * _periodic_noise(rng, side, 24)
        noise = noise[:ch, :cw, None]
        low, high = _random_colour(rng) * 0.7, _random_colour(rng)
        canvas = low * (1 - noise) + high * noise
        photo = self.photos.tile(rng, 64) if self.photos is not None else None
        if photo is not None:
            reps = (ch // 64 + 1, cw // 64 + 1, 1)
            canvas = 0.5 * canvas + 0.5 * np.tile(photo, reps)[:ch, :cw]
        self.canvas = canvas.astype(np.float32)

    def _make_lighting(self) -> None:
        cfg, rng = self.cfg, self.rng
        t = np.arange(cfg.num_frames, dtype=np.float64)
        if cfg.lighting:
            self.gain = 1.0 + rng.uniform(0.1, 0.3) * np.sin(rng.uniform(0.1, 0.4) * t + rng.uniform(0, 2 * np.pi))
            self.ramp_strength = rng.uniform(0.1, 0.3)
            self.ramp_angle = rng.uniform(0, 2 * np.pi) + rng.uniform(0.02, 0.1) * t
        else:
            self.gain = np.ones_like(t)
            self.ramp_strength = 0.0
            self.ramp_angle = np.zeros_like(t)
        h, w = self.size
        self.grid_y = (np.arange(h, dtype=np.float32)[:, None] / h - 0.5)
        self.grid_x = (np.arange(w, dtype=np.float32)[None, :] / w - 0.5)

    def _texture_for(self, kind: str, colours: tuple[np.ndarray, np.ndarray], seed_rng: np.random.Generator) -> np.ndarray:
        photo = self.photos.tile(seed_rng, _TEX) if self.photos is not None else None
        tex = _texture(seed_rng, kind, colours)
        return tex if photo is None else 0.4 * tex + 0.6 * photo

    def _make_occluders(self) -> None:
        cfg, rng = self.cfg, self.rng
        count = 0
        if cfg.max_occluders > 0 and rng.random() < 0.75:
            count = int(rng.integers(1, cfg.max_occluders + 1))
        h, w = self.size
        self.occluders: list[_Occluder] = []
        for _ in range(count):
            oh = rng.uniform(0.3, 0.55) * h
            ow = rng.uniform(0.12, 0.22) * w
            if rng.random() < 0.4:  # a wall instead of a pillar
                oh, ow = rng.uniform(0.15, 0.25) * h, rng.uniform(0.3, 0.45) * w
            y0 = self.margin + rng.uniform(0, h - oh)
            x0 = self.margin + rng.uniform(0, w - ow)
            tex = self._texture_for(str(rng.choice(TEXTURE_CLASSES)), (_random_colour(rng), _random_colour(rng)), rng)
            self.occluders.append(_Occluder((y0, x0, y0 + oh, x0 + ow), tex))

    def _occluder_screen_box(self, occ: _Occluder, t: int) -> tuple[float, float, float, float]:
        oy, ox = self.camera[t]
        y0, x0, y1, x1 = occ.box
        return y0 - oy, x0 - ox, y1 - oy, x1 - ox

    # -- moving parts ----------------------------------------------------------------------------
    def _new_sprite(self, obj_id: int, radius: float, kind: str, colours: tuple[np.ndarray, np.ndarray], family: str) -> _Sprite:
        rng = self.rng
        n_harm = int(rng.integers(1, 4))
        harmonics = np.stack(
            [rng.uniform(0.03, 0.18, n_harm), rng.integers(2, 6, n_harm).astype(np.float64), rng.uniform(-0.3, 0.3, n_harm)], axis=1
        )
        jitter = rng.uniform(-12, 12, size=3)
        return _Sprite(
            obj_id=obj_id,
            radius=radius,
            family=family,
            aspect=float(rng.uniform(0.6, 1.6)),
            harmonics=harmonics,
            phases=rng.uniform(0, 2 * np.pi, n_harm),
            spin=float(rng.uniform(-0.08, 0.08)),
            angle0=float(rng.uniform(0, 2 * np.pi)),
            texture=self._texture_for(kind, (colours[0] + jitter, colours[1] + jitter), rng),
            texture_class=kind,
            pos=np.zeros((self.cfg.num_frames, 2)),
            scale=np.ones(self.cfg.num_frames),
        )

    def _sample_radius(self) -> float:
        small = min(self.size)
        lo, hi = 2.5, max(3.0, small / 6.0)
        bucket = self.rng.random()
        if bucket < 0.2:  # tiny: a few pixels
            return float(self.rng.uniform(lo, max(lo + 0.5, small / 40)))
        if bucket < 0.8:
            return float(math.exp(self.rng.uniform(math.log(small / 30), math.log(small / 9))))
        return float(self.rng.uniform(small / 9, hi))  # large: up to a third of the frame

    def _free_start(self, reach: float, taken: list[tuple[np.ndarray, float]]) -> np.ndarray:
        """A frame-0 centre whose disk of radius ``reach`` avoids ``taken`` disks and occluders."""
        h, w = self.size
        best, best_gap = None, -np.inf
        for _ in range(60):
            m_y, m_x = min(reach + 1, h / 2 - 1), min(reach + 1, w / 2 - 1)
            cand = np.array([self.rng.uniform(m_y, h - 1 - m_y), self.rng.uniform(m_x, w - 1 - m_x)])
            gap = np.inf
            for centre, r in taken:
                gap = min(gap, float(np.hypot(*(cand - centre))) - r - reach)
            for occ in self.occluders:
                y0, x0, y1, x1 = self._occluder_screen_box(occ, 0)
                ny, nx = np.clip(cand[0], y0, y1), np.clip(cand[1], x0, x1)
                gap = min(gap, float(np.hypot(cand[0] - ny, cand[1] - nx)) - reach)
            if gap > 1.0:
                return cand
            if gap > best_gap:
                best, best_gap = cand, gap
        return best

    def _make_sprites(self) -> None:
        cfg, rng = self.cfg, self.rng
        n_obj = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
        n_dis = int(rng.integers(0, cfg.max_distractors + 1))
        if self.crowded:
            n_obj, n_dis = min(255, 2 * n_obj + 1), 2 * n_dis + 1
        shared_kind = str(rng.choice(TEXTURE_CLASSES))
        shared_colours = (_random_colour(rng), _random_colour(rng))
        taken: list[tuple[np.ndarray, float]] = []
        self.objects: list[_Sprite] = []
        for obj_id in range(1, n_obj + 1):
            if self.crowded and rng.random() < 0.5:
                kind, colours = shared_kind, shared_colours
            else:
                kind, colours = str(rng.choice(TEXTURE_CLASSES)), (_random_colour(rng), _random_colour(rng))
            sprite = self._new_sprite(obj_id, self._sample_radius(), kind, colours, "blob" if rng.random() < 0.65 else "box")
            self._place(sprite, taken)
            self.objects.append(sprite)
        self.distractors: list[_Sprite] = []
        for _ in range(n_dis):
            model = self.objects[int(rng.integers(len(self.objects)))]
            colours = (model.texture[0, 0], model.texture[_TEX // 2, _TEX // 2])
            twin = self._new_sprite(0, model.radius * rng.uniform(0.8, 1.25), model.texture_class, colours, model.family)
            twin.texture = np.clip(model.texture + rng.uniform(-10, 10, size=3), 0, 255)
            self._place(twin, taken)
            self.distractors.append(twin)
        layers = self.objects + self.distractors
        self.layers = [layers[i] for i in rng.permutation(len(layers))]
        self.events: dict[int, list[ObjectEvent]] = {s.obj_id: [] for s in self.objects}
        for sprite in self.objects:
            self._plan_events(sprite)

    def _place(self, sprite: _Sprite, taken: list[tuple[np.ndarray, float]]) -> None:
        reach = sprite.bound()
        start = self._free_start(reach, taken)
        taken.append((start, reach))
        margin = min(reach * 0.5, min(self.size) / 4)
        sprite.pos = _base_track(self.rng, start, self.cfg.num_frames, self.size, margin)

    # -- events ----------------------------------------------------------------------------------
    def _plan_events(self, sprite: _Sprite) -> None:
        cfg, rng = self.cfg, self.rng
        T = cfg.num_frames
        if sprite.obj_id > 1 and rng.random() < cfg.late_entry_prob and T >= 8:
            enter = int(rng.integers(2, max(3, T // 2)))
            self._hide(sprite, "late_entry", 0, enter)
        if T < 12 or rng.random() >= cfg.event_prob:
            return
        wanted = 2 if rng.random() < cfg.second_event_prob else 1
        # hidden interval [start, end): visible before (start-3 >= 1) and back by end+2 <= T-2
        earliest = max(4, self.events[sprite.obj_id][-1].end + 4 if self.events[sprite.obj_id] else 4)
        for _ in range(wanted):
            latest_end = T - 4
            if latest_end - earliest < 2:
                return
            length = int(rng.integers(2, min(7, latest_end - earliest) + 1))
            start = int(rng.integers(earliest, latest_end - length + 1))
            usable = [o for o in self.occluders if self._fits_behind(sprite, o)]
            kind = "occluder" if usable and rng.random() < 0.5 else "exit"
            self._hide(sprite, kind, start, start + length, usable[int(rng.integers(len(usable)))] if kind == "occluder" else None)
            earliest = start + length + 5

    def _fits_behind(self, sprite: _Sprite, occ: _Occluder) -> bool:
        y0, x0, y1, x1 = occ.box
        return min(y1 - y0, x1 - x0) / 2 - 2 > 1.0

    def _hide(self, sprite: _Sprite, kind: str, start: int, end: int, occ: _Occluder | None = None) -> None:
        """Override the track so ``sprite`` is fully hidden on ``[start, end)``, with 2-frame
        transitions on each side that blend from/to its normal track."""
        T = self.cfg.num_frames
        normal_pos, normal_scale = sprite.pos.copy(), sprite.scale.copy()
        reach = sprite.bound()
        for t in range(max(0, start - 2), min(T, end + 2)):
            if occ is not None:
                y0, x0, y1, x1 = self._occluder_screen_box(occ, t)
                target = np.array([(y0 + y1) / 2, (x0 + x1) / 2])
                target_scale = min(1.0, (min(y1 - y0, x1 - x0) / 2 - 2) / reach)
            else:
                anchor = normal_pos[max(0, start - 2)] if start > 0 and t < (start + end) / 2 else normal_pos[min(T - 1, end + 1)]
                target = _offscreen_point(anchor, self.size, reach * normal_scale[t])
                target_scale = normal_scale[t]
            if start <= t < end:
                weight = 1.0
            elif t < start:
                weight = (t - (start - 3)) / 3.0
            else:
                weight = ((end + 2) - t) / 3.0
            sprite.pos[t] = (1 - weight) * normal_pos[t] + weight * target
            sprite.scale[t] = (1 - weight) * normal_scale[t] + weight * target_scale
        self.events[sprite.obj_id].append(ObjectEvent(kind, start, end))

    # -- rendering -------------------------------------------------------------------------------
    def render(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``t``: ``([H, W, 3] uint8 RGB, [H, W] uint8 ids)``."""
        h, w = self.size
        oy, ox = self.camera[t]
        image = self.canvas[oy : oy + h, ox : ox + w].copy()
        ids = np.zeros((h, w), dtype=np.uint8)
        for sprite in self.layers:
            drawn = sprite.rasterise(t, h, w)
            if drawn is None:
                continue
            window, inside, colours = drawn
            image[window][inside] = colours[inside]
            ids[window][inside] = sprite.obj_id
        for occ in self.occluders:
            y0, x0, y1, x1 = self._occluder_screen_box(occ, t)
            ya, yb = max(0, int(round(y0))), min(h, int(round(y1)))
            xa, xb = max(0, int(round(x0))), min(w, int(round(x1)))
            if ya >= yb or xa >= xb:
                continue
            cy = (np.arange(ya, yb) + oy) % _TEX
            cx = (np.arange(xa, xb) + ox) % _TEX
            image[ya:yb, xa:xb] = occ.texture[cy[:, None], cx[None, :]]
            ids[ya:yb, xa:xb] = 0
        if self.cfg.lighting:
            angle = self.ramp_angle[t]
            shade = 1.0 + self.ramp_strength * (self.grid_x * math.cos(angle) + self.grid_y * math.sin(angle))
            image = image * (self.gain[t] * shade)[..., None]
        return np.clip(image, 0, 255).astype(np.uint8), ids


# ----------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------
def video_name(index: int) -> str:
    """Name of the ``index``-th synthetic video (``"synth0000"``, ...)."""
    return f"synth{index:04d}"


def generate_video(config: SyntheticConfig, index: int, photos: object | None = None) -> SyntheticVideo:
    """Render video ``index`` of the split described by ``config`` (deterministic).

    Returns:
        :class:`SyntheticVideo` with ``frames`` ``[T, H, W, 3]`` uint8 and ``annotations``
        ``[T, H, W]`` uint8.
    """
    source = photos if isinstance(photos, _PhotoSource) else (_PhotoSource(config.photo_names) if config.photo_textures else None)
    scene = _Scene(config, index, source)
    T, (h, w) = config.num_frames, scene.size
    frames = np.empty((T, h, w, 3), dtype=np.uint8)
    annotations = np.empty((T, h, w), dtype=np.uint8)
    for t in range(T):
        frames[t], annotations[t] = scene.render(t)
    info = {
        "crowded": scene.crowded,
        "num_distractors": len(scene.distractors),
        "num_occluders": len(scene.occluders),
        "objects": {s.obj_id: {"texture": s.texture_class, "radius": round(s.radius, 2)} for s in scene.objects},
    }
    return SyntheticVideo(video_name(index), frames, annotations, scene.events, info)


def _meta_entry(video: SyntheticVideo) -> dict:
    present = video.annotations.reshape(video.annotations.shape[0], -1)
    objects = {}
    for obj_id, desc in video.info["objects"].items():
        visible = np.flatnonzero((present == obj_id).any(axis=1))
        if visible.size == 0:
            continue  # never visible: not a target
        objects[str(obj_id)] = {
            **desc,
            "first_frame": int(visible[0]),
            "num_visible_frames": int(visible.size),
            "events": [asdict(e) for e in video.events.get(obj_id, [])],
        }
    T, h, w = video.annotations.shape
    return {
        "length": int(T),
        "height": int(h),
        "width": int(w),
        "objects": objects,
        "crowded": video.info["crowded"],
        "num_distractors": video.info["num_distractors"],
        "num_occluders": video.info["num_occluders"],
    }


def write_synthetic_split(
    root: str | os.PathLike,
    config: SyntheticConfig,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Write a split in the MOSEv2 layout: ``root/JPEGImages``, ``root/Annotations``,
    ``root/meta.json``. The split is built in a temporary sibling folder and renamed into place,
    so ``root`` is either absent or complete.

    Args:
        root: destination folder; must not exist (or be empty) unless ``overwrite``.
        config: generator options.
        overwrite: replace an existing ``root``.
        progress: show a tqdm bar.

    Returns:
        ``Path(root)``.
    """
    target = Path(root)
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise FileExistsError(f"{target}: exists and is not empty (pass overwrite=True)")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        photos = _PhotoSource(config.photo_names) if config.photo_textures else None
        palette = voc_palette()
        meta: dict[str, dict] = {}
        indices = range(config.num_videos)
        if progress:
            from tqdm import tqdm

            indices = tqdm(indices, desc="synthetic videos", unit="video")
        for index in indices:
            video = generate_video(config, index, photos)
            for t in range(config.num_frames):
                buffer = io.BytesIO()
                Image.fromarray(video.frames[t]).save(buffer, format="JPEG", quality=config.jpeg_quality)
                atomic_write_bytes(staging / "JPEGImages" / video.name / f"{t:05d}.jpg", buffer.getvalue())
                write_palette_png(staging / "Annotations" / video.name / f"{t:05d}.png", video.annotations[t], palette)
            meta[video.name] = _meta_entry(video)
        write_meta(staging / "meta.json", meta)
        (staging / "JPEGImages").mkdir(exist_ok=True)
        (staging / "Annotations").mkdir(exist_ok=True)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("wrote %d synthetic videos to %s", config.num_videos, target)
    return target
