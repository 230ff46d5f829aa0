"""The memory-policy hook of the per-frame step and the settings route of the predictor."""
from __future__ import annotations

import pytest
import torch

import torch.nn.functional as F

from sam2.build_sam import build_sam2_video_predictor
from sam2.modeling.track_types import MaskCandidates
from sam2.video.policies import FrameDecision, MemoryPolicy, PlainSAM2Policy, register_policy
from sam2.video.policies.rcms import RCMSPolicy

INSTANT = "configs/sam2.1/sam2.1_hiera_instant.yaml"


def _build(scripted: bool = False, **kwargs):
    torch.manual_seed(0)
    pred = build_sam2_video_predictor(INSTANT, None, device="cpu", apply_postprocessing=False, **kwargs)
    return _present(pred) if scripted else pred


def _present(pred):
    """The random model predicts the object absent; script a present object with three
    different candidates (IoUs 0.9, 0.5, 0.1) on every tracked frame."""
    inner = type(pred).track_step.__get__(pred)

    def scripted(**kw):
        out = inner(**kw)
        if kw["mask_inputs"] is not None or kw["point_inputs"] is not None:
            return out
        gen = torch.Generator().manual_seed(kw["frame_idx"])
        h, w = out.pred_masks.shape[-2:]
        masks = torch.randn(1, 3, h, w, generator=gen) * 5
        tokens = torch.randn(1, 3, pred.hidden_dim, generator=gen)
        score = torch.full((1, 1), 5.0)
        out.candidates = MaskCandidates(masks, torch.tensor([[0.9, 0.5, 0.1]]), score, tokens,
                                        torch.zeros(1, dtype=torch.long))
        out.pred_masks = masks[:, :1]
        out.pred_masks_high_res = F.interpolate(out.pred_masks, size=(pred.image_size,) * 2,
                                                mode="bilinear", align_corners=False)
        out.object_score_logits, out.ious = score, out.candidates.ious
        out.obj_ptr = pred._pointer_from_token(tokens[:, 0], score)
        return out

    pred.track_step = scripted
    return pred


class Spy(MemoryPolicy):
    """Records every decision; optionally picks the lowest-IoU candidate or refuses memory."""

    name = "spy"

    def __init__(self, pick_worst: bool = False, admit: bool = True) -> None:
        self.pick_worst = pick_worst
        self.admit = admit
        self.seen = []

    def new_object_state(self):
        return []

    def on_frame(self, object_state, decision: FrameDecision) -> None:
        assert decision.frame_idx not in decision.bank  # the frame enters the bank afterwards
        before = decision.output
        if self.pick_worst:
            decision.choose(int(decision.candidates.ious[0].argmin()))
        decision.admit = self.admit
        self.seen.append((decision.frame_idx, decision.candidates, before, decision.output))
        object_state.append(decision.frame_idx)

    def records(self, object_state):
        return [{"frame": f} for f in object_state]


def _propagate(pred, clip, **init):
    video_dir, masks = clip
    state = pred.init_state(str(video_dir), **init)
    pred.add_new_mask(state, 0, 1, masks["obj1"][0])
    outs = {f: m.clone() for f, _, m in pred.propagate_in_video(state)}
    return state, outs


def test_hook_sees_all_candidates_and_the_decoders_choice(tiny_clip):
    spy = Spy()
    _, outs = _propagate(_build(memory_policy=spy), tiny_clip)
    assert [f for f, *_ in spy.seen] == [1, 2, 3, 4, 5]  # tracked frames only, not the prompt
    for _, cands, before, after in spy.seen:
        assert cands.low_res_masks.shape[:2] == (1, 3) and cands.ious.shape == (1, 3)
        k = int(cands.chosen[0])
        assert k == int(cands.ious[0].argmax()) and cands.tokens.shape[1] == 3
        assert torch.equal(before.pred_masks, cands.low_res_masks[:, k:k + 1])
        assert after is before
    # plain SAM2.1 gives the same masks as a policy that only looks
    _, plain = _propagate(_build(), tiny_clip)
    assert all(torch.equal(plain[f], outs[f]) for f in plain)


