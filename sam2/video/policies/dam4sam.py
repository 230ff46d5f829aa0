"""DAM4SAM: distractor-aware memory (Videnovic et al., 2025), as a memory policy.

The memory of an object is split in two (facts in ``docs/memory_policies.md``):

* **RAM** (recent appearance memory): the recent non-conditioning frames, taken from the
  previous frame and then every ``ram_stride``-th frame, skipping frames where the object is
  absent (no positive low-res pixel) and DRM frames; ``num_maskmem - drm_frames`` slots,
  temporal positions by rank. Object pointers are read only from frames where the object is
  present (conditioning frames always).
* **DRM** (distractor-resolving memory): conditioning frames - the prompt plus *anchor*
  frames. At most ``drm_size`` are read: the prompt frame 0... more precisely the first
  prompt, the closest one before the previous frame, then the temporally closest others,
  never the previous frame itself.

**Introspection** decides when the current frame becomes an anchor: the output is confident
(predicted IoU ``> 0.8``), its size is within ``±20 %`` of the median of the recent non-empty
sizes, the object is visible and no anchor was added in the last ``anchor_gap`` (5) frames;
then each alternative decoder candidate, minus the output mask, reduced to its largest
8-connected component and united with the output mask, is compared by box IoU with the
output mask; a box IoU ``<= 0.7`` means a distractor next to the target, and the frame joins
the DRM (from the next frame on). All of this runs on masks at video resolution, as in the
authors' tracker.
"""
from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

logger = logging.getLogger(__name__)

Bounds = Tuple[int, int, int, int]  # (left, top, right, bottom), inclusive pixel indices


def mask_bounds(mask: np.ndarray) -> Bounds:
    """Inclusive bounds of the positive pixels of a 2-D mask; ``(0, 0, 0, 0)`` if empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return (0, 0, 0, 0)
    cols = np.flatnonzero(mask.any(axis=0))
    return (int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1]))


def rectangle_overlap(a: Bounds, b: Bounds) -> float:
    """Overlap of the rectangles the authors' toolkit derives from two mask bounds.

    A mask's rectangle is ``(left, top, width=right-left, height=bottom-top)``, which as a set
    of pixels covers columns ``left .. right - 1`` and rows ``top .. bottom - 1``; the
    overlap is intersection over union of those pixel sets, 1 when both bounding regions are
    degenerate, 0 when the union is empty.
    """
    ra = (a[0], a[1], a[2] - 1, a[3] - 1)  # pixel bounds of the rectangle, inclusive
    rb = (b[0], b[1], b[2] - 1, b[3] - 1)
    left, top = min(ra[0], rb[0]), min(ra[1], rb[1])
    right, bottom = max(ra[2], rb[2]), max(ra[3], rb[3])
    if left >= right or top >= bottom:
        return 1.0

    def area(r):
        return max(0, r[2] - r[0] + 1) * max(0, r[3] - r[1] + 1)

    inter_r = (max(ra[0], rb[0]), max(ra[1], rb[1]), min(ra[2], rb[2]), min(ra[3], rb[3]))
    inter = area(inter_r) if inter_r[0] <= inter_r[2] and inter_r[1] <= inter_r[3] else 0
    union = area(ra) + area(rb) - inter
    return inter / union if union > 0 else 0.0


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of a non-empty binary mask (uint8)."""
    from scipy import ndimage

    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return np.zeros_like(mask, dtype=np.uint8)
    areas = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    return (labels == int(np.argmax(areas)) + 1).astype(np.uint8)


@dataclass
class DamObjectState:
    """Per-object DAM4SAM state (lives in the object's track)."""

    #: output mask size (video pixels) of every tracked frame, in tracking order
    sizes: List[int] = field(default_factory=list)
    last_anchor: Optional[int] = None
    anchors: List[int] = field(default_factory=list)
    #: frames with a positive low-res pixel (object present), by frame
    present: Dict[int, bool] = field(default_factory=dict)
    #: the DRM / RAM frames read by the frame being tracked (set before its decoder runs)
    pending_read: Optional[dict] = None
    events: List[dict] = field(default_factory=list)


