"""SAM2Train: simulated interaction, gradients, and that the model can learn a clip."""
from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from training.loss_fns import CORE_LOSS_KEY
from training.trainer import optimizer_from_config
from training.utils.config import compose_config
from training.utils.data_utils import collate_fn

# Parameters the SAM 2.1 architecture never uses with directly_add_no_mem_embed=True
# (initial conditioning frames add no_mem_embed to the features instead of attending to it).
NEVER_USED = {"no_mem_pos_enc"}


def _cfg(*overrides):
    cfg = compose_config("configs/sam2.1_training/sam2.1_hiera_instant.yaml", list(overrides))
    cfg.launcher.experiment_log_dir = "/tmp/unused_run_dir"
    return cfg


def _batch(split, num_frames=3, index=0):
    cfg = _cfg(f"dataset.img_folder={split}/JPEGImages", f"dataset.gt_folder={split}/Annotations",
               f"scratch.num_frames={num_frames}")
    data = instantiate(cfg.trainer.data.train, _convert_="all")
    return collate_fn([data.dataset[index]])


def _model(cfg, seed=0):
    torch.manual_seed(seed)
    model = instantiate(cfg.trainer.model, _recursive_=True)
    model.train()
    return model


def test_prompt_plan_options():
    cfg = _cfg("trainer.model.prob_to_use_pt_input_for_train=1.0", "trainer.model.prob_to_use_box_input_for_train=0.0",
               "trainer.model.num_init_cond_frames_for_train=2", "trainer.model.rand_init_cond_frames_for_train=false",
               "trainer.model.num_frames_to_correct_for_train=3", "trainer.model.rand_frames_to_correct_for_train=false")
    model = _model(cfg)
    gt = torch.zeros(5, 1, 32, 32, dtype=torch.bool)
    gt[:, :, 8:20, 8:20] = True
    plan = model.plan_prompts(gt)
    assert plan.use_pt_input and plan.init_cond_frames[0] == 0 and len(plan.init_cond_frames) == 2
    assert len(plan.frames_to_correct) == 3 and set(plan.init_cond_frames) <= set(plan.frames_to_correct)
    for t in plan.init_cond_frames:
        p = plan.point_inputs[t]
        assert p.labels.tolist() == [[1]]  # one positive click inside the object
        x, y = p.coords[0, 0].tolist()
        assert 8 <= x <= 20 and 8 <= y <= 20
    assert plan.processing_order(5)[:2] == plan.init_cond_frames
    box_model = _model(_cfg("trainer.model.prob_to_use_pt_input_for_train=1.0",
                            "trainer.model.prob_to_use_box_input_for_train=1.0"))
    box_plan = box_model.plan_prompts(gt)
    assert box_plan.point_inputs[0].labels.tolist() == [[2, 3]]
    mask_model = _model(_cfg("trainer.model.prob_to_use_pt_input_for_train=0.0"))
    mask_plan = mask_model.plan_prompts(gt)
    assert not mask_plan.point_inputs and not mask_plan.frames_to_correct
    assert torch.equal(mask_plan.mask_inputs[0], gt[0].unsqueeze(1))


def test_corrections_give_multistep_predictions(synthetic_split):
    cfg = _cfg("trainer.model.prob_to_use_pt_input_for_train=1.0", "trainer.model.num_init_cond_frames_for_train=1",
               "trainer.model.num_frames_to_correct_for_train=2", "trainer.model.rand_frames_to_correct_for_train=false",
               "trainer.model.num_correction_pt_per_frame=3")
    model = _model(cfg)
    batch = _batch(synthetic_split)
    outs = model(batch)
    steps = [len(o.extras["multistep"].ious) for o in outs]
    assert steps[0] == 4 and sorted(steps) == [1, 4, 4]
    other = [t for t in (1, 2) if steps[t] == 4][0]
    assert outs[0].point_inputs.labels.shape[1] == 4  # the initial click + 3 corrections
    assert outs[other].point_inputs.labels.shape[1] == 3  # corrections only
    assert all(o.extras["multistep"].multimasks_high_res[0].shape[-1] == 128 for o in outs)


def _grads_seen(model, batch, loss, settings):
    seen = set()
    for overrides in settings:
        for key, value in overrides.items():
            setattr(model.train_mode, key, value)
        model.zero_grad(set_to_none=True)
        outs = model(batch)
        loss([o.extras["multistep"] for o in outs], batch.masks)[CORE_LOSS_KEY].backward()
        seen |= {n for n, p in model.named_parameters() if p.grad is not None}
    return seen


SETTINGS = [
    dict(prob_pt=0.0, prob_box=0.0, num_init=1, rand_init=False),  # mask prompt
    dict(prob_pt=1.0, prob_box=0.0, num_init=1, rand_init=False, num_correct=2, rand_correct=False),  # clicks
    dict(prob_pt=1.0, prob_box=1.0, num_init=2, rand_init=False, num_correct=2, rand_correct=False),  # box
]


@pytest.mark.parametrize("frozen", [False, True])
def test_gradients_reach_every_trainable_parameter_and_no_frozen_one(synthetic_split, frozen):
    cfg = _cfg(f"trainer.model.freeze_image_encoder={str(frozen).lower()}")
    model = _model(cfg)
    loss = instantiate(cfg.trainer.loss)["all"]
    batch = _batch(synthetic_split)
    seen = _grads_seen(model, batch, loss, SETTINGS)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    missing = trainable - seen - NEVER_USED
    assert not missing, f"no gradient reached {sorted(missing)}"
    encoder = {n for n, _ in model.named_parameters() if n.startswith("image_encoder.")}
    if frozen:
        assert not (seen & encoder) and not (trainable & encoder)
    else:
        assert encoder <= seen


def test_loss_falls_below_half_in_50_steps_on_one_clip(synthetic_split):
    cfg = _cfg("trainer.model.prob_to_use_pt_input_for_train=0.0", "trainer.model.num_init_cond_frames_for_train=1",
               "trainer.model.rand_init_cond_frames_for_train=false")
    model = _model(cfg)
    loss = instantiate(cfg.trainer.loss)["all"]
    optim = optimizer_from_config(model, cfg.trainer.optim)
    clipper = instantiate(cfg.trainer.optim.gradient_clip)
    batch = _batch(synthetic_split, num_frames=3, index=1)
    history = []
    for step in range(50):
        optim.apply_schedules(step / 50)
        optim.zero_grad()
        outs = model(batch)
        value = loss([o.extras["multistep"] for o in outs], batch.masks)[CORE_LOSS_KEY]
        value.backward()
        clipper(model)
        optim.step()
        history.append(value.item())
    assert min(history[-5:]) < 0.5 * history[0], history
    assert sum(history[-5:]) / 5 < 0.5 * history[0], history
