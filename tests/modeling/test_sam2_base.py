"""SAM2Base: construction, state-dict keys, memory selection, mask-as-output, and parity of
``track_step`` with the official implementation on tiny seeded models (golden file made by
``tests/parity/oracle_scripts/track_step_golden.py``)."""
from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "parity" / "oracle_scripts"))

import track_step_scenario as sc  # noqa: E402
from seeded_ckpt import state_dict_digest  # noqa: E402

from sam2.modeling.memory_attention import MemoryAttention, MemoryAttentionLayer  # noqa: E402
from sam2.modeling.memory_encoder import CXBlock, Fuser, MaskDownSampler, MemoryEncoder  # noqa: E402
from sam2.modeling.position_encoding import PositionEmbeddingSine  # noqa: E402
from sam2.modeling.sam.transformer import RoPEAttention  # noqa: E402
from sam2.modeling.sam2_base import NO_OBJ_SCORE, SAM2Base  # noqa: E402
from sam2.modeling.track_types import FrameOutput, PointInputs, TrackMemory  # noqa: E402

GOLDEN = ROOT / "tests" / "parity" / "golden" / "track_step_tiny.npz"


class _Neck(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.d_model = d


class _StubEncoder(nn.Module):
    """Stands in for ImageEncoder: SAM2Base only reads ``neck.d_model`` in these tests."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.neck = _Neck(d)


def build_tiny(spec: dict, seeded: bool = True) -> SAM2Base:
    model = sc.assemble_tiny_model(spec, seeded=seeded)
    assert isinstance(model, SAM2Base)
    return model


def run_ours(model: SAM2Base, spec: dict):
    memory = TrackMemory()
    results = []
    with torch.no_grad():
        for frame, is_init, prompt, store, reverse in spec["steps"]:
            feats, pos, sizes = sc.frame_features(spec, frame)
            points, mask = None, None
            if prompt == "mask":
                mask = sc.mask_prompt()
            elif prompt is not None:
                points = PointInputs(*sc.point_prompt(prompt))
            out = model.track_step(frame, is_init, feats, pos, sizes, points, mask, memory, sc.NUM_FRAMES, reverse)
            results.append({
                "pred_masks": out.pred_masks,
                "obj_ptr": out.obj_ptr,
                "object_score_logits": out.object_score_logits,
                "ious": sc.pad_ious(out.ious),
                "maskmem_features": out.maskmem_features[:, :16].float(),
            })
            out.maskmem_features = out.maskmem_features.to(torch.bfloat16)
            out.pred_masks_high_res = None
            (memory.cond if store == "cond" else memory.non_cond)[frame] = out
    return results


def _rel_l2(ours: np.ndarray, ref: np.ndarray) -> float:
    return float(np.linalg.norm(ours - ref) / max(np.linalg.norm(ref), 1e-12))


# ----------------------------------------------------------------------------------------
# parity with the official track_step (golden file from the official package)
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(sc.SCENARIOS))
def test_track_step_matches_official_golden(name: str) -> None:
    golden = np.load(GOLDEN)
    meta = json.loads(str(golden["meta"]))
    spec = sc.SCENARIOS[name]
    model = build_tiny(spec)
    assert state_dict_digest(model.state_dict()) == meta["weights_sha256"][name], "seeded weights changed"
    results = run_ours(model, spec)
    saw_present = saw_absent = False
    for i, res in enumerate(results):
        for key, value in res.items():
            ref = golden[f"{name}/{i}/{key}"]
            ours = value.detach().numpy()
            assert ours.shape == ref.shape, (name, i, key)
            finite = np.isfinite(ref)
            assert np.array_equal(finite, np.isfinite(ours)), (name, i, key)
            err = _rel_l2(ours[finite], ref[finite])
            assert err <= 1e-4 or np.abs(ours[finite] - ref[finite]).max() <= 1e-6, (name, i, key, err)
        scores = golden[f"{name}/{i}/object_score_logits"]
        saw_present |= bool((scores > 0).any())
        saw_absent |= bool((scores < 0).any())
    assert saw_present and saw_absent, "scenario should exercise both present and absent objects"


# ----------------------------------------------------------------------------------------
# construction and state-dict keys
# ----------------------------------------------------------------------------------------
def _build_t_heads() -> SAM2Base:
    """SAM2Base with the sam2.1_hiera_t.yaml memory/heads config and a stub image encoder."""
    layer = MemoryAttentionLayer(
        activation="relu", dim_feedforward=2048, dropout=0.1, pos_enc_at_attn=False, d_model=256,
        pos_enc_at_cross_attn_keys=True, pos_enc_at_cross_attn_queries=False,
        self_attention=RoPEAttention(rope_theta=10000.0, feat_sizes=[64, 64], embedding_dim=256, num_heads=1,
                                     downsample_rate=1, dropout=0.1),
        cross_attention=RoPEAttention(rope_theta=10000.0, feat_sizes=[64, 64], rope_k_repeat=True, embedding_dim=256,
                                      num_heads=1, downsample_rate=1, dropout=0.1, kv_in_dim=64),
    )
    encoder = MemoryEncoder(
        out_dim=64,
        position_encoding=PositionEmbeddingSine(num_pos_feats=64, normalize=True, scale=None, temperature=10000),
        mask_downsampler=MaskDownSampler(kernel_size=3, stride=2, padding=1),
        fuser=Fuser(layer=CXBlock(dim=256, kernel_size=7, padding=3, layer_scale_init_value=1e-6, use_dwconv=True),
                    num_layers=2),
    )
    return SAM2Base(
        image_encoder=_StubEncoder(256),
        memory_attention=MemoryAttention(d_model=256, pos_enc_at_input=True, layer=layer, num_layers=4),
        memory_encoder=encoder,
        **sc.SCENARIOS["fwd_sam21"]["base"] | {"image_size": 1024},
    )


def test_state_dict_matches_official_manifest_outside_image_encoder() -> None:
    manifest = ROOT / "tests" / "parity" / "manifests" / "sam2.1_hiera_t.state_dict.json"
    entries = [e for e in json.loads(manifest.read_text())["entries"] if not e["key"].startswith("image_encoder.")]
    model = _build_t_heads()
    state = model.state_dict()
    assert list(state) == [e["key"] for e in entries]
    for e in entries:
        assert list(state[e["key"]].shape) == e["shape"], e["key"]
        assert str(state[e["key"]].dtype).replace("torch.", "") == e["dtype"], e["key"]
    # derived constants are not saved
    assert not any("rope" in k or "cache" in k for k in state)
    assert model.hidden_dim == 256 and model.mem_dim == 64 and model.num_maskmem == 7


def test_forward_raises() -> None:
    model = build_tiny(sc.SCENARIOS["fwd_sam21"], seeded=False)
    with pytest.raises(NotImplementedError):
        model(torch.zeros(1))


def test_invalid_flag_combination_is_rejected() -> None:
    spec = dict(sc.SCENARIOS["fwd_sam21"])
    spec["base"] = dict(spec["base"], add_tpos_enc_to_obj_ptrs=False)
    with pytest.raises(ValueError, match="proj_tpos_enc_in_obj_ptrs"):
        build_tiny(spec, seeded=False)


# ----------------------------------------------------------------------------------------
# memory selection
# ----------------------------------------------------------------------------------------
def _fake_output(frame: int, batch: int = 1, c: int = 64, mem: int = 16, grid: int = 8) -> FrameOutput:
    return FrameOutput(
        pred_masks=torch.zeros(batch, 1, 4 * grid, 4 * grid),
        obj_ptr=torch.full((batch, c), float(frame)),
        object_score_logits=torch.ones(batch, 1),
        maskmem_features=torch.randn(batch, mem, grid, grid).to(torch.bfloat16),
        maskmem_pos_enc=[torch.randn(batch, mem, grid, grid)],
    )


def _memory(cond, non_cond) -> TrackMemory:
    return TrackMemory(cond={t: _fake_output(t) for t in cond}, non_cond={t: _fake_output(t) for t in non_cond})


def test_recent_memory_slots_with_and_without_stride() -> None:
    model = build_tiny(sc.SCENARIOS["fwd_sam21"], seeded=False)  # num_maskmem = 7
    assert model._recent_memory_slots(10) == [(1, 4), (2, 5), (3, 6), (4, 7), (5, 8), (6, 9)]
    assert model._recent_memory_slots(3, track_in_reverse=True) == [(1, 9), (2, 8), (3, 7), (4, 6), (5, 5), (6, 4)]
    model.memory_temporal_stride_for_eval = 2
    assert model._recent_memory_slots(10) == [(1, 0), (2, 2), (3, 4), (4, 6), (5, 8), (6, 9)]
    assert model._recent_memory_slots(3, track_in_reverse=True) == [(1, 14), (2, 12), (3, 10), (4, 8), (5, 6), (6, 4)]
    model.train()  # training always uses stride 1
    assert model._recent_memory_slots(10) == [(1, 4), (2, 5), (3, 6), (4, 7), (5, 8), (6, 9)]


def test_select_memory_forward_reads_cond_and_recent_frames() -> None:
    model = build_tiny(sc.SCENARIOS["fwd_sam21"], seeded=False)
    memory = _memory(cond=[0, 15], non_cond=[t for t in range(1, 12) if t != 7])
    sel = model._select_memory(12, memory, num_frames=30)
    assert [(r.frame_idx, r.t_pos) for r in sel.spatial] == [(0, 0), (15, 0), (6, 1), (8, 3), (9, 4), (10, 5), (11, 6)]
    # only past conditioning pointers (frame 15 is in the future), signed distance; then
    # frames 11, 10, ... (frame 7 missing) up to 15 frames back
    assert [(p.frame_idx, p.distance) for p in sel.pointers] == [(0, 12)] + [
        (t, 12 - t) for t in range(11, 0, -1) if t != 7
    ]
    assert sel.max_ptr_distance == 15
    # the pointer window is bounded by the video length
    assert model._select_memory(12, memory, num_frames=13).max_ptr_distance == 12


def test_select_memory_reverse_and_cond_frame_limit() -> None:
    model = build_tiny(sc.SCENARIOS["fwd_sam21"], seeded=False)
    model.max_cond_frames_in_attn = 2
    memory = _memory(cond=[2, 9, 20], non_cond=[10, 11, 12, 13])
    sel = model._select_memory(8, memory, num_frames=21, track_in_reverse=True)
    # closest before (2) and at/after (9) are selected; 20 is not
    assert [(r.frame_idx, r.t_pos) for r in sel.spatial][:2] == [(2, 0), (9, 0)]
    assert [(r.frame_idx, r.t_pos) for r in sel.spatial][2:] == [(13, 2), (12, 3), (11, 4), (10, 5)]
    # reverse: "past" is later frames -> cond frame 9 (signed distance (8 - 9) * -1 = 1); then
    # frames 9, 10, ... after the current one; the unselected cond frame 20 also gives a pointer
    assert [(p.frame_idx, p.distance) for p in sel.pointers] == [(9, 1), (10, 2), (11, 3), (12, 4), (13, 5), (20, 12)]
    # an unselected conditioning frame inside the recent window is read as a recent memory
    memory = _memory(cond=[0, 3, 5], non_cond=[1, 2, 4])
    sel = model._select_memory(6, memory, num_frames=21)
    assert [(r.frame_idx, r.t_pos) for r in sel.spatial] == [(5, 0), (3, 0), (0, 1), (1, 2), (2, 3), (4, 5)]
    assert [(p.frame_idx, p.distance) for p in sel.pointers] == [(5, 1), (3, 3), (4, 2), (2, 4), (1, 5), (0, 6)]


def test_select_memory_requires_a_conditioning_frame() -> None:
    model = build_tiny(sc.SCENARIOS["fwd_sam21"], seeded=False)
    with pytest.raises(ValueError, match="conditioning frame"):
        model._select_memory(3, _memory(cond=[], non_cond=[1, 2]), num_frames=5)


def test_track_step_feeds_selected_memory_tokens_to_attention() -> None:
    spec = sc.SCENARIOS["fwd_sam21"]
    model = build_tiny(spec, seeded=False)
    seen = {}

    def spy(module, args, kwargs):
        bound = inspect.signature(module.forward).bind(*args, **kwargs)
        bound.apply_defaults()
        seen.update(bound.arguments)

    model.memory_attention.register_forward_pre_hook(spy, with_kwargs=True)
    batch = sc.NUM_OBJECTS
    memory = TrackMemory(
        cond={0: _fake_output(0, batch)}, non_cond={t: _fake_output(t, batch) for t in (1, 2, 3)}
    )
    feats, pos, sizes = sc.frame_features(spec, 4)
    with torch.no_grad():
        out = model.track_step(4, False, feats, pos, sizes, None, None, memory, num_frames=10)
    hw = 8 * 8
    spatial_frames = 4  # cond 0 + recent 1, 2, 3
    pointer_frames = 4  # cond 0 + 3, 2, 1
    tokens_per_ptr = 64 // 16
    assert seen["num_obj_ptr_tokens"] == pointer_frames * tokens_per_ptr
    assert seen["memory"].shape == (spatial_frames * hw + pointer_frames * tokens_per_ptr, batch, 16)
    assert seen["memory"].dtype == torch.float32  # bf16 memory is brought to the features' dtype
    # spatial memory tokens are the stored features, in selection order
    first = memory.cond[0].maskmem_features.float().flatten(2).permute(2, 0, 1)
    assert torch.equal(seen["memory"][:hw], first)
    assert out.ious.shape == (batch, 3)  # multimask for tracking with 0 points
    assert out.pred_masks.shape == (batch, 1, 32, 32)
    assert out.maskmem_features.shape == (batch, 16, 8, 8)


def test_mask_as_output_gives_plus_minus_ten() -> None:
    spec = sc.SCENARIOS["fwd_sam21"]
    model = build_tiny(spec)
    feats, pos, sizes = sc.frame_features(spec, 0)
    mask = sc.mask_prompt()  # object 0 has a rectangle, object 1 is empty
    with torch.no_grad():
        out = model.track_step(0, True, feats, pos, sizes, None, mask, TrackMemory(), num_frames=5)
    assert torch.equal(out.pred_masks_high_res, mask * 20 - 10)
    assert set(out.pred_masks_high_res.unique().tolist()) == {-10.0, 10.0}
    assert out.object_score_logits.flatten().tolist() == [10.0, -10.0]
    assert torch.equal(out.ious, torch.ones(2, 1))
    # absent object: pointer is exactly no_obj_ptr (fixed_no_obj_ptr)
    assert torch.allclose(out.obj_ptr[1], model.no_obj_ptr[0])
    assert out.pred_masks.shape == (2, 1, 32, 32)


def test_absent_objects_get_no_obj_score_in_low_res_masks() -> None:
    spec = sc.SCENARIOS["fwd_sam21"]
    model = build_tiny(spec)
    with torch.no_grad():
        model.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.fill_(-50.0)
    feats, pos, sizes = sc.frame_features(spec, 1)
    memory = TrackMemory(cond={0: _fake_output(0, sc.NUM_OBJECTS)})
    with torch.no_grad():
        out = model.track_step(1, False, feats, pos, sizes, None, None, memory, num_frames=5)
    assert (out.object_score_logits < 0).all()
    assert torch.all(out.pred_masks == NO_OBJ_SCORE)


def test_bf16_memory_matches_fp32_rounded_memory() -> None:
    spec = sc.SCENARIOS["fwd_sam21"]
    model = build_tiny(spec)
    feats, pos, sizes = sc.frame_features(spec, 2)
    bf16 = TrackMemory(cond={0: _fake_output(0, sc.NUM_OBJECTS)}, non_cond={1: _fake_output(1, sc.NUM_OBJECTS)})
    fp32 = TrackMemory(
        cond={t: FrameOutput(**{**o.__dict__, "maskmem_features": o.maskmem_features.float()}) for t, o in bf16.cond.items()},
        non_cond={t: FrameOutput(**{**o.__dict__, "maskmem_features": o.maskmem_features.float()}) for t, o in bf16.non_cond.items()},
    )
    with torch.no_grad():
        a = model.track_step(2, False, feats, pos, sizes, None, None, bf16, num_frames=5)
        b = model.track_step(2, False, feats, pos, sizes, None, None, fp32, num_frames=5)
    assert torch.equal(a.pred_masks, b.pred_masks) and torch.equal(a.obj_ptr, b.obj_ptr)


def test_use_multimask_rules() -> None:
    model = build_tiny(sc.SCENARIOS["rev_variant"], seeded=False)  # min=max=1, not for tracking
    one = PointInputs(torch.zeros(1, 1, 2), torch.ones(1, 1, dtype=torch.int32))
    two = PointInputs(torch.zeros(1, 2, 2), torch.ones(1, 2, dtype=torch.int32))
    assert model._use_multimask(True, one) is True
    assert model._use_multimask(True, two) is False
    assert model._use_multimask(False, one) is False
    assert model._use_multimask(True, None) is False


def test_non_overlapping_constraints() -> None:
    model = build_tiny(sc.SCENARIOS["rev_variant"], seeded=False)
    masks = torch.tensor([[[[5.0, -1.0]]], [[[3.0, 2.0]]]])  # [2, 1, 1, 2]
    out = model._apply_non_overlapping_constraints(masks)
    assert out.flatten().tolist() == [5.0, -10.0, -10.0, 2.0]
    single = masks[:1]
    assert model._apply_non_overlapping_constraints(single) is single