def test_choosing_a_candidate_changes_output_pointer_and_memory(tiny_clip):
    spy = Spy(pick_worst=True)
    pred = _build(scripted=True, memory_policy=spy)
    state, outs = _propagate(pred, tiny_clip)
    _, plain = _propagate(_build(scripted=True), tiny_clip)
    assert any(not torch.equal(plain[f], outs[f]) for f in plain)
    bank = state.tracks[1].bank
    for f, cands, _, chosen in spy.seen:
        k = int(cands.ious[0].argmin())
        stored = bank.get(f)
        assert stored is chosen and stored.maskmem_features is not None
        assert torch.equal(stored.pred_masks, cands.low_res_masks[:, k:k + 1])
        with torch.inference_mode():
            ptr = pred._pointer_from_token(cands.tokens[:, k], cands.object_score_logits)
        assert torch.equal(stored.obj_ptr, ptr)
        assert stored.pred_masks_high_res is None  # transient, never kept in memory
    assert state.policy_records() == {1: [{"frame": f} for f in range(1, 6)]}


def test_refused_frames_keep_output_and_pointer_but_no_mask_memory(tiny_clip):
    sizes = {}

    def run(policy):
        pred = _build(scripted=True, memory_policy=policy)
        inner = pred._attend_memory
        seen = sizes.setdefault(policy.admit, [])

        def spy(feats, pos, size, memory_tokens, memory_pos, num_ptr):
            seen.append(memory_tokens.shape[0] - num_ptr)  # spatial memory tokens read
            return inner(feats, pos, size, memory_tokens, memory_pos, num_ptr)

        pred._attend_memory = spy
        return _propagate(pred, tiny_clip)

    state, _ = run(Spy(admit=False))
    bank = state.tracks[1].bank
    assert bank.get(0).maskmem_features is not None  # the prompt always enters memory
    for f in range(1, 6):
        assert bank.get(f).maskmem_features is None and bank.get(f).obj_ptr is not None
    run(Spy(admit=True))
    per_frame = 8 * 8  # one memory of the 128-px model is 8x8 tokens
    assert sizes[False] == [per_frame] * 5  # only the prompt's memory is read
    assert sizes[True] == [per_frame * (1 + min(f, 6)) for f in range(5)]


def test_settings_by_argument_and_by_config():
    pred = _build(memory_dtype="float32", batch_objects=False)
    assert pred.memory_dtype == torch.float32 and pred.batch_objects is False
    pred = _build(hydra_overrides_extra=["++video_predictor.memory_dtype=float32",
                                         "++video_predictor.batch_objects=false",
                                         "++rcms.max_promoted_frames=3"],
                  memory_policy="rcms", num_prev_frames_to_promote=2)
    assert pred.memory_dtype == torch.float32 and pred.batch_objects is False
    policy = pred.memory_policy
    assert isinstance(policy, RCMSPolicy)
    assert (policy.num_prev_frames_to_promote, policy.low_quality_threshold,
            policy.max_promoted_frames, policy.rearm_after_present_frames) == (2, 0.6, 3, None)
    pred = _build(memory_policy={"name": "rcms", "params": {"num_prev_frames_to_promote": 3}},
                  rearm_after_present_frames=5)
    assert (pred.memory_policy.num_prev_frames_to_promote,
            pred.memory_policy.rearm_after_present_frames) == (3, 5)
    assert isinstance(_build(memory_policy="sam2.1").memory_policy, PlainSAM2Policy)


def test_policy_registry_and_errors():
    register_policy("spy_for_test", Spy)
    assert isinstance(_build(memory_policy="spy_for_test").memory_policy, Spy)
    with pytest.raises(ValueError, match="unknown memory policy 'nope'.*rcms.*sam2.1"):
        _build(memory_policy="nope")
    with pytest.raises(TypeError, match="memory policy 'rcms': bad parameters"):
        _build(memory_policy={"name": "rcms", "params": {"n": 1}})
    with pytest.raises(ValueError, match="memory_dtype 'int3'"):
        _build(memory_dtype="int3")
