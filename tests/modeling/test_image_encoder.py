"""Hiera trunk, FPN neck and ImageEncoder: geometry, state-dict layout and parity.

Golden outputs come from the official package (``tests/parity/oracle_scripts/image_encoder_golden.py``,
regeneration command in its docstring); weights from ``tests/parity/seeded_ckpt.py``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from sam2.build_sam import compose_config
from sam2.modeling.backbones.hieradet import Hiera, plan_hiera_blocks
from sam2.modeling.backbones.image_encoder import FpnNeck, ImageEncoder
from sam2.modeling.backbones.utils import PatchEmbed, window_partition, window_unpartition

PARITY_DIR = Path(__file__).resolve().parents[1] / "parity"
GOLDEN_DIR = PARITY_DIR / "golden"
if str(PARITY_DIR) not in sys.path:
    sys.path.insert(0, str(PARITY_DIR))

from seeded_ckpt import find_manifest, make_seeded_state_dict  # noqa: E402

SIZES = ("t", "s", "b+", "l")
PREFIX = "image_encoder."


def _manifest_entries(size: str, prefix: str) -> Dict[str, Tuple[Tuple[int, ...], str]]:
    with open(find_manifest(size), "r", encoding="utf-8") as fh:
        entries = json.load(fh)["entries"]
    return {
        e["key"][len(prefix):]: (tuple(e["shape"]), e["dtype"])
        for e in entries
        if e["key"].startswith(prefix)
    }


def _encoder_for(size: str) -> ImageEncoder:
    cfg = compose_config(f"configs/sam2.1/sam2.1_hiera_{size}.yaml")
    return instantiate(cfg.model.image_encoder, _recursive_=True)


class _ZeroPos(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


def _tiny_encoder(scalp: int = 1) -> ImageEncoder:
    trunk = Hiera(embed_dim=8, num_heads=1, stages=(1, 2, 2, 1), global_att_blocks=(3,),
                  window_pos_embed_bkg_spatial_size=(4, 4), window_spec=(4, 2, 3, 2))
    neck = FpnNeck(_ZeroPos(), d_model=16, backbone_channel_list=trunk.channel_list,
                   fpn_top_down_levels=[2, 3], fpn_interp_model="nearest")
    return ImageEncoder(trunk, neck, scalp=scalp)


# ---------------------------------------------------------------------------- windowing
def test_window_partition_pads_and_orders_windows_row_major() -> None:
    x = torch.arange(2 * 5 * 7 * 3, dtype=torch.float32).reshape(2, 5, 7, 3)
    windows, padded = window_partition(x, 3)
    assert padded == (6, 9)
    assert windows.shape == (2 * 2 * 3, 3, 3, 3)
    # window (image 1, row 1, col 2) covers rows 3..5 and cols 6..8 of the padded grid
    w = windows[1 * 6 + 1 * 3 + 2]
    assert torch.equal(w[:2, :1], x[1, 3:5, 6:7])
    assert torch.count_nonzero(w[2]) == 0 and torch.count_nonzero(w[:, 1:]) == 0
    back = window_unpartition(windows, 3, padded, (5, 7))
    assert torch.equal(back, x)


def test_patch_embed_is_channels_last() -> None:
    stem = PatchEmbed(embed_dim=5)
    out = stem(torch.zeros(2, 3, 32, 24))
    assert out.shape == (2, 8, 6, 5)


# ---------------------------------------------------------------------------- block plan
def test_block_plan_of_hiera_tiny_matches_hand_worked_layout() -> None:
    specs = plan_hiera_blocks(
        embed_dim=96, num_heads=1, stages=(1, 2, 7, 2), q_pool=3, q_stride=(2, 2),
        dim_mul=2.0, head_mul=2.0, window_spec=(8, 4, 14, 7), global_att_blocks=(5, 7, 9),
        drop_path_rate=0.0,
    )
    # The first block of a stage keeps the previous stage's window and pools its queries.
    assert [s.window_size for s in specs] == [8, 8, 4, 4, 14, 0, 14, 0, 14, 0, 14, 7]
    assert [s.dim_out for s in specs] == [96, 192, 192, 384, 384, 384, 384, 384, 384, 384, 768, 768]
    assert [s.num_heads for s in specs] == [1, 2, 2, 4, 4, 4, 4, 4, 4, 4, 8, 8]
    assert [i for i, s in enumerate(specs) if s.q_stride] == [1, 3, 10]
    assert specs[1].dim == 96 and specs[3].dim == 192


def test_block_plan_drop_path_is_linear_and_q_pool_limits_pooling() -> None:
    specs = plan_hiera_blocks(8, 1, (1, 1, 1, 1), 1, (2, 2), 2.0, 2.0, (4, 4, 4, 4), (), 0.3)
    assert [s.drop_path for s in specs] == pytest.approx([0.0, 0.1, 0.2, 0.3], abs=1e-7)
    assert [i for i, s in enumerate(specs) if s.q_stride] == [1]


def test_trunk_channel_list_and_stage_outputs() -> None:
    trunk = Hiera(embed_dim=8, num_heads=1, stages=(1, 2, 2, 1), global_att_blocks=(3,),
                  window_pos_embed_bkg_spatial_size=(4, 4), window_spec=(4, 2, 3, 2))
    assert trunk.channel_list == [64, 32, 16, 8]
    outs = trunk(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 8, 16, 16), (1, 16, 8, 8), (1, 32, 4, 4), (1, 64, 2, 2)]
    last_only = Hiera(embed_dim=8, num_heads=1, stages=(1, 1), q_pool=1, window_spec=(4, 2),
                      global_att_blocks=(), window_pos_embed_bkg_spatial_size=(4, 4),
                      return_interm_layers=False)
    assert last_only.channel_list == [16]
    assert [tuple(o.shape) for o in last_only(torch.randn(1, 3, 32, 32))] == [(1, 16, 4, 4)]


def test_layer_ids_for_lr_decay() -> None:
    trunk = Hiera(embed_dim=8, num_heads=1, stages=(1, 2, 2, 1), global_att_blocks=(3,),
                  window_pos_embed_bkg_spatial_size=(4, 4), window_spec=(4, 2, 3, 2))
    assert trunk.get_num_layers() == 6
    assert trunk.get_layer_id("pos_embed") == 0
    assert trunk.get_layer_id("patch_embed.proj.weight") == 0
    assert trunk.get_layer_id("blocks.4.attn.qkv.weight") == 5
    assert trunk.get_layer_id("something_else") == 7


# ---------------------------------------------------------------------------- encoder
def test_encoder_is_batch_consistent_and_scalps_lowest_level() -> None:
    torch.manual_seed(0)
    enc = _tiny_encoder(scalp=1).eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        both = enc(images)
        first = enc(images[:1])
    assert [tuple(f.shape) for f in both["backbone_fpn"]] == [(2, 16, 16, 16), (2, 16, 8, 8), (2, 16, 4, 4)]
    assert both["vision_features"] is both["backbone_fpn"][-1]
    assert len(both["vision_pos_enc"]) == 3
    for a, b in zip(both["backbone_fpn"], first["backbone_fpn"]):
        torch.testing.assert_close(a[:1], b, rtol=1e-5, atol=1e-6)


def test_encoder_runs_on_grids_not_divisible_by_the_window() -> None:
    enc = _tiny_encoder(scalp=0).eval()
    with torch.no_grad():
        out = enc(torch.randn(1, 3, 72, 72))  # 18x18 tokens, window 4
    assert [tuple(f.shape[-2:]) for f in out["backbone_fpn"]] == [(18, 18), (9, 9), (4, 4), (2, 2)]
    assert all(torch.isfinite(f).all() for f in out["backbone_fpn"])
    # odd grids entering windowed, query-pooling blocks (9x9 tokens, windows of 4)
    trunk = Hiera(embed_dim=8, num_heads=1, stages=(1, 1, 1, 1), global_att_blocks=(),
                  window_spec=(4, 4, 4, 2), window_pos_embed_bkg_spatial_size=(4, 4))
    with torch.no_grad():
        maps = trunk(torch.randn(1, 3, 36, 36))
    assert [tuple(m.shape[-2:]) for m in maps] == [(9, 9), (4, 4), (2, 2), (1, 1)]


def test_neck_top_down_only_on_listed_levels() -> None:
    neck = FpnNeck(_ZeroPos(), d_model=4, backbone_channel_list=[6, 3], fpn_top_down_levels=[0],
                   fpn_interp_model="nearest")
    with torch.no_grad():
        for conv in neck.convs:
            conv.conv.weight.fill_(1.0)
            conv.conv.bias.zero_()
    fine, coarse = torch.ones(1, 3, 4, 4), torch.ones(1, 6, 2, 2)
    feats, pos = neck([fine, coarse])
    assert torch.equal(feats[1], torch.full((1, 4, 2, 2), 6.0))
    assert torch.equal(feats[0], torch.full((1, 4, 4, 4), 3.0 + 6.0))
    assert torch.count_nonzero(pos[0]) == 0 and pos[0].shape == feats[0].shape
    avg = FpnNeck(_ZeroPos(), d_model=4, backbone_channel_list=[6, 3], fuse_type="avg",
                  fpn_interp_model="nearest")
    avg.load_state_dict(neck.state_dict())
    assert torch.equal(avg([fine, coarse])[0][0], torch.full((1, 4, 4, 4), 4.5))


def test_mismatched_trunk_and_neck_are_rejected() -> None:
    trunk = Hiera(embed_dim=8, num_heads=1, stages=(1, 1), q_pool=1, window_spec=(4, 2),
                  global_att_blocks=(), window_pos_embed_bkg_spatial_size=(4, 4))
    neck = FpnNeck(_ZeroPos(), d_model=4, backbone_channel_list=[32, 8])
    with pytest.raises(ValueError, match="trunk.channel_list=\\[16, 8\\]"):
        ImageEncoder(trunk, neck)


@pytest.mark.parametrize("size", SIZES)
def test_image_encoder_state_dict_matches_manifest(size: str) -> None:
    expected = _manifest_entries(size, PREFIX)
    with torch.device("meta"):
        enc = _encoder_for(size)
    got = {k: (tuple(v.shape), str(v.dtype).replace("torch.", "")) for k, v in enc.state_dict().items()}
    assert list(got) == list(expected)
    assert got == expected
    assert sum(p.numel() for p in enc.parameters()) == sum(int(np.prod(s)) for s, _ in expected.values())


@pytest.mark.parametrize("size", ["t", "b+"])
def test_image_encoder_matches_official_on_seeded_weights(size: str) -> None:
    golden = np.load(GOLDEN_DIR / f"image_encoder_{size}.npz")
    meta = json.loads(str(golden["meta"]))
    enc = _encoder_for(size).eval()
    state = make_seeded_state_dict(size, meta["seed"])
    enc.load_state_dict({k[len(PREFIX):]: v for k, v in state.items() if k.startswith(PREFIX)}, strict=True)
    gen = torch.Generator(device="cpu")
    gen.manual_seed(meta["input_seed"])
    image = torch.randn(1, 3, meta["resolution"], meta["resolution"], generator=gen)
    with torch.no_grad():
        out = enc(image)
    shapes: List[List[int]] = [list(f.shape) for f in out["backbone_fpn"]]
    assert shapes == meta["shapes"]
    channels = meta["channels"]
    for level, feat in enumerate(out["backbone_fpn"]):
        head = feat[:, :channels].numpy()
        ref = golden[f"fpn{level}_head"]
        rel = np.linalg.norm(head - ref) / np.linalg.norm(ref)
        assert rel <= 1e-5, f"level {level}: relative L2 error {rel:.2e}"
        means = feat.double().mean(dim=(2, 3)).numpy()
        np.testing.assert_allclose(means, golden[f"fpn{level}_chan_mean"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(out["vision_pos_enc"][-1][:, :channels].numpy(), golden["pos_last_head"],
                               rtol=1e-5, atol=1e-6)
