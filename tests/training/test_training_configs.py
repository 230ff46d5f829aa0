"""What the training configs say and config handling."""
from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from training.trainer import optimizer_from_config
from training.utils.config import ConfigError, compose_config, find_placeholders

MOSE = {
    "sam2.1_hiera_b+_MOSEv2_8frames_stage1": dict(frames=8, frozen=False, mss=(20.0, -10.0), sampler="RandomGapSampler", crop=True, drop_path=0.1),
    "sam2.1_hiera_b+_MOSEv2_mss_lvt_16frames_stage2": dict(frames=16, frozen=True, mss=(7.5, -4.0), sampler="RandomGapSampler", crop=True, drop_path=0.1),
    "sam2.1_hiera_l_MOSEv2_8frames_stage1": dict(frames=8, frozen=False, mss=(20.0, -10.0), sampler="RandomUniformSampler", crop=False, drop_path=0.0),
    "sam2.1_hiera_l_MOSEv2_mss_lvt_16frames_stage2": dict(frames=16, frozen=True, mss=(7.5, -4.0), sampler="RandomUniformSampler", crop=False, drop_path=0.0),
}


def _compose(name, overrides=()):
    cfg = compose_config(f"configs/sam2.1_training/{name}.yaml", list(overrides))
    cfg.launcher.experiment_log_dir = "/tmp/unused_run_dir"
    return cfg


@pytest.mark.parametrize("name", sorted(MOSE))
def test_mosev2_config_does_what_its_name_says(name):
    want = MOSE[name]
    cfg = _compose(name)
    # shared recipe
    assert cfg.scratch.resolution == 1024 and cfg.trainer.model.image_size == 1024
    assert cfg.scratch.train_batch_size == 1 and cfg.scratch.max_num_objects == 1
    assert cfg.scratch.base_lr == 5.0e-6 and cfg.scratch.vision_lr == 3.0e-6
    assert cfg.trainer.max_epochs == 20 and cfg.trainer.seed_value == 123
    assert cfg.launcher.num_nodes == 1 and cfg.launcher.gpus_per_node == 8
    assert cfg.trainer.optim.gradient_clip.max_norm == 0.1
    loss = cfg.trainer.loss.all
    assert dict(loss.weight_dict) == {"loss_mask": 20, "loss_dice": 1, "loss_iou": 1, "loss_class": 1}
    # what differs
    assert cfg.scratch.num_frames == want["frames"]
    model = cfg.trainer.model
    assert model._target_ == "training.model.sam2.SAM2Train"
    assert (model.sigmoid_scale_for_mem_enc, model.sigmoid_bias_for_mem_enc) == want["mss"]
    assert bool(model.freeze_image_encoder) is want["frozen"]
    assert float(model.image_encoder.trunk.get("drop_path_rate", 0.0)) == want["drop_path"]

    sampler = instantiate(cfg.vos.sampler)
    assert type(sampler).__name__ == want["sampler"]
    assert sampler.num_frames == want["frames"]
    if want["sampler"] == "RandomGapSampler":
        assert sampler.gaps == [1, 2, 3] and sampler.ensure_first_frame_visible
    transforms = instantiate(cfg.vos.train_transforms)[0].transforms
    names = [type(t).__name__ for t in transforms]
    assert ("RandomCropAPI" in names) is want["crop"]
    assert names[0:2] == ["RandomHorizontalFlip", "RandomAffine"]
    assert names[-2:] == ["ToTensorAPI", "NormalizeAPI"]
    resize = [t for t in transforms if type(t).__name__ == "RandomResizeAPI"][0]
    assert resize.sizes == [1024] and resize.square
    # the data pipeline reaches the sampler and transforms through interpolation
    vos = cfg.trainer.data.train.datasets[0].dataset.datasets[0]
    assert vos.sampler._target_.endswith(want["sampler"])

    if name.endswith("stage2"):
        stage1 = name.replace("mss_lvt_16frames_stage2", "8frames_stage1")
        path = cfg.trainer.checkpoint.model_weight_initializer.state_dict.checkpoint_path
        assert path == f"sam2_logs/{stage1}/checkpoints/checkpoint.pt"
    else:
        assert "trainer.checkpoint.model_weight_initializer.state_dict.checkpoint_path" in find_placeholders(cfg)


