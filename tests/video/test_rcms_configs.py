"""RCMS configs and knobs: one route from the config to the predictor; MSS in the memory input."""
from __future__ import annotations

import pytest
import torch

from sam2.build_sam import build_sam2_video_predictor
from sam2.sam2_video_predictor_vos import SAM2VideoPredictorVOS
from sam2.video.policies import PlainSAM2Policy
from sam2.video.policies.rcms import RCMSPolicy

RCMS_T = "configs/sam2.1/sam2.1_hiera_t_rcms_mqf_mss_lvt.yaml"
INSTANT = "configs/sam2.1/sam2.1_hiera_instant.yaml"


@pytest.fixture(scope="module")
def rcms_t():
    torch.manual_seed(0)
    return build_sam2_video_predictor(RCMS_T, None, device="cpu")


def test_rcms_config_turns_rcms_on_with_mss(rcms_t):
    policy = rcms_t.memory_policy
    assert isinstance(policy, RCMSPolicy)
    assert (policy.num_prev_frames_to_promote, policy.low_quality_threshold) == (4, 0.6)
    assert (rcms_t.sigmoid_scale_for_mem_enc, rcms_t.sigmoid_bias_for_mem_enc) == (7.5, -4.0)


def test_mss_values_reach_the_memory_encoder_input(rcms_t):
    seen = {}
    encoder = rcms_t.memory_encoder
    inner = encoder.forward

    def spy(pix_feat, masks, skip_mask_sigmoid=False):
        seen["masks"] = masks.clone()
        return inner(pix_feat, masks, skip_mask_sigmoid=skip_mask_sigmoid)

    encoder.forward = spy
    try:
        size = rcms_t.image_size
        logits = torch.full((1, 1, size, size), -10.0)
        logits[..., : size // 2, :] = 10.0  # a prompt-like +-10 mask
        feats = [torch.randn((size // 16) ** 2, 1, rcms_t.hidden_dim)]
        with torch.inference_mode():
            rcms_t._encode_new_memory(feats, [(size // 16, size // 16)], logits,
                                      torch.ones(1, 1), is_mask_from_pts=False)
    finally:
        encoder.forward = inner
    masks = seen["masks"]
    assert masks.min().item() == pytest.approx(7.5 * torch.sigmoid(torch.tensor(-10.0)).item() - 4.0)
    assert masks.max().item() == pytest.approx(7.5 * torch.sigmoid(torch.tensor(10.0)).item() - 4.0)


def test_builder_keywords_override_the_config():
    torch.manual_seed(0)
    off = build_sam2_video_predictor(RCMS_T, None, device="cpu", num_prev_frames_to_promote=0)
    assert isinstance(off.memory_policy, PlainSAM2Policy)
    torch.manual_seed(0)
    on = build_sam2_video_predictor(INSTANT, None, device="cpu", num_prev_frames_to_promote=4,
                                    low_quality_threshold=0.7)
    assert on.memory_policy.num_prev_frames_to_promote == 4
    assert on.memory_policy.low_quality_threshold == 0.7


def test_vos_optimized_keeps_the_knobs_and_compiles_on_cpu(tiny_clip):
    torch.manual_seed(0)
    # the "eager" compile backend captures the graphs without generating code (fast);
    # tests/video/test_vos_compiled.py runs Inductor
    vos = build_sam2_video_predictor(INSTANT, None, device="cpu", vos_optimized=True,
                                     num_prev_frames_to_promote=3, compile_backend="eager")
    assert isinstance(vos, SAM2VideoPredictorVOS)
    assert vos.memory_policy.num_prev_frames_to_promote == 3
    video_dir, masks = tiny_clip
    state = vos.init_state(str(video_dir))
    vos.add_new_mask(state, 0, 1, masks["obj1"][0])
    frames = [f for f, _, _ in vos.propagate_in_video(state, max_frame_num_to_track=1)]
    assert frames == [0, 1]
    for module in (vos.image_encoder, vos.memory_encoder, vos.sam_mask_decoder):
        assert hasattr(module.forward, "_torchdynamo_orig_callable")
