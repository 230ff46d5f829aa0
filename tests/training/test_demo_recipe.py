"""The three-stage recipe of the shipped demo model (tools/train_demo_model.sh): what each stage
config says, and that stages 2 and 3 really start from the previous stage's weights."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from training.utils.config import compose_config, find_placeholders

INIT_KEY = "trainer.checkpoint.model_weight_initializer.state_dict.checkpoint_path"
DATA = ["dataset.img_folder=/data/JPEGImages", "dataset.gt_folder=/data/Annotations"]


def _compose(name, extra=()):
    cfg = compose_config(f"configs/sam2.1_training/{name}.yaml", DATA + list(extra))
    cfg.launcher.experiment_log_dir = "/tmp/unused_run_dir"
    return cfg


def test_stage1_starts_from_scratch_on_two_frame_clips():
    cfg = _compose("sam2.1_hiera_demo_stage1")
    assert cfg.trainer.checkpoint.model_weight_initializer is None
    assert find_placeholders(cfg) == []
    sampler = instantiate(cfg.vos.sampler)
    assert sampler.num_frames == 2 and sampler.max_num_objects == 3
    assert cfg.trainer.model.image_size == 128


def test_stage2_needs_the_stage1_checkpoint_and_uses_long_clips():
    cfg = _compose("sam2.1_hiera_demo")
    assert find_placeholders(cfg) == [INIT_KEY]
    assert instantiate(cfg.vos.sampler).num_frames == 8
    stage1 = _compose("sam2.1_hiera_demo_stage1")
    # the same architecture in both stages (only clip length, learning rate and init differ)
    assert cfg.trainer.model == stage1.trainer.model


def test_stage2_initializer_loads_a_stage1_training_checkpoint(tmp_path):
    stage1 = _compose("sam2.1_hiera_demo_stage1")
    torch.manual_seed(0)
    trained = instantiate(stage1.trainer.model, _recursive_=True)
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(0.01)
    path = tmp_path / "checkpoint.pt"
    torch.save({"model": trained.state_dict(), "step": 3000}, path)  # training-checkpoint layout
    cfg = _compose("sam2.1_hiera_demo", [f"{INIT_KEY}={path}"])
    fresh = instantiate(cfg.trainer.model, _recursive_=True)
    loader = instantiate(cfg.trainer.checkpoint.model_weight_initializer)
    loaded = loader(model=fresh)
    for name, value in trained.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name


def test_stage3_continues_stage2_at_a_lower_learning_rate():
    stage2 = _compose("sam2.1_hiera_demo")
    stage3 = _compose("sam2.1_hiera_demo_stage3")
    assert find_placeholders(stage3) == [INIT_KEY]  # the stage-2 checkpoint, given by the script
    assert instantiate(stage3.vos.sampler).num_frames == 8
    assert stage3.trainer.model == stage2.trainer.model
    assert stage3.scratch.base_lr < stage2.scratch.base_lr
    assert stage3.scratch.num_epochs < stage2.scratch.num_epochs


def test_recipe_script_chains_the_three_stages():
    script = (Path(__file__).resolve().parents[2] / "tools" / "train_demo_model.sh").read_text()
    run = "training/train.py\" -c configs/sam2.1_training/"
    stage1 = script.index(run + "sam2.1_hiera_demo_stage1.yaml")
    stage2 = script.index(run + "sam2.1_hiera_demo.yaml")
    stage3 = script.index(run + "sam2.1_hiera_demo_stage3.yaml")
    assert stage1 < stage2 < stage3
    # each later stage is initialised from the previous stage's training checkpoint
    assert '"$OUT/stage1/checkpoints/checkpoint.pt"' in script[stage2:stage3]
    assert '"$OUT/stage2/checkpoints/checkpoint.pt"' in script[stage3:]
    assert '"$OUT/stage3/checkpoints/checkpoint.pt" "$OUT/sam2.1_hiera_demo.pt"' in script


def test_shipped_config_sets_the_eval_memory_options():
    """The demo model's inference settings (sam2/checkpoints/sam2.1_hiera_demo.md): recent
    memories every 2nd frame (the mean gap of the training clips) and one object per pixel in
    the masks that are encoded into memory. Both act at inference only."""
    from sam2.build_sam import build_sam2
    from sam2.demo import DEMO_CONFIG

    model = build_sam2(DEMO_CONFIG, device="cpu")
    assert model.memory_temporal_stride_for_eval == 2
    assert model.non_overlap_masks_for_mem_enc is True


@pytest.mark.parametrize("name", ["sam2.1_hiera_demo_stage1", "sam2.1_hiera_demo", "sam2.1_hiera_demo_stage3"])
def test_demo_stages_match_the_shipped_model_config(name):
    from sam2.build_sam import build_sam2
    from sam2.demo import DEMO_CONFIG

    cfg = _compose(name)  # the placeholder left in stage 2 does not matter for the model
    train_model = instantiate(cfg.trainer.model, _recursive_=True)
    shipped = build_sam2(DEMO_CONFIG, device="cpu")
    shapes = {k: tuple(v.shape) for k, v in shipped.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in train_model.state_dict().items()} == shapes
