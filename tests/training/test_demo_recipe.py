"""The recipe of the shipped models (tools/train_demo_model.sh): what each stage
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


# ------------------------------------------------------------------ the script itself
# tools/train_demo_model.sh is run for real, with a `python` first on PATH that records each
# command line instead of running it: the k-th train.py call leaves a small prepared training
# checkpoint k in its run folder, the split generator writes meta.json, and `python -` (the
# export step) runs for real.
_SHIM = """#!{python}
import json, os, shutil, subprocess, sys
args = sys.argv[1:]
log = os.environ["RECIPE_LOG"]
with open(log, "a") as fh:
    fh.write(json.dumps(args) + "\\n")
if args[:1] == ["-"]:
    sys.exit(subprocess.call([{python!r}] + args))
if args and args[0].endswith("make_synthetic_mose.py"):
    out = args[args.index("--output") + 1]
    os.makedirs(out, exist_ok=True)
    open(os.path.join(out, "meta.json"), "w").write("{{}}")
elif args and args[0].endswith("train.py"):
    run_dir = [a.split("=", 1)[1] for a in args if a.startswith("launcher.experiment_log_dir=")][0]
    os.makedirs(os.path.join(run_dir, "checkpoints"), exist_ok=True)
    stage = sum(1 for line in open(log) if "train.py" in line)
    shutil.copy(os.path.join(os.environ["RECIPE_CKPTS"], f"{{stage}}.pt"),
                os.path.join(run_dir, "checkpoints", "checkpoint.pt"))
"""
_MAX_STAGES = 10


def _run_recipe(tmp_path: Path, out: Path) -> list:
    import json
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    bin_dir, ckpts = tmp_path / "bin", tmp_path / "ckpts"
    bin_dir.mkdir()
    ckpts.mkdir()
    for stage in range(1, _MAX_STAGES + 1):  # training-checkpoint layout, weights tell the stage
        torch.save({"model": {"w": torch.full((2,), float(stage))}, "optimizer": {"lr": 1.0}, "step": stage},
                   ckpts / f"{stage}.pt")
    shim = bin_dir / "python"
    shim.write_text(_SHIM.format(python=sys.executable))
    shim.chmod(0o755)
    log = tmp_path / "calls.jsonl"
    log.write_text("")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "RECIPE_LOG": str(log),
           "RECIPE_CKPTS": str(ckpts), "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"}
    res = subprocess.run(["bash", str(repo / "tools" / "train_demo_model.sh"), str(out), "3"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    return [json.loads(line) for line in log.read_text().splitlines()]


def _learning_rates(cfg, model) -> dict:
    """Starting learning rate of every parameter name, as the stage's optimizer sets it."""
    from training.trainer import optimizer_from_config

    opt = optimizer_from_config(model, cfg.trainer.optim)
    return {n: g["lr"] for g, spec in zip(opt.optimizer.param_groups, opt.specs) for n in spec.names}


def _overrides(call: list) -> dict:
    return dict(a.split("=", 1) for a in call if "=" in a and not a.startswith("-"))


