"""Clip samplers: which frames of a video form a training clip and which objects it follows.

A sampler gets the video, a callable returning the object-id map of a frame position, and the
clip's ``random.Random``; it returns a :class:`SampledClip`.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, List, Sequence

import numpy as np

from training.dataset.vos_raw_dataset import RawVideo

IdReader = Callable[[int], np.ndarray]  # frame position -> [H, W] object ids


@dataclass
class SampledClip:
    """Frame positions of the clip (in order) and the object ids to supervise."""

    frame_positions: List[int]
    object_ids: List[int]


class ClipTooShortError(ValueError):
    """The video has fewer frames than the clip length."""


class NoVisibleObjectError(ValueError):
    """No start frame with a visible object was found."""


def _visible_ids(ids: np.ndarray) -> List[int]:
    return [int(v) for v in np.unique(ids) if v != 0]


def _pick_objects(visible: List[int], max_num_objects: int, rng: random.Random) -> List[int]:
    return sorted(rng.sample(visible, min(len(visible), max_num_objects)))


class RandomUniformSampler:
    """``num_frames`` consecutive frames from a random start whose first frame shows an object.

    Args:
        num_frames: clip length.
        max_num_objects: at most this many of the first frame's visible objects.
        reverse_time_prob: probability of playing the clip backwards.
        max_retries: start positions tried before giving up.
    """

    def __init__(
        self,
        num_frames: int,
        max_num_objects: int,
        reverse_time_prob: float = 0.0,
        max_retries: int = 100,
    ) -> None:
        self.num_frames = int(num_frames)
        self.max_num_objects = int(max_num_objects)
        self.reverse_time_prob = float(reverse_time_prob)
        self.max_retries = int(max_retries)

    def sample(self, video: RawVideo, read_ids: IdReader, rng: random.Random) -> SampledClip:
        n = len(video)
        if n < self.num_frames:
            raise ClipTooShortError(f"video {video.name!r} has {n} frames, fewer than the clip length {self.num_frames}")
        for _ in range(self.max_retries):
            start = rng.randint(0, n - self.num_frames)
            positions = list(range(start, start + self.num_frames))
            if rng.random() < self.reverse_time_prob:
                positions.reverse()
            visible = _visible_ids(read_ids(positions[0]))
            if visible:
                return SampledClip(positions, _pick_objects(visible, self.max_num_objects, rng))
        raise NoVisibleObjectError(f"video {video.name!r}: no visible object on {self.max_retries} sampled start frames")


class RandomGapSampler:
    """Frames from a random start, separated by random gaps drawn from ``gaps``.

    When the gaps run past the end of the video, the clip is completed with consecutive
    frames; a start that cannot yield ``num_frames`` frames is redrawn. With
    ``ensure_first_frame_visible`` the first frame must show an object.

    Args:
        num_frames: clip length.
        max_num_objects: at most this many of the first frame's visible objects.
        gaps: candidate steps between sampled frames (default ``(1, 2, 3)``).
        ensure_first_frame_visible: redraw starts whose frame shows no object.
        max_retries: redraws before giving up.
    """

    def __init__(
        self,
        num_frames: int,
        max_num_objects: int,
        gaps: Sequence[int] = (1, 2, 3),
        ensure_first_frame_visible: bool = True,
        max_retries: int = 1000,
    ) -> None:
        if not gaps or any(int(g) < 1 for g in gaps):
            raise ValueError(f"RandomGapSampler: gaps must be positive integers, got {list(gaps)}")
        self.num_frames = int(num_frames)
        self.max_num_objects = int(max_num_objects)
        self.gaps = [int(g) for g in gaps]
        self.ensure_first_frame_visible = ensure_first_frame_visible
        self.max_retries = int(max_retries)

    def _positions(self, start: int, n: int, rng: random.Random) -> List[int]:
        out = [start]
        while len(out) < self.num_frames:
            nxt = out[-1] + rng.choice(self.gaps)
            if nxt >= n:
                break
            out.append(nxt)
        # past the end: fill the remainder with the frames following the last sampled one
        while len(out) < self.num_frames and out[-1] + 1 < n:
            out.append(out[-1] + 1)
        return out

    def sample(self, video: RawVideo, read_ids: IdReader, rng: random.Random) -> SampledClip:
        n = len(video)
        if n < self.num_frames:
            raise ClipTooShortError(
                f"video {video.name!r} has {n} frames, fewer than the clip length {self.num_frames} "
                "(videos this short are filtered out at start; is the sampler's num_frames the dataset's?)"
            )
        for _ in range(self.max_retries):
            positions = self._positions(rng.randint(0, n - 1), n, rng)
            if len(positions) < self.num_frames:
                continue
            visible = _visible_ids(read_ids(positions[0]))
            if self.ensure_first_frame_visible and not visible:
                continue
            if not visible:
                visible = sorted({i for p in positions for i in _visible_ids(read_ids(p))}) or [1]
            return SampledClip(positions, _pick_objects(visible, self.max_num_objects, rng))
        raise NoVisibleObjectError(
            f"video {video.name!r}: no valid clip start found in {self.max_retries} tries "
            "(no frame with a visible object far enough from the end)"
        )
