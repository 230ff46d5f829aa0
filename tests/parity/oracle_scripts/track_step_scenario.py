"""Shared, implementation-free description of the tiny ``track_step`` parity scenarios.

Imported by ``track_step_golden.py`` (under the oracle python, driving the OFFICIAL
``SAM2Base``) and by ``tests/modeling/test_sam2_base.py`` (driving ours). It only uses torch
and the standard library: it defines the tiny model sizes and constructor kwargs, the prompts,
the per-frame input features (seeded) and the order of ``track_step`` calls. Weights come from
``tests/parity/seeded_ckpt.py`` applied to a manifest of the model's own state-dict keys.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Any, Dict, List, Tuple

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
PARITY_DIR = os.path.dirname(HERE)
if PARITY_DIR not in sys.path:
    sys.path.insert(0, PARITY_DIR)

from seeded_ckpt import make_seeded_state_dict  # noqa: E402

IMAGE_SIZE = 128
NUM_OBJECTS = 2
NUM_FRAMES = 12
WEIGHT_SEED = 0

# tiny widths; the SAM heads keep their fixed internal sizes (mlp 2048, 8 heads, iou 256)
SCENARIOS: Dict[str, Dict[str, Any]] = {
    # SAM2.1 config flags (as in sam2.1_hiera_*.yaml), memory width < hidden width
    "fwd_sam21": {
        "hidden": 64,
        "mem_dim": 16,
        "mem_layers": 2,
        "obj_score_bias": 0.04,
        "base": dict(
            num_maskmem=7,
            image_size=IMAGE_SIZE,
            sigmoid_scale_for_mem_enc=20.0,
            sigmoid_bias_for_mem_enc=-10.0,
            use_mask_input_as_output_without_sam=True,
            directly_add_no_mem_embed=True,
            no_obj_embed_spatial=True,
            use_high_res_features_in_sam=True,
            multimask_output_in_sam=True,
            iou_prediction_use_sigmoid=True,
            use_obj_ptrs_in_encoder=True,
            add_tpos_enc_to_obj_ptrs=True,
            proj_tpos_enc_in_obj_ptrs=True,
            use_signed_tpos_enc_to_obj_ptrs=True,
            only_obj_ptrs_in_the_past_for_eval=True,
            pred_obj_scores=True,
            pred_obj_scores_mlp=True,
            fixed_no_obj_ptr=True,
            multimask_output_for_tracking=True,
            use_multimask_token_for_obj_ptr=True,
            multimask_min_pt_num=0,
            multimask_max_pt_num=1,
            use_mlp_for_obj_ptr_proj=True,
            compile_image_encoder=False,
        ),
        # (frame, is_init_cond_frame, prompt, stored as, reverse)
        "steps": [
            (0, True, "mask", "cond", False),
            (1, False, None, "non_cond", False),
            (2, False, None, "non_cond", False),
            (3, False, None, "non_cond", False),
            (4, False, "points1", "cond", False),
            (5, False, None, "non_cond", False),
            (6, False, None, "non_cond", False),
            (7, False, None, "non_cond", False),
            (8, False, None, "non_cond", False),
            (9, False, None, "non_cond", False),
            (10, False, None, "non_cond", False),
            (11, False, None, "non_cond", False),
        ],
    },
    # other flag values, reverse tracking, temporal stride, conditioning-frame limit
    "rev_variant": {
        "hidden": 64,
        "mem_dim": 64,
        "mem_layers": 1,
        "obj_score_bias": 1.36,
        "base": dict(
            num_maskmem=5,
            image_size=IMAGE_SIZE,
            sigmoid_scale_for_mem_enc=10.0,
            sigmoid_bias_for_mem_enc=-5.0,
            binarize_mask_from_pts_for_mem_enc=True,
            use_mask_input_as_output_without_sam=True,
            max_cond_frames_in_attn=2,
            directly_add_no_mem_embed=True,
            use_high_res_features_in_sam=False,
            multimask_output_in_sam=True,
            memory_temporal_stride_for_eval=2,
            non_overlap_masks_for_mem_enc=True,
            use_obj_ptrs_in_encoder=True,
            max_obj_ptrs_in_encoder=4,
            add_tpos_enc_to_obj_ptrs=True,
            only_obj_ptrs_in_the_past_for_eval=True,
            pred_obj_scores=True,
            soft_no_obj_ptr=True,
            sam_mask_decoder_extra_args=dict(
                dynamic_multimask_via_stability=True,
                dynamic_multimask_stability_delta=0.05,
                dynamic_multimask_stability_thresh=0.98,
            ),
        ),
        "steps": [
            (11, True, "points2", "cond", True),
            (9, False, "mask", "cond", True),
            (6, False, "points1", "cond", True),
            (10, False, None, "non_cond", True),
            (8, False, None, "non_cond", True),
            (7, False, None, "non_cond", True),
            (5, False, None, "non_cond", True),
            (4, False, None, "non_cond", True),
            (3, False, None, "non_cond", True),
            (2, False, None, "non_cond", True),
            (1, False, None, "non_cond", True),
            (0, False, None, "non_cond", True),
        ],
    },
}


def memory_attention_kwargs(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Constructor kwargs for MemoryAttention / MemoryAttentionLayer / RoPEAttention."""
    d, m = spec["hidden"], spec["mem_dim"]
    grid = IMAGE_SIZE // 16
    attn = dict(rope_theta=10000.0, feat_sizes=[grid, grid], embedding_dim=d, num_heads=1, downsample_rate=1, dropout=0.1)
    return {
        "self_attention": dict(attn),
        "cross_attention": dict(attn, rope_k_repeat=True, kv_in_dim=m),
        "layer": dict(activation="relu", dim_feedforward=128, dropout=0.1, pos_enc_at_attn=False, d_model=d,
                      pos_enc_at_cross_attn_keys=True, pos_enc_at_cross_attn_queries=False),
        "stack": dict(d_model=d, pos_enc_at_input=True, num_layers=spec["mem_layers"]),
    }