@pytest.mark.slow  # runs the recipe script (bash, recording python, export steps)
def test_recipe_script_chains_the_stages_and_exports_the_models(tmp_path):
    """Stages 1-3 (128 px, synthetic split), A-B (256 px, mixed photographic split), C (clicks
    and boxes, crowded mixed split), D (boxes), E (boxes on single frames, one process) and F
    (tracking back), all three on the same split: each stage starts from the previous one's
    weights (stage A from the exported 128-px model); the exports are the weights of stage 3,
    of stage B and of stage F (the shipped demo model), without the training state."""
    from training.train import parse_args

    out = tmp_path / "out"
    calls = _run_recipe(tmp_path, out)
    splits = [c for c in calls if c[0].endswith("tools/make_synthetic_mose.py")]
    assert calls[0] == splits[0] and len(splits) == 3
    outputs = [c[c.index("--output") + 1] for c in splits]
    synthetic, mixed, crowded = outputs
    assert "--photographic" not in splits[0]
    for photo_call in splits[1:]:
        assert "--photographic" in photo_call
        assert photo_call[photo_call.index("--photo-split") + 1] == "train"  # never the held-out photographs
    crowded_call = splits[2]
    assert int(crowded_call[crowded_call.index("--min-objects") + 1]) >= 2
    assert int(crowded_call[crowded_call.index("--max-objects") + 1]) == 8  # up to 8 prompted objects
    for split_call in splits:  # never the seed of a held-out split (demo 0, checks 5, tests 11)
        assert int(split_call[split_call.index("--seed") + 1]) not in (0, 5, 11)
    trains = [c for c in calls if c[0].endswith("training/train.py")]
    configs = [parse_args(c[1:]).config for c in trains]  # every call is a valid command line
    names = ["sam2.1_hiera_demo_stage1", "sam2.1_hiera_demo", "sam2.1_hiera_demo_stage3",
             "sam2.1_hiera_demo_256_stage1", "sam2.1_hiera_demo_256", "sam2.1_hiera_demo_256_prompts",
             "sam2.1_hiera_demo_256_boxes", "sam2.1_hiera_demo_256_box_frames",
             "sam2.1_hiera_demo_256_settle"]
    assert configs == [f"configs/sam2.1_training/{n}.yaml" for n in names]
    model_128 = out / "sam2.1_hiera_demo.pt"
    run_dirs = []
    for k, (call, config) in enumerate(zip(trains, configs)):
        args = parse_args(call[1:])
        # the script's NUM_PROCESSES argument; stage E (single frames) always runs one process
        single_frames = names[k] == "sam2.1_hiera_demo_256_box_frames"
        assert args.num_gpus == (1 if single_frames else 3) and args.use_cluster == 0
        given = _overrides(args.overrides)
        split = synthetic if k < 3 else mixed if k < 5 else crowded
        assert given["dataset.img_folder"] == f"{split}/JPEGImages"
        assert given["dataset.gt_folder"] == f"{split}/Annotations"
        # the script supplies every value the stage config leaves open
        cfg = compose_config(config, args.overrides)
        assert find_placeholders(cfg) == [], config
        if k == 0:
            assert INIT_KEY not in given
        elif k == 3:  # stage A: the exported 128-px model
            assert given[INIT_KEY] == str(model_128)
        else:  # each other stage starts from the previous stage's training checkpoint
            assert given[INIT_KEY] == f"{run_dirs[-1]}/checkpoints/checkpoint.pt"
        run_dirs.append(given["launcher.experiment_log_dir"])
    assert len(set(run_dirs)) == len(run_dirs)
    exports = [i for i, c in enumerate(calls) if c[0] == "-"]
    assert len(exports) == 3
    assert calls.index(trains[3]) > exports[0] > calls.index(trains[2])  # stage A needs the 128-px export
    assert exports[1] > calls.index(trains[4])  # stage B's weights
    assert exports[-1] == len(calls) - 1
    expected = [(model_128, 3), (out / "sam2.1_hiera_demo_256_stage_b.pt", 5),
                (out / "sam2.1_hiera_demo_256.pt", 9)]
    for path, stage in expected:
        exported = torch.load(path, map_location="cpu", weights_only=True)
        last = torch.load(Path(run_dirs[stage - 1]) / "checkpoints" / "checkpoint.pt", map_location="cpu",
                          weights_only=True)
        assert set(exported) == {"model"} and torch.equal(exported["model"]["w"], last["model"]["w"])
        assert float(exported["model"]["w"][0]) == stage


def test_stage_c_prompts_most_clips_and_trains_the_prompt_heads_faster():
    """Stage C (clicks and boxes) keeps stage B's model and 8-frame clips, starts most clips from
    a click or a box with 7 corrective clicks on up to 8 objects, and gives the prompt encoder
    and the mask decoder (only them) a 1e-3 learning rate."""
    stage_b = _compose("sam2.1_hiera_demo_256")
    stage_c = _compose("sam2.1_hiera_demo_256_prompts")
    assert find_placeholders(stage_c) == [INIT_KEY]  # stage B's checkpoint, given by the script
    sampler = instantiate(stage_c.vos.sampler)
    assert sampler.num_frames == 8 and sampler.max_num_objects == 8
    assert stage_c.trainer.model.image_size == 256
    torch.manual_seed(0)
    model_b = instantiate(stage_b.trainer.model, _recursive_=True)
    model_c = instantiate(stage_c.trainer.model, _recursive_=True)
    assert {k: v.shape for k, v in model_c.state_dict().items()} == {k: v.shape for k, v in model_b.state_dict().items()}
    mode_b, mode_c = model_b.train_mode, model_c.train_mode
    assert mode_c.prob_pt >= 0.75 > mode_b.prob_pt
    assert mode_c.prob_pt * (1 - mode_c.prob_box) >= 0.5  # clicks start at least half of the clips
    assert mode_c.num_init == 1 and mode_c.num_correct == 1  # frame 0 prompted; the others track
    assert model_c.num_correction_pt_per_frame == 7
    lr = _learning_rates(stage_c, model_c)
    heads = [n for n in lr if n.startswith(("sam_prompt_encoder.", "sam_mask_decoder."))]
    assert heads and all(lr[n] == pytest.approx(1e-3) for n in heads)
    rest = [n for n in lr if n not in heads and not n.startswith("image_encoder.")]
    assert rest and all(lr[n] == pytest.approx(5e-5) for n in rest)
    assert max(lr[n] for n in lr if n.startswith("image_encoder.")) <= 5e-5


