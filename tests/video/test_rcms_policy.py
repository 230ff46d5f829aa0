"""RCMS policy driven with scripted scores / IoUs / logits (no model)."""
from __future__ import annotations

import math

import pytest
import torch

from sam2.modeling.track_types import FrameOutput
from sam2.video.memory.memory_bank import MemoryBank, ReadWindow
from sam2.video.policies import FrameDecision, PlainSAM2Policy
from sam2.utils.mask_quality import NO_QUALITY, mask_quality
from sam2.video.policies.rcms import RCMSPolicy


def _frame(score: float, iou: float = 1.0, logit: float = 4.0, empty: bool = False) -> FrameOutput:
    masks = torch.full((1, 1, 8, 8), -1024.0)
    if not empty:
        masks[..., :4, :4] = logit
    scores = torch.tensor([[score]])
    ious = torch.tensor([[iou, iou / 2, 0.1]])
    return FrameOutput(pred_masks=masks, obj_ptr=torch.zeros(1, 4), object_score_logits=scores,
                       ious=ious, quality=mask_quality(masks, scores, ious))


def _quality(score: float, iou: float, logit: float) -> float:
    sig = lambda x: 1.0 / (1.0 + math.exp(-x))  # noqa: E731
    return sig(score) * iou * sig(logit)


class Driver:
    """Feeds scripted tracked frames through the policy exactly like the predictor does."""

    def __init__(self, policy, prompt_frames=(0,), evict=False, reach=100):
        self.policy = policy
        self.bank = MemoryBank(ReadWindow(reach=reach), memory_eviction="drop" if evict else "off")
        self.state = policy.new_object_state()
        for f in prompt_frames:
            self.bank.put(f, _frame(10.0), is_cond=True)

    def track(self, frame_idx: int, out: FrameOutput, reverse: bool = False) -> None:
        decision = FrameDecision(frame_idx, reverse, candidates=None, bank=self.bank, _output=out)
        self.policy.on_frame(self.state, decision)
        self.bank.put(frame_idx, out, is_cond=False)
        self.bank.evict(frame_idx, reverse, keep=self.policy.frames_to_retain(self.state, self.bank))


def test_mask_quality_formula_and_empty_mask():
    out = _frame(score=1.5, iou=0.8, logit=2.0)
    assert out.quality.item() == pytest.approx(_quality(1.5, 0.8, 2.0), rel=1e-6)
    empty = _frame(score=1.5, empty=True)
    assert empty.quality.item() == NO_QUALITY
    assert not torch.isnan(empty.quality).any()


def test_promotes_n_most_recent_good_frames_strictly_above_tau():
    # tau chosen equal to the quality of frame 5: strict '>' must reject it
    q5 = _frame(3.0, iou=0.9, logit=3.0).quality.item()
    d = Driver(RCMSPolicy(2, low_quality_threshold=q5))
    d.track(1, _frame(5.0, iou=0.95, logit=5.0))  # good
    d.track(2, _frame(5.0, iou=0.95, logit=5.0))  # good
    d.track(3, _frame(5.0, iou=0.95, logit=5.0))  # good
    d.track(4, _frame(0.5, iou=0.3, logit=0.5))   # low quality: skipped
    d.track(5, _frame(3.0, iou=0.9, logit=3.0))   # exactly tau: skipped
    d.track(6, _frame(-2.0, empty=True))          # disappearance
    assert sorted(d.bank.cond) == [0, 2, 3]
    assert 2 not in d.bank.non_cond and 3 not in d.bank.non_cond  # moved, not copied
    assert 6 in d.bank.non_cond  # the trigger frame itself is not promoted
    (event,) = d.state.events
    assert event.trigger_frame == 6 and [f for f, _ in event.promoted] == [3, 2]


def test_frame_zero_never_considered_and_walk_is_unbounded():
    d = Driver(RCMSPolicy(4, 0.6), prompt_frames=(10,))
    d.track(0, _frame(5.0))  # tracked frame 0 (prompt is later): never eligible
    d.track(1, _frame(5.0))
    for t in range(2, 40):
        d.track(t, _frame(5.0, iou=0.1))  # 38 low-quality frames in between
    d.track(40, _frame(-1.0, empty=True))
    assert sorted(d.bank.cond) == [1, 10]
    assert 0 in d.bank.non_cond


def test_latch_second_disappearance_promotes_nothing():
    d = Driver(RCMSPolicy(1, 0.6))
    d.track(1, _frame(5.0))
    d.track(2, _frame(-1.0, empty=True))
    d.track(3, _frame(5.0))
    d.track(4, _frame(5.0))
    d.track(5, _frame(-1.0, empty=True))
    assert sorted(d.bank.cond) == [0, 1]
    assert len(d.state.events) == 1


def test_empty_mask_frames_never_promoted_even_with_negative_tau():
    d = Driver(RCMSPolicy(3, -5.0))
    d.track(1, _frame(5.0))
    d.track(2, _frame(5.0, empty=True))  # present score but no positive pixel
    d.track(3, _frame(-1.0, empty=True))
    assert sorted(d.bank.cond) == [0, 1]


def test_n_zero_and_plain_policy_change_nothing():
    for policy in (RCMSPolicy(0, 0.6), PlainSAM2Policy()):
        d = Driver(policy)
        d.track(1, _frame(5.0))
        d.track(2, _frame(-1.0, empty=True))
        assert sorted(d.bank.cond) == [0]
        assert sorted(d.bank.non_cond) == [1, 2]


def test_rearming_promotes_again_after_k_present_frames_and_cap_keeps_prompts():
    d = Driver(RCMSPolicy(1, 0.6, rearm_after_present_frames=2, max_promoted_frames=1))
    d.track(1, _frame(5.0))
    d.track(2, _frame(-1.0, empty=True))  # trigger 1 -> promotes 1
    d.track(3, _frame(5.0))
    d.track(4, _frame(-1.0, empty=True))  # only one present frame: still latched
    d.track(5, _frame(5.0))
    d.track(6, _frame(5.0))               # two present frames: re-armed
    d.track(7, _frame(-1.0, empty=True))  # trigger 2 -> promotes 6, cap drops 1
    assert [e.trigger_frame for e in d.state.events] == [2, 7]
    assert sorted(d.bank.cond) == [0, 6]  # prompt 0 kept, oldest promoted frame dropped


def test_eviction_keeps_what_rcms_can_still_promote():
    """Same scripted run with and without eviction: identical promotions."""
    script = [(t, 5.0 if t % 5 else 0.2, 0.9 if t % 3 else 0.2) for t in range(1, 30)]

    def run(evict):
        d = Driver(RCMSPolicy(3, 0.6), evict=evict, reach=2)
        for t, score, iou in script:
            d.track(t, _frame(score, iou=iou))
        d.track(30, _frame(-1.0, empty=True))
        return d

    a, b = run(False), run(True)
    assert sorted(a.bank.cond) == sorted(b.bank.cond)
    assert len(sorted(a.bank.cond)) == 4
    assert len(b.bank.non_cond) < len(a.bank.non_cond)  # eviction did drop frames


def test_invalid_knobs():
    with pytest.raises(ValueError, match="non-negative integer"):
        RCMSPolicy(2.5, 0.6)
    with pytest.raises(ValueError, match="non-negative integer"):
        RCMSPolicy(-1, 0.6)
