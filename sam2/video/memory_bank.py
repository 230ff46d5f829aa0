"""Per-object memory of the video predictor, with eviction of what no later frame can read.

The model (``SAM2Base.track_step``) reads an object's memory from a
:class:`~sam2.modeling.track_types.TrackMemory`: every conditioning frame, the last
``num_maskmem - 1`` tracked frames (times the temporal stride) for spatial memory, and the
object pointers of up to ``max_obj_ptrs_in_encoder - 1`` previous tracked frames. A
:class:`MemoryBank` owns that ``TrackMemory`` and drops non-conditioning entries that fall
behind the model's read window (:class:`~sam2.modeling.read_window.ReadWindow`, which
decides what is read and what may go), so the memory of a long video stays bounded. Entries are kept when

* they are conditioning frames (prompts, frames promoted by a policy such as RCMS),
* they lie within the read window of the frame just tracked (on the side it came from),
* they lie within the read window of any conditioning frame (a later propagation in the
  other direction starts next to a prompt and reads them), or
* the memory-selection policy asks to keep them (RCMS keeps its promotion candidates).

With these rules dropping an entry never changes a later result of a propagation.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional

from sam2.modeling.read_window import ReadWindow
from sam2.modeling.track_types import FrameOutput, TrackMemory

__all__ = ["MemoryBank", "ReadWindow"]


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

    def clear_non_cond_around(self, frame_idx: int) -> None:
        """Drop tracked outputs within the window's :attr:`~ReadWindow.clear_radius` of
        ``frame_idx`` (both sides): the official ``clear_non_cond_mem_around_input``."""
        radius = self.window.clear_radius
        for t in range(frame_idx - radius, frame_idx + radius + 1):
            self.memory.non_cond.pop(t, None)

    def is_cond(self, frame_idx: int) -> bool:
        return frame_idx in self.memory.cond

    def missing_reads(self, frame_idx: int, reverse: bool, tracked: Iterable[int]) -> List[int]:
        """Frames of ``tracked`` that tracking ``frame_idx`` would read but that are no longer
        stored (evicted), in increasing order."""
        tracked = set(tracked)
        return sorted(t for t in self.window.read_span(frame_idx, reverse)
                      if t in tracked and t not in self)

    def read_layout(self, frame_idx: int, reverse: bool) -> tuple:
        """``(conditioning frames, tracked frames within reach)`` read when tracking ``frame_idx``,
        or ``None`` when one of them has no encoded memory yet (then the object runs alone)."""
        near = tuple(sorted(t for t in self.memory.non_cond if self.window.reads(frame_idx, reverse, t)))
        frames = (*self.memory.cond, *near)
        if any(self.get(t).maskmem_features is None for t in frames):
            return None
        return tuple(self.memory.cond), near

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
        cond_frames = list(self.memory.cond)
        protected = set(keep)
        dropped = [
            t for t in self.memory.non_cond
            if t not in protected and self.window.evictable(t, frame_idx, reverse, cond_frames)
        ]
        for t in dropped:
            del self.memory.non_cond[t]
        self.num_evicted += len(dropped)
        return dropped