@pytest.mark.parametrize("name", ["sam2.1_hiera_b+_MOSEv2_8frames_stage1", "sam2.1_hiera_b+_MOSEv2_mss_lvt_16frames_stage2"])
def test_frozen_encoder_is_absent_from_autograd_and_optimizer(name):
    cfg = _compose(name)
    torch.manual_seed(0)
    model = instantiate(cfg.trainer.model, _recursive_=True)
    opt = optimizer_from_config(model, cfg.trainer.optim)
    in_opt = {id(p) for g in opt.optimizer.param_groups for p in g["params"]}
    enc = [p for p in model.image_encoder.parameters()]
    rest = [p for n, p in model.named_parameters() if not n.startswith("image_encoder.")]
    frozen = MOSE[name]["frozen"]
    assert all(p.requires_grad is (not frozen) for p in enc)
    assert all((id(p) in in_opt) is (not frozen) for p in enc)
    assert all(p.requires_grad and id(p) in in_opt for p in rest)
    del model, opt


def test_l_stage2_freezes_the_encoder_in_the_model():
    cfg = _compose("sam2.1_hiera_l_MOSEv2_mss_lvt_16frames_stage2")
    assert cfg.trainer.model.freeze_image_encoder is True
    # the model it builds: the encoder takes no gradient (checked on the instant architecture
    # with the same training options, the L trunk is large to build in a unit test)
    inst = _compose("sam2.1_hiera_instant", ["trainer.model.freeze_image_encoder=true"])
    model = instantiate(inst.trainer.model, _recursive_=True)
    assert not any(p.requires_grad for p in model.image_encoder.parameters())


def test_trailing_overrides_reach_every_section():
    cfg = _compose(
        "sam2.1_hiera_b+_MOSEv2_8frames_stage1",
        ["scratch.num_frames=4", "scratch.num_epochs=3", "dataset.img_folder=/x", "trainer.model.num_maskmem=5"],
    )
    assert cfg.vos.sampler.num_frames == 4
    assert cfg.trainer.max_epochs == 3
    assert cfg.trainer.data.train.datasets[0].dataset.datasets[0].video_dataset.img_folder == "/x"
    assert cfg.trainer.model.num_maskmem == 5
    assert "dataset.img_folder" not in find_placeholders(cfg)


def test_bad_override_and_unknown_config_are_clear_errors():
    with pytest.raises(ConfigError, match="no_such_key"):
        _compose("sam2.1_hiera_instant", ["trainer.no_such_key=1"])
    with pytest.raises(ConfigError, match="available"):
        compose_config("configs/sam2.1_training/does_not_exist.yaml")


def test_legacy_placeholders_are_detected():
    cfg = OmegaConf.create({"dataset": {"img_folder": "xxx", "gt_folder": "/data/ok"},
                            "ckpt": "/path/to/weights", "lst": ["???"], "ok": None})
    assert find_placeholders(cfg) == ["ckpt", "dataset.img_folder", "lst[0]"]


def test_instant_model_config_builds_with_build_sam2():
    from sam2.build_sam import build_sam2

    model = build_sam2("configs/sam2.1/sam2.1_hiera_instant.yaml", device="cpu")
    assert model.image_size == 128
    train_cfg = _compose("sam2.1_hiera_instant")
    assert train_cfg.trainer.checkpoint.model_weight_initializer is None
    assert train_cfg.scratch.num_train_workers == 0
    train_model = instantiate(train_cfg.trainer.model, _recursive_=True)
    # same architecture: identical state-dict keys and shapes
    a = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    b = {k: tuple(v.shape) for k, v in train_model.state_dict().items()}
    assert a == b
