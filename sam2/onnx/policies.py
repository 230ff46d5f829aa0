"""Memory policies of the ONNX tracker, decided in NumPy outside the graphs.

* ``"sam2.1"`` - plain SAM 2.1 (nothing to decide).
* ``"rcms"`` - the same rule as :class:`sam2.video.policies.rcms.RCMSPolicy`: on an object's first
  absent tracked frame, promote up to ``N`` earlier tracked frames (newest first, frame 0
  never) whose quality is above ``tau`` into its conditioning memory; optional re-arming and
  a cap on promoted frames.

Policies that need more than promotions are not available here: SAMURAI (motion-aware
candidate choice with a Kalman filter), DAM4SAM (distractor-aware anchors) and SAM2Long
(several memory hypotheses with scaled memory keys, which the tracking graph does not take).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

from sam2.onnx.ops import NO_QUALITY
from sam2.utils.constants import RCMS_PUBLISHED_N, RCMS_PUBLISHED_TAU
from sam2.utils.rcms_params import check_rcms_params
from sam2.onnx.state import Entry, ObjectState

logger = logging.getLogger(__name__)

__all__ = ["SUPPORTED_POLICIES", "PlainPolicy", "RcmsPolicy", "make_policy"]

SUPPORTED_POLICIES = ("sam2.1", "rcms")
_WHY_NOT = {
    "samurai": "its motion-aware candidate choice (Kalman filter) is not implemented for ONNX",
    "dam4sam": "its distractor-aware anchor frames are not implemented for ONNX",
    "sam2long": "its memory hypotheses scale memory keys, which the tracking graph does not take",
}


class PlainPolicy:
    """Plain SAM 2.1: every tracked frame is stored as it is."""

    name = "sam2.1"
    presence_threshold = 0.0

    def new_object_state(self) -> Any:
        return None

    def on_frame(self, state: Any, obj: ObjectState, frame_idx: int, entry: Entry) -> None:
        return None

    def records(self, state: Any) -> List[dict]:
        return []

    def frames_to_retain(self, state: Any, obj: ObjectState) -> List[int]:
        """Tracked frames eviction must keep (those the policy may still promote)."""
        return []


@dataclass
class RcmsObjectState:
    latched: bool = False
    present_run: int = 0
    promoted_frames: List[int] = field(default_factory=list)
    events: List[dict] = field(default_factory=list)


class RcmsPolicy(PlainPolicy):
    """RCMS (see the module docstring); parameters as :class:`sam2.video.policies.rcms.RCMSPolicy`."""

    name = "rcms"

    def __init__(self, num_prev_frames_to_promote: int, low_quality_threshold: float,
                 rearm_after_present_frames: Optional[int] = None,
                 max_promoted_frames: Optional[int] = None) -> None:
        (self.num_prev_frames_to_promote, self.low_quality_threshold, self.rearm_after_present_frames,
         self.max_promoted_frames) = check_rcms_params(num_prev_frames_to_promote, low_quality_threshold,
                                                       rearm_after_present_frames, max_promoted_frames)

    def new_object_state(self) -> RcmsObjectState:
        return RcmsObjectState()

    def on_frame(self, state: RcmsObjectState, obj: ObjectState, frame_idx: int, entry: Entry) -> None:
        if self.num_prev_frames_to_promote == 0:
            return
        if state.latched and self.rearm_after_present_frames is None:
            return
        score = float(entry.object_score_logits.reshape(-1)[0])
        if state.latched:
            state.present_run = state.present_run + 1 if score > 0 else 0
            if state.present_run >= self.rearm_after_present_frames:
                state.latched, state.present_run = False, 0
            return
        if score <= 0:
            state.latched, state.present_run = True, 0
            self._promote(state, obj, frame_idx)

    def _promote(self, state: RcmsObjectState, obj: ObjectState, trigger: int) -> None:
        promoted: List[Tuple[int, float]] = []
        for s in sorted((s for s in obj.non_cond if 1 <= s < trigger), reverse=True):
            if len(promoted) >= self.num_prev_frames_to_promote:
                break
            q = float(obj.non_cond[s].quality)
            if q > NO_QUALITY and q >= 0.0 and q > self.low_quality_threshold:
                obj.cond[s] = obj.non_cond.pop(s)
                promoted.append((s, q))
                state.promoted_frames.append(s)
        state.events.append({"trigger_frame": trigger, "promoted_frames": [f for f, _ in promoted],
                             "qualities": [q for _, q in promoted]})
        cap = self.max_promoted_frames
        while cap is not None and len(state.promoted_frames) > cap:
            obj.cond.pop(state.promoted_frames.pop(0), None)
        logger.debug("RCMS trigger at frame %d promoted %s", trigger, promoted)

    def records(self, state: RcmsObjectState) -> List[dict]:
        return list(state.events)

    def frames_to_retain(self, state: RcmsObjectState, obj: ObjectState) -> List[int]:
        """While the trigger is armed, the ``N`` most recent frames that could be promoted."""
        if self.num_prev_frames_to_promote == 0 or (state.latched and self.rearm_after_present_frames is None):
            return []
        keep: List[int] = []
        for s in sorted(obj.non_cond, reverse=True):
            if s < 1 or len(keep) >= self.num_prev_frames_to_promote:
                break
            q = float(obj.non_cond[s].quality)
            if q >= 0.0 and q > self.low_quality_threshold:
                keep.append(s)
        return keep


def make_policy(name: Optional[str], rcms: Mapping[str, Any]) -> PlainPolicy:
    """The policy ``name`` (``None`` or ``"sam2.1"``: plain SAM 2.1; ``"rcms"``: RCMS with the
    settings ``rcms``, the published N and tau where they are missing).

    Raises:
        ValueError: an unknown or unsupported policy name (the message says why).
    """
    if name in (None, "sam2.1"):
        return PlainPolicy()
    if name == "rcms":  # the published N and tau where none is given
        params: Dict[str, Any] = {k: rcms[k] for k in ("rearm_after_present_frames", "max_promoted_frames") if k in rcms}
        n = int(rcms.get("num_prev_frames_to_promote", RCMS_PUBLISHED_N))
        return RcmsPolicy(n, float(rcms.get("low_quality_threshold", RCMS_PUBLISHED_TAU)), **params)
    why = _WHY_NOT.get(str(name).split("+")[0])
    raise ValueError(f"memory_policy={name!r} is not available in the ONNX tracker"
                     + (f": {why}" if why else f"; supported: {', '.join(SUPPORTED_POLICIES)}"))
