"""The projected-memory fast path equals the plain memory attention / predictor path."""
from __future__ import annotations

import copy

import pytest
import torch

from sam2.build_sam import build_sam2_video_predictor
from sam2.modeling.memory_attention import MemoryAttention, MemoryAttentionLayer
from sam2.modeling.sam.transformer import RoPEAttention
from sam2.video.projected_memory import (
    ProjectedMemoryCache,
    TemporalKeyOffsets,
    attend_with_projected_memory,
    project_frame,
)

INSTANT = "configs/sam2.1/sam2.1_hiera_instant.yaml"


def _rel_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


def _attention(d_model=32, c_mem=16, heads=1, side=4, layers=2) -> MemoryAttention:
    def rope(**kw):
        return RoPEAttention(embedding_dim=d_model, num_heads=heads, feat_sizes=(side, side),
                             dropout=0.1, **kw)

    layer = MemoryAttentionLayer(
        activation="relu", cross_attention=rope(kv_in_dim=c_mem, rope_k_repeat=True),
        d_model=d_model, dim_feedforward=64, dropout=0.1, pos_enc_at_attn=False,
        pos_enc_at_cross_attn_keys=True, pos_enc_at_cross_attn_queries=False,
        self_attention=rope(),
    )
    torch.manual_seed(0)
    attn = MemoryAttention(d_model=d_model, pos_enc_at_input=True, layer=layer, num_layers=layers)
    with torch.no_grad():  # non-trivial weights everywhere (biases and norms included)
        for p in attn.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return attn.eval()


@pytest.mark.parametrize("heads", [1, 2])
def test_projected_memory_attention_equals_plain(heads):
    side, c, c_mem, batch, num_maskmem = 4, 32, 16, 3, 5
    attn = _attention(d_model=c, c_mem=c_mem, heads=heads, side=side)
    n = side * side
    gen = torch.Generator().manual_seed(1)
    curr = torch.randn(n, 1, c, generator=gen)
    curr_pos = torch.randn(n, 1, c, generator=gen)
    tpos = torch.randn(num_maskmem, 1, 1, c_mem, generator=gen)
    spatial_pos = torch.randn(1, c_mem, side, side, generator=gen)
    t_pos = [0, 2, 3, 4]  # a conditioning frame and three recent ones
    mems = torch.randn(batch, len(t_pos), c_mem, side, side, generator=gen).to(torch.bfloat16)
    ptrs = torch.randn(6, batch, c_mem, generator=gen)
    ptr_pos = torch.randn(6, 1, c_mem, generator=gen).expand(-1, batch, -1)

    # plain path: memory tokens [M, B, C_mem] with spatial + temporal encodings
    tokens, pos = [], []
    for f, slot in enumerate(t_pos):
        tokens.append(mems[:, f].float().flatten(2).permute(2, 0, 1))
        pos.append(spatial_pos.flatten(2).permute(2, 0, 1).expand(-1, batch, -1)
                   + tpos[num_maskmem - slot - 1])
    memory = torch.cat(tokens + [ptrs])
    memory_pos = torch.cat(pos + [ptr_pos])
    with torch.no_grad():
        plain = attn(curr.expand(-1, batch, -1), memory, curr_pos=curr_pos.expand(-1, batch, -1),
                     memory_pos=memory_pos, num_obj_ptr_tokens=ptrs.shape[0])
        frames = [[project_frame(attn, mems[b, f:f + 1], spatial_pos, torch.device("cpu"))
                   for f in range(len(t_pos))] for b in range(batch)]
        tables = TemporalKeyOffsets().tables(attn, tpos, n, torch.device("cpu"))
        fast = attend_with_projected_memory(attn, curr, curr_pos, frames, t_pos, tables, ptrs, ptr_pos)
    assert fast.shape == plain.shape == (n, batch, c)
    assert _rel_l2(fast, plain) <= 1e-5
    # each object's row only depends on its own memory
    assert _rel_l2(fast[:, 1], plain[:, 1]) <= 1e-5


