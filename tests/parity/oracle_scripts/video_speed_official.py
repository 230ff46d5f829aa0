#!/usr/bin/env python
"""Time the OFFICIAL SAM2VideoPredictor for benchmarks/video_speed.py (oracle python only).

    cd /tmp && env -u PYTHONPATH /root/.cache/sam2-oracle/venv/bin/python video_speed_official.py \
        --config configs/sam2.1/sam2.1_hiera_t.yaml --checkpoint T.pt --video DIR/JPEGImages \
        --objects 3 [--override ++model.image_size=512] [--device cpu] [--threads 2]

Prompts: ``video_speed_prompts`` (masks on frame 0). Prints ``RESULT {"fps": ..., ...}``.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True

import numpy as np  # noqa: E402
import torch  # noqa: E402

from video_speed_prompts import prompt_masks  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--video", required=True)
    ap.add_argument("--objects", type=int, default=1)
    ap.add_argument("--override", action="append", default=[])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import sam2
    if "site-packages" not in sam2.__file__:
        sys.exit(f"needs the installed official sam2, got {sam2.__file__}")
    from sam2.build_sam import build_sam2_video_predictor

    predictor = build_sam2_video_predictor(args.config, args.checkpoint, device=args.device,
                                           apply_postprocessing=False,
                                           hydra_overrides_extra=args.override)
    inner = predictor.memory_attention.forward

    def forward(*a, **k):  # CPU fp32: bf16 memory without pointers (see video_golden.py)
        if k.get("memory") is not None and k["memory"].dtype != torch.float32:
            k["memory"] = k["memory"].float()
        return inner(*a, **k)

    predictor.memory_attention.forward = forward
    masks = np.load(os.path.join(os.path.dirname(args.video), "masks.npz"))
    with torch.inference_mode():
        state = predictor.init_state(args.video)
        for obj_id, mask in enumerate(prompt_masks(masks, args.objects), start=1):
            predictor.add_new_mask(state, 0, obj_id, mask)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        frames = sum(1 for _ in predictor.propagate_in_video(state))
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
    print("RESULT " + json.dumps({"frames": frames, "seconds": elapsed, "fps": frames / elapsed}))


if __name__ == "__main__":
    main()
