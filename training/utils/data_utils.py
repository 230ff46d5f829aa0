"""Clip and batch records passed from the dataset to the model, and the collate function."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Sequence

import torch


@dataclass
class VideoDatapoint:
    """One training clip of ``T`` frames and ``O`` objects after transforms.

    Attributes:
        frames: ``[T, 3, H, W]`` float32 normalised images.
        masks: ``[T, O, H, W]`` bool object masks.
        object_ids: the ``O`` object ids (palette values) in mask order.
        frame_indices: the ``T`` frame positions sampled from the video.
        video_name: folder name of the video.
        attempts: number of videos tried to produce this clip (1 when nothing failed).
        failed_files: files that could not be read on the way (each replaced by another sample).
    """

    frames: torch.Tensor
    masks: torch.Tensor
    object_ids: List[int]
    frame_indices: List[int]
    video_name: str
    attempts: int = 1
    failed_files: List[str] = field(default_factory=list)


@dataclass
class BatchedVideoDatapoint:
    """A batch of ``B`` clips of ``T`` frames with ``O`` objects in total.

    Attributes:
        img_batch: ``[T, B, 3, H, W]`` float32 images.
        obj_to_frame_idx: ``[T, O, 2]`` int32; ``[..., 0]`` frame index ``t``, ``[..., 1]`` the
            clip ``b`` the object belongs to.
        masks: ``[T, O, H, W]`` bool ground-truth masks.
        object_ids: ``O`` (clip index, object id) pairs.
        video_names: ``B`` video names.
        dict_key: name of the data source (``"all"``).
        attempts: videos tried to build the batch; ``failed_files``: files that failed.
    """

    img_batch: torch.Tensor
    obj_to_frame_idx: torch.Tensor
    masks: torch.Tensor
    object_ids: List[tuple]
    video_names: List[str]
    dict_key: str = "all"
    attempts: int = 0
    failed_files: List[str] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return int(self.img_batch.shape[0])

    @property
    def num_videos(self) -> int:
        return int(self.img_batch.shape[1])

    @property
    def flat_img_batch(self) -> torch.Tensor:
        """``[B * T, 3, H, W]``, clip-major (index ``b * T + t``)."""
        return self.img_batch.transpose(0, 1).flatten(0, 1)

    @property
    def flat_obj_to_img_idx(self) -> torch.Tensor:
        """``[T, O]`` index of each object's image in :attr:`flat_img_batch`."""
        t = self.obj_to_frame_idx[..., 0]
        b = self.obj_to_frame_idx[..., 1]
        return (b * self.num_frames + t).long()

    def to(self, device: torch.device, non_blocking: bool = False) -> "BatchedVideoDatapoint":
        return BatchedVideoDatapoint(
            img_batch=self.img_batch.to(device, non_blocking=non_blocking),
            obj_to_frame_idx=self.obj_to_frame_idx.to(device, non_blocking=non_blocking),
            masks=self.masks.to(device, non_blocking=non_blocking),
            object_ids=self.object_ids,
            video_names=self.video_names,
            dict_key=self.dict_key,
            attempts=self.attempts,
            failed_files=self.failed_files,
        )

    def pin_memory(self) -> "BatchedVideoDatapoint":
        self.img_batch = self.img_batch.pin_memory()
        self.masks = self.masks.pin_memory()
        self.obj_to_frame_idx = self.obj_to_frame_idx.pin_memory()
        return self


def collate_fn(batch: Sequence[VideoDatapoint], dict_key: str = "all") -> BatchedVideoDatapoint:
    """Stack clips of equal length and resolution into a :class:`BatchedVideoDatapoint`."""
    if not batch:
        raise ValueError("collate_fn got an empty batch")
    num_frames = {int(d.frames.shape[0]) for d in batch}
    if len(num_frames) != 1:
        raise ValueError(f"clips of different lengths in one batch: {sorted(num_frames)}")
    T = num_frames.pop()
    img = torch.stack([d.frames for d in batch], dim=1)  # [T, B, 3, H, W]
    masks, index, ids = [], [], []
    for b, d in enumerate(batch):
        masks.append(d.masks)
        n = d.masks.shape[1]
        t_idx = torch.arange(T, dtype=torch.int32)[:, None].expand(T, n)
        b_idx = torch.full((T, n), b, dtype=torch.int32)
        index.append(torch.stack([t_idx, b_idx], dim=-1))
        ids.extend((b, int(o)) for o in d.object_ids)
    return BatchedVideoDatapoint(
        img_batch=img,
        obj_to_frame_idx=torch.cat(index, dim=1),
        masks=torch.cat(masks, dim=1),
        object_ids=ids,
        video_names=[d.video_name for d in batch],
        dict_key=dict_key,
        attempts=sum(d.attempts for d in batch),
        failed_files=[f for d in batch for f in d.failed_files],
    )
