"""Typed per-video inference state of :class:`~sam2.sam2_video_predictor.SAM2VideoPredictor`.

``init_state`` returns an :class:`InferenceState`; every other predictor method takes it.
It holds:

* the lazy :class:`~sam2.video.sources.frame_source.FrameSource` and the video geometry,
* one :class:`ObjectTrack` per object id (in the order objects were added): its prompts,
  its pending (not yet encoded) prompt outputs, its :class:`~sam2.video.memory.memory_bank.MemoryBank`,
  which frames were tracked in which direction, and its memory-selection policy state,
* a bounded cache of image features (:class:`FeatureCache`),
* values shared by all frames (the memory positional encoding).

For scripts written against the official dict state, a few read-only keys are available
with ``state["num_frames"]``, ``state["video_height"]``, ``state["video_width"]``,
``state["obj_ids"]``, ``state["device"]``.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import torch

from sam2.modeling.track_types import FrameOutput, PointInputs
from sam2.utils.prompt_checks import check_frame_index
from sam2.video.sources.frame_source import FrameSource
from sam2.video.memory.memory_bank import MemoryBank
from sam2.video.policies import MemoryPolicy


@dataclass
class FrameFeatures:
    """Backbone features of one frame, prepared for ``track_step`` (batch of 1).

    Attributes:
        image: ``[1, 3, S, S]`` float32 normalised frame.
        vision_feats: per level ``[H_l*W_l, 1, C_l]`` flattened features.
        vision_pos_embeds: per level ``[H_l*W_l, 1, C_l]`` positional encodings.
        feat_sizes: per level ``(H_l, W_l)``.
    """

    image: torch.Tensor
    vision_feats: List[torch.Tensor]
    vision_pos_embeds: List[torch.Tensor]
    feat_sizes: List[Tuple[int, int]]


class FeatureCache:
    """Least-recently-used cache of :class:`FrameFeatures` with a fixed capacity."""

    def __init__(self, capacity: int = 1) -> None:
        if capacity < 1:
            raise ValueError(f"feature cache capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._items: "OrderedDict[int, FrameFeatures]" = OrderedDict()

    def get(self, frame_idx: int) -> Optional[FrameFeatures]:
        item = self._items.get(frame_idx)
        if item is not None:
            self._items.move_to_end(frame_idx)
        return item

    def put(self, frame_idx: int, item: FrameFeatures) -> None:
        self._items[frame_idx] = item
        self._items.move_to_end(frame_idx)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class PendingOutputs:
    """Outputs of ``add_new_*`` calls not yet merged into memory (no memory features yet)."""

    cond: Dict[int, FrameOutput] = field(default_factory=dict)
    non_cond: Dict[int, FrameOutput] = field(default_factory=dict)

    def store(self, is_cond: bool) -> Dict[int, FrameOutput]:
        return self.cond if is_cond else self.non_cond

    def discard(self, frame_idx: int) -> None:
        """Forget the pending outputs of ``frame_idx`` (both kinds)."""
        self.cond.pop(frame_idx, None)
        self.non_cond.pop(frame_idx, None)

    def clear(self) -> None:
        self.cond.clear()
        self.non_cond.clear()


@dataclass
class ObjectTrack:
    """Everything the predictor knows about one object of one video.

    Attributes:
        obj_id: the client-side object id.
        point_inputs: per frame, the accumulated clicks / box (model-input pixels).
        mask_inputs: per frame, ``[1, 1, S, S]`` float32 binary mask prompt.
        pending: prompt outputs awaiting memory encoding (merged by the preflight).
        bank: the object's memory (conditioning and tracked frames).
        tracked: per frame, the direction it was last tracked in (``True``: reverse).
        policy_state: the memory-selection policy's per-object state.
    """

    obj_id: int
    bank: MemoryBank
    policy_state: Any = None
    point_inputs: Dict[int, PointInputs] = field(default_factory=dict)
    mask_inputs: Dict[int, torch.Tensor] = field(default_factory=dict)
    pending: PendingOutputs = field(default_factory=PendingOutputs)
    tracked: Dict[int, bool] = field(default_factory=dict)

    def prompted_frames(self) -> List[int]:
        return sorted(set(self.point_inputs) | set(self.mask_inputs))

    def current_output(self, frame_idx: int, is_cond: bool) -> Optional[FrameOutput]:
        """The latest output of ``frame_idx``: a pending prompt output of that kind
        (``is_cond``), else what the memory holds, else ``None``."""
        out = self.pending.store(is_cond).get(frame_idx)
        return out if out is not None else self.bank.get(frame_idx)


@dataclass
class InferenceState:
    """The state of one video in the predictor (see the module docstring)."""

    frames: FrameSource
    #: video length (``None`` for a stream whose length is not known yet)
    num_frames: Optional[int]
    video_height: int
    video_width: int
    device: torch.device
    storage_device: torch.device
    offload_video_to_cpu: bool
    offload_state_to_cpu: bool
    #: what eviction does with memory behind the read window: "offload", "drop" or "off"
    memory_eviction: str
    memory_dtype: torch.dtype
    #: the predictor's memory policy when the state was opened (its per-object state lives
    #: in each track)
    policy: Optional[MemoryPolicy] = None
    features: FeatureCache = field(default_factory=FeatureCache)
    tracks: "OrderedDict[int, ObjectTrack]" = field(default_factory=OrderedDict)
    #: memory positional encoding ``[1, C_mem, h, w]`` (identical for every frame)
    maskmem_pos_enc: Optional[List[torch.Tensor]] = None
    #: set while a ``propagate_in_video`` generator is running
    propagating: bool = False
    #: frames of the last ``propagate_in_video`` call, in processing order
    last_propagation: List[int] = field(default_factory=list)

    # -- object bookkeeping -------------------------------------------------------------
    @property
    def obj_ids(self) -> List[int]:
        return list(self.tracks)

    def track(self, obj_id: int) -> ObjectTrack:
        """The track of ``obj_id``; a clear error when the id is unknown."""
        try:
            return self.tracks[obj_id]
        except KeyError:
            raise UnknownObjectError(
                f"unknown object id {obj_id!r}; objects in this video: {self.obj_ids}"
            ) from None

    def check_frame(self, frame_idx: int) -> int:
        """Validate a frame index against the video length (:func:`sam2.utils.prompt_checks.check_frame_index`)."""
        return check_frame_index(frame_idx, self.num_frames)

    def has_pending_cond(self, frame_idx: int) -> bool:
        """Whether any object has a new (not yet propagated) prompt on ``frame_idx``."""
        return any(frame_idx in t.pending.cond for t in self.tracks.values())

    def policy_records(self) -> Dict[int, List[dict]]:
        """Per object id, what the memory policy decided (``MemoryPolicy.records``): for RCMS
        the trigger frame, promoted frames and their qualities; nothing for plain SAM2.1."""
        if self.policy is None:
            return {obj_id: [] for obj_id in self.tracks}
        return {obj_id: self.policy.records(t.policy_state) for obj_id, t in self.tracks.items()}

    def best_hypothesis_masks(self) -> Dict[int, Dict[int, torch.Tensor]]:
        """Per object id, per frame, the ``[1, 1, h, w]`` low-res logits (host) of its best
        memory hypothesis's history (SAM2Long's best pathway; empty without hypotheses)."""
        return {obj_id: t.bank.hypotheses.history() for obj_id, t in self.tracks.items()}

    # -- compatibility with the official dict state (read-only) -------------------------
    _DICT_KEYS = ("num_frames", "video_height", "video_width", "obj_ids", "device",
                  "storage_device", "offload_video_to_cpu", "offload_state_to_cpu")

    def __getitem__(self, key: str) -> Any:
        if key in self._DICT_KEYS:
            return getattr(self, key)
        raise KeyError(
            f"{key!r}: the inference state is a typed object (sam2.video.tracking.state.InferenceState); "
            f"dict-style access only supports {', '.join(self._DICT_KEYS)}"
        )

    def __contains__(self, key: object) -> bool:
        return key in self._DICT_KEYS

    def get(self, key: str, default: Any = None) -> Any:
        """``state.get(key, default)`` for the official dict keys listed in ``_DICT_KEYS``."""
        return getattr(self, key) if key in self._DICT_KEYS else default


class UnknownObjectError(KeyError, RuntimeError):
    """An object id the video has no track for. A ``KeyError`` (a missing key of the state) and,
    like the official predictor's error for the same case, a ``RuntimeError``."""

    def __str__(self) -> str:  # the plain message, not KeyError's quoted repr
        return str(self.args[0]) if self.args else ""