class Dam4SamCore:
    """The DAM4SAM decisions (see the module docstring); independent of the predictor hook.

    Args:
        ram_stride: stride of the older RAM slots (DAM4SAM: 5).
        drm_size: conditioning frames read at most (DAM4SAM: 4, prompt included).
        iou_threshold: predicted IoU the output needs for introspection (0.8).
        size_ratio_range: allowed output size / median recent size (0.8, 1.2).
        size_history: sizes considered (last 300 frames, last 10 non-empty of them).
        anchor_gap: frames between two anchors must be more than this (5).
        distractor_box_iou: box IoU at or below which an alternative reveals a distractor (0.7).
    """

    def __init__(self, ram_stride: int = 5, drm_size: int = 4, iou_threshold: float = 0.8,
                 size_ratio_range: Tuple[float, float] = (0.8, 1.2),
                 size_history: Tuple[int, int] = (300, 10), anchor_gap: int = 5,
                 distractor_box_iou: float = 0.7) -> None:
        if int(ram_stride) != ram_stride or ram_stride < 1:
            raise ValueError(f"ram_stride must be a positive integer, got {ram_stride!r}")
        if int(drm_size) != drm_size or drm_size < 1:
            raise ValueError(f"drm_size must be a positive integer, got {drm_size!r}")
        lo, hi = size_ratio_range
        if not 0 <= lo <= hi:
            raise ValueError(f"size_ratio_range must be (low, high) with 0 <= low <= high, got {size_ratio_range!r}")
        self.ram_stride = int(ram_stride)
        self.drm_size = int(drm_size)
        self.iou_threshold = float(iou_threshold)
        self.size_ratio_range = (float(lo), float(hi))
        self.size_history = (int(size_history[0]), int(size_history[1]))
        self.anchor_gap = int(anchor_gap)
        self.distractor_box_iou = float(distractor_box_iou)

    # -- introspection ----------------------------------------------------------------------
    def introspect(self, st: DamObjectState, frame_idx: int, video_masks: torch.Tensor,
                   ious: torch.Tensor, chosen: int) -> bool:
        """Whether frame ``frame_idx`` becomes a DRM anchor.

        Args:
            video_masks: ``[M, H, W]`` bool, every decoder candidate at video size (logit > 0).
            ious: ``[M]`` float32 predicted IoUs.
            chosen: index of the output candidate (the highest predicted IoU).
        """
        ious_np = ious.detach().float().cpu().numpy()
        masks = video_masks.detach().cpu().numpy().astype(np.uint8)
        out = masks[chosen]
        n = int(out.sum())
        st.sizes.append(n)
        ratio = -1.0
        if len(st.sizes) > 1 and n >= 1:
            window, last = self.size_history
            recent = [s for s in st.sizes[-window:] if s >= 1][-last:]
            ratio = n / float(np.median(recent))
        m_iou = float(ious_np[chosen])
        lo, hi = self.size_ratio_range
        event = {"frame": int(frame_idx), "iou": m_iou, "size": n, "size_ratio": ratio,
                 "anchor": False}
        gap_ok = st.last_anchor is None or frame_idx - st.last_anchor > self.anchor_gap
        if not (m_iou > self.iou_threshold and lo <= ratio <= hi and n >= 1 and gap_ok):
            st.events.append(event)
            return False
        alternatives = [masks[j] for j in range(masks.shape[0]) if j != chosen]
        out_bounds = mask_bounds(out)
        box_ious = []
        for alt in alternatives:
            rest = np.logical_and(alt, np.logical_not(out)).astype(np.uint8)
            if rest.sum() < 1:
                continue
            union = np.logical_or(largest_component(rest), out).astype(np.uint8)
            box_ious.append(rectangle_overlap(out_bounds, mask_bounds(union)))
        event["box_ious"] = box_ious
        anchor = bool(box_ious) and min(box_ious) <= self.distractor_box_iou
        if anchor:
            st.last_anchor = frame_idx
            st.anchors.append(int(frame_idx))
        event["anchor"] = anchor
        st.events.append(event)
        return anchor

    # -- memory reads -----------------------------------------------------------------------
    def select_drm(self, frame_idx: int, cond_frames: Sequence[int]) -> List[int]:
        """The conditioning frames read on ``frame_idx`` (forward tracking), in reading order.

        The first prompt, the closest one before the previous frame, then the temporally
        closest others (never the previous frame), ``drm_size`` in all.
        """
        cond = list(cond_frames)
        chosen: List[int] = []
        before = [t for t in cond if t < frame_idx - 1]
        if before:
            chosen.append(max(before))
        first = min(cond) if cond else None
        if first is not None and first not in chosen:
            chosen.append(first)
        rest = sorted((t for t in cond if t not in chosen and t != frame_idx - 1),
                      key=lambda t: abs(t - frame_idx))
        chosen.extend(rest[:max(self.drm_size - len(chosen), 0)])
        return chosen

    def select_ram(self, frame_idx: int, slots: int, present, is_drm, lookup) -> List[int]:
        """RAM frames read on ``frame_idx`` (forward), newest first.

        Args:
            slots: RAM slots (``num_maskmem - number of DRM frames read``).
            present: ``frame -> bool`` object visible on a stored frame.
            is_drm: ``frame -> bool`` frame among the DRM frames read.
            lookup: ``frame -> bool`` a stored output exists for the frame (for the first slot
                conditioning frames count, for the others only tracked frames).
        """
        picked: List[int] = []
        prev = frame_idx - 1
        for slot in range(slots):
            if slot == 0:
                ok = lookup(prev, True) and present(prev) and not is_drm(prev)
                while not ok:
                    prev -= 1
                    if prev <= 0:
                        break
                    ok = lookup(prev, False) and present(prev) and not is_drm(prev)
            elif prev >= 0:
                prev = ((prev - 1) // self.ram_stride) * self.ram_stride
                ok = lookup(prev, False) and present(prev) and not is_drm(prev)
                while not ok:
                    prev -= self.ram_stride
                    if prev <= 0:
                        break
                    ok = lookup(prev, False) and present(prev) and not is_drm(prev)
            else:
                ok = False
            if ok:
                picked.append(prev)
        return picked


# ----------------------------------------------------------------------------------------
# the policy (the predictor's hook)
# ----------------------------------------------------------------------------------------
import torch.nn.functional as F  # noqa: E402

from sam2.modeling.sam2_memory import MemoryFrameRef, MemorySelection, PointerRef  # noqa: E402
from sam2.video.policies.base import FrameDecision, MemoryPolicy  # noqa: E402


class Dam4SamPolicy(MemoryPolicy):
    """DAM4SAM as a memory policy (see the module docstring; defaults = the authors').

    Forward tracking only, as the authors' tracker: a frame tracked in reverse reads SAM 2's
    memory (and introspection still runs). Args: see :class:`Dam4SamCore`.
    """

    name = "dam4sam"

    def __init__(self, ram_stride: int = 5, drm_size: int = 4, iou_threshold: float = 0.8,
                 size_ratio_low: float = 0.8, size_ratio_high: float = 1.2,
                 size_window: int = 300, size_last: int = 10, anchor_gap: int = 5,
                 distractor_box_iou: float = 0.7) -> None:
        self.core = Dam4SamCore(ram_stride, drm_size, iou_threshold, (size_ratio_low, size_ratio_high),
                                (size_window, size_last), anchor_gap, distractor_box_iou)

    def describe(self) -> str:
        c = self.core
        return f"dam4sam(ram_stride={c.ram_stride}, drm={c.drm_size}, iou>{c.iou_threshold})"

    def new_object_state(self) -> DamObjectState:
        return DamObjectState()

    # -- hook -------------------------------------------------------------------------------
    def on_frame(self, object_state: DamObjectState, decision: FrameDecision) -> None:
        st = object_state
        out = decision.output
        st.present[decision.frame_idx] = bool((out.pred_masks > 0).any().item())
        cands = decision.candidates
        if cands is None or decision.video_size is None:
            return
        size = tuple(int(v) for v in decision.video_size)
        alts = F.interpolate(cands.low_res_masks.float(), size=size, mode="bilinear", align_corners=False)[0] > 0
        chosen = int(torch.argmax(cands.ious[0]).item())
        video_out = F.interpolate(out.pred_masks.to(alts.device).float(), size=size, mode="bilinear",
                                  align_corners=False)[0, 0] > 0
        alts[chosen] = video_out
        anchor = self.core.introspect(st, decision.frame_idx, alts, cands.ious[0], chosen)
        st.events[-1]["read"] = st.pending_read
        st.pending_read = None
        if anchor:
            decision.promote_current = True
            # forward tracking never reads an anchor older than the drm_size most recent ones
            # again (the DRM takes the first prompt and the anchors closest in time), nor its
            # pointer (anchors are more than anchor_gap frames apart): forget it
            while len(st.anchors) > self.core.drm_size:
                old = st.anchors.pop(0)
                if decision.bank.is_cond(old):
                    decision.bank.drop_cond(old)
            logger.debug("DAM4SAM: frame %d enters the DRM", decision.frame_idx)

    def _present(self, st: DamObjectState, memory, t: int) -> bool:
        if t not in st.present:
            out = memory.get(t)
            st.present[t] = out is not None and bool((out.pred_masks > 0).any().item())
        return st.present[t]

    def select_memory(self, object_state: DamObjectState, frame_idx: int, reverse: bool,
                      selection: MemorySelection, memory, window) -> MemorySelection:
        if reverse:
            return selection
        st = object_state
        drm, ram = self._plan(st, frame_idx, memory, window)
        spatial = [MemoryFrameRef(t, 0, memory.cond[t]) for t in drm]
        top = window.num_maskmem - 1
        spatial += [MemoryFrameRef(t, top - k, memory.get(t)) for k, t in enumerate(ram)]
        pointers: List[PointerRef] = []
        if window.use_obj_ptrs:
            for t in drm:
                if t <= frame_idx:
                    pointers.append(PointerRef(t, frame_idx - t, memory.cond[t]))
            for t, step in window.pointer_steps(frame_idx, False):
                out = memory.non_cond.get(t)
                if out is None and t in memory.cond and t not in drm:
                    out = memory.cond[t]
                if out is not None and self._present(st, memory, t):
                    pointers.append(PointerRef(t, step, out))
        st.pending_read = {"drm": list(drm), "ram": list(ram)}
        return MemorySelection(spatial=spatial, pointers=pointers,
                               max_ptr_distance=selection.max_ptr_distance)

    def _plan(self, st: DamObjectState, frame_idx: int, memory, window) -> Tuple[List[int], List[int]]:
        drm = self.core.select_drm(frame_idx, list(memory.cond))
        drm_set = set(drm)
        slots = window.num_maskmem - len(drm)

        def lookup(t: int, allow_cond: bool) -> bool:
            return t in memory.non_cond or (allow_cond and t in memory.cond)

        ram = self.core.select_ram(frame_idx, slots, lambda t: self._present(st, memory, t),
                                   lambda t: t in drm_set, lookup)
        return drm, ram

    def frames_to_retain(self, object_state: DamObjectState, bank) -> List[int]:
        if not bank.non_cond:
            return []
        last = max(bank.non_cond)
        _, ram = self._plan(object_state, last + 1, bank.memory, bank.window)
        return ram

    def records(self, object_state: DamObjectState) -> List[dict]:
        return list(object_state.events)

    def forget(self, object_state: DamObjectState, is_gone: Callable[[int], bool]) -> None:
        """Drop the presence flags of gone frames (recomputed from memory should one be read)."""
        for t in [t for t in object_state.present if is_gone(t)]:
            del object_state.present[t]
