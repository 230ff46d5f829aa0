"""The memory policy interface: what an object's memory keeps, and which decoder candidate becomes the output.

The contract
------------
A policy has a few entry points (``docs/design.md`` lists who calls each): the per-object state
(:meth:`MemoryPolicy.new_object_state`), the read plan (:meth:`MemoryPolicy.select_memory`) and
the decoder presence threshold (:attr:`MemoryPolicy.presence_threshold`), which the step passes
to the model as arguments of ``track_step`` (the model holds no policy), the frame decision
(:meth:`MemoryPolicy.on_frame`), what eviction must keep (:meth:`MemoryPolicy.frames_to_retain`),
memory hypotheses (``keeps_hypotheses``), forgetting (:meth:`MemoryPolicy.forget`) and records.

The frame decision: the video predictor's per-frame step
(:meth:`~sam2.video.tracking.tracker.Tracker.track_frame`) calls
:meth:`MemoryPolicy.on_frame` for every object on every *tracked* (not prompted) frame. At that
point the decoder has run, nothing of the frame has been memory-encoded or stored, and the
policy gets a :class:`FrameDecision`:

* ``decision.candidates`` - every mask the decoder proposed (``[1, M, h, w]`` logits), their
  predicted IoUs ``[1, M]``, the object-score logit ``[1, 1]`` and which one the decoder chose
  (highest IoU); ``decision.output`` - the chosen candidate as it will be stored (hole-filled
  low-res logits, object pointer, object score, IoUs, MQF ``quality``);
* ``decision.choose(k)`` - (b) make candidate ``k`` the output *and* the memory of this frame
  (mask, object pointer from its token, quality); ``decision.output`` follows;
* ``decision.admit = False`` - (c) keep the frame as an output and pointer, but do not store its
  mask memory (memory attention then skips it);
* ``decision.bank`` - (d) the object's :class:`~sam2.video.memory.memory_bank.MemoryBank`: promote
  earlier tracked frames to conditioning frames (``bank.promote``), drop promoted ones
  (``bank.drop_cond``); the current frame enters the bank right after the hook.

After the hook the step encodes the chosen mask into memory (when admitted), stores the frame
in the bank, and evicts what the read window no longer needs except the frames the policy
names in :meth:`MemoryPolicy.frames_to_retain`. Prompted frames never reach the hook.

A policy with ``keeps_hypotheses`` (SAM2Long) keeps several memories per object
(:mod:`sam2.video.memory.hypotheses`): the step runs each live hypothesis with its own read plan and
the hook sees all of them (``decision.hypotheses``, ``decision.hypothesis_candidates``);
``decision.keep`` - (g) - says which (hypothesis, candidate) pairs survive, each stored as a
variant of the frame. ``admit`` and ``promote_current`` do not apply to such frames.

A refused frame (``admit = False``) leaves its recent-memory slot empty: the model reads the
fixed slots of :meth:`~sam2.modeling.read_window.ReadWindow.mask_slots`. A policy that wants
the slots filled from admitted frames only, further back (as SAMURAI selects its memory), needs
that rule in the read window (the one place the model, the bank and eviction ask), not in a
second code path. Batching is unaffected: objects whose stored frames differ in admission run
separately (``MemoryBank.read_layout``).

Per-object policy state lives in the object's track (``ObjectTrack.policy_state``), created by
:meth:`MemoryPolicy.new_object_state`, so ``reset_state`` / ``init_state`` clear it. What a
policy did is read generically with :meth:`MemoryPolicy.records` (per object, a list of
JSON-ready dicts); ``InferenceState.policy_records()`` collects them.

The registry (:mod:`sam2.video.policies.registry`) builds policies by name.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from sam2.modeling.track_types import FrameOutput, MaskCandidates
from sam2.video.memory.memory_bank import MemoryBank

__all__ = ["FrameDecision", "MemoryPolicy", "PlainSAM2Policy"]


@dataclass
class FrameDecision:
    """One object on one tracked frame, as the policy sees it (see the module docstring).

    Attributes:
        frame_idx: the frame being tracked.
        reverse: whether the propagation runs backwards in time.
        candidates: every decoder candidate (batch of 1).
        bank: this object's memory (the current frame is not in it yet).
        admit: whether the frame's mask memory is stored (default ``True``).
        promote_current: make the frame a conditioning frame right after it is stored.
        video_size: ``(H, W)`` of the video.
    """

    frame_idx: int
    reverse: bool
    candidates: MaskCandidates
    bank: MemoryBank
    admit: bool = True
    #: (e) make this frame a conditioning frame once stored (DAM4SAM's anchors)
    promote_current: bool = False
    #: ``(height, width)`` of the video (to look at candidates at video resolution)
    video_size: Optional[Tuple[int, int]] = None
    #: (g) memory hypotheses run on this frame (policies with ``keeps_hypotheses``): the
    #: object's live hypotheses, best first (:class:`~sam2.video.memory.hypotheses.Hypothesis`;
    #: ``[None]`` on the first tracked frame of a propagation), and each one's candidates
    #: (``candidates`` is the first one's)
    hypotheses: Optional[List[Any]] = None
    hypothesis_candidates: Optional[List[MaskCandidates]] = None
    _output: FrameOutput = field(repr=False, default=None)
    _build: Optional[Callable[[int], FrameOutput]] = field(repr=False, default=None)
    _choice: Optional[int] = field(repr=False, default=None)
    _survivors: Optional[List[Tuple[int, int, Dict[str, Any]]]] = field(repr=False, default=None)

    @property
    def output(self) -> FrameOutput:
        """The chosen candidate as it will be stored: ``pred_masks`` ``[1, 1, h, w]`` (storage
        device), ``obj_ptr`` ``[1, C]``, ``object_score_logits`` ``[1, 1]``, ``ious`` ``[1, M]``,
        ``quality`` ``[1]``; no memory features yet."""
        return self._output

    @property
    def chosen(self) -> Optional[int]:
        """The candidate index set with :meth:`choose`, or ``None`` (the decoder's choice)."""
        return self._choice

    def choose(self, index: int) -> None:
        """Make candidate ``index`` (``0 .. M - 1``) this frame's output and memory."""
        m = self.candidates.num_candidates
        if not 0 <= int(index) < m:
            raise IndexError(f"frame {self.frame_idx}: candidate {index} of {m}")
        self._choice = int(index)
        self._output = self._build(int(index))

    @property
    def survivors(self) -> Optional[List[Tuple[int, int, Dict[str, Any]]]]:
        """What :meth:`keep` set, or ``None``."""
        return self._survivors

    def keep(self, survivors: Sequence[Tuple[int, int, Mapping[str, Any]]]) -> None:
        """(g) The hypotheses that live on after this frame, best first.

        Each survivor is ``(h, j, data)``: candidate ``j`` of hypothesis ``h`` (an index into
        :attr:`hypotheses`), and the policy's values for the new hypothesis. Every distinct
        ``(h, j)`` is memory-encoded and stored as one variant of the frame (in order: the
        first survivor is the frame's output); repeating a pair makes several live
        hypotheses share one memory (run once).
        """
        if self.hypothesis_candidates is None:
            raise RuntimeError(f"frame {self.frame_idx}: keep() needs a policy with memory hypotheses")
        if not survivors:
            raise ValueError(f"frame {self.frame_idx}: at least one hypothesis must survive")
        out = []
        for h, j, data in survivors:
            if not 0 <= int(h) < len(self.hypothesis_candidates):
                raise IndexError(f"frame {self.frame_idx}: hypothesis {h} of {len(self.hypothesis_candidates)}")
            m = self.hypothesis_candidates[int(h)].num_candidates
            if not 0 <= int(j) < m:
                raise IndexError(f"frame {self.frame_idx}: candidate {j} of {m}")
            out.append((int(h), int(j), dict(data)))
        self._survivors = out


class MemoryPolicy(ABC):
    """Interface of a memory policy (see the module docstring for the call point)."""

    #: registry name, used in logs and records
    name: str = "policy"

    @abstractmethod
    def new_object_state(self) -> Any:
        """Fresh per-object state (stored in the object's track)."""

    @abstractmethod
    def on_frame(self, object_state: Any, decision: FrameDecision) -> None:
        """Called once per object on every tracked frame, before memory encoding.

        Args:
            object_state: this object's policy state.
            decision: the frame's candidates, chosen output, memory bank and admission flag.
        """

    def frames_to_retain(self, object_state: Any, bank: MemoryBank) -> Iterable[int]:
        """Tracked frames the policy may still need (kept by eviction)."""
        return ()

    #: object-score logit above which the decoder counts the object as present (SAM 2: 0)
    presence_threshold: float = 0.0

    #: whether the policy keeps memory hypotheses per object (SAM2Long's pathways; see
    #: :mod:`sam2.video.memory.hypotheses`): the step then runs every live hypothesis with its own
    #: read plan (``select_memory(..., hypothesis=node)``) and the policy says which survive
    #: with :meth:`FrameDecision.keep`; ``hypotheses`` is how many it keeps
    keeps_hypotheses: bool = False
    hypotheses: int = 1

    def select_memory(self, object_state: Any, frame_idx: int, reverse: bool, selection: Any,
                      memory: Any, window: Any) -> Any:
        """(f) The read plan: which stored frames ``frame_idx`` attends to.

        Called by the model before memory attention on every non-initial frame of the object
        (prompts included), with SAM 2's choice ``selection``
        (:class:`~sam2.modeling.sam2_memory.MemorySelection`: spatial memories with their
        temporal slots, object pointers with their distances), the object's
        :class:`~sam2.modeling.track_types.TrackMemory` and the model's
        :class:`~sam2.modeling.read_window.ReadWindow`. Return the selection to use. The
        default keeps SAM 2's choice; a policy that overrides it is run one object at a time
        and must name the older frames it reads in :meth:`frames_to_retain`.
        """
        return selection

    @property
    def plans_reads(self) -> bool:
        """Whether the policy rewrites memory reads (overrides :meth:`select_memory`)."""
        return type(self).select_memory is not MemoryPolicy.select_memory

    def memory_selector(self, object_state: Any, hypothesis: Any = None) -> Optional[Callable[..., Any]]:
        """The read plan of one object, bound to its state (``None`` without one); with memory
        hypotheses, bound to one of them (passed as ``select_memory(..., hypothesis=...)``)."""
        if not self.plans_reads:
            return None
        if self.keeps_hypotheses:
            return lambda *args: self.select_memory(object_state, *args, hypothesis=hypothesis)
        return lambda *args: self.select_memory(object_state, *args)

    def records(self, object_state: Any) -> List[dict]:
        """What the policy decided for one object so far (JSON-ready dicts)."""
        return []

    def forget(self, object_state: Any, is_gone: Callable[[int], bool]) -> None:
        """Drop per-frame bookkeeping of every frame ``t`` with ``is_gone(t)``: frames that have
        left the object's memory and lie behind its read window, so no later step reads them
        (called by streams, whose state must not grow with the frame count). The default
        keeps nothing per frame."""

    def describe(self) -> str:
        return self.name


class PlainSAM2Policy(MemoryPolicy):
    """Plain SAM2.1: every tracked frame enters memory with the decoder's choice; the
    conditioning memory only ever holds prompted frames."""

    name = "sam2.1"

    def new_object_state(self) -> None:
        return None

    def on_frame(self, object_state: Any, decision: FrameDecision) -> None:
        return None