def memory_encoder_kwargs(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Constructor kwargs for MemoryEncoder and its parts."""
    d, m = spec["hidden"], spec["mem_dim"]
    return {
        "position_encoding": dict(num_pos_feats=m, normalize=True, scale=None, temperature=10000),
        "mask_downsampler": dict(embed_dim=d, kernel_size=3, stride=2, padding=1),
        "cxblock": dict(dim=d, kernel_size=7, padding=3, layer_scale_init_value=1e-6, use_dwconv=True),
        "fuser": dict(num_layers=2),
        "encoder": dict(out_dim=m, in_dim=d),
    }


def seeded_weights(model: torch.nn.Module, spec: Dict[str, Any], seed: int = WEIGHT_SEED) -> Dict[str, torch.Tensor]:
    """Seeded state dict for ``model``'s own keys (via a temporary manifest).

    The bias of the object-score head is shifted by ``spec["obj_score_bias"]`` so that the
    random model's presence logits sit around 0 (both the present and the absent paths run).
    """
    entries = [
        {"key": k, "shape": list(v.shape), "dtype": "float32"} for k, v in model.state_dict().items()
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "tiny.state_dict.json")
        with open(path, "w", encoding="utf-8") as fh:
            json.dump({"entries": entries}, fh)
        state = make_seeded_state_dict(path, seed)
    head_bias = [k for k in state if k.startswith("sam_mask_decoder.pred_obj_score_head") and k.endswith("bias")]
    state[head_bias[-1]] = state[head_bias[-1]] + spec.get("obj_score_bias", 0.0)
    return state


def level_shapes(spec: Dict[str, Any]) -> List[Tuple[int, int, int]]:
    """(h, w, channels) of the flattened feature levels fed to track_step (finest first)."""
    d = spec["hidden"]
    g = IMAGE_SIZE // 16
    if spec["base"].get("use_high_res_features_in_sam", False):
        return [(4 * g, 4 * g, d // 8), (2 * g, 2 * g, d // 4), (g, g, d)]
    return [(g, g, d)]


def frame_features(spec: Dict[str, Any], frame: int):
    """Seeded ``(vision_feats, vision_pos_embeds, feat_sizes)`` ``[h*w, B, C]`` for a frame."""
    gen = torch.Generator().manual_seed(10_000 + frame)
    feats, pos, sizes = [], [], []
    for h, w, c in level_shapes(spec):
        feats.append(torch.rand((h * w, NUM_OBJECTS, c), generator=gen) * 2 - 1)
        pos.append(torch.rand((h * w, NUM_OBJECTS, spec["hidden"]), generator=gen) * 2 - 1)
        sizes.append((h, w))
    return feats, pos, sizes


def mask_prompt() -> torch.Tensor:
    """``[B, 1, S, S]`` float mask prompt: one rectangle per object (object 1 is empty)."""
    m = torch.zeros(NUM_OBJECTS, 1, IMAGE_SIZE, IMAGE_SIZE)
    m[0, 0, 20:70, 30:90] = 1.0
    return m


def point_prompt(kind: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(coords [B, N, 2] float32, labels [B, N] int32)`` in input pixels."""
    if kind == "points1":
        coords = torch.tensor([[[60.0, 45.0]], [[30.0, 85.0]]])
        labels = torch.tensor([[1], [1]], dtype=torch.int32)
    elif kind == "points2":
        coords = torch.tensor([[[60.0, 45.0], [100.0, 100.0]], [[30.0, 85.0], [5.0, 120.0]]])
        labels = torch.tensor([[1, 0], [1, 0]], dtype=torch.int32)
    else:
        raise ValueError(kind)
    return coords, labels


def pad_ious(ious: torch.Tensor) -> torch.Tensor:
    out = torch.full((ious.shape[0], 3), float("nan"))
    out[:, : ious.shape[1]] = ious.float()
    return out


class _NeckStub(torch.nn.Module):
    """Only ``d_model`` of the neck is read by ``SAM2Base`` when features are fed directly."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.d_model = d


class _ImageEncoderStub(torch.nn.Module):
    """Stands in for ``ImageEncoder``: ``track_step`` gets its features from ``frame_features``."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.neck = _NeckStub(d)


def assemble_tiny_model(spec: Dict[str, Any], seeded: bool = True) -> torch.nn.Module:
    """Tiny ``SAM2Base`` of a scenario, built from whichever ``sam2`` this interpreter imports.

    Under the oracle interpreter that is the official package, under the project's tests it is
    ours: the same construction code serves both sides of the parity test.
    """
    from sam2.modeling import memory_attention as ma_mod
    from sam2.modeling import memory_encoder as me_mod
    from sam2.modeling.position_encoding import PositionEmbeddingSine
    from sam2.modeling.sam.transformer import RoPEAttention
    from sam2.modeling.sam2_base import SAM2Base

    ma, me = memory_attention_kwargs(spec), memory_encoder_kwargs(spec)
    attn_layer = ma_mod.MemoryAttentionLayer(
        self_attention=RoPEAttention(**ma["self_attention"]),
        cross_attention=RoPEAttention(**ma["cross_attention"]), **ma["layer"])
    fuser = me_mod.Fuser(layer=me_mod.CXBlock(**me["cxblock"]), **me["fuser"])
    mem_encoder = me_mod.MemoryEncoder(
        position_encoding=PositionEmbeddingSine(**me["position_encoding"]),
        mask_downsampler=me_mod.MaskDownSampler(**me["mask_downsampler"]), fuser=fuser, **me["encoder"])
    model = SAM2Base(image_encoder=_ImageEncoderStub(spec["hidden"]),
                     memory_attention=ma_mod.MemoryAttention(layer=attn_layer, **ma["stack"]),
                     memory_encoder=mem_encoder, **spec["base"])
    if seeded:
        model.load_state_dict(seeded_weights(model, spec), strict=True)
    return model.eval()
