"""Memory stays flat in video length with every policy (the bank keeps a bounded set of frames)."""
from __future__ import annotations

import pytest
import torch

from golden_run import DEMO_CKPT, DEMO_CONFIG
from video_clip import make_clip


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["samurai", "dam4sam", "rcms+samurai"])
def test_stored_frames_bounded(policy, tmp_path):
    from sam2.build_sam import build_sam2_video_predictor

    frames = 64
    masks = make_clip(str(tmp_path / "video"), frames=frames)
    pred = build_sam2_video_predictor(DEMO_CONFIG, str(DEMO_CKPT), device="cpu", apply_postprocessing=False,
                                      memory_policy=policy, num_prev_frames_to_promote=4,
                                      low_quality_threshold=0.6)
    state = pred.init_state(str(tmp_path / "video" / "JPEGImages"))
    for obj in (1, 2):
        pred.add_new_mask(state, 0, obj, masks[f"obj{obj}"][0])
    sizes = []
    with torch.inference_mode():
        for frame_idx, _, _ in pred.propagate_in_video(state):
            sizes.append(max(len(t.bank.non_cond) + len(t.bank.cond) for t in state.tracks.values()))
    # SAM 2's own bound: the read window behind the current frame and the one after the
    # prompt (a later propagation may start there), plus what the policy retains (at most the
    # recent slots) and conditioning frames it adds (RCMS promotions, DAM4SAM anchors)
    reach = pred.read_window(frames).reach
    bound = 2 * reach + 2 + pred.num_maskmem + 8
    assert bound < frames - 4  # the clip is long enough for the bound to mean something
    assert max(sizes) <= bound, f"{policy}: up to {max(sizes)} stored frames: {sizes}"
    assert state.policy_records()  # decisions were recorded
