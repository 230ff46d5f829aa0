"""The optional stage 4 of the demo recipe (PHOTO_STAGE=1 tools/train_demo_model.sh): photographic
fine-tuning from stage 3 on a mixed split made only from the training photographs; the shipped
model stays the stage-3 result."""
from __future__ import annotations

import re
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


def test_stage4_continues_stage3_with_the_same_model_and_clips():
    stage3 = _compose("sam2.1_hiera_demo_stage3")
    stage4 = _compose("sam2.1_hiera_demo_stage4")
    assert find_placeholders(stage4) == [INIT_KEY]  # the stage-3 checkpoint, given by the script
    assert stage4.trainer.model == stage3.trainer.model
    assert instantiate(stage4.vos.sampler).num_frames == 8
    assert stage4.scratch.base_lr <= _compose("sam2.1_hiera_demo").scratch.base_lr


def test_script_trains_stage4_on_training_photographs_after_stage3():
    script = (ROOT / "tools" / "train_demo_model.sh").read_text()
    run = "training/train.py\" -c configs/sam2.1_training/"
    stage3 = script.index(run + "sam2.1_hiera_demo_stage3.yaml")
    shipped = script.index('"$OUT/stage3/checkpoints/checkpoint.pt" "$OUT/sam2.1_hiera_demo.pt"')
    optional = script.index('if [ "${PHOTO_STAGE:-0}" = "1" ]; then')
    assert stage3 < shipped < optional  # the shipped model is exported before the optional stage
    split = script.index("--photographic")
    stage4 = script.index(run + "sam2.1_hiera_demo_stage4.yaml")
    assert optional < split < stage4
    split_line = script[split - 300 : split + 200]
    assert "--photo-split train" in split_line  # never the held-out photographs
    seed = int(re.search(r"--seed (\d+) --photographic", script).group(1))
    assert seed not in (0, 5, 11, 1000)  # not a held-out split's seed, not the procedural training split's
    assert '"${PHOTO_DATA[@]}"' in script[stage4:]
    assert '"$OUT/stage3/checkpoints/checkpoint.pt"' in script[stage4:]
    assert '"$OUT/stage4/checkpoints/checkpoint.pt" "$OUT/sam2.1_hiera_demo_photo.pt"' in script[stage4:]
