"""SAMURAI: motion-aware candidate choice and memory admission (Yang et al., 2024).

What the authors' code does is summarised in ``docs/memory_policies.md``; in short, per object:

* a constant-velocity Kalman filter on the object's box ``(cx, cy, w/h, h)`` in model-input
  pixels (:class:`BoxKalmanFilter`), started from the first tracked frame;
* once the filter has seen ``stable_frames_threshold`` confident frames, the output is the
  decoder candidate maximising ``w * IoU(predicted box, candidate box) + (1 - w) * predicted
  IoU`` (``w = kf_score_weight``) instead of the highest predicted IoU;
* a tracked frame is *valid* memory when its chosen predicted IoU, object-score logit and
  motion score pass ``memory_bank_*_threshold``; a frame reads the ``num_maskmem - 1`` most
  recent valid frames (the previous frame always among them), placed at temporal positions by
  rank, instead of the last ``num_maskmem - 1`` frames;
* the decoder counts the object as present above an object-score logit of
  ``min_obj_score_logits`` (-1) instead of 0 (:attr:`SamuraiPolicy.presence_threshold`).

Differences from the fork, all outside what its scripts exercise (one object, prompted on the
first frame, tracked forward): the filter state is per object (the fork keeps one on the model),
frames are scanned towards the prompt in the tracking direction (the fork always looks at lower
indices), and the two frames nearest the prompt that the fork never scans are the first
tracked frame and the prompt itself, wherever the prompt is.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from sam2.modeling.track_types import MaskCandidates

logger = logging.getLogger(__name__)

Box = Tuple[int, int, int, int]
EMPTY_BOX: Box = (0, 0, 0, 0)

# noise of the filter, relative to the box height (position / velocity), as in the fork
_POS_WEIGHT = 1.0 / 20.0
_VEL_WEIGHT = 1.0 / 160.0


class BoxKalmanFilter:
    """Constant-velocity Kalman filter on ``(cx, cy, a, h)`` boxes, float64 (numpy).

    State ``x = (cx, cy, a, h, vcx, vcy, va, vh)``; one frame per step. Process and
    measurement noise scale with the box height ``h`` (weights 1/20 for positions, 1/160 for
    velocities); the aspect ratio ``a = w / h`` gets fixed small noise.
    """

    def __init__(self) -> None:
        self.transition = np.eye(8)
        self.transition[:4, 4:] = np.eye(4)
        self.observation = np.eye(4, 8)

    @staticmethod
    def _diag(values: Sequence[float]) -> np.ndarray:
        return np.diag(np.square(np.asarray(values, dtype=np.float64)))

    def initiate(self, z: Sequence[float]) -> Tuple[np.ndarray, np.ndarray]:
        """Mean ``[8]`` and covariance ``[8, 8]`` of a new track at measurement ``z``."""
        z = np.asarray(z, dtype=np.float64)
        h = z[3]
        mean = np.concatenate([z, np.zeros(4)])
        p, v = 2 * _POS_WEIGHT * h, 10 * _VEL_WEIGHT * h
        return mean, self._diag([p, p, 1e-2, p, v, v, 1e-5, v])

    def predict(self, mean: np.ndarray, cov: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """One step ahead: ``x <- F x``, ``P <- F P F^T + Q(h)``."""
        h = mean[3]
        p, v = _POS_WEIGHT * h, _VEL_WEIGHT * h
        noise = self._diag([p, p, 1e-2, p, v, v, 1e-5, v])
        return self.transition @ mean, self.transition @ cov @ self.transition.T + noise

    def update(self, mean: np.ndarray, cov: np.ndarray, z: Sequence[float]) -> Tuple[np.ndarray, np.ndarray]:
        """Correct with measurement ``z`` (standard gain, measurement noise ``R(h)``)."""
        h = mean[3]
        r = self._diag([_POS_WEIGHT * h, _POS_WEIGHT * h, 1e-1, _POS_WEIGHT * h])
        obs = self.observation
        innovation_cov = obs @ cov @ obs.T + r
        # gain K = P H^T S^-1, via a solve with the symmetric S
        gain = np.linalg.solve(innovation_cov, (cov @ obs.T).T).T
        residual = np.asarray(z, dtype=np.float64) - obs @ mean
        return mean + gain @ residual, cov - gain @ innovation_cov @ gain.T


def box_to_measurement(box: Box) -> List[float]:
    """``(x0, y0, x1, y1)`` -> ``(cx, cy, w/h, h)``; a zero height counts as 1."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    if h == 0:
        h = 1
    return [(x0 + x1) / 2, (y0 + y1) / 2, w / h, h]


