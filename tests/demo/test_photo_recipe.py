"""The 256-px stages of the demo recipe (tools/train_demo_model.sh, steps 6-9): the 128-px
stage-3 weights moved to a 256-px input and trained on a mixed split made only from the training
photographs; their result is the demo model, sam2/checkpoints/sam2.1_hiera_demo_256.pt. (The
script's order of stages, splits and initial weights: tests/training/test_demo_recipe.py.)"""
from __future__ import annotations

from pathlib import Path

from hydra.utils import instantiate

from training.utils.config import compose_config, find_placeholders

ROOT = Path(__file__).resolve().parents[2]
INIT_KEY = "trainer.checkpoint.model_weight_initializer.state_dict.checkpoint_path"
DATA = ["dataset.img_folder=/data/JPEGImages", "dataset.gt_folder=/data/Annotations"]


def _compose(name):
    cfg = compose_config(f"configs/sam2.1_training/{name}.yaml", DATA)
    cfg.launcher.experiment_log_dir = "/tmp/unused_run_dir"
    return cfg


def test_256px_stages_move_the_shipped_weights_to_a_larger_input():
    """Stages A and B train the shipped architecture at 256 px: the weights load strictly into
    the 256-px model config, the training model and RoPE grid follow the input size, stage A
    uses 2-frame clips and stage B 8-frame clips at a lower rate."""
    import torch

    from sam2.build_sam import build_sam2
    from sam2.demo import demo_checkpoint_path

    stage_a = _compose("sam2.1_hiera_demo_256_stage1")
    stage_b = _compose("sam2.1_hiera_demo_256")
    for cfg in (stage_a, stage_b):
        assert find_placeholders(cfg) == [INIT_KEY]  # the script names the weights to start from
        assert cfg.scratch.resolution == 256 and cfg.trainer.model.image_size == 256
        assert list(cfg.trainer.model.memory_attention.layer.cross_attention.feat_sizes) == [16, 16]
    assert instantiate(stage_a.vos.sampler).num_frames == 2
    assert instantiate(stage_b.vos.sampler).num_frames == 8
    assert stage_b.scratch.base_lr < stage_a.scratch.base_lr
    model = build_sam2("configs/sam2.1/sam2.1_hiera_demo_256.yaml", str(demo_checkpoint_path(128)), device="cpu")
    assert model.image_size == 256
    with torch.no_grad():
        feats = model.forward_image(torch.zeros(1, 3, 256, 256))
    assert feats["vision_features"].shape[-2:] == (16, 16)
