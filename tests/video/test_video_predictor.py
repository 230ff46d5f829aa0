"""SAM2VideoPredictor with a tiny random model: API, eviction, RCMS in the real step, errors."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from sam2.build_sam import build_sam2_video_predictor
from sam2.sam2_video_predictor import PromptError, SAM2VideoPredictor
from sam2.video.sources.frame_source import FrameReadError
from sam2.video.policies import PlainSAM2Policy
from sam2.video.policies.rcms import RCMSPolicy
from sam2.video.tracking.state import InferenceState
from scripted_outputs import script_outputs

INSTANT = "configs/sam2.1/sam2.1_hiera_instant.yaml"
# a short read window (3 memories, 4 pointers) so that eviction happens within a few frames
SHORT_WINDOW = ["++model.num_maskmem=3", "++model.max_obj_ptrs_in_encoder=4"]


def _build(overrides=(), **kwargs) -> SAM2VideoPredictor:
    torch.manual_seed(0)
    return build_sam2_video_predictor(INSTANT, None, device="cpu",
                                      hydra_overrides_extra=list(overrides), **kwargs)


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    from video_clip import make_clip

    root = tmp_path_factory.mktemp("long_clip")
    masks = make_clip(str(root), frames=12, width=64, height=48, seed=2)
    return root / "JPEGImages", masks


@pytest.fixture(scope="module")
def predictor():
    return _build(SHORT_WINDOW)


_script = script_outputs


def _run(predictor, video_dir, masks, prompt_frame=0, **init_kwargs):
    state = predictor.init_state(str(video_dir), **init_kwargs)
    predictor.add_new_mask(state, prompt_frame, 1, masks["obj1"][prompt_frame])
    outs = {f: m.clone() for f, _, m in predictor.propagate_in_video(state)}
    return state, outs


def test_api_two_objects_forward_and_reverse(tiny_clip, predictor):
    video_dir, masks = tiny_clip
    state = predictor.init_state(str(video_dir))
    assert isinstance(state, InferenceState)
    assert (state["num_frames"], state["video_height"], state["video_width"]) == (6, 48, 64)
    f, ids, m = predictor.add_new_mask(state, 0, 1, masks["obj1"][0])
    assert (f, ids, tuple(m.shape)) == (0, [1], (1, 1, 48, 64))
    gt = torch.from_numpy(masks["obj1"][0])
    inter = ((m[0, 0] > 0) & gt).sum().item()
    union = ((m[0, 0] > 0) | gt).sum().item()
    assert m.abs().max().item() == pytest.approx(10.0) and inter / union > 0.8
    f, ids, m = predictor.add_new_points_or_box(state, 2, 7, points=[[20, 30]], labels=[1],
                                                box=[5, 5, 40, 40])
    assert (f, ids, tuple(m.shape)) == (2, [1, 7], (2, 1, 48, 64))
    assert torch.all(m[0] == -1024.0)  # object 1 has no output on frame 2 yet
    frames = [(f, ids, tuple(m.shape)) for f, ids, m in predictor.propagate_in_video(state)]
    assert frames == [(t, [1, 7], (2, 1, 48, 64)) for t in range(6)]
    back = [f for f, _, _ in predictor.propagate_in_video(state, start_frame_idx=4, reverse=True)]
    assert back == [4, 3, 2, 1, 0]
    assert state.tracks[1].tracked[1] is True and state.tracks[7].tracked[5] is False
    part = [f for f, _, _ in predictor.propagate_in_video(state, start_frame_idx=1,
                                                          max_frame_num_to_track=2)]
    assert part == [1, 2, 3]


def test_eviction_never_changes_results_and_bounds_memory(long_clip):
    video_dir, masks = long_clip
    pred = _build(SHORT_WINDOW)
    kept_state, kept = _run(pred, video_dir, masks, evict_memory=False)
    state, evicted = _run(pred, video_dir, masks, evict_memory=True)
    assert kept.keys() == evicted.keys()
    for f in kept:
        assert torch.equal(kept[f], evicted[f]), f"frame {f} differs with eviction"
    bank = state.tracks[1].bank
    assert bank.num_evicted > 0
    assert len(bank.non_cond) <= 2 * bank.window.reach + 1
    assert len(kept_state.tracks[1].bank.non_cond) == 11

    # prompt in the middle: forward, then backwards from the prompt (which reads the
    # forward pass's memories next to the prompt): still identical
    kept_state, kept = _run(pred, video_dir, masks, prompt_frame=6, evict_memory=False)
    state, evicted = _run(pred, video_dir, masks, prompt_frame=6, evict_memory=True)
    rev_k = [(f, m) for f, _, m in pred.propagate_in_video(kept_state, reverse=True)]
    rev_e = [(f, m) for f, _, m in pred.propagate_in_video(state, reverse=True)]
    assert [f for f, _ in rev_e] == [6, 5, 4, 3, 2, 1, 0]
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(rev_k, rev_e))
    assert all(torch.equal(kept[f], evicted[f]) for f in kept)
    assert state.tracks[1].bank.num_evicted > 0


def test_rcms_with_eviction_equals_without(tmp_path):
    """RCMS reaching far back (past the read window) gives the same result with eviction."""
    from video_clip import make_clip

    masks = make_clip(str(tmp_path), frames=16, width=64, height=48, seed=3)
    video_dir = tmp_path / "JPEGImages"
    runs = []
    for evict in (False, True):
        # frames 5 and 6 are the only good ones; they fall behind the read window (reach 4)
        # long before the object disappears on frame 15
        low = {1, 2, 3, 4} | set(range(7, 15))
        pred = _script(_build(SHORT_WINDOW), absent={15}, low_quality=low)
        pred.memory_policy = RCMSPolicy(2, 0.3)
        state, outs = _run(pred, video_dir, masks, evict_memory=evict)
        runs.append((state, outs))
    (s0, o0), (s1, o1) = runs
    assert sorted(s0.tracks[1].bank.cond) == sorted(s1.tracks[1].bank.cond) == [0, 5, 6]
    assert s1.tracks[1].bank.num_evicted > 0
    for f in o0:
        assert torch.equal(o0[f], o1[f]), f"frame {f} differs with eviction"
    assert s1.policy_records() == s0.policy_records()
    (event,) = s1.policy_records()[1]
    assert event["trigger_frame"] == 15 and event["promoted_frames"] == [6, 5]


def test_rcms_attended_frames_after_disappearance(long_clip):
    video_dir, masks = long_clip
    pred = _script(_build(), absent={6})
    pred.memory_policy = RCMSPolicy(2, 0.3)
    seen = {}
    inner = pred._select_memory

    def spy(frame_idx, memory, num_frames, track_in_reverse=False):
        sel = inner(frame_idx, memory, num_frames, track_in_reverse)
        seen[frame_idx] = sel
        return sel

    pred._select_memory = spy
    state = pred.init_state(str(video_dir))
    pred.add_new_mask(state, 0, 1, masks["obj1"][0])
    for f, _, _ in pred.propagate_in_video(state, max_frame_num_to_track=7):
        pass
    bank = state.tracks[1].bank
    assert list(bank.cond) == [0, 5, 4] and 5 not in bank.non_cond and 4 not in bank.non_cond
    sel = seen[7]
    spatial = {(r.frame_idx, r.t_pos) for r in sel.spatial}
    # prompt + promoted at t_pos 0; remaining recent frames 6, 3, 2, 1 (5 and 4 moved)
    assert spatial == {(0, 0), (5, 0), (4, 0), (6, 6), (3, 3), (2, 2), (1, 1)}
    pointers = {(r.frame_idx, r.distance) for r in sel.pointers}
    assert pointers == {(0, 7), (5, 2), (4, 3), (6, 1), (3, 4), (2, 5), (1, 6)}
    # frame 6 (the trigger) was tracked before any promotion
    assert {(r.frame_idx, r.t_pos) for r in seen[6].spatial} == {(0, 0), (5, 6), (4, 5), (3, 4), (2, 3), (1, 2)}


def test_rcms_n_zero_is_bitwise_plain_sam2(long_clip):
    video_dir, masks = long_clip
    results = []
    for policy in (PlainSAM2Policy(), RCMSPolicy(0, 0.6), RCMSPolicy(2, 0.3)):
        pred = _script(_build(SHORT_WINDOW), absent={5, 6, 11})
        pred.memory_policy = policy
        results.append(_run(pred, video_dir, masks)[1])
    plain, off, on = results
    assert all(torch.equal(plain[f], off[f]) for f in plain)
    assert any(not torch.equal(plain[f], on[f]) for f in plain)  # RCMS does change things


def test_rcms_knobs_reach_the_predictor_by_one_route():
    torch.manual_seed(0)
    rcms = build_sam2_video_predictor("configs/sam2.1/sam2.1_hiera_instant.yaml", None, device="cpu",
                                      num_prev_frames_to_promote=4)
    assert isinstance(rcms.memory_policy, RCMSPolicy)
    assert (rcms.memory_policy.num_prev_frames_to_promote,
            rcms.memory_policy.low_quality_threshold) == (4, 0.6)
    plain = _build()
    assert isinstance(plain.memory_policy, PlainSAM2Policy)
    with pytest.raises(ValueError, match="not both"):  # settings are resolved once, in one place
        SAM2VideoPredictor(settings=plain.settings, low_quality_threshold=0.6)


def test_bf16_memory_by_default_and_fp32_setting(tiny_clip, predictor):
    video_dir, masks = tiny_clip
    for dtype in (None, torch.float32):
        state = predictor.init_state(str(video_dir), memory_dtype=dtype)
        predictor.add_new_mask(state, 0, 1, masks["obj1"][0])
        for _ in predictor.propagate_in_video(state, max_frame_num_to_track=1):
            pass
        feats = state.tracks[1].bank.get(1).maskmem_features
        assert feats.dtype == (dtype or torch.bfloat16)


def test_remove_object_clear_prompts_and_reset(tiny_clip, predictor):
    video_dir, masks = tiny_clip
    state = predictor.init_state(str(video_dir))
    predictor.add_new_mask(state, 0, 1, masks["obj1"][0])
    predictor.add_new_mask(state, 0, 2, masks["obj2"][0])
    predictor.add_new_mask(state, 1, 3, masks["obj2"][1])
    f, ids, m = predictor.clear_all_prompts_in_frame(state, 0, 2)
    assert ids == [1, 2, 3] and torch.all(m[1] == -1024.0) and not torch.all(m[0] == -1024.0)
    ids, updated = predictor.remove_object(state, 3)
    assert ids == [1, 2] and [f for f, _ in updated] == [1]
    assert tuple(updated[0][1].shape) == (2, 1, 48, 64)
    assert predictor.remove_object(state, 99) == ([1, 2], [])
    predictor.reset_state(state)
    assert state.obj_ids == []


# ---------------------------------------------------------------------------------------
# bad input: each error names the frame / object at fault
# ---------------------------------------------------------------------------------------
def test_error_empty_folder(tmp_path, predictor):
    with pytest.raises(FrameReadError, match="no JPEG frames"):
        predictor.init_state(str(tmp_path))


def test_error_truncated_frame_during_propagation(tmp_path, tiny_clip, predictor):
    video_dir, masks = tiny_clip
    vid = tmp_path / "v"
    shutil.copytree(video_dir, vid)
    data = (vid / "00003.jpg").read_bytes()
    (vid / "00003.jpg").write_bytes(data[: len(data) // 3])
    state = predictor.init_state(str(vid))
    predictor.add_new_mask(state, 0, 1, masks["obj1"][0])
    with pytest.raises(FrameReadError, match=r"frame 3 .*00003\.jpg"):
        for _ in predictor.propagate_in_video(state):
            pass


def test_error_mask_size(tiny_clip, predictor):
    video_dir, _ = tiny_clip
    state = predictor.init_state(str(video_dir))
    with pytest.raises(PromptError, match=r"object 3 on frame 1: the mask is 10x12 .* video is 64x48"):
        predictor.add_new_mask(state, 1, 3, np.ones((12, 10), bool))


def test_error_frame_out_of_range(tiny_clip, predictor):
    video_dir, masks = tiny_clip
    state = predictor.init_state(str(video_dir))
    with pytest.raises(IndexError, match="frame index 6 is out of range"):
        predictor.add_new_mask(state, 6, 1, masks["obj1"][0])
    with pytest.raises(IndexError, match="frame index -1"):
        predictor.add_new_points_or_box(state, -1, 1, points=[[1, 1]], labels=[1])
    predictor.add_new_mask(state, 0, 1, masks["obj1"][0])
    with pytest.raises(IndexError, match="frame index 9"):
        next(predictor.propagate_in_video(state, start_frame_idx=9))


def test_error_unknown_object(tiny_clip, predictor):
    video_dir, masks = tiny_clip
    state = predictor.init_state(str(video_dir))
    predictor.add_new_mask(state, 0, 1, masks["obj1"][0])
    with pytest.raises(KeyError, match="unknown object id 5"):
        predictor.clear_all_prompts_in_frame(state, 0, 5)
    with pytest.raises(KeyError, match="unknown object id 5"):
        predictor.remove_object(state, 5, strict=True)


def test_error_prompt_while_propagating_and_bad_points(tiny_clip, predictor):
    video_dir, masks = tiny_clip
    state = predictor.init_state(str(video_dir))
    predictor.add_new_mask(state, 0, 1, masks["obj1"][0])
    gen = predictor.propagate_in_video(state)
    next(gen), next(gen)  # frames 0 and 1
    with pytest.raises(RuntimeError, match="object 2 on frame 3 while propagate_in_video"):
        predictor.add_new_points_or_box(state, 3, 2, points=[[5, 5]], labels=[1])
    gen.close()
    # after the propagation: a click on a tracked frame of object 1 is a correction
    predictor.add_new_points_or_box(state, 1, 1, points=[[5, 5]], labels=[1])
    assert 1 in state.tracks[1].pending.non_cond
    with pytest.raises(PromptError, match="object 1 on frame 2: 2 points but labels"):
        predictor.add_new_points_or_box(state, 2, 1, points=[[1, 1], [2, 2]], labels=[1])
    with pytest.raises(PromptError, match="object 1 on frame 2: points and labels"):
        predictor.add_new_points_or_box(state, 2, 1, points=[[1, 1]])


def test_error_object_without_prompt(tiny_clip, predictor):
    video_dir, masks = tiny_clip
    state = predictor.init_state(str(video_dir))
    predictor.add_new_mask(state, 0, 1, masks["obj1"][0])
    predictor.add_new_mask(state, 2, 4, masks["obj1"][2])
    predictor.clear_all_prompts_in_frame(state, 2, 4)
    with pytest.raises(RuntimeError, match="object 4 has no prompt"):
        next(predictor.propagate_in_video(state))


def test_correction_after_eviction_by_default_equals_keeping_everything(long_clip):
    """Default eviction offloads memory: a late correction after a full propagation, then
    propagations forward, limited and backwards, give the results of keeping everything."""
    video_dir, masks = long_clip
    pred = _build(SHORT_WINDOW)
    runs = {}
    for mode in ("off", "offload"):
        state, first = _run(pred, video_dir, masks, memory_eviction=mode)
        if mode == "offload":  # everything kept, but only the window stays on the device
            bank = state.tracks[1].bank
            assert len(bank.non_cond) == 11 and len(bank.offloaded) > 0
            assert len(bank.non_cond) - len(bank.offloaded) <= 2 * bank.window.reach + 1
            assert all(bank.get(t).maskmem_features.device.type == "cpu" for t in bank.offloaded)
        f, _, m = pred.add_new_points_or_box(state, 10, 1, points=[[30, 20]], labels=[1])
        f2, _, m2 = pred.add_new_points_or_box(state, 10, 1, points=[[3, 3]], labels=[0],
                                              clear_old_points=False)
        outs = [m, m2]
        outs += [x for _, _, x in pred.propagate_in_video(state)]
        outs += [x for _, _, x in pred.propagate_in_video(state, start_frame_idx=10,
                                                          max_frame_num_to_track=1)]
        pred.add_new_points_or_box(state, 3, 1, points=[[20, 20]], labels=[1])
        outs += [x for _, _, x in pred.propagate_in_video(state, start_frame_idx=11, reverse=True)]
        runs[mode] = outs
    assert len(runs["off"]) == len(runs["offload"]) == 2 + 12 + 2 + 12
    for i, (a, b) in enumerate(zip(runs["off"], runs["offload"])):
        assert torch.equal(a, b), f"output {i} differs"


def test_error_refining_an_object_never_added(tiny_clip, predictor):
    video_dir, masks = tiny_clip
    state = predictor.init_state(str(video_dir))
    predictor.add_new_mask(state, 0, 1, masks["obj1"][0])
    with pytest.raises(KeyError, match=r"object 9 was never added; objects in this video: \[1\]"):
        predictor.add_new_points_or_box(state, 2, 9, points=[[5, 5]], labels=[1], clear_old_points=False)
    assert state.obj_ids == [1]


def test_error_correction_on_dropped_memory_in_strict_mode(long_clip):
    video_dir, masks = long_clip
    pred = _build(SHORT_WINDOW)
    state, _ = _run(pred, video_dir, masks, memory_eviction="drop")
    with pytest.raises(RuntimeError, match=r"cannot correct object 1 on frame 10: .*frames 6\.\.6 .*'drop'"):
        pred.add_new_points_or_box(state, 10, 1, points=[[5, 5]], labels=[1])


def test_prefetch_and_offload_do_not_change_results(tiny_clip, predictor):
    video_dir, masks = tiny_clip
    results = []
    for kwargs in ({}, {"async_loading_frames": True, "offload_video_to_cpu": True,
                        "offload_state_to_cpu": True}):
        state = predictor.init_state(str(video_dir), **kwargs)
        predictor.add_new_mask(state, 0, 1, masks["obj1"][0])
        results.append([m for _, _, m in predictor.propagate_in_video(state)])
        state.frames.close()
    assert len(results[0]) == 6
    assert all(torch.equal(a, b) for a, b in zip(*results))


def test_batched_objects_match_one_by_one(tiny_clip):
    """Objects sharing a memory layout run as one batch; results equal the per-object loop."""
    video_dir, masks = tiny_clip
    pred = _build()
    runs = []
    for batched in (False, True):
        pred.batch_objects = batched
        calls = []
        inner = SAM2VideoPredictor.track_step.__get__(pred)

        def counting(**kw):
            calls.append(kw["current_vision_feats"][-1].shape[1])
            return inner(**kw)

        pred.track_step = counting
        state = pred.init_state(str(video_dir))
        pred.add_new_mask(state, 0, 1, masks["obj1"][0])
        pred.add_new_mask(state, 0, 2, masks["obj2"][0])
        pred.add_new_points_or_box(state, 0, 3, box=[2, 2, 30, 20])
        runs.append(([m for _, _, m in pred.propagate_in_video(state)], calls))
        del pred.track_step
    (loop, loop_calls), (batch, batch_calls) = runs
    assert max(loop_calls) == 1 and max(batch_calls) == 3  # one call per tracked frame
    for a, b in zip(loop, batch):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-4)