def state_to_box(mean: np.ndarray) -> Tuple[float, float, float, float]:
    """The filter's box ``(cx, cy, a, h)`` -> corners ``(x0, y0, x1, y1)``."""
    cx, cy, a, h = (float(v) for v in mean[:4])
    half_w, half_h = a * h / 2, h / 2
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h


def motion_iou(pred: Tuple[float, float, float, float], box: Box) -> float:
    """IoU of the predicted box with a candidate's box (0 for an empty candidate)."""
    if tuple(box) == EMPTY_BOX:
        return 0.0
    ax0, ay0, ax1, ay1 = pred
    bx0, by0, bx1, by1 = box
    inter = max(0, min(ax1, bx1) - max(ax0, bx0)) * max(0, min(ay1, by1) - max(ay0, by0))
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return inter / union if union != 0 else 0.0


def candidate_boxes(low_res_masks: torch.Tensor) -> List[Box]:
    """Boxes of ``[1, M, h, w]`` candidate logits at model-input size (``4h x 4w``).

    The candidates are upsampled as the model upsamples its chosen mask (bilinear,
    ``align_corners=False``); a box spans the first/last row and column with logit > 0
    (inclusive pixel indices), ``(0, 0, 0, 0)`` when the mask is empty. One host copy.
    """
    h, w = low_res_masks.shape[-2:]
    high = F.interpolate(low_res_masks.float(), size=(4 * h, 4 * w), mode="bilinear", align_corners=False)
    fg = high[0] > 0  # [M, H, W]
    rows, cols = fg.any(dim=2), fg.any(dim=1)  # [M, H], [M, W]
    n_rows, n_cols = rows.shape[1], cols.shape[1]
    ar_r = torch.arange(n_rows, device=fg.device)
    ar_c = torch.arange(n_cols, device=fg.device)
    big = max(n_rows, n_cols) + 1
    y0 = torch.where(rows, ar_r, big).amin(dim=1)
    y1 = torch.where(rows, ar_r, -1).amax(dim=1)
    x0 = torch.where(cols, ar_c, big).amin(dim=1)
    x1 = torch.where(cols, ar_c, -1).amax(dim=1)
    values = torch.stack([x0, y0, x1, y1], dim=1).tolist()
    return [tuple(v) if v[2] >= 0 else EMPTY_BOX for v in values]


@dataclass
class FrameScores:
    """What SAMURAI keeps of a tracked frame to decide whether it is valid memory."""

    iou: float  # predicted IoU of the chosen candidate (float32 value)
    score: float  # object-score logit
    kf_score: Optional[float]  # motion IoU of the chosen candidate (only once stable)


@dataclass
class SamuraiObjectState:
    """Per-object SAMURAI state (lives in the object's track)."""

    mean: Optional[np.ndarray] = None
    cov: Optional[np.ndarray] = None
    stable: int = 0
    #: the first tracked frame of the object (never scanned as memory, like the fork's frame 1)
    first_tracked: Optional[int] = None
    frames: Dict[int, FrameScores] = field(default_factory=dict)
    #: the last tracked frame and its direction
    last_frame: Optional[int] = None
    last_reverse: bool = False
    #: tracked frames read as recent memory by the frame being tracked (set before its decoder)
    pending_read: Optional[List[int]] = None
    #: per tracked frame: branch, chosen candidate, scores, validity (JSON-ready)
    events: List[dict] = field(default_factory=list)


