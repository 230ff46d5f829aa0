"""The read window: which stored frames tracking a frame reads, and which it never will again.

One object answers both questions for everyone:

* the model (:meth:`SAM2Base._select_memory`) asks it for the recent-memory slots
  (:meth:`ReadWindow.mask_slots`) and the object-pointer frames (:meth:`ReadWindow.pointer_steps`)
  of a frame;
* the video predictor asks it which tracked frames a frame may read (:meth:`ReadWindow.reads`,
  used to batch objects with the same memory layout and to check corrections), and what the
  official ``clear_non_cond_mem_around_input`` option clears (:attr:`ReadWindow.clear_radius`);
* the memory bank asks it what can be evicted (:meth:`ReadWindow.evictable`).

Conditioning frames (prompts, frames promoted by a memory policy) are always read; the window
only concerns non-conditioning (tracked) frames. Reading goes in the tracking direction:
a frame tracked forward reads earlier frames, a frame tracked in reverse reads later ones.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Optional, Tuple

__all__ = ["ReadWindow"]


@dataclass(frozen=True)
class ReadWindow:
    """How far (in frames) tracking one frame reads other frames' memories.

    Attributes:
        reach: a frame ``t`` tracked forward reads non-conditioning memory of frames in
            ``[t - reach, t - 1]`` only (``[t + 1, t + reach]`` in reverse). Includes one
            frame of margin over the farthest slot actually read.
        num_maskmem: memories attended to (1 conditioning slot + ``num_maskmem - 1`` recent).
        stride: temporal stride ``r`` between recent memories (1 in training).
        use_obj_ptrs: whether object pointers of other frames are read.
        max_obj_ptrs: the model's ``max_obj_ptrs_in_encoder``.
        num_frames: video length when known (bounds the pointer window), else ``None``.
    """

    reach: int
    num_maskmem: int = 0
    stride: int = 1
    use_obj_ptrs: bool = False
    max_obj_ptrs: int = 0
    num_frames: Optional[int] = None

    # -- construction -------------------------------------------------------------------
    @staticmethod
    def for_model(
        num_maskmem: int,
        memory_temporal_stride: int,
        use_obj_ptrs_in_encoder: bool,
        max_obj_ptrs_in_encoder: int,
        num_frames: Optional[int] = None,
    ) -> "ReadWindow":
        """The window of a SAM2 model with these settings.

        Spatial memories reach back ``(num_maskmem - 1) * stride`` frames at most; object
        pointers ``min(num_frames, max_obj_ptrs_in_encoder) - 1`` frames. One frame of margin
        is added to each.
        """
        stride = max(int(memory_temporal_stride), 1)
        mask_reach = max(num_maskmem - 1, 0) * stride + 1
        ptr_reach = 0
        if use_obj_ptrs_in_encoder:
            limit = max_obj_ptrs_in_encoder
            if num_frames is not None:
                limit = min(limit, num_frames)
            ptr_reach = max(limit, 0)
        return ReadWindow(
            reach=max(mask_reach, ptr_reach), num_maskmem=int(num_maskmem), stride=stride,
            use_obj_ptrs=bool(use_obj_ptrs_in_encoder), max_obj_ptrs=int(max_obj_ptrs_in_encoder),
            num_frames=num_frames,
        )

    # -- what a frame reads -------------------------------------------------------------
    def mask_slots(self, frame_idx: int, reverse: bool = False) -> List[Tuple[int, int]]:
        """``(t_pos, frame index)`` of the recent-memory slots ``t_pos = 1 .. num_maskmem - 1``.

        The newest slot (``t_pos = num_maskmem - 1``) is always the adjacent frame; older slots
        step back by the stride from the nearest multiple of the stride at distance >= 2. In
        reverse tracking "back" means "later". Indices may be negative or past the end.
        """
        stride = self.stride
        slots = []
        for t_pos in range(1, self.num_maskmem):
            back = self.num_maskmem - t_pos  # slots away from the current frame
            if back == 1:
                idx = frame_idx + 1 if reverse else frame_idx - 1
            elif reverse:
                anchor = -(-(frame_idx + 2) // stride) * stride  # ceil to a multiple of stride
                idx = anchor + (back - 2) * stride
            else:
                anchor = ((frame_idx - 2) // stride) * stride  # floor to a multiple of stride
                idx = anchor - (back - 2) * stride
            slots.append((t_pos, idx))
        return slots

    @property
    def pointer_window(self) -> int:
        """Number of pointer frames usable: ``min(num_frames, max_obj_ptrs)``."""
        if self.num_frames is None:
            return self.max_obj_ptrs
        return min(self.num_frames, self.max_obj_ptrs)

    def pointer_steps(self, frame_idx: int, reverse: bool = False) -> List[Tuple[int, int]]:
        """``(frame index, distance)`` of the tracked frames whose pointers may be read:
        ``1 .. pointer_window - 1`` frames back in the tracking direction, stopping at the
        start (and, when the length is known, the end) of the video. Empty without pointers."""
        if not self.use_obj_ptrs:
            return []
        direction = -1 if reverse else 1
        steps = []
        for step in range(1, self.pointer_window):
            t = frame_idx - step * direction
            if t < 0 or (self.num_frames is not None and t >= self.num_frames):
                break
            steps.append((t, step))
        return steps

    def reads(self, frame_idx: int, reverse: bool, other: int) -> bool:
        """Whether tracking ``frame_idx`` may read the non-conditioning memory of ``other``."""
        step = -1 if reverse else 1
        return 1 <= (frame_idx - other) * step <= self.reach

    def read_span(self, frame_idx: int, reverse: bool) -> range:
        """The frames tracking ``frame_idx`` may read, nearest last (see :meth:`reads`)."""
        if reverse:
            return range(frame_idx + self.reach, frame_idx, -1)
        return range(frame_idx - self.reach, frame_idx)

    # -- what can go --------------------------------------------------------------------
    def evictable(self, other: int, frame_idx: int, reverse: bool, cond_frames: Iterable[int]) -> bool:
        """Whether no later frame of a propagation that just tracked ``frame_idx`` (in the
        given direction), nor a propagation that starts next to a conditioning frame, can
        read the non-conditioning memory of ``other``."""
        behind = other > frame_idx + self.reach if reverse else other < frame_idx - self.reach
        if not behind:
            return False
        return all(abs(other - c) > self.reach for c in cond_frames)

    @property
    def clear_radius(self) -> int:
        """Radius of the official ``clear_non_cond_mem_around_input`` option
        (``stride * num_maskmem`` frames on each side of a prompt)."""
        return self.stride * self.num_maskmem
