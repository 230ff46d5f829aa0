"""SAM2VideoPredictorVOS: torch.compile on CPU gives the eager masks (within 1e-4)."""
from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

import sam2.sam2_video_predictor_vos as vos_module
from sam2.build_sam import build_sam2_video_predictor
from sam2.sam2_video_predictor_vos import COMPILABLE_PARTS, SAM2VideoPredictorVOS

INSTANT = "configs/sam2.1/sam2.1_hiera_instant.yaml"


def _make_present(model: nn.Module) -> None:
    """Random weights predict 'no object' everywhere (constant -1024 logits); push the
    object-score head up so that the masks carry real logits to compare."""
    head = model.sam_mask_decoder.pred_obj_score_head
    last = [m for m in head.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        last.bias.add_(20.0)


def _build(compile_parts=None, backend="inductor", image_encoder=False, freezing=False):
    torch.manual_seed(0)
    overrides = [f"++model.compile_backend={backend}", f"++model.compile_freezing={str(freezing).lower()}"]
    if compile_parts is not None:
        overrides.append(f"++model.compile_parts=[{','.join(compile_parts)}]")
    if not image_encoder:
        overrides.append("++model.compile_image_encoder=False")
    model = build_sam2_video_predictor(INSTANT, None, device="cpu", apply_postprocessing=False,
                                       vos_optimized=True, hydra_overrides_extra=overrides)
    assert isinstance(model, SAM2VideoPredictorVOS)
    _make_present(model)
    return model


def _eager():
    torch.manual_seed(0)
    model = build_sam2_video_predictor(INSTANT, None, device="cpu", apply_postprocessing=False)
    _make_present(model)
    return model


def _track(predictor, clip, frames: int = 3) -> torch.Tensor:
    video_dir, masks = clip
    state = predictor.init_state(str(video_dir))
    predictor.add_new_mask(state, 0, 1, masks["obj1"][0])
    predictor.add_new_mask(state, 0, 2, masks["obj2"][0])
    out = [m for _, _, m in predictor.propagate_in_video(state, max_frame_num_to_track=frames)]
    return torch.stack(out)


@pytest.fixture(scope="module")
def eager_masks(tiny_clip):
    masks = _track(_eager(), tiny_clip)
    tracked = masks[1:]
    # not degenerate: real logits of both signs on the tracked frames
    assert tracked.min() < 0 < tracked.max() and tracked.abs().max() < 1000
    return masks


def _compiled(owner, attr: str) -> bool:
    return hasattr(getattr(owner, attr), "_torchdynamo_orig_callable")


def test_compiled_memory_attention_matches_eager(tiny_clip, eager_masks):
    vos = _build(["memory_attention_static"])
    masks = _track(vos, tiny_clip)
    layer = vos.memory_attention.layers[0]
    assert _compiled(layer, "_forward_sa") and _compiled(layer, "_forward_ff")
    assert not _compiled(vos.memory_encoder, "forward")
    assert vos.compile_seconds[1] > 0
    torch.testing.assert_close(masks, eager_masks, rtol=0, atol=1e-4)


def test_traced_graphs_of_every_part_match_eager(tiny_clip, eager_masks):
    # the "eager" backend captures the same graphs as Inductor without generating code
    vos = _build(backend="eager", image_encoder=True)
    masks = _track(vos, tiny_clip)
    for owner in (vos.image_encoder, vos.memory_encoder, vos.sam_mask_decoder, vos.sam_prompt_encoder):
        assert _compiled(owner, "forward")
    torch.testing.assert_close(masks, eager_masks, rtol=0, atol=1e-4)


@pytest.mark.slow
def test_fully_compiled_predictor_matches_eager(tiny_clip, eager_masks):
    vos = _build(image_encoder=True)
    masks = _track(vos, tiny_clip)
    assert _compiled(vos.image_encoder, "forward") and _compiled(vos.sam_mask_decoder, "forward")
    torch.testing.assert_close(masks, eager_masks, rtol=0, atol=1e-4)


def test_without_a_cxx_compiler_it_runs_eagerly(tiny_clip, eager_masks, monkeypatch, caplog):
    monkeypatch.setattr(vos_module, "_has_cxx_compiler", lambda: False)
    vos = _build()
    with caplog.at_level(logging.WARNING, logger=vos_module.__name__):
        masks = _track(vos, tiny_clip)
    assert "no C++ compiler" in caplog.text
    assert not _compiled(vos.memory_encoder, "forward")
    torch.testing.assert_close(masks, eager_masks, rtol=0, atol=0)


def test_unknown_compile_part_is_named():
    # hydra wraps the constructor's ValueError; the message names the part
    with pytest.raises(Exception, match="unknown compile_parts.*mask_head"):
        _build(["memory_encoder", "mask_head"])
    assert "image_encoder" in COMPILABLE_PARTS


def test_restore_eager_puts_the_original_forwards_back():
    vos = _build(["memory_encoder"], backend="eager")
    assert vos.compile_hot_modules()
    assert _compiled(vos.memory_encoder, "forward")
    vos.restore_eager()
    assert not _compiled(vos.memory_encoder, "forward")
    # after new weights: restore_eager() then warm_up() compiles again
    vos.warm_up(1)
    assert _compiled(vos.memory_encoder, "forward") and 1 in vos.compile_seconds
    vos.restore_eager()
    assert vos.compile_seconds == {}
    vos.warm_up(1)
    assert _compiled(vos.memory_encoder, "forward")


def test_frozen_weights_are_each_models_own(tmp_path, monkeypatch):
    # Freezing makes the weights constants of the compiled graph. Two models with the same
    # architecture and different weights, compiled one after the other in one process with
    # one Inductor cache (graphs keyed by shape could be shared), must each compute with
    # their own weights.
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    outputs = []
    for seed in (0, 1):
        vos = _build(["memory_encoder"], freezing=True)
        torch.manual_seed(seed)
        with torch.no_grad():
            for param in vos.memory_encoder.parameters():
                param.add_(torch.randn_like(param) * 0.1)
        assert vos.compile_freezing
        gen = torch.Generator().manual_seed(7)
        side = vos.image_size
        feats = torch.randn(2, vos.hidden_dim, side // 16, side // 16, generator=gen)
        masks = torch.randn(2, 1, side, side, generator=gen)
        with torch.inference_mode():
            expected = vos.memory_encoder(feats, masks)["vision_features"]
            assert vos.compile_hot_modules()
            got = vos.memory_encoder(feats, masks)["vision_features"]
        assert _compiled(vos.memory_encoder, "forward")
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)
        outputs.append(got)
    assert (outputs[0] - outputs[1]).abs().max() > 1e-2  # the weights did differ