class SamuraiCore:
    """The SAMURAI decisions, independent of the predictor's hook (see :class:`SamuraiPolicy`).

    Args: see :class:`SamuraiPolicy`.
    """

    def __init__(
        self,
        stable_frames_threshold: int = 15,
        stable_ious_threshold: float = 0.3,
        min_obj_score_logits: float = -1.0,
        kf_score_weight: float = 0.25,
        memory_bank_iou_threshold: float = 0.5,
        memory_bank_obj_score_threshold: float = 0.0,
        memory_bank_kf_score_threshold: float = 0.0,
        max_valid_scan: int = 15,
    ) -> None:
        if int(stable_frames_threshold) != stable_frames_threshold or stable_frames_threshold < 0:
            raise ValueError(f"stable_frames_threshold must be a non-negative integer, got {stable_frames_threshold!r}")
        if not 0.0 <= float(kf_score_weight) <= 1.0:
            raise ValueError(f"kf_score_weight must be in [0, 1], got {kf_score_weight!r}")
        if int(max_valid_scan) != max_valid_scan or max_valid_scan < 1:
            raise ValueError(f"max_valid_scan must be a positive integer, got {max_valid_scan!r}")
        self.stable_frames_threshold = int(stable_frames_threshold)
        self.stable_ious_threshold = float(stable_ious_threshold)
        self.min_obj_score_logits = float(min_obj_score_logits)
        self.kf_score_weight = float(kf_score_weight)
        self.memory_bank_iou_threshold = float(memory_bank_iou_threshold)
        self.memory_bank_obj_score_threshold = float(memory_bank_obj_score_threshold)
        self.memory_bank_kf_score_threshold = float(memory_bank_kf_score_threshold)
        self.max_valid_scan = int(max_valid_scan)
        self.kf = BoxKalmanFilter()

    # -- candidate choice ------------------------------------------------------------------
    def choose(self, st: SamuraiObjectState, frame_idx: int, cands: MaskCandidates) -> Tuple[int, Optional[float]]:
        """Run the filter on one frame; return ``(chosen candidate, its motion IoU or None)``."""
        if st.first_tracked is None:
            st.first_tracked = frame_idx
        ious = cands.ious[0].float()
        if cands.num_candidates == 1:  # single-mask output: SAMURAI leaves the frame alone
            self._log(st, frame_idx, "single", 0, ious, None)
            return 0, None
        best = int(torch.argmax(ious).item())
        if st.mean is None or st.stable == 0:
            box = candidate_boxes(cands.low_res_masks[:, best:best + 1])[0]
            st.mean, st.cov = self.kf.initiate(box_to_measurement(box))
            st.stable += 1
            self._log(st, frame_idx, "init", best, ious, None)
            return best, None
        st.mean, st.cov = self.kf.predict(st.mean, st.cov)
        if st.stable < self.stable_frames_threshold:
            box = candidate_boxes(cands.low_res_masks[:, best:best + 1])[0]
            if bool(ious[best] > self.stable_ious_threshold):
                st.mean, st.cov = self.kf.update(st.mean, st.cov, box_to_measurement(box))
                st.stable += 1
            else:
                st.stable = 0
            self._log(st, frame_idx, "warmup", best, ious, None)
            return best, None
        boxes = candidate_boxes(cands.low_res_masks)
        pred = state_to_box(st.mean)
        kf_ious = torch.tensor([motion_iou(pred, b) for b in boxes], dtype=torch.float32, device=ious.device)
        weighted = self.kf_score_weight * kf_ious + (1 - self.kf_score_weight) * ious
        chosen = int(torch.argmax(weighted).item())
        if bool(ious[chosen] < self.stable_ious_threshold):
            st.stable = 0
        else:
            st.mean, st.cov = self.kf.update(st.mean, st.cov, box_to_measurement(boxes[chosen]))
        kf_score = float(kf_ious[chosen].item())
        self._log(st, frame_idx, "motion", chosen, ious, kf_score, weighted)
        return chosen, kf_score

    def _log(self, st: SamuraiObjectState, frame_idx: int, branch: str, chosen: int,
             ious: torch.Tensor, kf_score: Optional[float], weighted: Optional[torch.Tensor] = None) -> None:
        st.events.append({
            "frame": int(frame_idx), "branch": branch, "chosen": int(chosen),
            "ious": [float(v) for v in ious.tolist()], "kf_score": kf_score, "stable": int(st.stable),
            "kf_box": None if st.mean is None else [float(v) for v in state_to_box(st.mean)],
            "memory_frames": st.pending_read,
        })
        st.pending_read = None

    # -- memory admission ------------------------------------------------------------------
    def remember(self, st: SamuraiObjectState, frame_idx: int, iou: float, score: float,
                 kf_score: Optional[float]) -> bool:
        """Keep the scores of a tracked frame; return whether it is valid memory."""
        st.frames[frame_idx] = FrameScores(iou, score, kf_score)
        valid = self.is_valid(st.frames[frame_idx])
        if st.events and st.events[-1]["frame"] == frame_idx:
            st.events[-1]["valid"] = valid
        return valid

    def is_valid(self, s: FrameScores) -> bool:
        return (s.iou > self.memory_bank_iou_threshold
                and s.score > self.memory_bank_obj_score_threshold
                and (s.kf_score is None or s.kf_score > self.memory_bank_kf_score_threshold))

    def memory_frames(self, st: SamuraiObjectState, frame_idx: int, reverse: bool, slots: int,
                      stored: Sequence[int]) -> List[int]:
        """The tracked frames frame ``frame_idx`` reads, oldest first (at most ``slots``).

        Scanning from the previous frame towards the prompt, the valid frames (at most
        ``max_valid_scan``) are kept; the first tracked frame is never scanned; the previous
        frame is always read. ``stored`` are the frames present in memory.
        """
        step = -1 if reverse else 1
        prev = frame_idx - step
        stored = set(stored)
        valid: List[int] = []
        t = prev
        while (t - (st.first_tracked if st.first_tracked is not None else prev)) * step > 0 \
                and len(valid) < self.max_valid_scan:
            s = st.frames.get(t)
            if s is not None and t in stored and self.is_valid(s):
                valid.append(t)
            t -= step
        if prev not in valid:
            valid.insert(0, prev)
        chosen = valid[:slots]  # newest first
        return [t for t in reversed(chosen) if t in stored]

    def retain(self, st: SamuraiObjectState, last_frame: int, reverse: bool, slots: int,
               stored: Sequence[int]) -> List[int]:
        """Frames later frames may still read: the ``slots`` most recent valid frames (the
        previous frame of any later frame is newer than ``last_frame`` or is it)."""
        step = -1 if reverse else 1
        valid = self.memory_frames(st, last_frame + step, reverse, slots + 1, stored)
        return valid


