"""Memory stays flat in video length with every policy (the bank keeps a bounded set of frames)."""
from __future__ import annotations

import pytest
import torch

from golden_run import DEMO_CKPT, DEMO_CONFIG
from video_clip import make_clip


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["samurai", "dam4sam", "rcms+samurai", "sam2long"])
def test_stored_frames_bounded(policy, tmp_path):
    from sam2.build_sam import build_sam2_video_predictor

    frames = 64
    masks = make_clip(str(tmp_path / "video"), frames=frames)
    pred = build_sam2_video_predictor(DEMO_CONFIG, str(DEMO_CKPT), device="cpu", apply_postprocessing=False,
                                      memory_policy=policy, num_prev_frames_to_promote=4,
                                      low_quality_threshold=0.6)
    # "drop": frames no later frame reads leave the memory (the default "offload" keeps them
    # on the host for corrections)
    state = pred.init_state(str(tmp_path / "video" / "JPEGImages"), memory_eviction="drop")
    for obj in (1, 2):
        pred.add_new_mask(state, 0, obj, masks[f"obj{obj}"][0])
    sizes, outputs = [], []
    with torch.inference_mode():
        for frame_idx, _, _ in pred.propagate_in_video(state):
            sizes.append(max(len(t.bank.non_cond) + len(t.bank.cond) for t in state.tracks.values()))
            # stored outputs, each memory hypothesis's variant of a frame counted (SAM2Long)
            outputs.append(max(len(t.bank.cond) + sum(len(t.bank.memory.variants.get(f, [None]))
                                                      for f in t.bank.non_cond)
                               for t in state.tracks.values()))
    # SAM 2 keeps the read window behind the current frame and the one after the prompt (a
    # later propagation may start there): about 2 * reach frames, reached after 2 * reach
    # frames; a policy adds at most a few frames it retains or promotes - it must not grow
    reach = pred.read_window(frames).reach
    plateau = 2 * reach + 2
    assert plateau + 16 <= frames  # the clip runs well past the plateau
    assert max(sizes) <= plateau + pred.num_maskmem + 12, f"{policy}: {sizes}"
    # without eviction the last 12 frames would add 12 stored frames; retained and promoted
    # frames may move by a few
    assert max(sizes[-12:]) - max(sizes[-24:-12]) < 6, f"{policy}: memory grows with the video: {sizes}"
    hypotheses = pred.memory_policy.hypotheses
    assert max(outputs[-12:]) - max(outputs[-24:-12]) < 6 * hypotheses, f"{policy}: {outputs}"
    assert max(outputs) <= hypotheses * max(sizes), f"{policy}: {outputs}"
    assert state.policy_records()  # decisions were recorded
