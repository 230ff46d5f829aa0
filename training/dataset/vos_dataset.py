"""``VOSDataset``: turns (video, sampler, transforms) into training clips, replacing bad samples.

Each item is produced by its own ``random.Random`` seeded from (dataset seed, epoch, index), so
a clip is the same whatever the worker count and after a resume. A clip whose frame or
annotation cannot be read is replaced by another video (drawn from the same generator) with a
warning naming the file; the failures travel with the clip (``failed_files``) so the trainer can
count them and stop the run when they exceed its threshold.
"""
from __future__ import annotations

import logging
import random
from typing import Callable, List, Optional

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from training.dataset.transforms import Clip, ComposeAPI
from training.dataset.vos_raw_dataset import PNGRawDataset, RawVideo
from training.dataset.vos_sampler import NoVisibleObjectError
from training.utils.data_utils import VideoDatapoint

log = logging.getLogger(__name__)


class SampleReadError(RuntimeError):
    """A sample could not be built; ``path`` names the file (or video folder) at fault."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path


class VOSDataset(Dataset):
    """Training clips from a :class:`PNGRawDataset`.

    Args:
        transforms: a callable ``(Clip, rng) -> Clip`` (usually :class:`ComposeAPI`), or a list
            of them applied in order.
        training: must be true (evaluation goes through the video predictor).
        video_dataset: the raw video list.
        sampler: ``RandomUniformSampler`` / ``RandomGapSampler``.
        multiplier: each video appears ``multiplier`` times per epoch.
        seed: base seed of the per-item generators.
        max_replacements: bad samples tolerated in a row for one item before giving up.
    """

    def __init__(
        self,
        transforms,
        training: bool,
        video_dataset: PNGRawDataset,
        sampler,
        multiplier: float = 1,
        always_target: bool = True,
        target_segments_available: bool = True,
        seed: int = 0,
        max_replacements: int = 20,
    ) -> None:
        if not training:
            raise ValueError("VOSDataset is for training only (training: true)")
        if isinstance(transforms, (list, tuple)):
            transforms = ComposeAPI(list(transforms))
        self.transforms: Callable[[Clip, random.Random], Clip] = transforms
        self.video_dataset = video_dataset
        self.sampler = sampler
        self.multiplier = float(multiplier)
        if self.multiplier <= 0:
            raise ValueError(f"dataset.multiplier must be positive, got {multiplier}")
        self.seed = int(seed)
        self.max_replacements = int(max_replacements)
        self.epoch = 0
        num_frames = int(getattr(sampler, "num_frames", 1))
        dropped = video_dataset.drop_shorter_than(num_frames)
        if dropped:
            log.info("%d videos shorter than the clip length (%d frames) are left out", dropped, num_frames)
        if len(video_dataset) == 0:
            raise ValueError(
                f"no video of {video_dataset.img_folder} has at least {num_frames} frames "
                "(scratch.num_frames); nothing to train on"
            )

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return max(1, int(round(len(self.video_dataset) * self.multiplier)))

    def _rng(self, idx: int, attempt: int) -> random.Random:
        return random.Random(f"vos/{self.seed}/{self.epoch}/{idx}/{attempt}")

    def __getitem__(self, idx: int) -> VideoDatapoint:
        n_videos = len(self.video_dataset)
        video_idx = idx % n_videos
        failed: List[str] = []
        for attempt in range(self.max_replacements + 1):
            rng = self._rng(idx, attempt)
            video = self.video_dataset.get_video(video_idx)
            try:
                point = self._build(video, rng)
            except SampleReadError as err:
                log.warning("bad training sample, replaced by another video: %s", err)
                failed.append(err.path)
                video_idx = rng.randrange(n_videos)
                continue
            point.attempts = attempt + 1
            point.failed_files = failed
            return point
        raise RuntimeError(
            f"{len(failed)} consecutive bad samples while building item {idx}; files: {failed}"
        )

    def _build(self, video: RawVideo, rng: random.Random) -> VideoDatapoint:
        raw = self.video_dataset

        def read_ids(pos: int) -> np.ndarray:
            try:
                return raw.read_ids(video, pos)
            except (OSError, ValueError) as exc:
                raise SampleReadError(raw.annotation_path(video, pos), f"cannot read annotation ({exc})") from exc

        try:
            clip_spec = self.sampler.sample(video, read_ids, rng)
        except NoVisibleObjectError as exc:
            raise SampleReadError(f"{raw.img_folder}/{video.name}", str(exc)) from exc
        frames, masks = [], []
        for pos in clip_spec.frame_positions:
            try:
                rgb = raw.read_frame(video, pos)
            except (OSError, ValueError) as exc:
                raise SampleReadError(raw.frame_path(video, pos), f"cannot read frame ({exc})") from exc
            ids = read_ids(pos)
            if ids.shape != rgb.shape[:2]:
                raise SampleReadError(raw.annotation_path(video, pos), f"size {ids.shape} differs from frame {rgb.shape[:2]}")
            frames.append(Image.fromarray(rgb))
            obj = torch.from_numpy(np.stack([ids == o for o in clip_spec.object_ids]))
            masks.append(obj)
        clip = self.transforms(Clip(frames, masks), rng)
        bad = [f for f in clip.frames if not isinstance(f, torch.Tensor)]
        if bad:
            raise TypeError("the transforms must end with ToTensorAPI (and NormalizeAPI)")
        return VideoDatapoint(
            frames=torch.stack(clip.frames).float(),
            masks=torch.stack(clip.masks).bool(),
            object_ids=list(clip_spec.object_ids),
            frame_indices=list(clip_spec.frame_positions),
            video_name=video.name,
        )
