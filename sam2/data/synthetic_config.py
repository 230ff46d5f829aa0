"""Options and result types of the synthetic MOSE-style generator (:mod:`sam2.data.synthetic`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ObjectEvent", "SyntheticConfig", "SyntheticVideo"]


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
        photographic: fraction of videos rendered in the photographic mode
            (:mod:`sam2.data.photo_scene`: photographs as backgrounds and object textures,
            camera pan/zoom/shake, sweeping occluders, motion blur, JPEG artefacts); 0 keeps
            every video procedural (and bit-identical to a split written without this option).
        photo_split: which photographs the photographic videos use: ``"train"`` or ``"val"``
            (disjoint sets, :data:`sam2.data.photo_library.TRAIN_PHOTOS` / ``VAL_PHOTOS``).
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
    photographic: float = 0.0
    photo_split: str = "train"
    jpeg_quality: int = 90
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num_frames < 1 or self.num_videos < 0:
            raise ValueError(f"need num_frames >= 1 and num_videos >= 0, got {self.num_frames}, {self.num_videos}")
        if self.height < 16 or self.width < 16:
            raise ValueError(f"frames must be at least 16x16, got {self.height}x{self.width}")
        if not 1 <= self.min_objects <= self.max_objects <= 255:
            raise ValueError(f"need 1 <= min_objects <= max_objects <= 255, got {self.min_objects}, {self.max_objects}")
        if not 0.0 <= self.photographic <= 1.0:
            raise ValueError(f"photographic is a fraction of videos in [0, 1], got {self.photographic}")
        if self.photo_split not in ("train", "val"):
            raise ValueError(f"photo_split must be 'train' or 'val', got {self.photo_split!r}")


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
