"""A procedural synthetic scene: background, camera, lighting, occluders, annotated objects,
look-alike distractors, disappearance/reappearance events, and frame rendering."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sam2.data.synthetic_config import ObjectEvent, SyntheticConfig
from sam2.data.synthetic_shapes import Sprite, base_track, offscreen_point
from sam2.data.synthetic_textures import TEX, TEXTURE_CLASSES, periodic_noise, random_colour, texture_tile

__all__ = ["Occluder", "Scene"]


@dataclass
class Occluder:
    """A textured rectangle drawn over everything (unannotated)."""

    box: tuple[float, float, float, float]  # canvas y0, x0, y1, x1
    texture: np.ndarray


class Scene:
    """All random choices of one procedural video, then frame-by-frame rendering.

    Subclasses (:class:`sam2.data.photo_scene.PhotoScene`) override the ``_make_*`` steps,
    ``_texture_for``, ``_twin_texture``, ``_occluder_screen_box`` and ``render``.
    """

    #: longest planned disappearance, in frames
    max_absence: int = 7

    def __init__(self, cfg: SyntheticConfig, index: int, stream: tuple[int, ...] = ()) -> None:
        self.cfg = cfg
        self.rng = np.random.default_rng([cfg.seed, index, *stream])
        self.size = (cfg.height, cfg.width)
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
        noise = 0.5 * periodic_noise(rng, side, 3) + 0.3 * periodic_noise(rng, side, 8) + 0.2 * periodic_noise(rng, side, 24)
        noise = noise[:ch, :cw, None]
        low, high = random_colour(rng) * 0.7, random_colour(rng)
        canvas = low * (1 - noise) + high * noise
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
        """``[S, S, 3]`` float texture of class ``kind`` in ``colours``."""
        return texture_tile(seed_rng, kind, colours)

    def _twin_texture(self, model: Sprite) -> np.ndarray:
        """A look-alike's texture: ``model``'s with a small colour shift."""
        return np.clip(model.texture + self.rng.uniform(-10, 10, size=3), 0, 255)

    def _make_occluders(self) -> None:
        cfg, rng = self.cfg, self.rng
        count = 0
        if cfg.max_occluders > 0 and rng.random() < 0.75:
            count = int(rng.integers(1, cfg.max_occluders + 1))
        h, w = self.size
        self.occluders: list[Occluder] = []
        for _ in range(count):
            oh = rng.uniform(0.3, 0.55) * h
            ow = rng.uniform(0.12, 0.22) * w
            if rng.random() < 0.4:  # a wall instead of a pillar
                oh, ow = rng.uniform(0.15, 0.25) * h, rng.uniform(0.3, 0.45) * w
            y0 = self.margin + rng.uniform(0, h - oh)
            x0 = self.margin + rng.uniform(0, w - ow)
            tex = self._texture_for(str(rng.choice(TEXTURE_CLASSES)), (random_colour(rng), random_colour(rng)), rng)
            self.occluders.append(Occluder((y0, x0, y0 + oh, x0 + ow), tex))

    def _occluder_screen_box(self, occ: Occluder, t: int) -> tuple[float, float, float, float]:
        oy, ox = self.camera[t]
        y0, x0, y1, x1 = occ.box
        return y0 - oy, x0 - ox, y1 - oy, x1 - ox

    # -- moving parts ----------------------------------------------------------------------------
    def _new_sprite(self, obj_id: int, radius: float, kind: str, colours: tuple[np.ndarray, np.ndarray], family: str) -> Sprite:
        rng = self.rng
        n_harm = int(rng.integers(1, 4))
        harmonics = np.stack(
            [rng.uniform(0.03, 0.18, n_harm), rng.integers(2, 6, n_harm).astype(np.float64), rng.uniform(-0.3, 0.3, n_harm)], axis=1
        )
        jitter = rng.uniform(-12, 12, size=3)
        return Sprite(
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
        shared_colours = (random_colour(rng), random_colour(rng))
        taken: list[tuple[np.ndarray, float]] = []
        self.objects: list[Sprite] = []
        for obj_id in range(1, n_obj + 1):
            if self.crowded and rng.random() < 0.5:
                kind, colours = shared_kind, shared_colours
            else:
                kind, colours = str(rng.choice(TEXTURE_CLASSES)), (random_colour(rng), random_colour(rng))
            sprite = self._new_sprite(obj_id, self._sample_radius(), kind, colours, "blob" if rng.random() < 0.65 else "box")
            self._place(sprite, taken)
            self.objects.append(sprite)
        self.distractors: list[Sprite] = []
        for _ in range(n_dis):
            model = self.objects[int(rng.integers(len(self.objects)))]
            colours = (model.texture[0, 0], model.texture[TEX // 2, TEX // 2])
            twin = self._new_sprite(0, model.radius * rng.uniform(0.8, 1.25), model.texture_class, colours, model.family)
            twin.texture = self._twin_texture(model)
            self._place(twin, taken)
            self.distractors.append(twin)
        layers = self.objects + self.distractors
        self.layers = [layers[i] for i in rng.permutation(len(layers))]
        self.events: dict[int, list[ObjectEvent]] = {s.obj_id: [] for s in self.objects}
        for sprite in self.objects:
            self._plan_events(sprite)

    def _place(self, sprite: Sprite, taken: list[tuple[np.ndarray, float]]) -> None:
        reach = sprite.bound()
        start = self._free_start(reach, taken)
        taken.append((start, reach))
        margin = min(reach * 0.5, min(self.size) / 4)
        sprite.pos = base_track(self.rng, start, self.cfg.num_frames, self.size, margin)

    # -- events ----------------------------------------------------------------------------------
    def _plan_events(self, sprite: Sprite) -> None:
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
            length = int(rng.integers(2, min(self.max_absence, latest_end - earliest) + 1))
            start = int(rng.integers(earliest, latest_end - length + 1))
            usable = [o for o in self.occluders if self._fits_behind(sprite, o)]
            kind = "occluder" if usable and rng.random() < 0.5 else "exit"
            self._hide(sprite, kind, start, start + length, usable[int(rng.integers(len(usable)))] if kind == "occluder" else None)
            earliest = start + length + 5

    def _fits_behind(self, sprite: Sprite, occ: Occluder) -> bool:
        y0, x0, y1, x1 = occ.box
        return min(y1 - y0, x1 - x0) / 2 - 2 > 1.0

    def _hide(self, sprite: Sprite, kind: str, start: int, end: int, occ: Occluder | None = None) -> None:
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
                target = offscreen_point(anchor, self.size, reach * normal_scale[t])
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
        self._draw_sprites(image, ids, t)
        for occ in self.occluders:
            y0, x0, y1, x1 = self._occluder_screen_box(occ, t)
            ya, yb = max(0, int(round(y0))), min(h, int(round(y1)))
            xa, xb = max(0, int(round(x0))), min(w, int(round(x1)))
            if ya >= yb or xa >= xb:
                continue
            cy = (np.arange(ya, yb) + oy) % TEX
            cx = (np.arange(xa, xb) + ox) % TEX
            image[ya:yb, xa:xb] = occ.texture[cy[:, None], cx[None, :]]
            ids[ya:yb, xa:xb] = 0
        image = self._light(image, t)
        return np.clip(image, 0, 255).astype(np.uint8), ids

    def _draw_sprites(self, image: np.ndarray, ids: np.ndarray, t: int) -> None:
        """Paint every object and distractor of frame ``t`` into ``image`` ``[H, W, 3]`` and
        ``ids`` ``[H, W]`` (in place, back to front)."""
        h, w = self.size
        for sprite in self.layers:
            drawn = sprite.rasterise(t, h, w)
            if drawn is None:
                continue
            window, inside, colours = drawn
            image[window][inside] = colours[inside]
            ids[window][inside] = sprite.obj_id

    def _light(self, image: np.ndarray, t: int) -> np.ndarray:
        """Frame ``t``'s global gain and shading ramp applied to ``image`` (when lighting is on)."""
        if self.cfg.lighting:
            angle = self.ramp_angle[t]
            shade = 1.0 + self.ramp_strength * (self.grid_x * math.cos(angle) + self.grid_y * math.sin(angle))
            image = image * (self.gain[t] * shade)[..., None]
        return image
