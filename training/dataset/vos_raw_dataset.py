"""The list of training videos of a split, read through the shared MOSEv2 layout reader."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from sam2.data.mose_layout import MoseSplit

log = logging.getLogger(__name__)


@dataclass
class RawVideo:
    """One video: its name and its frame stems in temporal order."""

    name: str
    frame_names: List[str]

    def __len__(self) -> int:
        return len(self.frame_names)


class PNGRawDataset:
    """Videos of a MOSEv2 / DAVIS-layout split with palette PNG annotations on every frame.

    Args:
        img_folder: ``<split>/JPEGImages``.
        gt_folder: ``<split>/Annotations``.
        file_list_txt: optional file with one video name per line (``null`` = all videos).
        sample_rate: keep every ``sample_rate``-th frame.
        truncate_video: keep at most this many frames per video (-1: all).

    Raises:
        FileNotFoundError: naming the folder or list file that does not exist.
    """

    def __init__(
        self,
        img_folder: str,
        gt_folder: str,
        file_list_txt: Optional[str] = None,
        sample_rate: int = 1,
        truncate_video: int = -1,
    ) -> None:
        for label, path in (("img_folder", img_folder), ("gt_folder", gt_folder)):
            if path is None or not os.path.isdir(path):
                raise FileNotFoundError(f"dataset.{label}: folder not found: {path}")
        if file_list_txt is not None and not os.path.isfile(file_list_txt):
            raise FileNotFoundError(f"dataset.file_list_txt: file not found: {file_list_txt}")
        self.img_folder = img_folder
        self.gt_folder = gt_folder
        self.split = MoseSplit.from_dirs(img_folder, gt_folder, video_list_file=file_list_txt)
        self.sample_rate = max(1, int(sample_rate))
        self.truncate_video = int(truncate_video)
        self.videos: List[RawVideo] = []
        for name in self.split.videos():
            if not os.path.isdir(os.path.join(img_folder, name)):
                raise FileNotFoundError(f"video {name!r} listed but {os.path.join(img_folder, name)} does not exist")
            names = self.split.frames(name)[:: self.sample_rate]
            if self.truncate_video > 0:
                names = names[: self.truncate_video]
            self.videos.append(RawVideo(name, names))
        if not self.videos:
            raise ValueError(f"no videos found in {img_folder}")

    def __len__(self) -> int:
        return len(self.videos)

    def get_video(self, idx: int) -> RawVideo:
        return self.videos[idx]

    def drop_shorter_than(self, num_frames: int) -> int:
        """Remove videos with fewer than ``num_frames`` frames; returns how many were removed."""
        before = len(self.videos)
        self.videos = [v for v in self.videos if len(v) >= num_frames]
        return before - len(self.videos)

    def frame_path(self, video: RawVideo, pos: int) -> str:
        return str(self.split.frame_path(video.name, video.frame_names[pos]))

    def annotation_path(self, video: RawVideo, pos: int) -> str:
        return str(self.split.annotation_path(video.name, video.frame_names[pos]))

    def read_frame(self, video: RawVideo, pos: int) -> np.ndarray:
        """``[H, W, 3]`` uint8 RGB of frame position ``pos`` (errors name the file)."""
        return self.split.read_frame(video.name, video.frame_names[pos])

    def read_ids(self, video: RawVideo, pos: int) -> np.ndarray:
        """``[H, W]`` uint8 object ids of frame position ``pos`` (errors name the PNG)."""
        return self.split.read_annotation(video.name, video.frame_names[pos])
