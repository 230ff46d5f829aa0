"""``build_sam2`` / ``build_sam2_video_predictor``: state dicts equal the official manifests,
post-processing and RCMS settings reach the model, and checkpoint loading is strict with
clear errors.

Manifests: ``tests/parity/manifests/sam2.1_hiera_<size>.state_dict.json`` (made by the official
package from a random init), looked up by ``tests/parity/seeded_ckpt.py``.
"""
from __future__ import annotations

import contextlib
import json
import sys
import zipfile
from pathlib import Path
from typing import Dict, Iterator, Tuple

import numpy as np
import pytest
import torch
from torch import nn

from sam2.build_sam import CheckpointError, CheckpointMismatchError, build_sam2
from sam2.build_sam import build_sam2_video_predictor, check_state_dict_compatible
from sam2.build_sam import load_checkpoint, read_checkpoint_state_dict

PARITY_DIR = Path(__file__).resolve().parents[1] / "parity"
if str(PARITY_DIR) not in sys.path:
    sys.path.insert(0, str(PARITY_DIR))

from seeded_ckpt import find_manifest, make_seeded_state_dict  # noqa: E402

SIZES = ("t", "s", "b+", "l")
_INIT_FUNCS = (
    "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_",
    "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_", "xavier_normal_",
)


@contextlib.contextmanager
def _skip_weight_init() -> Iterator[None]:
    """Leave parameters uninitialised while building (keys, shapes and dtypes are unaffected)."""
    saved = {name: getattr(nn.init, name) for name in _INIT_FUNCS}
    try:
        for name in _INIT_FUNCS:
            setattr(nn.init, name, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for name, fn in saved.items():
            setattr(nn.init, name, fn)


def _build_fast(builder, config: str, **kwargs) -> nn.Module:
    """Build on the meta device when every module supports it, else on CPU without init."""
    try:
        with torch.device("meta"):
            return builder(config, device="meta", **kwargs)
    except Exception:  # noqa: BLE001 - some module computes constants from data at init
        with _skip_weight_init():
            return builder(config, device="cpu", **kwargs)


def _manifest(size: str) -> dict:
    with open(find_manifest(size), "r", encoding="utf-8") as fh:
        return json.load(fh)


def _signature(model: nn.Module) -> Dict[str, Tuple[Tuple[int, ...], str]]:
    return {k: (tuple(v.shape), str(v.dtype).replace("torch.", "")) for k, v in model.state_dict().items()}


# ------------------------------------------------------------------------ manifests
@pytest.mark.parametrize("size", SIZES)
def test_build_sam2_state_dict_equals_official_manifest(size: str) -> None:
    manifest = _manifest(size)
    model = _build_fast(build_sam2, f"configs/sam2.1/sam2.1_hiera_{size}.yaml")
    expected = {e["key"]: (tuple(e["shape"]), e["dtype"]) for e in manifest["entries"]}
    got = _signature(model)
    assert sorted(set(expected) - set(got)) == [], "missing keys"
    assert sorted(set(got) - set(expected)) == [], "unexpected keys"
    assert got == expected
    assert sum(p.numel() for p in model.parameters()) == manifest["total_parameters"]
    assert sum(int(np.prod(s)) for s, _ in got.values()) == manifest["state_dict_numel"]
    params = dict(model.named_parameters())
    for entry in manifest["entries"]:
        is_param = entry["key"] in params
        assert is_param == (entry["kind"] == "parameter"), entry["key"]
    # Derived constants (RoPE tables, cached encodings) are buffers kept out of the state dict.
    derived = [name for name, _ in model.named_buffers() if name not in got]
    assert any(name.startswith("memory_attention.") for name in derived), derived
    for name in derived:
        owner_name, _, leaf = name.rpartition(".")
        owner = model.get_submodule(owner_name) if owner_name else model
        assert leaf in owner._non_persistent_buffers_set, name


def test_sam2_0_configs_lack_the_sam2_1_parameters() -> None:
    expected = {e["key"] for e in _manifest("t")["entries"]}
    model = _build_fast(build_sam2, "configs/sam2/sam2_hiera_t.yaml")
    got = set(model.state_dict())
    assert "no_obj_embed_spatial" not in got
    assert not any(k.startswith("obj_ptr_tpos_proj.") for k in got)
    dropped = {k for k in expected if k == "no_obj_embed_spatial" or k.startswith("obj_ptr_tpos_proj.")}
    assert dropped and got == expected - dropped


@pytest.mark.parametrize("size", ["b+", "l"])
def test_rcms_configs_take_the_baseline_keys_and_mss_values(size: str) -> None:
    model = _build_fast(build_sam2_video_predictor, f"sam2.1_hiera_{size}_rcms_mqf_mss_lvt")
    meta_state = {
        e["key"]: torch.empty(e["shape"], device="meta") for e in _manifest(size)["entries"]
    }
    check_state_dict_compatible(model, meta_state, f"manifest {size}")  # raises on mismatch
    assert model.sigmoid_scale_for_mem_enc == 7.5 and model.sigmoid_bias_for_mem_enc == -4.0
    assert model.num_prev_frames_to_promote == 4 and model.low_quality_threshold == 0.6


def test_seeded_official_format_checkpoint_loads_strictly(tmp_path: Path) -> None:
    state = make_seeded_state_dict("t", 0)
    ckpt = tmp_path / "t_seed0.pt"
    torch.save({"model": state, "optimizer": {"step": 3}, "epoch": 1}, ckpt)
    with _skip_weight_init():
        model = build_sam2("sam2.1_hiera_t", ckpt_path=str(ckpt), device="cpu")
    assert not model.training
    for key in ("image_encoder.trunk.pos_embed", "sam_mask_decoder.iou_token.weight", "maskmem_tpos_enc"):
        assert torch.equal(model.state_dict()[key], state[key])


# ------------------------------------------------------------------------ builder options
def test_build_sam2_postprocessing_and_kwargs_overrides() -> None:
    with _skip_weight_init():
        plain = build_sam2("sam2.1_hiera_t", device="cpu", apply_postprocessing=False, mode="train")
        post = build_sam2("sam2.1_hiera_t", device="cpu", num_maskmem=5,
                          hydra_overrides_extra=["++model.image_size=512"])
    assert plain.training and not post.training
    assert plain.sam_mask_decoder.dynamic_multimask_via_stability is False
    assert post.sam_mask_decoder.dynamic_multimask_via_stability is True
    assert post.sam_mask_decoder.dynamic_multimask_stability_delta == 0.05
    assert post.sam_mask_decoder.dynamic_multimask_stability_thresh == 0.98
    assert post.num_maskmem == 5 and post.image_size == 512
    with pytest.raises(ValueError, match="mode"):
        build_sam2("sam2.1_hiera_t", device="cpu", mode="inference")


def test_video_predictor_settings_and_rcms_route() -> None:
    from sam2.sam2_video_predictor import SAM2VideoPredictor
    from sam2.sam2_video_predictor_vos import SAM2VideoPredictorVOS

    with _skip_weight_init():
        stock = build_sam2_video_predictor("sam2.1_hiera_t", device="cpu")
        raw = build_sam2_video_predictor("sam2.1_hiera_t", device="cpu", apply_postprocessing=False,
                                         num_prev_frames_to_promote=4, low_quality_threshold=0.7)
        rcms = build_sam2_video_predictor("sam2.1_hiera_t_rcms_mqf_mss_lvt", device="cpu",
                                          vos_optimized=True, non_overlap_masks=True)
    assert type(stock) is SAM2VideoPredictor and type(rcms) is SAM2VideoPredictorVOS
    assert stock.fill_hole_area == 8 and stock.binarize_mask_from_pts_for_mem_enc is True
    assert stock.sam_mask_decoder.dynamic_multimask_via_stability is True
    assert raw.fill_hole_area == 0 and raw.binarize_mask_from_pts_for_mem_enc is False
    assert (stock.num_prev_frames_to_promote, stock.low_quality_threshold) == (0, None)  # no RCMS
    assert (raw.num_prev_frames_to_promote, raw.low_quality_threshold) == (4, 0.7)
    assert (rcms.num_prev_frames_to_promote, rcms.low_quality_threshold) == (4, 0.6)
    assert rcms.non_overlap_masks is True and rcms.sigmoid_scale_for_mem_enc == 7.5
    with pytest.raises(ValueError, match="num_prev_frames_to_promote"):
        build_sam2_video_predictor("sam2.1_hiera_t", device="cpu", num_prev_frames_to_promote=2.5)


def test_older_rcms_block_is_read_as_the_rcms_policy_params(tmp_path: Path) -> None:
    """A config's ``rcms:`` block (the older spelling) gives the rcms policy's parameters, and a
    positive N there selects RCMS when the config names no policy; an unknown key is an error."""
    from sam2.video.policies.rcms import RCMSPolicy

    old = tmp_path / "old_rcms.yaml"
    old.write_text("rcms:\n  num_prev_frames_to_promote: 2\n  low_quality_threshold: 0.3\n"
                   "model:\n  _target_: sam2.sam2_video_predictor.SAM2VideoPredictor\n")
    from sam2.build_sam import compose_config
    from sam2.video.tracking.settings import resolve_video_settings

    settings = resolve_video_settings(compose_config(str(old), []), where="old")
    assert isinstance(settings.memory_policy, RCMSPolicy)
    assert (settings.memory_policy.num_prev_frames_to_promote, settings.memory_policy.low_quality_threshold) == (2, 0.3)
    assert settings.sources["memory_policy"] == "old rcms"
    bad = tmp_path / "bad_rcms.yaml"
    bad.write_text("memory_policy:\n  name: rcms\nrcms:\n  tau: 0.3\nmodel:\n  _target_: torch.nn.Identity\n")
    with pytest.raises(ValueError, match="rcms.tau is not an RCMS parameter"):
        build_sam2_video_predictor(str(bad), device="cpu", apply_postprocessing=False)


# ------------------------------------------------------------------------ checkpoint errors
def _small() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def test_text_file_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "notes.pt"
    path.write_text("this is not a checkpoint\n")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint") as info:
        load_checkpoint(_small(), path)
    assert str(path) in str(info.value)


def test_truncated_checkpoint_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "cut.pt"
    torch.save({"model": _small().state_dict()}, path)
    assert zipfile.is_zipfile(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as info:
        read_checkpoint_state_dict(path)
    assert str(path) in str(info.value)


def test_checkpoint_without_model_entry(tmp_path: Path) -> None:
    path = tmp_path / "weights_only.pt"
    torch.save({"state_dict": _small().state_dict()}, path)
    with pytest.raises(CheckpointError, match="'model'") as info:
        load_checkpoint(_small(), path)
    assert "state_dict" in str(info.value) and str(path) in str(info.value)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(_small(), tmp_path / "missing.pt")


def test_strict_mismatch_lists_missing_unexpected_and_reshaped_keys(tmp_path: Path) -> None:
    model = _small()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = {k: v.clone() for k, v in model.state_dict().items()}
    del state["2.bias"]
    state["3.weight"] = torch.zeros(1)
    state["0.weight"] = torch.zeros(5, 3)
    path = tmp_path / "mismatch.pt"
    torch.save({"model": state}, path)
    with pytest.raises(CheckpointMismatchError) as info:
        load_checkpoint(model, path)
    message = str(info.value)
    assert str(path) in message
    assert "missing keys (1)" in message and "2.bias" in message
    assert "unexpected keys (1)" in message and "3.weight" in message
    assert "shape mismatches (1)" in message and "0.weight: checkpoint (5, 3) vs model (4, 3)" in message
    for key, value in model.state_dict().items():  # nothing was loaded
        assert torch.equal(value, before[key])


def test_training_checkpoint_with_extra_entries_loads(tmp_path: Path) -> None:
    source, target = _small(), nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    path = tmp_path / "train.pt"
    torch.save(
        {
            "model": source.state_dict(),
            "optimizer": {"state": {}, "param_groups": [{"lr": 0.1}]},
            "epoch": 3,
            "rng": {"numpy": np.random.RandomState(0).get_state(), "torch": torch.get_rng_state()},
        },
        path,
    )
    load_checkpoint(target, path)
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value)
