"""Memory-selection policies: which frames an object's memory keeps as conditioning frames.

The video predictor calls a policy at exactly one point of its per-frame step:
:meth:`MemorySelectionPolicy.after_frame`, right after a *tracked* (not prompted) frame's
output has been stored in the object's non-conditioning memory and before that memory is
pruned by :meth:`~sam2.video.memory_bank.MemoryBank.evict`. The policy may move frames
between the non-conditioning and the conditioning memory of that object (the change takes
effect from the next tracked frame on) and tells the eviction which extra frames it may
still need (:meth:`MemorySelectionPolicy.frames_to_retain`).

* :class:`PlainSAM2Policy` (default): does nothing - the plain SAM2.1 recent-frames FIFO.
* :class:`sam2.video.rcms.RCMSPolicy`: promotes reliable frames when an object disappears.

Per-object policy state lives in the track (``ObjectTrack.policy_state``), created by
:meth:`MemorySelectionPolicy.new_object_state`, so ``reset_state`` / ``init_state`` clear it.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Iterable

from sam2.modeling.track_types import FrameOutput
from sam2.video.memory_bank import MemoryBank


class MemorySelectionPolicy(ABC):
    """Interface of a memory-selection policy (see the module docstring for the call point)."""

    #: short name used in logs and records
    name: str = "policy"

    @abstractmethod
    def new_object_state(self) -> Any:
        """Fresh per-object state (stored in the object's track)."""

    @abstractmethod
    def after_frame(
        self,
        object_state: Any,
        bank: MemoryBank,
        frame_idx: int,
        output: FrameOutput,
        reverse: bool,
    ) -> None:
        """Called once per object after frame ``frame_idx`` was tracked and stored.

        Args:
            object_state: this object's policy state.
            bank: this object's memory (``output`` is ``bank.non_cond[frame_idx]``).
            frame_idx: the frame just tracked.
            output: its stored output (``pred_masks`` ``[1, 1, h, w]``, ``object_score_logits``
                ``[1, 1]``, ``ious`` ``[1, M]``, ``quality`` ``[1]``; all on the device).
            reverse: whether the propagation runs backwards in time.
        """

    def frames_to_retain(self, object_state: Any, bank: MemoryBank) -> Iterable[int]:
        """Non-conditioning frames the policy may still promote (kept by eviction)."""
        return ()

    def describe(self) -> str:
        return self.name


class PlainSAM2Policy(MemorySelectionPolicy):
    """Plain SAM2.1: the conditioning memory only ever holds prompted frames."""

    name = "sam2.1"

    def new_object_state(self) -> None:
        return None

    def after_frame(self, object_state, bank, frame_idx, output, reverse) -> None:
        return None
