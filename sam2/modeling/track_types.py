"""Typed records exchanged between the SAM2 model and its callers (video predictor, trainer).

These replace the nested string-keyed dicts of the official implementation:

* :class:`PointInputs` - the clicks / box corners of one prompt, already in model-input pixels.
* :class:`FrameOutput` - what the model produced for one frame of one track (a batch of ``B``
  objects tracked together) and what later frames may read back as memory.
* :class:`TrackMemory` - the conditioning and non-conditioning frame outputs of a track, keyed
  by frame index. ``SAM2Base.track_step`` reads memory from it; the caller owns and fills it.
  The video package wraps it with eviction and the memory-selection policy (RCMS).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import torch


@dataclass
class PointInputs:
    """Point prompts for a batch of ``B`` objects.

    Attributes:
        coords: ``[B, N, 2]`` float32, (x, y) in the model's input resolution (``image_size``).
        labels: ``[B, N]`` int32; 1 positive, 0 negative, 2/3 box top-left/bottom-right, -1 padding.
    """

    coords: torch.Tensor
    labels: torch.Tensor

    def to(self, device: torch.device | str) -> "PointInputs":
        return PointInputs(self.coords.to(device), self.labels.to(device))


@dataclass
class MaskCandidates:
    """Every mask the decoder proposed for one frame of ``B`` objects, before one is chosen.

    Attributes:
        low_res_masks: ``[B, M, H/4, W/4]`` float32 logits of the ``M`` candidates (M = 3 with
            multimask output, else 1), after the "no object" overwrite.
        ious: ``[B, M]`` float32 predicted IoUs.
        object_score_logits: ``[B, 1]`` float32 presence logit (shared by the candidates).
        tokens: ``[B, M, C]`` decoder output tokens of the candidates (the object pointer of a
            candidate is computed from its token), or ``None`` when there is one candidate.
        chosen: ``[B]`` int64 index of the candidate the decoder picked (highest IoU).
    """

    low_res_masks: torch.Tensor
    ious: torch.Tensor
    object_score_logits: torch.Tensor
    tokens: Optional[torch.Tensor]
    chosen: torch.Tensor

    @property
    def num_candidates(self) -> int:
        return int(self.low_res_masks.shape[1])

    def row(self, b: int) -> "MaskCandidates":
        """The candidates of object ``b`` alone (batch of 1, views)."""
        one = slice(b, b + 1)
        return MaskCandidates(
            low_res_masks=self.low_res_masks[one], ious=self.ious[one],
            object_score_logits=self.object_score_logits[one],
            tokens=None if self.tokens is None else self.tokens[one], chosen=self.chosen[one],
        )


@dataclass
class FrameOutput:
    """The model's output for one frame of one track of ``B`` objects.

    Attributes:
        pred_masks: ``[B, 1, H/4, W/4]`` float32 low-resolution mask logits (``H = W =
            image_size``), after the "no object" overwrite.
        obj_ptr: ``[B, C]`` float32 object pointer (``C`` = hidden dim, 256 for SAM2.1).
        object_score_logits: ``[B, 1]`` float32 presence logit (> 0: object present).
        pred_masks_high_res: ``[B, 1, H, W]`` float32 logits at input resolution (transient;
            callers usually drop it before storing the output as memory).
        maskmem_features: ``[B, C_mem, H/16, W/16]`` memory features (bfloat16 by default in
            the video predictor, float32 in training), or ``None`` if not encoded yet.
        maskmem_pos_enc: list with one ``[B, C_mem, H/16, W/16]`` positional encoding, or ``None``.
        ious: ``[B, M]`` float32 predicted IoUs of the ``M`` candidate masks (M = 1 or 3).
        point_inputs: the point prompts used on this frame, if any.
        mask_inputs: ``[B, 1, H, W]`` float/bool mask prompt used on this frame, if any.
        quality: ``[B]`` float32 memory-quality score (MQF), filled by the video predictor; NaN
            never appears: frames without a positive pixel carry ``-1``.
        candidates: all decoder candidates of this frame (:class:`MaskCandidates`), set by
            ``SAM2Base.track_step``; the video predictor shows them to the memory policy and
            does not keep them in memory.
        extras: free-form per-frame tensors for training (multi-step predictions, ...).
    """

    pred_masks: torch.Tensor
    obj_ptr: torch.Tensor
    object_score_logits: torch.Tensor
    pred_masks_high_res: Optional[torch.Tensor] = None
    maskmem_features: Optional[torch.Tensor] = None
    maskmem_pos_enc: Optional[List[torch.Tensor]] = None
    ious: Optional[torch.Tensor] = None
    point_inputs: Optional[PointInputs] = None
    mask_inputs: Optional[torch.Tensor] = None
    quality: Optional[torch.Tensor] = None
    candidates: Optional[MaskCandidates] = None
    extras: Dict[str, object] = field(default_factory=dict)


@dataclass
class TrackMemory:
    """Frame outputs of one track, split into conditioning and non-conditioning frames.

    ``cond`` holds prompted frames (and frames promoted by a memory-selection policy such as
    RCMS); they enter memory attention at temporal position 0. ``non_cond`` holds tracked
    frames; the most recent ``num_maskmem - 1`` of them (times the temporal stride) are read.
    """

    cond: Dict[int, FrameOutput] = field(default_factory=dict)
    non_cond: Dict[int, FrameOutput] = field(default_factory=dict)
    #: tracked frames stored under several memory hypotheses (``sam2.video.memory.hypotheses``): per
    #: frame, the outputs of its surviving hypotheses (variant 0 is ``non_cond[frame]``)
    variants: Dict[int, List[FrameOutput]] = field(default_factory=dict)

    def get(self, frame_idx: int) -> Optional[FrameOutput]:
        """The output stored for ``frame_idx`` (conditioning first), or ``None``."""
        out = self.cond.get(frame_idx)
        return out if out is not None else self.non_cond.get(frame_idx)