# ----------------------------------------------------------------------------------------
# the policy (the predictor's hook)
# ----------------------------------------------------------------------------------------
from sam2.modeling.sam2_memory import MemoryFrameRef, MemorySelection  # noqa: E402
from sam2.video.policies.base import FrameDecision, MemoryPolicy  # noqa: E402


class SamuraiPolicy(MemoryPolicy):
    """SAMURAI as a memory policy (see the module docstring; defaults = the authors' configs).

    Args:
        stable_frames_threshold: confident frames before the motion score is used (15).
        stable_ious_threshold: predicted IoU that keeps the filter updated / stable (0.3).
        min_obj_score_logits: object-score logit above which the decoder counts the object
            as present (-1; plain SAM 2 uses 0).
        kf_score_weight: weight of the motion IoU in the candidate choice (0.25).
        memory_bank_iou_threshold: predicted IoU a frame needs to be read as memory (0.5).
        memory_bank_obj_score_threshold: object-score logit it needs (0.0).
        memory_bank_kf_score_threshold: motion IoU it needs, once measured (0.0).
        max_valid_scan: valid frames collected at most when scanning back (15, the fork's
            ``max_obj_ptrs_in_encoder - 1``).
    """

    name = "samurai"

    def __init__(self, stable_frames_threshold: int = 15, stable_ious_threshold: float = 0.3,
                 min_obj_score_logits: float = -1.0, kf_score_weight: float = 0.25,
                 memory_bank_iou_threshold: float = 0.5, memory_bank_obj_score_threshold: float = 0.0,
                 memory_bank_kf_score_threshold: float = 0.0, max_valid_scan: int = 15) -> None:
        self.core = SamuraiCore(stable_frames_threshold, stable_ious_threshold, min_obj_score_logits,
                                kf_score_weight, memory_bank_iou_threshold,
                                memory_bank_obj_score_threshold, memory_bank_kf_score_threshold,
                                max_valid_scan)
        #: the decoder's presence threshold while this policy is in force
        self.presence_threshold = self.core.min_obj_score_logits

    def describe(self) -> str:
        c = self.core
        return (f"samurai(stable={c.stable_frames_threshold}/{c.stable_ious_threshold}, "
                f"w={c.kf_score_weight}, mem_iou>{c.memory_bank_iou_threshold}, "
                f"presence>{c.min_obj_score_logits})")

    def new_object_state(self) -> SamuraiObjectState:
        return SamuraiObjectState()

    def on_frame(self, object_state: SamuraiObjectState, decision: FrameDecision) -> None:
        cands = decision.candidates
        if cands is None:
            return
        object_state.last_frame, object_state.last_reverse = decision.frame_idx, decision.reverse
        chosen, kf_score = self.core.choose(object_state, decision.frame_idx, cands)
        if chosen != int(cands.chosen.reshape(-1)[0].item()):
            decision.choose(chosen)
        iou = float(cands.ious[0, chosen].float().item())
        score = float(cands.object_score_logits.reshape(-1)[0].float().item())
        self.core.remember(object_state, decision.frame_idx, iou, score, kf_score)

    def select_memory(self, object_state: SamuraiObjectState, frame_idx: int, reverse: bool,
                      selection: MemorySelection, memory, window) -> MemorySelection:
        """Recent memory = the most recent valid frames (ranked), instead of the last ones."""
        slots = window.num_maskmem - 1
        frames = self.core.memory_frames(object_state, frame_idx, reverse, slots, memory.non_cond.keys())
        spatial = [r for r in selection.spatial if r.t_pos == 0]
        first_pos = window.num_maskmem - len(frames)
        spatial += [MemoryFrameRef(t, first_pos + i, memory.non_cond[t]) for i, t in enumerate(frames)]
        object_state.pending_read = list(frames)
        return MemorySelection(spatial=spatial, pointers=selection.pointers,
                               max_ptr_distance=selection.max_ptr_distance)

    def frames_to_retain(self, object_state: SamuraiObjectState, bank) -> List[int]:
        if object_state.last_frame is None:
            return []
        slots = bank.window.num_maskmem - 1
        return self.core.retain(object_state, object_state.last_frame, object_state.last_reverse,
                                slots, bank.non_cond.keys())

    def records(self, object_state: SamuraiObjectState) -> List[dict]:
        return list(object_state.events)

    def forget(self, object_state: SamuraiObjectState, is_gone: Callable[[int], bool]) -> None:
        """Drop the scores of gone frames (only stored frames are ever chosen as memory)."""
        for t in [t for t in object_state.frames if is_gone(t)]:
            del object_state.frames[t]
