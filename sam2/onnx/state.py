"""State of :class:`~sam2.onnx.tracker.OnnxVideoTracker`: frames, objects, their memory banks.

Everything is NumPy. The memory of one object is what the PyTorch predictor keeps in its
``MemoryBank``: per frame an :class:`Entry` (low-res mask logits, object pointer, object
score, IoUs, quality and, once encoded, the memory features), split into conditioning frames
(prompts, frames promoted by RCMS) and tracked frames.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from sam2.data.frame_files import DataFormatError, list_video_frames
from sam2.modeling.read_window import ReadWindow
from sam2.utils.constants import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["Entry", "ObjectState", "TrackerState", "FrameReader", "select_closest_cond_frames"]


@dataclass
class Entry:
    """One object's output on one frame (batch of 1).

    Attributes:
        pred_masks: ``[1, 1, S/4, S/4]`` float32 low-res logits as stored (holes filled).
        obj_ptr: ``[1, C]`` float32 object pointer.
        object_score_logits: ``[1, 1]`` float32 presence logit.
        ious: ``[1, M]`` float32 predicted IoUs of the candidates.
        quality: MQF quality (``-1``: no positive pixel).
        maskmem: ``[1, C_mem, S/16, S/16]`` float32 memory features (rounded to bfloat16
            when the model stores memories so), ``None`` until encoded.
    """

    pred_masks: np.ndarray
    obj_ptr: np.ndarray
    object_score_logits: np.ndarray
    ious: np.ndarray
    quality: float
    maskmem: Optional[np.ndarray] = None


@dataclass
class ObjectState:
    """Prompts and memory of one object."""

    obj_id: int
    point_inputs: Dict[int, Tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    mask_inputs: Dict[int, np.ndarray] = field(default_factory=dict)
    #: prompt outputs not encoded into memory yet, for conditioning / tracked frames
    pending_cond: Dict[int, Entry] = field(default_factory=dict)
    pending_non_cond: Dict[int, Entry] = field(default_factory=dict)
    cond: Dict[int, Entry] = field(default_factory=dict)
    non_cond: Dict[int, Entry] = field(default_factory=dict)
    #: per frame, the direction it was last tracked in (``True``: reverse)
    tracked: Dict[int, bool] = field(default_factory=dict)
    policy_state: Any = None

    def pending(self, is_cond: bool) -> Dict[int, Entry]:
        return self.pending_cond if is_cond else self.pending_non_cond

    def get(self, frame_idx: int) -> Optional[Entry]:
        """The stored entry of ``frame_idx`` (conditioning first), or ``None``."""
        out = self.cond.get(frame_idx)
        return out if out is not None else self.non_cond.get(frame_idx)

    def current_output(self, frame_idx: int, is_cond: bool) -> Optional[Entry]:
        """A pending prompt output of that kind, else what the memory holds, else ``None``."""
        out = self.pending(is_cond).get(frame_idx)
        return out if out is not None else self.get(frame_idx)

    def put(self, frame_idx: int, entry: Entry, is_cond: bool) -> None:
        if is_cond:
            self.cond[frame_idx] = entry
            self.non_cond.pop(frame_idx, None)
        else:
            self.non_cond[frame_idx] = entry

    def read_layout(self, window: ReadWindow, frame_idx: int, reverse: bool) -> Optional[tuple]:
        """Frames read when tracking ``frame_idx`` (objects with equal layouts run together),
        or ``None`` when one of them has no memory yet (the object then runs alone)."""
        near = tuple(sorted(t for t in self.non_cond if window.reads(frame_idx, reverse, t)))
        if any(self.get(t).maskmem is None for t in (*self.cond, *near)):
            return None
        return tuple(self.cond), near


def select_closest_cond_frames(frame_idx: int, cond: Dict[int, Any], max_num: int
                               ) -> Tuple[Dict[int, Any], Dict[int, Any]]:
    """Conditioning frames attended to from ``frame_idx`` and the others (the model's rule:
    all when ``max_num == -1`` or few enough; else the nearest before, the nearest at or
    after, then by temporal distance)."""
    if max_num == -1 or len(cond) <= max_num:
        return cond, {}
    before = [t for t in cond if t < frame_idx]
    after = [t for t in cond if t >= frame_idx]
    chosen = ([max(before)] if before else []) + ([min(after)] if after else [])
    others = sorted((t for t in cond if t not in chosen), key=lambda t: abs(t - frame_idx))
    chosen += others[: max_num - len(chosen)]
    selected = {t: cond[t] for t in chosen}
    return selected, {t: v for t, v in cond.items() if t not in selected}


class FrameReadError(RuntimeError):
    """A video frame could not be listed or decoded; the message names the frame."""


class FrameReader:
    """Frames of a JPEG/PNG folder, resized to ``S x S`` and normalised like the predictor's
    loader (Pillow ``resize`` with its default filter, ``/ 255`` in float64, ImageNet mean/std
    in float32). Returns ``[1, 3, S, S]`` float32."""

    def __init__(self, folder: Union[str, os.PathLike], image_size: int) -> None:
        from PIL import Image

        folder = Path(folder)
        if not folder.is_dir():
            raise FrameReadError(f"video folder {folder} does not exist or is not a folder")
        try:
            self.paths: List[Path] = list_video_frames(folder)
        except DataFormatError as err:
            raise FrameReadError(str(err)) from err
        sizes = set()
        for path in self.paths:
            with Image.open(path) as img:
                sizes.add(img.size)
        if len(sizes) != 1:
            raise FrameReadError(f"frames of {folder} do not all have the same size: {sorted(sizes)}")
        self.video_width, self.video_height = sizes.pop()
        self.image_size = int(image_size)
        self.mean = np.asarray(IMAGENET_MEAN, dtype=np.float32).reshape(3, 1, 1)
        self.std = np.asarray(IMAGENET_STD, dtype=np.float32).reshape(3, 1, 1)

    def __len__(self) -> int:
        return len(self.paths)

    def get(self, index: int) -> np.ndarray:
        from PIL import Image

        path = self.paths[index]
        try:
            with Image.open(path) as img:
                img.load()
                rgb = np.array(img.convert("RGB").resize((self.image_size, self.image_size)))
        except (OSError, SyntaxError, ValueError) as err:
            raise FrameReadError(f"cannot decode frame {index} ({path}): {err}") from err
        chw = (rgb.astype(np.float64) / 255.0).astype(np.float32).transpose(2, 0, 1)
        return ((chw - self.mean) / self.std)[None].astype(np.float32)


@dataclass
class TrackerState:
    """Per-video state returned by ``OnnxVideoTracker.init_state``."""

    frames: FrameReader
    num_frames: int
    video_height: int
    video_width: int
    window: ReadWindow
    objects: "OrderedDict[int, ObjectState]" = field(default_factory=OrderedDict)
    #: frame index -> (vision_feat, feat_s0, feat_s1) of the last frames encoded
    features: "OrderedDict[int, Tuple[np.ndarray, np.ndarray, np.ndarray]]" = field(default_factory=OrderedDict)
    propagating: bool = False

    @property
    def obj_ids(self) -> List[int]:
        return list(self.objects)

    def check_frame(self, frame_idx: int) -> int:
        idx = int(frame_idx)
        if idx != frame_idx or not 0 <= idx < self.num_frames:
            raise IndexError(f"frame_idx {frame_idx!r} is out of range for a video of {self.num_frames} frames")
        return idx

    def has_pending_cond(self, frame_idx: int) -> bool:
        return any(frame_idx in o.pending_cond for o in self.objects.values())