def test_key_offsets_are_the_linear_part_of_rotated_keys():
    attn = RoPEAttention(embedding_dim=32, num_heads=2, kv_in_dim=8, feat_sizes=(3, 3)).eval()
    x = torch.randn(2, 9, 8)
    t = torch.randn(8)
    with torch.no_grad():
        direct = attn.project_map_keys(x + t)
        split = attn.project_map_keys(x) + attn.key_offsets(t[None], 9)[0]
    assert _rel_l2(split, direct) <= 1e-6


def test_cache_checks_the_source_tensor():
    cache = ProjectedMemoryCache()
    attn = _attention()
    feats = torch.randn(1, 16, 4, 4)
    entry = project_frame(attn, feats, torch.zeros(1, 16, 4, 4), torch.device("cpu"))
    cache.store(3, entry)
    assert cache.lookup(3, feats) is entry
    assert cache.lookup(3, feats.clone()) is None  # a re-encoded memory is projected again
    cache.retain([5])
    assert len(cache) == 0


def _build(**kwargs):
    torch.manual_seed(0)
    return build_sam2_video_predictor(
        INSTANT, None, device="cpu",
        hydra_overrides_extra=["++model.num_maskmem=3", "++model.max_obj_ptrs_in_encoder=4"],
        **kwargs)


def _track(pred, video_dir, masks, reverse=False):
    state = pred.init_state(str(video_dir))
    start = 5 if reverse else 0
    pred.add_new_mask(state, start, 1, masks["obj1"][start])
    pred.add_new_mask(state, start, 2, masks["obj2"][start])
    pred.add_new_points_or_box(state, start, 3, box=[2, 2, 30, 20])
    pred.add_new_mask(state, 2, 4, masks["obj1"][2])  # a later-prompted object
    outs = {f: m.clone() for f, _, m in pred.propagate_in_video(state, reverse=reverse)}
    return state, outs


@pytest.mark.parametrize("reverse", [False, True])
def test_predictor_projected_path_equals_plain_path(tiny_clip, reverse):
    video_dir, masks = tiny_clip
    fast_pred = _build()
    plain_pred = copy.deepcopy(fast_pred)
    fast_pred.project_memory_once = True
    assert not plain_pred.project_memory_once  # opt-in
    plain_state, plain = _track(plain_pred, video_dir, masks, reverse)
    fast_state, fast = _track(fast_pred, video_dir, masks, reverse)
    assert sorted(fast) == sorted(plain)
    for f in plain:
        assert _rel_l2(fast[f], plain[f]) <= 1e-5, f"frame {f}"
    for obj_id, track in fast_state.tracks.items():
        bank = track.bank
        other = plain_state.tracks[obj_id].bank
        assert sorted(bank.non_cond) == sorted(other.non_cond)
        for t, out in bank.non_cond.items():
            assert _rel_l2(out.maskmem_features.float(),
                           other.non_cond[t].maskmem_features.float()) <= 1e-2  # bf16 storage
            assert _rel_l2(out.obj_ptr, other.non_cond[t].obj_ptr) <= 1e-5
        # the cache only holds memories the last tracked frame read, all still in the bank
        assert set(bank.projections.frames()) <= set(bank.cond) | set(bank.non_cond)
        assert len(plain_state.tracks[obj_id].bank.projections) == 0


def test_projections_follow_eviction(tmp_path):
    from video_clip import make_clip

    masks = make_clip(str(tmp_path), frames=12, width=64, height=48, seed=2)
    video_dir = tmp_path / "JPEGImages"
    pred = _build()
    pred.project_memory_once = True
    state = pred.init_state(str(video_dir))
    pred.add_new_mask(state, 0, 1, masks["obj1"][0])
    for frame_idx, _, _ in pred.propagate_in_video(state):
        bank = state.tracks[1].bank
        assert set(bank.projections.frames()) <= set(bank.cond) | set(bank.non_cond)
    assert bank.num_evicted > 0
    assert 0 < len(bank.projections) <= pred.num_maskmem  # cond frame + recent frames
    bank.clear()
    assert len(bank.projections) == 0
