#!/usr/bin/env bash
# Reproduces the two shipped models on CPU: sam2/checkpoints/sam2.1_hiera_demo.pt (128 px, steps
# 1-5) and the demo model sam2/checkpoints/sam2.1_hiera_demo_256.pt (256 px, steps 6-15):
#   bash tools/train_demo_model.sh [OUT_DIR (default: demo_train)] [NUM_PROCESSES (default: 2)]
# 1. a synthetic MOSE-style training split (1000 videos x 32 frames, 240x180, seed 1000; the
#    demo and the tests hold out other seeds);
# 2. stage 1: configs/sam2.1_training/sam2.1_hiera_demo_stage1.yaml (2-frame clips, from a
#    seeded random initialisation);
# 3. stage 2: configs/sam2.1_training/sam2.1_hiera_demo.yaml (8-frame clips, from stage 1);
# 4. stage 3: configs/sam2.1_training/sam2.1_hiera_demo_stage3.yaml (more 8-frame clips at a
#    lower learning rate, a fresh cosine cycle, from stage 2);
# 5. OUT_DIR/sam2.1_hiera_demo.pt = {"model": state_dict} of the stage-3 result (128 px);
# 6. a mixed split (1000 videos x 32 frames, 50% photographic from the training photographs
#    only, seed 1000; needs the train extra: scikit-image, scikit-learn, matplotlib);
# 7. stage A: configs/sam2.1_training/sam2.1_hiera_demo_256_stage1.yaml (the 128-px weights at
#    a 256-px input, 2-frame clips of the mixed split, 1500 steps);
# 8. stage B: configs/sam2.1_training/sam2.1_hiera_demo_256.yaml (8-frame clips, 1000 steps);
# 9. OUT_DIR/sam2.1_hiera_demo_256_stage_b.pt (stage B's weights, tracking only: it does not
#    answer clicks or boxes);
# 10. a crowded mixed split (1000 videos x 32 frames, 3-8 objects each, 50% photographic from
#    the training photographs only, seed 2000);
# 11. stage C: configs/sam2.1_training/sam2.1_hiera_demo_256_prompts.yaml (8-frame clips of
#    the crowded split, from stage B, 80% of them started from a click or a box with 7
#    corrective clicks, up to 8 objects, the prompt encoder and mask decoder at 1e-3, while the
#    other frames keep the tracking loss; 1000 steps);
# 12. stage D: configs/sam2.1_training/sam2.1_hiera_demo_256_boxes.yaml (the same clips, from
#    stage C, 60% of them started from a box alone with 2 corrective clicks, at half stage C's
#    learning rates; 500 steps);
# 13. stage E: configs/sam2.1_training/sam2.1_hiera_demo_256_box_frames.yaml (single frames of
#    the same split, from stage D, every object prompted by its box alone; 1000 steps, always
#    with one process: the memory modules get no gradient on single frames);
# 14. stage F: configs/sam2.1_training/sam2.1_hiera_demo_256_settle.yaml (stage D's clips again,
#    from stage E, at stage D's peak learning rates; 100 steps), which brings tracking back;
# 15. OUT_DIR/sam2.1_hiera_demo_256.pt, for configs/sam2.1/sam2.1_hiera_demo_256.yaml (the demo
#    model, as shipped).
# Each stage resumes where it stopped when the command is run again (training checkpoints are
# written every 100 steps); a finished split is not rewritten. About 125 minutes on a quiet
# 2-core machine (steps 1-5 about 72, 6-9 about 53), and stages C-F about 135 more; record:
# sam2/checkpoints/sam2.1_hiera_demo.md.
set -euo pipefail
OUT=${1:-demo_train}
NPROC=${2:-2}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SPLIT="$OUT/split"
MIXED="$OUT/split_mixed"
CROWDED="$OUT/split_crowded"

# write_split DIR SEED [GENERATOR FLAGS...]: a 1000-video training split, once
write_split() {
  local dir=$1 seed=$2
  shift 2
  if [ ! -f "$dir/meta.json" ]; then
    python "$ROOT/tools/make_synthetic_mose.py" --output "$dir" --num-videos 1000 --num-frames 32 \
      --height 180 --width 240 --seed "$seed" "$@"
  fi
}

# train_stage CONFIG_NAME RUN_NAME SPLIT_DIR [INITIAL_WEIGHTS [PROCESSES]]: one stage (resumes by
# itself); PROCESSES defaults to NUM_PROCESSES
train_stage() {
  local init=()
  if [ -n "${4:-}" ]; then
    init=(trainer.checkpoint.model_weight_initializer.state_dict.checkpoint_path="$4")
  fi
  python "$ROOT/training/train.py" -c "configs/sam2.1_training/$1.yaml" --use-cluster 0 --num-gpus "${5:-$NPROC}" \
    dataset.img_folder="$3/JPEGImages" dataset.gt_folder="$3/Annotations" \
    launcher.experiment_log_dir="$OUT/$2" "${init[@]}"
}

# {"model": state_dict} of a training checkpoint (what build_sam2 and the demo load)
export_model() {
  python - "$1" "$2" <<'PY'
import sys
import torch
from training.utils.checkpoint_utils import atomic_torch_save
ckpt = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
atomic_torch_save({"model": ckpt["model"]}, sys.argv[2])
print(f"wrote {sys.argv[2]}")
PY
}

# the 128-px model (steps 1-5)
write_split "$SPLIT" 1000
train_stage sam2.1_hiera_demo_stage1 stage1 "$SPLIT"
train_stage sam2.1_hiera_demo stage2 "$SPLIT" "$OUT/stage1/checkpoints/checkpoint.pt"
train_stage sam2.1_hiera_demo_stage3 stage3 "$SPLIT" "$OUT/stage2/checkpoints/checkpoint.pt"
export_model "$OUT/stage3/checkpoints/checkpoint.pt" "$OUT/sam2.1_hiera_demo.pt"
# the demo model (steps 6-15): half the videos from the training photographs only
write_split "$MIXED" 1000 --photographic 0.5 --photo-split train
train_stage sam2.1_hiera_demo_256_stage1 stage256a "$MIXED" "$OUT/sam2.1_hiera_demo.pt"
train_stage sam2.1_hiera_demo_256 stage256b "$MIXED" "$OUT/stage256a/checkpoints/checkpoint.pt"
export_model "$OUT/stage256b/checkpoints/checkpoint.pt" "$OUT/sam2.1_hiera_demo_256_stage_b.pt"
# clicks and boxes (stage C): more objects per video, so that each step prompts up to 8
write_split "$CROWDED" 2000 --min-objects 3 --max-objects 8 --photographic 0.5 --photo-split train
train_stage sam2.1_hiera_demo_256_prompts stage256c "$CROWDED" "$OUT/stage256b/checkpoints/checkpoint.pt"
# boxes (stage D): the same split, most clips started from a box alone
train_stage sam2.1_hiera_demo_256_boxes stage256d "$CROWDED" "$OUT/stage256c/checkpoints/checkpoint.pt"
# boxes on single frames (stage E, one process), then tracking back (stage F)
train_stage sam2.1_hiera_demo_256_box_frames stage256e "$CROWDED" "$OUT/stage256d/checkpoints/checkpoint.pt" 1
train_stage sam2.1_hiera_demo_256_settle stage256f "$CROWDED" "$OUT/stage256e/checkpoints/checkpoint.pt"
export_model "$OUT/stage256f/checkpoints/checkpoint.pt" "$OUT/sam2.1_hiera_demo_256.pt"
