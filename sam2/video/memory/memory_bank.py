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

What happens to an entry that falls behind the window is the bank's ``memory_eviction``:

* ``"offload"`` (the video predictor's default): it moves to the host (CPU) as it is (memory
  features in their storage dtype, bfloat16 by default; low-res logits, pointer and scores in
  float32) and stays
  readable: a correction anywhere, and any later propagation, reads it back (moved to the
  compute device on read) and gets the official predictor's results. Device memory stays
  flat in video length; host memory grows by one entry per frame and object.
* ``"drop"`` (a bare bank's default): it is deleted (strict mode for very long videos): host
  and device memory both stay flat, and a correction that would read dropped memory raises a clear error.
* ``"off"``: nothing moves (the official behaviour: everything stays on the device).
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional

import torch

from sam2.modeling.read_window import ReadWindow
from sam2.modeling.track_types import FrameOutput, TrackMemory
from sam2.video.memory.hypotheses import HypothesisSet

__all__ = ["MemoryBank", "ReadWindow", "EVICTION_MODES"]

#: what eviction does with an entry behind the read window (see the module docstring)
EVICTION_MODES = ("offload", "drop", "off")
_HOST = torch.device("cpu")


def _to_host(out: FrameOutput) -> FrameOutput:
    """The same entry with its tensors on the host (no copy when already there)."""
    def host(t):
        return t.to(_HOST) if isinstance(t, torch.Tensor) else t

    return FrameOutput(
        pred_masks=host(out.pred_masks), obj_ptr=host(out.obj_ptr),
        object_score_logits=host(out.object_score_logits),
        maskmem_features=host(out.maskmem_features),
        maskmem_pos_enc=out.maskmem_pos_enc,  # one shared copy for the whole video
        ious=host(out.ious), quality=host(out.quality),
    )


class MemoryBank:
    """The memory of one object: conditioning and non-conditioning frame outputs.

    Args:
        window: the model's read window, used by :meth:`evict`.
        memory_eviction: one of :data:`EVICTION_MODES`: ``"drop"`` drops entries behind the
            window, ``"offload"`` moves them to the host (the video predictor's default),
            ``"off"`` never evicts.
    """

    def __init__(self, window: ReadWindow, memory_eviction: str = "drop") -> None:
        if memory_eviction not in EVICTION_MODES:
            raise ValueError(f"memory_eviction={memory_eviction!r}: expected one of {', '.join(EVICTION_MODES)}")
        self.window = window
        self.memory_eviction: str = memory_eviction
        self.memory = TrackMemory()
        #: frames evicted (dropped or offloaded) so far (for tests and diagnostics)
        self.num_evicted = 0
        #: frames currently held on the host by ``"offload"``
        self.offloaded: set = set()
        #: conditioning frames whose neighbours need not be kept for a later propagation
        #: (promoted with ``protect_neighbours=False``, e.g. DAM4SAM anchors)
        self.unanchored: set = set()
        #: live memory hypotheses of the object (policies with ``keeps_hypotheses``)
        self.hypotheses = HypothesisSet()

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
    def put(self, frame_idx: int, out: FrameOutput, is_cond: bool,
            variants: Optional[List[FrameOutput]] = None) -> None:
        """Store ``out`` as frame ``frame_idx``'s conditioning or tracked output.

        ``variants``: the outputs of every memory hypothesis kept on this tracked frame
        (``variants[0]`` is ``out``; see :mod:`sam2.video.memory.hypotheses`)."""
        self.offloaded.discard(frame_idx)
        self.memory.variants.pop(frame_idx, None)
        if variants is not None and not is_cond:
            if not variants or variants[0] is not out:
                raise ValueError(f"frame {frame_idx}: variant 0 must be the stored output")
            self.memory.variants[frame_idx] = list(variants)
        if is_cond:
            self.memory.cond[frame_idx] = out
            self.unanchored.discard(frame_idx)
            # a frame is either conditioning or not, never both
            self.memory.non_cond.pop(frame_idx, None)
        else:
            self.memory.non_cond[frame_idx] = out

    def promote(self, frame_idx: int, protect_neighbours: bool = True) -> FrameOutput:
        """Move a tracked frame into the conditioning memory (move, not copy).

        ``protect_neighbours=False``: eviction does not keep the tracked frames around it for
        a later propagation starting there (its policy promotes many frames over a video)."""
        self.offloaded.discard(frame_idx)
        self.memory.variants.pop(frame_idx, None)
        out = self.memory.non_cond.pop(frame_idx)
        self.memory.cond[frame_idx] = out
        if not protect_neighbours:
            self.unanchored.add(frame_idx)
        return out

    def demote(self, frame_idx: int) -> Optional[FrameOutput]:
        """Move a conditioning frame back to the tracked frames (when its prompt is cleared)."""
        out = self.memory.cond.pop(frame_idx, None)
        self.unanchored.discard(frame_idx)
        if out is not None:
            self.memory.non_cond[frame_idx] = out
        return out

    def drop_cond(self, frame_idx: int) -> Optional[FrameOutput]:
        """Forget a conditioning frame entirely."""
        self.unanchored.discard(frame_idx)
        return self.memory.cond.pop(frame_idx, None)

    def clear(self) -> None:
        self.offloaded.clear()
        self.memory.cond.clear()
        self.memory.non_cond.clear()
        self.memory.variants.clear()
        self.unanchored.clear()
        self.hypotheses.clear()

    def clear_non_cond_around(self, frame_idx: int) -> None:
        """Drop tracked outputs within the window's :attr:`~ReadWindow.clear_radius` of
        ``frame_idx`` (both sides): the official ``clear_non_cond_mem_around_input``."""
        radius = self.window.clear_radius
        for t in range(frame_idx - radius, frame_idx + radius + 1):
            self.memory.non_cond.pop(t, None)
            self.memory.variants.pop(t, None)

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
        """Evict tracked outputs that no later frame can read after tracking ``frame_idx``:
        drop them, or move them to the host (see the module docstring).

        Args:
            frame_idx: the frame just tracked.
            reverse: tracking direction of the ongoing propagation.
            keep: frames a memory-selection policy still needs.

        Returns:
            the evicted frame indices.
        """
        if self.memory_eviction == "off":
            return []
        cond_frames = [c for c in self.memory.cond if c not in self.unanchored]
        protected = set(keep)
        evicted = [
            t for t in self.memory.non_cond
            if t not in protected and t not in self.offloaded
            and self.window.evictable(t, frame_idx, reverse, cond_frames)
        ]
        for t in evicted:
            variants = self.memory.variants.get(t)
            if self.memory_eviction == "drop":
                del self.memory.non_cond[t]
                self.memory.variants.pop(t, None)
            elif variants is None:
                self.memory.non_cond[t] = _to_host(self.memory.non_cond[t])
                self.offloaded.add(t)
            else:
                hosted: Dict[int, FrameOutput] = {}  # a variant shared by hypotheses stays shared
                for v in variants:
                    if id(v) not in hosted:
                        hosted[id(v)] = _to_host(v)
                variants = [hosted[id(v)] for v in variants]
                self.memory.variants[t] = variants
                self.memory.non_cond[t] = variants[0]
                self.offloaded.add(t)
        self.num_evicted += len(evicted)
        return evicted
