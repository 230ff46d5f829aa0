"""The photographic synthetic scene: the procedural scene's objects, events and look-alikes, seen
the way a camera sees photographs.

Differences from :class:`sam2.data.synthetic_scene.Scene`:

* the background is a random crop of a photograph (scale, rotation, colour jitter) on a canvas
  larger than the frame, seen through a camera that **pans, zooms and shakes**;
* every object's texture is cut from a photograph; objects of one texture class in a scene share
  a photograph, half of them the very same crop with a small colour change (look-alike targets);
  **look-alike distractors** copy a target's texture with a small colour change, shift or flip;
* **occluders** are photo-textured pillars and walls, most of them **sweeping** across the frame
  in front of everything;
* disappearances last up to 12 frames (long absences), besides exits and re-entries;
* frames get **motion blur** along the camera's motion, a sudden **lighting change** on some
  videos, sensor noise and **JPEG artefacts** (annotations stay exact: they are the visible pixels).

The photographs come from :mod:`sam2.data.photo_library` (``config.photo_split``: the training or
the held-out set).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sam2.data.photo_effects import affine_view, colour_jitter, jpeg_roundtrip, motion_blur, photo_crop, sensor_noise
from sam2.data.photo_library import Photo
from sam2.data.synthetic_config import SyntheticConfig
from sam2.data.synthetic_scene import Occluder, Scene
from sam2.data.synthetic_shapes import Sprite

__all__ = ["PHOTO_TEX", "PhotoOccluder", "PhotoScene"]

PHOTO_TEX = 128  # side of an object's photographic texture (covers the largest objects without wrapping)


@dataclass
class PhotoOccluder(Occluder):
    """An occluder whose ``box`` is in screen coordinates at frame 0 and moves by ``velocity``
    ``(dy, dx)`` pixels a frame (plus the camera's pan for a static one); ``texture`` is
    ``[box height, box width, 3]``."""

    velocity: tuple[float, float] = (0.0, 0.0)
    static: bool = True


class PhotoScene(Scene):
    """All random choices of one photographic video, then frame-by-frame rendering."""

    max_absence = 12

    def __init__(self, cfg: SyntheticConfig, index: int, photos: list[Photo]) -> None:
        if not photos:
            raise ValueError("a photographic scene needs at least one photograph")
        self.photos = photos
        self.used: set[str] = set()
        self.kind_textures: dict[str, tuple[Photo, np.ndarray]] = {}
        super().__init__(cfg, index, stream=(1,))

    def _photo(self) -> Photo:
        photo = self.photos[int(self.rng.integers(len(self.photos)))]
        self.used.add(photo.name)
        return photo

    # -- camera and background --------------------------------------------------------------------
    def _make_camera(self) -> None:
        cfg, rng = self.cfg, self.rng
        h, w = self.size
        T = cfg.num_frames
        t = np.arange(T, dtype=np.float64)
        self.pan = np.zeros((T, 2))
        self.zoom = np.ones(T)
        self.shake = np.zeros((T, 2))
        self.roll = np.zeros(T)
        if cfg.camera_motion:
            direction = rng.uniform(0, 2 * math.pi)
            speed = rng.uniform(0.0, 0.012) * max(h, w)  # steady pan, pixels a frame
            wobble = rng.uniform(0.0, 0.05, size=2) * np.array([h, w])
            freq = rng.uniform(0.08, 0.3, size=2)
            phase = rng.uniform(0, 2 * math.pi, size=2)
            self.pan = (speed * t[:, None] * np.array([math.sin(direction), math.cos(direction)])[None, :]
                        + wobble[None, :] * (np.sin(freq[None, :] * t[:, None] + phase[None, :]) - np.sin(phase)[None, :]))
            if rng.random() < 0.6:
                amp = rng.uniform(0.05, 0.2)
                self.zoom = np.exp(amp * np.sin(rng.uniform(0.05, 0.2) * t + rng.uniform(0, 2 * math.pi)))
            if rng.random() < 0.4:
                self.shake = rng.normal(0.0, rng.uniform(0.5, 2.0), size=(T, 2))
            if rng.random() < 0.3:
                self.roll = rng.uniform(-0.004, 0.004) * t
        self.camera = np.rint(self.pan).astype(np.int64)
        reach = float(np.abs(self.pan).max() + np.abs(self.shake).max()) if cfg.camera_motion else 0.0
        self.margin = int(math.ceil(reach + 0.25 * max(h, w) + 4))

    def _make_background(self) -> None:
        h, w = self.size
        canvas_size = (h + 2 * self.margin, w + 2 * self.margin)
        self.canvas = photo_crop(self._photo(), self.rng, canvas_size, 0.35, 1.3, max_angle=0.35)

    def _make_lighting(self) -> None:
        super()._make_lighting()
        cfg, rng = self.cfg, self.rng
        if cfg.lighting and rng.random() < 0.3 and cfg.num_frames > 4:  # a light switched on or off
            switch = int(rng.integers(2, cfg.num_frames - 1))
            self.gain = self.gain.copy()
            self.gain[switch:] *= rng.choice([rng.uniform(0.55, 0.8), rng.uniform(1.2, 1.5)])

    # -- textures ---------------------------------------------------------------------------------
    def _texture_for(self, kind: str, colours: tuple[np.ndarray, np.ndarray], seed_rng: np.random.Generator) -> np.ndarray:
        """A photographic ``[PHOTO_TEX, PHOTO_TEX, 3]`` texture; one photograph per texture class
        ``kind`` in a scene, and half the time that class's very crop with a small colour change."""
        rng = self.rng
        if kind.startswith("photo:"):  # a look-alike: _twin_texture replaces this placeholder
            return np.zeros((PHOTO_TEX, PHOTO_TEX, 3))
        if kind not in self.kind_textures:
            photo = self._photo()
            self.kind_textures[kind] = (photo, photo_crop(photo, rng, (PHOTO_TEX, PHOTO_TEX), 0.5, 2.5))
        photo, base = self.kind_textures[kind]
        if rng.random() < 0.5:
            return colour_jitter(base, rng, strength=0.25)
        return photo_crop(photo, rng, (PHOTO_TEX, PHOTO_TEX), 0.5, 2.5)

    def _twin_texture(self, model: Sprite) -> np.ndarray:
        """The same texture with a small change: colour, a shift of a few pixels, maybe a flip."""
        rng = self.rng
        tex = np.roll(model.texture, tuple(int(v) for v in rng.integers(-6, 7, size=2)), axis=(0, 1))
        if rng.random() < 0.3:
            tex = tex[:, ::-1]
        return colour_jitter(tex, rng, strength=0.2)

    def _new_sprite(self, obj_id: int, radius: float, kind: str, colours: tuple[np.ndarray, np.ndarray], family: str) -> Sprite:
        sprite = super()._new_sprite(obj_id, radius, kind, colours, family)
        if not kind.startswith("photo:"):
            sprite.texture_class = f"photo:{self.kind_textures[kind][0].name}"
        return sprite

    # -- occluders --------------------------------------------------------------------------------
    def _make_occluders(self) -> None:
        cfg, rng = self.cfg, self.rng
        h, w = self.size
        T = cfg.num_frames
        count = 0
        if cfg.max_occluders > 0 and rng.random() < 0.8:
            count = int(rng.integers(1, cfg.max_occluders + 1))
        self.occluders: list[PhotoOccluder] = []
        for _ in range(count):
            sweeping = rng.random() < 0.65
            oh, ow = rng.uniform(0.45, 1.0) * h, rng.uniform(0.1, 0.25) * w  # a pillar
            horizontal = True
            if rng.random() < 0.35:  # a wall, sweeping up or down
                oh, ow, horizontal = rng.uniform(0.12, 0.25) * h, rng.uniform(0.5, 1.0) * w, False
            texture = photo_crop(self._photo(), rng, (max(1, int(math.ceil(oh))), max(1, int(math.ceil(ow)))), 0.4, 1.5, max_angle=0.3)
            if sweeping:  # enters on one side, leaves on the other, at some time of the video
                frames = rng.uniform(0.4, 1.0) * T
                sign = rng.choice([-1.0, 1.0])
                if horizontal:
                    y0 = rng.uniform(-0.1 * h, h - 0.9 * oh)
                    x_from, x_to = (-ow, w) if sign > 0 else (w, -ow)
                    t0 = rng.uniform(-0.3 * frames, T - 0.7 * frames)
                    vel = ((0.0), (x_to - x_from) / frames)
                    box0 = (y0, x_from - vel[1] * t0)
                else:
                    x0 = rng.uniform(-0.1 * w, w - 0.9 * ow)
                    y_from, y_to = (-oh, h) if sign > 0 else (h, -oh)
                    t0 = rng.uniform(-0.3 * frames, T - 0.7 * frames)
                    vel = ((y_to - y_from) / frames, 0.0)
                    box0 = (y_from - vel[0] * t0, x0)
                box = (box0[0], box0[1], box0[0] + oh, box0[1] + ow)
                self.occluders.append(PhotoOccluder(box, texture, velocity=(float(vel[0]), float(vel[1])), static=False))
            else:
                y0, x0 = rng.uniform(0, h - oh) if oh < h else 0.0, rng.uniform(0, w - ow)
                self.occluders.append(PhotoOccluder((y0, x0, y0 + oh, x0 + ow), texture))

    def _occluder_screen_box(self, occ: Occluder, t: int) -> tuple[float, float, float, float]:
        assert isinstance(occ, PhotoOccluder)
        y0, x0, y1, x1 = occ.box
        if occ.static:
            dy, dx = -(self.pan[t] - self.pan[0])
        else:
            dy, dx = occ.velocity[0] * t, occ.velocity[1] * t
        return y0 + dy, x0 + dx, y1 + dy, x1 + dx

    # -- rendering --------------------------------------------------------------------------------
    def _make_sprites(self) -> None:
        super()._make_sprites()
        rng = self.rng
        self.blur_exposure = float(rng.uniform(0.5, 1.5)) if rng.random() < 0.6 else 0.0
        self.noise_sigma = float(rng.uniform(0.0, 4.0))
        self.jpeg_quality = int(rng.integers(25, 86)) if rng.random() < 0.7 else 0
        self.effect_rng = np.random.default_rng(rng.integers(0, 2**32))

    def _background(self, t: int) -> np.ndarray:
        h, w = self.size
        ch, cw = self.canvas.shape[:2]
        centre = (ch / 2 + self.pan[t, 0] + self.shake[t, 0], cw / 2 + self.pan[t, 1] + self.shake[t, 1])
        return affine_view(self.canvas, (h, w), centre, 1.0 / float(self.zoom[t]), float(self.roll[t]))

    def render(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``t``: ``([H, W, 3] uint8 RGB, [H, W] uint8 ids)``."""
        h, w = self.size
        image = self._background(t)
        ids = np.zeros((h, w), dtype=np.uint8)
        self._draw_sprites(image, ids, t)
        for occ in self.occluders:
            y0, x0, y1, x1 = self._occluder_screen_box(occ, t)
            ya, xa = int(round(y0)), int(round(x0))
            th, tw = occ.texture.shape[:2]
            ys, xs = max(0, ya), max(0, xa)
            ye, xe = min(h, ya + th), min(w, xa + tw)
            if ys >= ye or xs >= xe:
                continue
            image[ys:ye, xs:xe] = occ.texture[ys - ya : ye - ya, xs - xa : xe - xa]
            ids[ys:ye, xs:xe] = 0
        image = self._light(image, t)
        if self.blur_exposure > 0 and t > 0:
            step = (self.pan[t] - self.pan[t - 1]) + (self.shake[t] - self.shake[t - 1])
            image = motion_blur(image, (float(step[0]) * self.blur_exposure, float(step[1]) * self.blur_exposure))
        image = sensor_noise(image, self.effect_rng, self.noise_sigma)
        if self.jpeg_quality:
            image = jpeg_roundtrip(image, self.jpeg_quality)
        return np.clip(image, 0, 255).astype(np.uint8), ids
