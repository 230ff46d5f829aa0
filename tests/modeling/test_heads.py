"""Position encodings, prompt encoder, two-way transformer and mask decoder (tiny configs)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from sam2.modeling.position_encoding import (
    PositionEmbeddingRandom,
    PositionEmbeddingSine,
    axial_rope_angles,
    compute_axial_cis,
    rotate_pairs,
)
from sam2.modeling.sam.mask_decoder import MaskDecoder
from sam2.modeling.sam.prompt_encoder import PromptEncoder
from sam2.modeling.sam.transformer import Attention, RoPEAttention, TwoWayTransformer

torch.manual_seed(0)


# ---------------------------------------------------------------------------------------- sine
def test_sine_encoding_values_shape_and_cache_not_saved() -> None:
    pe = PositionEmbeddingSine(num_pos_feats=8)
    out = pe(torch.zeros(2, 3, 4, 5))
    assert out.shape == (2, 8, 4, 5) and out.dtype == torch.float32
    assert pe.state_dict() == {}
    # channel 0: sin of the normalised row position; channel 4 (first x channel): sin of column
    i, j = 2, 3
    assert out[0, 0, i, j].item() == pytest.approx(math.sin((i + 1) / 4 * 2 * math.pi), abs=1e-5)
    assert out[0, 1, i, j].item() == pytest.approx(math.cos((i + 1) / 4 * 2 * math.pi), abs=1e-5)
    assert out[0, 4, i, j].item() == pytest.approx(math.sin((j + 1) / 5 * 2 * math.pi), abs=1e-5)
    # channels 2/3 use the second frequency temperature ** (2 / 4)
    assert out[1, 2, i, j].item() == pytest.approx(math.sin((i + 1) / 4 * 2 * math.pi / 100.0), abs=1e-5)
    assert torch.equal(out[0], out[1])
    assert torch.equal(pe(torch.zeros(1, 1, 4, 5))[0], out[0])  # cached map reused


def test_sine_encoding_rejects_odd_width_and_scale_without_normalize() -> None:
    with pytest.raises(ValueError):
        PositionEmbeddingSine(num_pos_feats=7)
    with pytest.raises(ValueError):
        PositionEmbeddingSine(num_pos_feats=8, normalize=False, scale=1.0)


# -------------------------------------------------------------------------------------- random
def test_random_encoding_buffer_dense_and_point_consistency() -> None:
    pe = PositionEmbeddingRandom(num_pos_feats=6)
    assert list(pe.state_dict()) == ["positional_encoding_gaussian_matrix"]
    assert pe.positional_encoding_gaussian_matrix.shape == (2, 6)
    dense = pe((3, 4))
    assert dense.shape == (12, 3, 4)
    # a pixel centre encoded through forward_with_coords equals the dense grid entry
    coords = torch.tensor([[[1.5, 2.5]]])  # x = 1.5 of width 4, y = 2.5 of height 3
    point = pe.forward_with_coords(coords, (3, 4))
    assert torch.allclose(point[0, 0], dense[:, 2, 1], atol=1e-6)
    assert torch.allclose(dense[:6] ** 2 + dense[6:] ** 2, torch.ones(6, 3, 4), atol=1e-6)


# ---------------------------------------------------------------------------------------- RoPE
def test_rotate_pairs_matches_complex_rotation_and_preserves_norm() -> None:
    x = torch.randn(2, 3, 16, 8)
    cis = compute_axial_cis(8, 4, 4)
    cos, sin = cis.real, cis.imag
    rotated = rotate_pairs(x, cos, sin)
    as_complex = torch.view_as_complex(x.reshape(2, 3, 16, 4, 2).contiguous()) * cis
    assert torch.allclose(rotated, torch.view_as_real(as_complex).flatten(-2), atol=1e-6)
    assert torch.allclose(rotated.norm(dim=-1), x.norm(dim=-1), atol=1e-5)


def test_rope_scores_depend_only_on_relative_position() -> None:
    dim, side = 8, 6
    angles = axial_rope_angles(dim, side, side)
    cos, sin = angles.cos(), angles.sin()
    q, k = torch.randn(dim), torch.randn(dim)

    def score(q_pos, k_pos):
        qi, ki = q_pos[1] * side + q_pos[0], k_pos[1] * side + k_pos[0]
        rq = rotate_pairs(q[None], cos[qi : qi + 1], sin[qi : qi + 1])[0]
        rk = rotate_pairs(k[None], cos[ki : ki + 1], sin[ki : ki + 1])[0]
        return float(rq @ rk)

    base = score((1, 2), (3, 1))
    assert score((2, 4), (4, 3)) == pytest.approx(base, abs=1e-5)  # shifted by (+1, +2)
    assert score((1, 2), (3, 2)) != pytest.approx(base, abs=1e-3)  # different offset


def _reference_rope_attention(attn: RoPEAttention, q, k, v, n_exclude: int) -> torch.Tensor:
    """Independent formula: project, rotate with complex tables, softmax(q k^T / sqrt(d)) v."""
    heads = attn.num_heads
    qp, kp, vp = attn.q_proj(q), attn.k_proj(k), attn.v_proj(v)

    def split(t):
        b, n, c = t.shape
        return t.reshape(b, n, heads, c // heads).permute(0, 2, 1, 3)

    qp, kp, vp = split(qp), split(kp), split(vp)
    d = qp.shape[-1]
    side = int(math.isqrt(qp.shape[2]))
    cis = compute_axial_cis(d, side, side)

    def rot(t, table):
        c = torch.view_as_complex(t.reshape(*t.shape[:-1], d // 2, 2).contiguous())
        return torch.view_as_real(c * table).flatten(-2)

    n_rot = kp.shape[2] - n_exclude
    reps = n_rot // qp.shape[2]
    kp = torch.cat([rot(kp[:, :, :n_rot], cis.repeat(reps, 1)), kp[:, :, n_rot:]], dim=2)
    qp = rot(qp, cis)
    w = torch.softmax(qp @ kp.transpose(-1, -2) / math.sqrt(d), dim=-1)
    out = (w @ vp).permute(0, 2, 1, 3).flatten(2)
    return attn.out_proj(out)


def test_rope_attention_repeat_and_excluded_pointer_tokens() -> None:
    attn = RoPEAttention(embedding_dim=16, num_heads=2, rope_k_repeat=True, feat_sizes=(4, 4), kv_in_dim=8).eval()
    q = torch.randn(2, 16, 16)
    mem = torch.randn(2, 2 * 16 + 3, 8)  # two frames of 4x4 memories + 3 pointer tokens
    with torch.no_grad():
        out = attn(q, mem, mem, num_k_exclude_rope=3)
        ref = _reference_rope_attention(attn, q, mem, mem, 3)
        assert out.shape == (2, 16, 16)
        assert torch.allclose(out, ref, atol=1e-5)
        # a duplicated frame rotated like the queries changes nothing
        one = torch.randn(2, 16, 8)
        assert torch.allclose(attn(q, one, one), attn(q, torch.cat([one, one], 1), torch.cat([one, one], 1)), atol=1e-5)
        # other square query maps rebuild the tables
        assert attn(torch.randn(1, 9, 16), torch.randn(1, 9, 8), torch.randn(1, 9, 8)).shape == (1, 9, 16)
    assert "rope_cos" not in attn.state_dict()
    with pytest.raises(ValueError):
        attn(torch.randn(1, 10, 16), torch.randn(1, 10, 8), torch.randn(1, 10, 8))
    plain = RoPEAttention(embedding_dim=16, num_heads=2, feat_sizes=(4, 4))
    with pytest.raises(ValueError, match="rope_k_repeat"):
        plain(q, torch.randn(2, 32, 16), torch.randn(2, 32, 16))


def test_attention_downsample_and_kv_dim() -> None:
    attn = Attention(32, 4, downsample_rate=2, kv_in_dim=12)
    assert attn.q_proj.out_features == 16 and attn.k_proj.in_features == 12
    assert attn(torch.randn(2, 5, 32), torch.randn(2, 7, 12), torch.randn(2, 7, 12)).shape == (2, 5, 32)
    with pytest.raises(ValueError, match="num_heads"):
        Attention(30, 4)


# ----------------------------------------------------------------------------- prompt encoder
def _prompt_encoder() -> PromptEncoder:
    return PromptEncoder(embed_dim=32, image_embedding_size=(4, 4), input_image_size=(64, 64), mask_in_chans=16)


def test_prompt_encoder_points_boxes_masks() -> None:
    enc = _prompt_encoder()
    coords = torch.tensor([[[10.0, 20.0], [30.0, 5.0]]])
    sparse, dense = enc(points=(coords, torch.tensor([[1, 0]])), boxes=None, masks=None)
    assert sparse.shape == (1, 3, 32)  # a padding point is appended without a box
    assert torch.equal(sparse[0, 2], enc.not_a_point_embed.weight[0])
    assert dense.shape == (1, 32, 4, 4)
    assert torch.equal(dense[0, :, 1, 2], enc.no_mask_embed.weight[0])
    # label 1 vs label 0 at the same place differ by the two learned embeddings
    pos, _ = enc(points=(coords[:, :1], torch.tensor([[1]])), boxes=None, masks=None)
    neg, _ = enc(points=(coords[:, :1], torch.tensor([[0]])), boxes=None, masks=None)
    diff = enc.point_embeddings[1].weight[0] - enc.point_embeddings[0].weight[0]
    assert torch.allclose(pos[0, 0] - neg[0, 0], diff, atol=1e-6)

    box = torch.tensor([[4.0, 6.0, 40.0, 50.0]])
    sparse_b, _ = enc(points=(coords, torch.tensor([[1, 1]])), boxes=box, masks=torch.randn(1, 1, 16, 16))
    assert sparse_b.shape == (1, 4, 32)  # no padding point with a box
    as_points, _ = enc(points=(box.view(1, 2, 2), torch.tensor([[2, 3]])), boxes=None, masks=None)
    assert torch.allclose(sparse_b[0, 2:], as_points[0, :2], atol=1e-6)  # box == corner points 2/3

    _, dense_m = enc(points=None, boxes=None, masks=torch.randn(3, 1, 16, 16))
    assert dense_m.shape == (3, 32, 4, 4)
    assert enc.get_dense_pe().shape == (1, 32, 4, 4)
    empty, _ = enc(points=None, boxes=None, masks=None)
    assert empty.shape == (1, 0, 32)


def test_prompt_encoder_rejects_bad_shapes() -> None:
    enc = _prompt_encoder()
    with pytest.raises(ValueError, match="labels"):
        enc(points=(torch.zeros(1, 2, 2), torch.zeros(1, 3)), boxes=None, masks=None)
    with pytest.raises(ValueError, match="boxes"):
        enc(points=None, boxes=torch.zeros(1, 3), masks=None)


# ------------------------------------------------------------------------------- mask decoder
def _decoder(**kw) -> MaskDecoder:
    return MaskDecoder(
        transformer_dim=32,
        transformer=TwoWayTransformer(depth=2, embedding_dim=32, num_heads=4, mlp_dim=64),
        iou_head_hidden_dim=16,
        **kw,
    ).eval()


def test_two_way_transformer_shapes() -> None:
    t = TwoWayTransformer(depth=2, embedding_dim=32, num_heads=4, mlp_dim=64)
    tokens, image = t(torch.randn(2, 32, 4, 5), torch.randn(2, 32, 4, 5), torch.randn(2, 7, 32))
    assert tokens.shape == (2, 7, 32) and image.shape == (2, 20, 32)
    assert t.layers[0].skip_first_layer_pe and not t.layers[1].skip_first_layer_pe


def test_mask_decoder_outputs_multi_single_and_high_res() -> None:
    dec = _decoder(use_high_res_features=True, pred_obj_scores=True, pred_obj_scores_mlp=True,
                   use_multimask_token_for_obj_ptr=True, iou_prediction_use_sigmoid=True)
    image, pe = torch.randn(2, 32, 4, 4), torch.randn(1, 32, 4, 4)
    sparse, dense = torch.randn(2, 3, 32), torch.randn(2, 32, 4, 4)
    high = [dec.conv_s0(torch.randn(2, 32, 16, 16)), dec.conv_s1(torch.randn(2, 32, 8, 8))]
    with torch.no_grad():
        masks, ious, tokens, scores = dec(image, pe, sparse, dense, True, False, high)
        assert masks.shape == (2, 3, 16, 16) and ious.shape == (2, 3) and tokens.shape == (2, 3, 32)
        assert scores.shape == (2, 1) and ((ious >= 0) & (ious <= 1)).all()
        masks1, ious1, tokens1, _ = dec(image, pe, sparse, dense, False, False, high)
        assert masks1.shape == (2, 1, 16, 16) and ious1.shape == (2, 1) and tokens1.shape == (2, 1, 32)
        all_masks, all_ious, _, _ = dec.predict_masks(image, pe, sparse, dense, False, high)
        assert torch.equal(masks1, all_masks[:, :1]) and torch.equal(masks, all_masks[:, 1:])
        # one image, many prompts
        m_rep, _, _, _ = dec(image[:1], pe, sparse, dense, True, True, [h[:1].expand(2, -1, -1, -1) for h in high])
        assert m_rep.shape == (2, 3, 16, 16)
    with pytest.raises(ValueError, match="high_res_features"):
        dec(image, pe, sparse, dense, True, False, None)
    assert "pred_obj_score_head.layers.2.weight" in dec.state_dict()


def test_mask_decoder_without_object_head_reports_present() -> None:
    dec = _decoder()
    with torch.no_grad():
        masks, _, _, scores = dec(torch.randn(1, 32, 4, 4), torch.randn(1, 32, 4, 4), torch.randn(1, 2, 32),
                                  torch.randn(1, 32, 4, 4), False, False)
    assert masks.shape == (1, 1, 16, 16)
    assert torch.equal(scores, torch.full((1, 1), 10.0))
    assert not any(k.startswith("obj_score_token") for k in dec.state_dict())


def test_dynamic_multimask_via_stability_falls_back_when_unstable() -> None:
    dec = _decoder(dynamic_multimask_via_stability=True)
    stable = torch.full((1, 1, 4, 4), 5.0)  # all logits far from 0 -> stability 1
    unstable = torch.zeros(1, 1, 4, 4)
    unstable[..., :2] = 0.01  # within +-delta -> stability 0
    cands = torch.randn(2, 3, 4, 4)
    logits = torch.cat([torch.cat([stable, unstable]), cands], dim=1)  # [2, 4, 4, 4]
    ious = torch.tensor([[0.9, 0.1, 0.7, 0.2], [0.9, 0.1, 0.2, 0.8]])
    out, out_iou = dec._dynamic_multimask_via_stability(logits, ious)
    assert torch.equal(out[0], stable[0]) and out_iou[0].item() == pytest.approx(0.9)
    assert torch.equal(out[1, 0], cands[1, 2]) and out_iou[1].item() == pytest.approx(0.8)
    scores = dec._get_stability_scores(torch.cat([stable, unstable]))
    assert scores.flatten().tolist() == [1.0, 0.0]
