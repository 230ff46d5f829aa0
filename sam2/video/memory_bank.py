"""Per-object memory of the video predictor, with eviction of what no later frame can read.

The model (``SAM2Base.track_step``) reads an object's memory from a
:class:`~sam2.modeling.track_types.TrackMemory`: every conditioning frame, the last
``num_maskmem - 1`` tracked frames (times the temporal stride) for spatial memory, and the
object pointers of up to ``max_obj_ptrs_in_encoder - 1`` previous tracked frames. A
:class:`MemoryBank` owns that ``TrackMemory`` and drops non-conditioning entries that fall
behind this read window (:class:`ReadWindow`), so the memory of a long video stays
bounded. Entries are kept when

* they are conditioning frames (prompts, frames promoted by a policy such as RCMS),
* they lie within the read window of the frame just tracked (on the side it came from),
* they lie within the read window of any conditioning frame (a later propagation in the
  other direction starts next to a prompt and reads them), or
* the memory-selection policy asks to keep them (RCMS keeps its promotion candidates).

With these rules dropping an entry never changes a later result of a propagation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional

import torch

from sam2.modeling.track_types import FrameOutput, TrackMemory


@dataclass(frozen=True)
class ReadWindow:
    """How far back (in frames) tracking a frame can read another frame's memory.

    Attributes:
        reach: a frame ``t`` tracked forward reads non-conditioning memory of frames in
            ``[t - reach, t - 1]`` only (mirrored for reverse tracking).
    """

    reach: int

    @staticmethod
    def for_model(
        num_maskmem: int,
        memory_temporal_stride: int,
        use_obj_ptrs_in_encoder: bool,
        max_obj_ptrs_in_encoder: int,
        num_frames: Optional[int] = None,
    ) -> "ReadWindow":
        """The window of a SAM2 model.

        Spatial memories reach back ``(num_maskmem - 1) * stride`` frames at most; object
        pointers ``min(num_frames, max_obj_ptrs_in_encoder) - 1`` frames. One extra frame of
        margin is kept on each.
        """
        mask_reach = max(num_maskmem - 1, 0) * max(int(memory_temporal_stride), 1) + 1
        ptr_reach = 0
        if use_obj_ptrs_in_encoder:
            limit = max_obj_ptrs_in_encoder
            if num_frames is not None:
                limit = min(limit, num_frames)
            ptr_reach = max(limit, 0)
        return ReadWindow(reach=max(mask_reach, ptr_reach))


class MemoryBank:
    """The memory of one object: conditioning and non-conditioning frame outputs.

    Args:
        window: the model's read window, used by :meth:`evict`.
        evict: when ``False`` nothing is ever dropped (the official behaviour).
    """

    def __init__(self, window: ReadWindow, evict: bool = True) -> None:
        self.window = window
        self.evict_enabled = evict
        self.memory = TrackMemory()
        #: frames dropped so far (for tests and diagnostics)
        self.num_evicted = 0

    # -- views ----------------------------------------------------------------------
    @property
    def cond(self) -> Dict[int, FrameOutput]:
        return self.memory.cond

    @property
    def non_cond(self) -> Dict[int, FrameOutput]:
        return self.memory.non_cond

    def get(self, frame_idx: int) -> Optional[FrameOutput]:
        return self.memory.get(frame_idx)

    def __contains__(self, frame_idx: int) -> bool:
        return frame_idx in self.memory.cond or frame_idx in self.memory.non_cond

    # -- updates --------------------------------------------------------------------
    def put(self, frame_idx: int, out: FrameOutput, is_cond: bool) -> None:
        """Store ``out`` as frame ``frame_idx``'s conditioning or tracked output."""
        if is_cond:
            self.memory.cond[frame_idx] = out
            # a frame is either conditioning or not, never both
            self.memory.non_cond.pop(frame_idx, None)
        else:
            self.memory.non_cond[frame_idx] = out

    def promote(self, frame_idx: int) -> FrameOutput:
        """Move a tracked frame into the conditioning memory (move, not copy)."""
        out = self.memory.non_cond.pop(frame_idx)
        self.memory.cond[frame_idx] = out
        return out

    def demote(self, frame_idx: int) -> Optional[FrameOutput]:
        """Move a conditioning frame back to the tracked frames (when its prompt is cleared)."""
        out = self.memory.cond.pop(frame_idx, None)
        if out is not None:
            self.memory.non_cond[frame_idx] = out
        return out

    def drop_cond(self, frame_idx: int) -> Optional[FrameOutput]:
        """Forget a conditioning frame entirely."""
        return self.memory.cond.pop(frame_idx, None)

    def clear(self) -> None:
        self.memory.cond.clear()
        self.memory.non_cond.clear()

    def clear_non_cond_around(self, frame_idx: int, radius: int) -> None:
        """Drop tracked outputs within ``radius`` frames of ``frame_idx`` (both sides)."""
        for t in range(frame_idx - radius, frame_idx + radius + 1):
            self.memory.non_cond.pop(t, None)

    def evict(self, frame_idx: int, reverse: bool, keep: Iterable[int] = ()) -> List[int]:
        """Drop tracked outputs that no later frame can read after tracking ``frame_idx``.

        Args:
            frame_idx: the frame just tracked.
            reverse: tracking direction of the ongoing propagation.
            keep: frames a memory-selection policy still needs.

        Returns:
            the dropped frame indices.
        """
        if not self.evict_enabled:
            return []
        reach = self.window.reach
        if reverse:
            behind = [t for t in self.memory.non_cond if t > frame_idx + reach]
        else:
            behind = [t for t in self.memory.non_cond if t < frame_idx - reach]
        if not behind:
            return []
        protected = set(keep)
        cond_frames = list(self.memory.cond)
        dropped = []
        for t in behind:
            if t in protected:
                continue
            if any(abs(t - c) <= reach for c in cond_frames):
                continue
            del self.memory.non_cond[t]
            dropped.append(t)
        self.num_evicted += len(dropped)
        return dropped

    def storage_bytes(self) -> int:
        """Bytes held by the stored tensors (shared positional encodings counted once)."""
        seen = set()
        total = 0
        for store in (self.memory.cond, self.memory.non_cond):
            for out in store.values():
                for t in (out.pred_masks, out.obj_ptr, out.object_score_logits,
                          out.maskmem_features, out.ious, out.quality):
                    if isinstance(t, torch.Tensor) and t.data_ptr() not in seen:
                        seen.add(t.data_ptr())
                        total += t.numel() * t.element_size()
        return total
