"""Memory attention, memory encoder and memory helpers (tiny configs)."""
from __future__ import annotations

import pytest
import torch

from sam2.modeling.memory_attention import MemoryAttention, MemoryAttentionLayer
from sam2.modeling.memory_encoder import CXBlock, Fuser, MaskDownSampler, MemoryEncoder
from sam2.modeling.position_encoding import PositionEmbeddingSine
from sam2.modeling.sam.transformer import RoPEAttention
from sam2.modeling.sam2_utils import get_1d_sine_pe, select_closest_cond_frames

torch.manual_seed(0)


def _memory_attention(d: int = 32, mem: int = 8, layers: int = 2) -> MemoryAttention:
    layer = MemoryAttentionLayer(
        activation="relu",
        cross_attention=RoPEAttention(embedding_dim=d, num_heads=1, rope_k_repeat=True, feat_sizes=(4, 4),
                                      kv_in_dim=mem, dropout=0.1),
        d_model=d,
        dim_feedforward=64,
        dropout=0.1,
        pos_enc_at_attn=False,
        pos_enc_at_cross_attn_keys=True,
        pos_enc_at_cross_attn_queries=False,
        self_attention=RoPEAttention(embedding_dim=d, num_heads=1, feat_sizes=(4, 4), dropout=0.1),
    )
    return MemoryAttention(d_model=d, pos_enc_at_input=True, layer=layer, num_layers=layers).eval()


def test_memory_attention_shapes_and_state_dict_keys() -> None:
    ma = _memory_attention()
    curr, curr_pos = torch.randn(16, 2, 32), torch.randn(16, 2, 32)
    memory, memory_pos = torch.randn(2 * 16 + 4, 2, 8), torch.randn(2 * 16 + 4, 2, 8)
    with torch.no_grad():
        out = ma(curr=[curr], curr_pos=[curr_pos], memory=memory, memory_pos=memory_pos, num_obj_ptr_tokens=4)
        out2 = ma(curr=curr, curr_pos=curr_pos, memory=memory, memory_pos=memory_pos, num_obj_ptr_tokens=4)
    assert out.shape == (16, 2, 32) and torch.equal(out, out2)
    keys = set(ma.state_dict())
    for k in ("layers.1.self_attn.q_proj.weight", "layers.0.cross_attn_image.k_proj.weight", "layers.0.linear1.bias",
              "layers.0.norm3.weight", "norm.bias"):
        assert k in keys
    assert ma.layers[0].cross_attn_image.k_proj.in_features == 8
    assert ma.layers[0] is not ma.layers[1]


def test_memory_attention_batch_elements_are_independent() -> None:
    ma = _memory_attention()
    curr, curr_pos = torch.randn(16, 2, 32), torch.randn(16, 2, 32)
    memory, memory_pos = torch.randn(20, 2, 8), torch.randn(20, 2, 8)
    with torch.no_grad():
        both = ma(curr, memory, curr_pos, memory_pos, num_obj_ptr_tokens=4)
        first = ma(curr[:, :1], memory[:, :1], curr_pos[:, :1], memory_pos[:, :1], num_obj_ptr_tokens=4)
    assert torch.allclose(both[:, :1], first, atol=1e-5)


def test_memory_attention_pointer_tokens_are_order_free() -> None:
    """Pointer tokens carry no RoPE, so permuting them (with their encodings) changes nothing;
    permuting rotated spatial tokens does."""
    ma = _memory_attention(layers=1)
    curr, curr_pos = torch.randn(16, 1, 32), torch.randn(16, 1, 32)
    memory, memory_pos = torch.randn(20, 1, 8), torch.randn(20, 1, 8)
    perm = torch.cat([torch.arange(16), torch.tensor([19, 18, 17, 16])])
    with torch.no_grad():
        ref = ma(curr, memory, curr_pos, memory_pos, num_obj_ptr_tokens=4)
        swapped = ma(curr, memory[perm], curr_pos, memory_pos[perm], num_obj_ptr_tokens=4)
        spatial_perm = torch.cat([torch.arange(15, -1, -1), torch.arange(16, 20)])
        moved = ma(curr, memory[spatial_perm], curr_pos, memory_pos[spatial_perm], num_obj_ptr_tokens=4)
    assert torch.allclose(ref, swapped, atol=1e-5)
    assert not torch.allclose(ref, moved, atol=1e-4)