def test_stage_d_starts_most_clips_from_a_box_alone():
    """Stage D (boxes) is stage C with most prompted clips started from a box, fewer corrective
    clicks (so that the box's own prediction weighs more in frame 0's loss) and lower learning
    rates, the prompt heads still faster than the rest."""
    stage_c = _compose("sam2.1_hiera_demo_256_prompts")
    stage_d = _compose("sam2.1_hiera_demo_256_boxes")
    assert find_placeholders(stage_d) == [INIT_KEY]  # stage C's checkpoint, given by the script
    assert stage_d.vos.sampler == stage_c.vos.sampler and stage_d.dataset == stage_c.dataset
    torch.manual_seed(0)
    model_c = instantiate(stage_c.trainer.model, _recursive_=True)
    model_d = instantiate(stage_d.trainer.model, _recursive_=True)
    mode_c, mode_d = model_c.train_mode, model_d.train_mode
    assert mode_d.prob_pt * mode_d.prob_box >= 0.5 > mode_c.prob_pt * mode_c.prob_box  # boxes start most clips
    assert mode_d.prob_pt * (1 - mode_d.prob_box) > 0  # clicks are still trained
    assert mode_d.num_init == 1 and mode_d.num_correct == 1
    assert model_d.num_correction_pt_per_frame < model_c.num_correction_pt_per_frame
    lr_c, lr_d = _learning_rates(stage_c, model_c), _learning_rates(stage_d, model_d)
    assert set(lr_c) == set(lr_d)
    heads = [n for n in lr_d if n.startswith(("sam_prompt_encoder.", "sam_mask_decoder."))]
    assert all(lr_d[n] == pytest.approx(lr_c[n] / 2) for n in lr_d)
    assert min(lr_d[n] for n in heads) > 10 * max(lr_d[n] for n in lr_d if n not in heads)


def test_stage_e_prompts_every_single_frame_with_a_box_alone():
    """Stage E (boxes on single frames) is stage D on 1-frame clips where every object is
    prompted by its box and nothing else (no corrective click), at stage D's learning rates."""
    stage_d = _compose("sam2.1_hiera_demo_256_boxes")
    stage_e = _compose("sam2.1_hiera_demo_256_box_frames")
    assert find_placeholders(stage_e) == [INIT_KEY]  # stage D's checkpoint, given by the script
    sampler = instantiate(stage_e.vos.sampler)
    assert sampler.num_frames == 1 and sampler.max_num_objects == 8
    assert stage_e.dataset == stage_d.dataset and stage_e.scratch.num_epochs == 1
    torch.manual_seed(0)
    model_d = instantiate(stage_d.trainer.model, _recursive_=True)
    model_e = instantiate(stage_e.trainer.model, _recursive_=True)
    mode_e = model_e.train_mode
    assert mode_e.prob_pt == 1.0 and mode_e.prob_box == 1.0
    assert model_e.num_correction_pt_per_frame == 0
    assert _learning_rates(stage_e, model_e) == _learning_rates(stage_d, model_d)


def test_stage_f_is_a_short_constant_rate_run_of_stage_d():
    """Stage F (tracking back) is stage D's clips and prompts for 100 steps with 2 processes (a
    fifth of the split, one epoch) at stage D's starting learning rates, held constant."""
    from training.utils.schedulers import ConstantParamScheduler

    stage_d = _compose("sam2.1_hiera_demo_256_boxes")
    stage_f = _compose("sam2.1_hiera_demo_256_settle")
    assert find_placeholders(stage_f) == [INIT_KEY]  # stage E's checkpoint, given by the script
    assert stage_f.vos.sampler == stage_d.vos.sampler and stage_f.trainer.model == stage_d.trainer.model
    assert stage_f.scratch.num_epochs == 1 and stage_f.dataset.multiplier * 1000 / 2 == 100
    torch.manual_seed(0)
    model = instantiate(stage_f.trainer.model, _recursive_=True)
    lr_d, lr_f = _learning_rates(stage_d, model), _learning_rates(stage_f, model)
    assert lr_f.keys() == lr_d.keys() and all(lr_f[n] == pytest.approx(lr_d[n]) for n in lr_f)
    schedulers = [instantiate(o.scheduler) for o in stage_f.trainer.optim.options.lr]
    assert len(schedulers) == 3 and all(isinstance(s, ConstantParamScheduler) for s in schedulers)


@pytest.mark.parametrize("image_size", [128, 256])
def test_shipped_config_sets_the_eval_memory_options(image_size):
    """The shipped models' inference settings (sam2/checkpoints/sam2.1_hiera_demo.md): recent
    memories every 2nd frame (the mean gap of the training clips) and one object per pixel in
    the masks that are encoded into memory. Both act at inference only."""
    from sam2.build_sam import build_sam2
    from sam2.demo import SHIPPED_MODELS

    model = build_sam2(SHIPPED_MODELS[image_size].config, device="cpu")
    assert model.image_size == image_size
    assert model.memory_temporal_stride_for_eval == 2
    assert model.non_overlap_masks_for_mem_enc is True


@pytest.mark.parametrize("name", ["sam2.1_hiera_demo_stage1", "sam2.1_hiera_demo", "sam2.1_hiera_demo_stage3"])
def test_demo_stages_match_the_shipped_model_config(name):
    from sam2.build_sam import build_sam2
    from sam2.demo import SHIPPED_MODELS

    cfg = _compose(name)  # the placeholder left in stage 2 does not matter for the model
    train_model = instantiate(cfg.trainer.model, _recursive_=True)
    shipped = build_sam2(SHIPPED_MODELS[128].config, device="cpu")
    shapes = {k: tuple(v.shape) for k, v in shipped.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in train_model.state_dict().items()} == shapes
