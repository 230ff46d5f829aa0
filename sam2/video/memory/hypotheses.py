"""Memory hypotheses: several memories of one object, tracked side by side (SAM2Long's pathways).

A policy that keeps memory hypotheses (``MemoryPolicy.keeps_hypotheses``) makes the per-frame
step run the tracking step once per *live* hypothesis of an object, each reading its own
memory; the policy then says which (hypothesis, candidate) pairs survive the frame
(:meth:`~sam2.video.policies.FrameDecision.keep`). Every survivor is memory-encoded and stored
as one *variant* of the frame (``TrackMemory.variants[frame][slot]``; variant 0, the best, is
also the frame's ordinary output), and becomes a live hypothesis that extends its parent.

A hypothesis is a node of a tree (:class:`Hypothesis`): the frame it was extended on, its
variant slot there, its parent, its low-resolution mask (kept on the host for the output
history) and the policy's values (``data``: scores, validity, ...). Nodes of dropped
hypotheses are freed with them; memory features live only in the memory bank, which evicts
them like any other frame's, so memory stays flat in video length (the policy names the older
frames its hypotheses still read in ``frames_to_retain``).

Output: the step yields the best live hypothesis's mask on each frame; the best hypothesis
at the end may descend from another branch, so its whole history
(:meth:`HypothesisSet.history`, read by ``SAM2VideoPredictor.final_outputs``) can differ from
what was yielded. The live set of an object is cleared at the start of each propagation.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional

import torch

__all__ = ["Hypothesis", "HypothesisSet"]


@dataclass(eq=False)
class Hypothesis:
    """One memory hypothesis of an object after ``frame_idx`` (a node of its tree).

    Attributes:
        frame_idx: the frame this node was stored on.
        slot: its variant index among the frame's stored outputs.
        parent: the hypothesis it extends (``None`` on the first tracked frame).
        mask: ``[1, 1, h, w]`` float32 low-res logits of its output (host).
        data: the policy's values for this node (JSON-ready where recorded).
        key: equal keys mean equal memories (same candidates on every frame), so the step
            runs such hypotheses once.
    """

    frame_idx: int
    slot: int
    parent: Optional["Hypothesis"]
    mask: torch.Tensor = field(repr=False)
    data: Dict[str, Any] = field(default_factory=dict)
    key: int = 0

    def lineage(self) -> Iterator["Hypothesis"]:
        """This node, its parent, ... back to the first tracked frame."""
        node: Optional[Hypothesis] = self
        while node is not None:
            yield node
            node = node.parent


@dataclass
class HypothesisSet:
    """The live hypotheses of one object, best first (repeats allowed: equal memories)."""

    live: List[Hypothesis] = field(default_factory=list)
    #: direction of the propagation that built them
    reverse: bool = False
    _next_key: int = 0

    def new_key(self) -> int:
        self._next_key += 1
        return self._next_key

    def clear(self) -> None:
        self.live = []

    @property
    def best(self) -> Optional[Hypothesis]:
        return self.live[0] if self.live else None

    def history(self) -> Dict[int, torch.Tensor]:
        """Per frame, the low-res logits ``[1, 1, h, w]`` (host) of the best hypothesis's
        lineage (empty without hypotheses)."""
        best = self.best
        if best is None:
            return {}
        return {node.frame_idx: node.mask for node in best.lineage()}

    def slots(self) -> Dict[int, int]:
        """Per frame, the variant slot of the best hypothesis's lineage."""
        best = self.best
        return {} if best is None else {node.frame_idx: node.slot for node in best.lineage()}