def test_memory_attention_rejects_batch_mismatch() -> None:
    ma = _memory_attention()
    with pytest.raises(ValueError, match="batch"):
        ma(torch.randn(16, 2, 32), torch.randn(16, 3, 8), torch.randn(16, 2, 32), torch.randn(16, 3, 8))


def _memory_encoder(d: int = 32, out: int = 8) -> MemoryEncoder:
    return MemoryEncoder(
        out_dim=out,
        mask_downsampler=MaskDownSampler(embed_dim=d, kernel_size=3, stride=2, padding=1, total_stride=16),
        fuser=Fuser(CXBlock(dim=d, kernel_size=7, padding=3), num_layers=2),
        position_encoding=PositionEmbeddingSine(num_pos_feats=out),
        in_dim=d,
    ).eval()


def test_memory_encoder_shapes_and_sigmoid_switch() -> None:
    enc = _memory_encoder()
    pix, masks = torch.randn(2, 32, 4, 4), torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        out = enc(pix, masks)
        same = enc(pix, torch.sigmoid(masks), skip_mask_sigmoid=True)
    assert out["vision_features"].shape == (2, 8, 4, 4)
    assert len(out["vision_pos_enc"]) == 1 and out["vision_pos_enc"][0].shape == (2, 8, 4, 4)
    assert torch.equal(out["vision_features"], same["vision_features"])
    keys = set(enc.state_dict())
    assert {"mask_downsampler.encoder.0.weight", "mask_downsampler.encoder.12.weight", "pix_feat_proj.weight",
            "fuser.layers.1.gamma", "fuser.layers.0.dwconv.weight", "out_proj.weight"} <= keys
    same_width = _memory_encoder(out=32)
    assert not any(k.startswith("out_proj") for k in same_width.state_dict())


def test_mask_downsampler_and_cxblock() -> None:
    down = MaskDownSampler(embed_dim=16, kernel_size=4, stride=4, padding=0, total_stride=16)
    assert down(torch.randn(1, 1, 64, 64)).shape == (1, 16, 4, 4)
    assert len(down.encoder) == 2 * 3 + 1
    with pytest.raises(ValueError, match="total_stride"):
        MaskDownSampler(stride=4, total_stride=8)
    block = CXBlock(dim=8, layer_scale_init_value=1e-6)
    with torch.no_grad():
        block.gamma.zero_()
    x = torch.randn(1, 8, 5, 5)
    assert torch.equal(block(x), x)  # zero layer scale -> identity
    assert CXBlock(dim=8, layer_scale_init_value=0).gamma is None
    fuser = Fuser(CXBlock(dim=8), num_layers=3, dim=8, input_projection=True)
    assert fuser(x).shape == x.shape and "proj.weight" in fuser.state_dict()


def test_get_1d_sine_pe_values() -> None:
    pos = torch.tensor([0.0, 0.5])
    pe = get_1d_sine_pe(pos, dim=4)
    # dim 4 -> 2 frequencies, both 1 (pairs share the exponent 0): sin(p), sin(p), cos(p), cos(p)
    expected = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.4794255, 0.4794255, 0.8775826, 0.8775826]])
    assert torch.allclose(pe, expected, atol=1e-6)
    assert get_1d_sine_pe(torch.rand(3, 5), dim=8).shape == (3, 5, 8)


def test_select_closest_cond_frames() -> None:
    cond = {0: "a", 4: "b", 10: "c", 12: "d", 30: "e"}
    sel, unsel = select_closest_cond_frames(11, cond, -1)
    assert sel is cond and unsel == {}
    sel, unsel = select_closest_cond_frames(11, cond, 3)
    assert list(sel) == [10, 12, 4] and set(unsel) == {0, 30}
    sel, unsel = select_closest_cond_frames(31, cond, 2)
    assert list(sel) == [30, 12]
    with pytest.raises(ValueError):
        select_closest_cond_frames(5, cond, 1)
