"""RCMS: reliable conditioned memory selection (with the MQF quality gate).

When a tracked object is first predicted absent (object-score logit <= 0 on a tracked
frame ``t``), RCMS walks back over the object's tracked frames ``t-1, t-2, ..., 1`` (no
distance limit; frame 0 is never considered and frame ``t`` itself is not promoted) and
MOVES up to ``N = num_prev_frames_to_promote`` of them whose quality is strictly greater
than ``tau = low_quality_threshold`` into the object's conditioning memory. They then stay
conditioning frames for the rest of the video: memory attention sees them at the prompt's
temporal position and reads their object pointers through the conditioning list. Their
memory features are not recomputed. The trigger fires once per object (a latch, cleared by
``reset_state`` / ``init_state``) unless re-arming is switched on.

Quality (MQF) of a stored prediction, computed on the device for every frame:

    quality = sigmoid(object_score_logit) * max(predicted IoUs)
              * mean(sigmoid(logit) over the stored low-res pixels with logit > 0)

A prediction without any positive pixel has no quality: it is stored as ``-1`` (never NaN)
and never promoted whatever ``tau`` is.

Host synchronisation: one small device->host copy per tracked frame while the trigger is
armed (the object score and the quality of that frame together); none once latched (unless
re-arming is on); none at all with ``N = 0``.

Opt-in extensions (default off, see ``docs/video_predictor.md``):

* ``rearm_after_present_frames = K``: the latch re-opens after the object has been present
  on K consecutive tracked frames, so a later disappearance promotes again.
* ``max_promoted_frames = M``: at most M promoted frames per object; the oldest promoted
  frames leave the memory first. Prompted frames are never dropped.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from sam2.modeling.track_types import FrameOutput
from sam2.utils.constants import RCMS_PUBLISHED_N, RCMS_PUBLISHED_TAU
from sam2.utils.rcms_params import check_rcms_params
from sam2.video.memory.memory_bank import MemoryBank
from sam2.video.policies.base import FrameDecision, MemoryPolicy

logger = logging.getLogger(__name__)

#: the published RCMS setting (N and tau, written once in :mod:`sam2.utils.constants`): the
#: defaults of :class:`RCMSPolicy`
PUBLISHED_N = RCMS_PUBLISHED_N
PUBLISHED_TAU = RCMS_PUBLISHED_TAU


@dataclass
class RcmsEvent:
    """One firing of the RCMS trigger for one object."""

    trigger_frame: int
    promoted: List[Tuple[int, float]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "trigger_frame": self.trigger_frame,
            "promoted_frames": [f for f, _ in self.promoted],
            "qualities": [q for _, q in self.promoted],
        }


@dataclass
class RcmsObjectState:
    """Per-object RCMS state (lives in the object's track)."""

    latched: bool = False
    #: consecutive present frames since the last trigger (for re-arming)
    present_run: int = 0
    #: qualities already copied to the host, by frame
    host_quality: Dict[int, float] = field(default_factory=dict)
    #: promoted frames in promotion order
    promoted_frames: List[int] = field(default_factory=list)
    events: List[RcmsEvent] = field(default_factory=list)


def _has_quality(q: float) -> bool:
    return q >= 0.0


class RCMSPolicy(MemoryPolicy):
    """Disappearance-triggered promotion of reliable frames to conditioning memory.

    The defaults, :data:`PUBLISHED_N` = 4 and :data:`PUBLISHED_TAU` = 0.6, are the published
    RCMS setting and the one source of RCMS defaults (configs, tools and the predictor leave unset values to them).

    Args:
        num_prev_frames_to_promote: ``N``, the most frames promoted per trigger (0: never).
        low_quality_threshold: ``tau``; a frame is promoted only if its quality is > tau.
        rearm_after_present_frames: opt-in re-arming (``None``: one trigger per object).
        max_promoted_frames: opt-in cap on promoted frames per object (``None``: no cap).
    """

    name = "rcms"

    def __init__(
        self,
        num_prev_frames_to_promote: int = PUBLISHED_N,
        low_quality_threshold: float = PUBLISHED_TAU,
        rearm_after_present_frames: Optional[int] = None,
        max_promoted_frames: Optional[int] = None,
    ) -> None:
        (self.num_prev_frames_to_promote, self.low_quality_threshold, self.rearm_after_present_frames,
         self.max_promoted_frames) = check_rcms_params(num_prev_frames_to_promote, low_quality_threshold,
                                                       rearm_after_present_frames, max_promoted_frames)

    def describe(self) -> str:
        return (f"rcms(N={self.num_prev_frames_to_promote}, tau={self.low_quality_threshold}, "
                f"rearm={self.rearm_after_present_frames}, cap={self.max_promoted_frames})")

    def new_object_state(self) -> RcmsObjectState:
        return RcmsObjectState()

    # -- the hook ---------------------------------------------------------------------
    def on_frame(self, object_state: RcmsObjectState, decision: FrameDecision) -> None:
        """Latch on the first absent frame and promote earlier reliable frames (the frame
        itself is never promoted; it enters the bank after this hook)."""
        if self.num_prev_frames_to_promote == 0:
            return  # RCMS off: no host sync, no state change
        if object_state.latched and self.rearm_after_present_frames is None:
            return
        frame_idx, bank = decision.frame_idx, decision.bank
        score, quality = self._sync_score_and_quality(decision.output)
        object_state.host_quality[frame_idx] = quality
        if object_state.latched:
            # re-arming: count consecutive present frames
            object_state.present_run = object_state.present_run + 1 if score > 0 else 0
            if object_state.present_run >= self.rearm_after_present_frames:
                object_state.latched = False
                object_state.present_run = 0
            return
        if score <= 0:
            object_state.latched = True
            object_state.present_run = 0
            self._promote(object_state, bank, frame_idx)

    def forget(self, object_state: RcmsObjectState, is_gone: Callable[[int], bool]) -> None:
        """Drop the host copies of gone frames' qualities (they can no longer be promoted)."""
        for t in [t for t in object_state.host_quality if is_gone(t)]:
            del object_state.host_quality[t]

    @staticmethod
    def _sync_score_and_quality(output: FrameOutput) -> Tuple[float, float]:
        score = output.object_score_logits.reshape(-1)[:1].float()
        if output.quality is None:
            quality = torch.ones_like(score)
        else:
            quality = output.quality.reshape(-1)[:1].float().to(score.device)
        values = torch.cat([score, quality]).tolist()  # the one device->host copy
        return values[0], values[1]

    def _candidate_qualities(
        self, object_state: RcmsObjectState, bank: MemoryBank, frames: Sequence[int]
    ) -> Dict[int, float]:
        """Host qualities of ``frames``; unknown ones are fetched in a single copy."""
        known = {t: object_state.host_quality[t] for t in frames if t in object_state.host_quality}
        missing = [t for t in frames if t not in known]
        with_tensor = [t for t in missing if bank.non_cond[t].quality is not None]
        for t in missing:
            if bank.non_cond[t].quality is None:
                known[t] = 1.0  # an entry without quality counts as perfect (baseline rule)
        if with_tensor:
            # entries may live on the device or (offloaded) on the host
            device = bank.non_cond[with_tensor[0]].quality.device
            stacked = torch.cat([bank.non_cond[t].quality.reshape(-1)[:1].float().to(device)
                                 for t in with_tensor])
            for t, q in zip(with_tensor, stacked.tolist()):  # one device->host copy
                known[t] = q
                object_state.host_quality[t] = q
        return known

    def _promote(self, object_state: RcmsObjectState, bank: MemoryBank, trigger: int) -> None:
        # walk t-1, t-2, ..., 1 over the frames that exist in the non-conditioning memory
        # (always towards lower indices, whatever the tracking direction)
        frames = sorted((s for s in bank.non_cond if 1 <= s < trigger), reverse=True)
        qualities = self._candidate_qualities(object_state, bank, frames)
        event = RcmsEvent(trigger_frame=trigger)
        tau = self.low_quality_threshold
        for s in frames:
            if len(event.promoted) >= self.num_prev_frames_to_promote:
                break
            q = qualities[s]
            if _has_quality(q) and q > tau:
                bank.promote(s)
                event.promoted.append((s, q))
                object_state.promoted_frames.append(s)
        object_state.events.append(event)
        self._apply_cap(object_state, bank)
        logger.debug("RCMS trigger at frame %d promoted %s", trigger, event.promoted)

    def _apply_cap(self, object_state: RcmsObjectState, bank: MemoryBank) -> None:
        cap = self.max_promoted_frames
        if cap is None:
            return
        while len(object_state.promoted_frames) > cap:
            oldest = object_state.promoted_frames.pop(0)
            bank.drop_cond(oldest)

    # -- eviction -----------------------------------------------------------------------
    def frames_to_retain(self, object_state: RcmsObjectState, bank: MemoryBank) -> List[int]:
        """While the trigger is armed, the N most recent frames that could be promoted."""
        if self.num_prev_frames_to_promote == 0:
            return []
        if object_state.latched and self.rearm_after_present_frames is None:
            return []
        keep: List[int] = []
        found = 0
        tau = self.low_quality_threshold
        for s_idx in sorted(bank.non_cond, reverse=True):
            if s_idx < 1 or found >= self.num_prev_frames_to_promote:
                break
            q = object_state.host_quality.get(s_idx)
            if q is None and bank.non_cond[s_idx].quality is None:
                q = 1.0
            if q is None:
                keep.append(s_idx)  # quality not on the host yet: keep it to stay exact
            elif _has_quality(q) and q > tau:
                keep.append(s_idx)
                found += 1
        return keep

    # -- records --------------------------------------------------------------------------
    def records(self, object_state: RcmsObjectState) -> List[dict]:
        """Per trigger: ``{"trigger_frame", "promoted_frames", "qualities"}``."""
        return [e.to_dict() for e in object_state.events]
