"""SAM2Long: a constrained tree of memory pathways (Ding et al., 2024).

What the authors' code does is summarised in ``docs/memory_policies.md``; in short, per object
and per propagation, with ``P = num_pathway`` pathways:

* the first tracked frame runs as in SAM 2 (one pathway, the highest-IoU candidate, score 0);
* on every later frame each pathway runs the tracking step with its own memory and proposes
  the decoder's candidates; pair (pathway ``p``, candidate ``j``) scores
  ``S_p + log(iou_j + 1e-5)`` (float64);
* if some pathway's ``|object-score logit|`` exceeds ``uncertainty``, the ``P`` best pairs
  survive; otherwise pairs are taken best first keeping only new values of
  ``round(±iou_j, 2)`` (sign of the pathway's object score), then the best pair of each
  pathway not represented yet, up to ``P``;
* each survivor is memory-encoded and becomes a pathway (a memory hypothesis, see
  :mod:`sam2.video.memory.hypotheses`), inheriting its parent's memory;
* a pathway reads as memory its *valid* frames (predicted IoU ``> iou_thre`` and object score
  ``> 0``): the most recent ``min(T, max_obj_ptrs) - 1`` of them, the previous frame always
  among them; spatial memory = the last ``num_maskmem - 1`` (temporal positions by rank),
  pointers = all of them but the oldest (distance = rank);
* the keys of each memory frame and pointer are scaled by a factor spread linearly over
  ``[0.95, 1.05]`` by the rank of its object score (prompts count as 10), when more than one
  memory frame is read;
* the output is the history of the pathway ranked first at the end
  (``SAM2VideoPredictor.final_outputs``); ``propagate_in_video`` yields, per frame, the mask of
  the pathway ranked first on that frame.

Differences from the fork: valid frames are scanned in the tracking direction (the fork
looks at lower indices only), pathways restart at every propagation start for every object
(the fork resets its state per object), several prompts each count as score 10, and pathways
with equal memories are run once (same result, less work).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from sam2.modeling.sam2_memory import MemoryFrameRef, MemorySelection, PointerRef
from sam2.video.memory.hypotheses import Hypothesis
from sam2.video.policies.base import FrameDecision, MemoryPolicy

__all__ = ["Sam2LongPolicy", "Sam2LongObjectState", "select_pathways", "rank_scales"]

#: object score given to prompted (conditioning) frames in the key modulation
PROMPT_SCORE = 10.0


@dataclass
class _Pair:
    """One (pathway, candidate) pair of a frame."""

    h: int
    j: int
    score: float  # cumulative, float64
    signed_iou: float  # ±iou (sign of the pathway's object score)


def select_pathways(pairs: List[_Pair], num_pathway: int, num_runs: int, confident: bool) -> List[_Pair]:
    """The surviving pairs, best first (see the module docstring)."""
    ranked = sorted(pairs, key=lambda e: e.score, reverse=True)  # stable on ties
    if confident:
        return ranked[:num_pathway]
    kept: List[_Pair] = []
    seen = set()
    for e in ranked:
        value = round(e.signed_iou, 2)
        if value not in seen:
            kept.append(e)
            seen.add(value)
        if len(kept) == num_pathway:
            break
    if len(kept) < num_pathway:  # most masks agree: keep the pathways diverse
        present = {e.h for e in kept}
        for h in range(num_runs):
            if h not in present:
                best = next((e for e in ranked if e.h == h), None)
                if best is not None:
                    kept.append(best)
            if len(kept) == num_pathway:
                break
    return kept


def rank_scales(scores: List[float], low: float = 0.95, high: float = 1.05,
                prompts_only: bool = False) -> torch.Tensor:
    """``[n]`` float32 factors spread linearly over ``[low, high]`` by the rank of ``scores``
    (lowest score -> ``low``).

    ``prompts_only``: every score is a prompt's (no tracked frame among them); the fork then
    ranks in bfloat16 (its prompt scores are bfloat16 and only a tracked frame's float32 score
    promotes the list), so the factors are rounded to bfloat16, e.g. 0.95 -> 0.9492.
    """
    dtype = torch.bfloat16 if prompts_only else torch.float32
    values = torch.tensor(scores, dtype=torch.float32).to(dtype)
    out = torch.empty_like(values)
    out[torch.argsort(values, stable=True)] = torch.linspace(low, high, len(scores)).to(dtype)
    return out.float()


@dataclass
class Sam2LongObjectState:
    """Per-object SAM2Long state (the pathways themselves live in the memory bank)."""

    #: valid frames a pathway reads at most (``min(T, max_obj_ptrs) - 1``, from the model)
    scan_limit: int = 15
    #: per memory key: (spatial frames, pointer frames) read by its run on the current frame
    pending_reads: Dict[Any, Tuple[List[int], List[int]]] = field(default_factory=dict)
    events: List[dict] = field(default_factory=list)


class Sam2LongPolicy(MemoryPolicy):
    """SAM2Long as a memory policy (defaults: the authors' ``tools/vos_inference.py``).

    Args:
        num_pathway: pathways kept per object (``P``, 3).
        iou_thre: predicted IoU a pathway's frame needs to be read as memory (0.1).
        uncertainty: above this ``|object-score logit|`` of some pathway the best pairs
            survive; at or below it the diverse selection runs (2).
        modulation: the key modulation range ``(low, high)`` (``(0.95, 1.05)``).
    """

    name = "sam2long"
    keeps_hypotheses = True

    def __init__(self, num_pathway: int = 3, iou_thre: float = 0.1, uncertainty: float = 2.0,
                 modulation: Tuple[float, float] = (0.95, 1.05)) -> None:
        if int(num_pathway) != num_pathway or num_pathway < 1:
            raise ValueError(f"sam2long: num_pathway must be a positive integer, got {num_pathway!r}")
        low, high = (float(v) for v in modulation)
        if not 0 < low <= high:
            raise ValueError(f"sam2long: modulation must be (low, high) with 0 < low <= high, got {modulation!r}")
        self.num_pathway = int(num_pathway)
        self.iou_thre = float(iou_thre)
        self.uncertainty = float(uncertainty)
        self.modulation = (low, high)
        #: memory hypotheses (pathways) kept per object
        self.hypotheses = self.num_pathway

    def describe(self) -> str:
        return (f"sam2long(P={self.num_pathway}, iou>{self.iou_thre}, "
                f"uncertainty={self.uncertainty})")

    def new_object_state(self) -> Sam2LongObjectState:
        return Sam2LongObjectState()

    # -- the hook ----------------------------------------------------------------------
    def on_frame(self, object_state: Sam2LongObjectState, decision: FrameDecision) -> None:
        heads, cands = decision.hypotheses, decision.hypothesis_candidates
        if cands is None:
            return
        st = object_state
        event: Dict[str, Any] = {"frame": int(decision.frame_idx), "runs": []}
        pairs: List[_Pair] = []
        magnitudes = []
        for h, (head, c) in enumerate(zip(heads, cands)):
            obj = float(c.object_score_logits.reshape(-1)[0].item())
            ious = [float(v) for v in c.ious[0].float().tolist()]
            base = 0.0 if head is None else float(head.data["score"])
            magnitudes.append(abs(obj))
            for j, iou in enumerate(ious):
                score = float(base + np.log(iou + 1e-5))
                pairs.append(_Pair(h, j, score, iou if obj > 0 else -iou))
            spatial, pointers = st.pending_reads.get(None if head is None else head.key, ([], []))
            event["runs"].append({"parent_slot": None if head is None else head.slot, "score": base,
                                  "object_score": obj, "ious": ious, "spatial": spatial,
                                  "pointers": pointers})
        if heads == [None]:  # first tracked frame: SAM 2's choice, score 0, shared by all pathways
            j = int(cands[0].chosen.reshape(-1)[0])
            kept = [_Pair(0, j, 0.0, 0.0)] * self.num_pathway
            event["mode"] = "first"
        else:
            confident = max(magnitudes) > self.uncertainty
            kept = select_pathways(pairs, self.num_pathway, len(heads), confident)
            event["mode"] = "confident" if confident else "diverse"
        survivors = []
        for e in kept:
            head, c = heads[e.h], cands[e.h]
            obj = float(c.object_score_logits.reshape(-1)[0].item())
            iou = float(c.ious[0, e.j].float().item())
            survivors.append((e.h, e.j, {
                "score": e.score, "iou": iou, "object_score": obj,
                "valid": iou > self.iou_thre and obj > 0,
                "valid_before": self._recent_valid(head, st.scan_limit),
            }))
        decision.keep(survivors)
        event["survivors"] = [{"parent": e.h, "parent_slot": None if heads[e.h] is None else heads[e.h].slot,
                               "candidate": e.j, "score": e.score, "iou": data["iou"],
                               "object_score": data["object_score"], "valid": data["valid"]}
                              for e, (_, _, data) in zip(kept, survivors)]
        st.events.append(event)
        st.pending_reads = {}

    @staticmethod
    def _recent_valid(node: Optional[Hypothesis], limit: int) -> Tuple[Hypothesis, ...]:
        """The ``limit`` most recent valid nodes of ``node``'s lineage (itself included)."""
        if node is None:
            return ()
        valid = node.data["valid_before"] + ((node,) if node.data["valid"] else ())
        return valid[-limit:] if limit > 0 else ()

    def _read_list(self, head: Hypothesis, limit: int) -> List[Hypothesis]:
        """The valid nodes a pathway reads (oldest first), its newest node always last."""
        nodes = list(self._recent_valid(head, limit))
        if not nodes or nodes[-1] is not head:
            nodes.append(head)
        return nodes

    # -- the read plan -----------------------------------------------------------------
    def select_memory(self, object_state: Sam2LongObjectState, frame_idx: int, reverse: bool,
                      selection: MemorySelection, memory, window, hypothesis: Optional[Hypothesis] = None
                      ) -> MemorySelection:
        """The pathway's valid frames as spatial memory (by rank) and pointers, keys modulated."""
        st = object_state
        st.scan_limit = max(window.pointer_window - 1, 0)
        spatial = [r for r in selection.spatial if r.t_pos == 0]
        pointers = [p for p in selection.pointers if p.frame_idx in memory.cond]
        frame_scores = [PROMPT_SCORE] * len(spatial)
        ptr_scores = [PROMPT_SCORE] * len(pointers)
        read_spatial: List[int] = []
        read_pointers: List[int] = []
        if hypothesis is not None:
            nodes = self._read_list(hypothesis, st.scan_limit)

            def stored(node: Hypothesis):
                variants = memory.variants.get(node.frame_idx)
                if variants is not None:
                    return variants[node.slot]
                return memory.non_cond.get(node.frame_idx)

            recent = nodes[-(window.num_maskmem - 1):] if window.num_maskmem > 1 else []
            first_pos = window.num_maskmem - len(recent)
            for i, node in enumerate(recent):
                out = stored(node)
                if out is None:
                    raise RuntimeError(f"sam2long: frame {frame_idx} reads frame {node.frame_idx}, "
                                       "which is no longer in memory")
                spatial.append(MemoryFrameRef(node.frame_idx, first_pos + i, out))
                frame_scores.append(float(node.data["object_score"]))
                read_spatial.append(node.frame_idx)
            for t_diff in range(1, min(len(nodes) - 1, st.scan_limit) + 1):
                node = nodes[-t_diff]
                pointers.append(PointerRef(node.frame_idx, t_diff, stored(node)))
                ptr_scores.append(float(node.data["object_score"]))
                read_pointers.append(node.frame_idx)
        st.pending_reads[None if hypothesis is None else hypothesis.key] = (read_spatial, read_pointers)
        scales = None
        if len(spatial) > 1:
            low, high = self.modulation
            scales = (rank_scales(frame_scores, low, high, prompts_only=not read_spatial),
                      rank_scales(ptr_scores, low, high, prompts_only=not read_pointers))
        return MemorySelection(spatial=spatial, pointers=pointers,
                               max_ptr_distance=selection.max_ptr_distance, key_scales=scales)

    def frames_to_retain(self, object_state: Sam2LongObjectState, bank) -> List[int]:
        """Frames any live pathway may still read (its valid frames and its newest one)."""
        keep = set()
        for head in bank.hypotheses.live:
            keep.update(n.frame_idx for n in self._read_list(head, object_state.scan_limit))
        return sorted(keep)

    def records(self, object_state: Sam2LongObjectState) -> List[dict]:
        return list(object_state.events)
