#!/usr/bin/env python
"""Tracking speed of our SAM2VideoPredictor against the official one, as a ratio in one run.

Both run the same seeded official-format weights (tests/parity/seeded_ckpt.py) on the same
synthetic clip with mask prompts on frame 0 for 1 and 3 objects; only ``propagate_in_video``
is timed. The official predictor runs in the oracle python as a subprocess
(tests/parity/oracle_scripts/video_speed_official.py) with the same thread count.

    python benchmarks/video_speed.py [--size t] [--image-size 512] [--frames 6] [--objects 1 3]
        [--device cpu] [--threads 2] [--oracle-python PATH]

Prints fps of each (best of --repeat alternating runs, to damp the noise of a shared
machine) and ours/official (goal: >= 1.0 with one object, >= 1.5 with three). On a loaded
machine multi-threaded timings are dominated by thread synchronisation per operation (which
favours fewer, batched operations); ``--threads 1`` measures the arithmetic work instead.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "tests" / "parity" / "oracle_scripts"
sys.path.insert(0, str(SCRIPTS))
sys.path.insert(0, str(ROOT / "tests" / "parity"))

DEFAULT_ORACLE = os.path.expanduser("~/.cache/sam2-oracle/venv/bin/python")


def ours(config, ckpt, video, objects, overrides, device):
    import numpy as np
    import torch

    from sam2.build_sam import build_sam2_video_predictor
    from video_speed_prompts import prompt_masks

    predictor = build_sam2_video_predictor(config, ckpt, device=device, apply_postprocessing=False,
                                           hydra_overrides_extra=overrides)
    masks = np.load(os.path.join(os.path.dirname(video), "masks.npz"))
    state = predictor.init_state(video)
    for obj_id, mask in enumerate(prompt_masks(masks, objects), start=1):
        predictor.add_new_mask(state, 0, obj_id, mask)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    frames = sum(1 for _ in predictor.propagate_in_video(state))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    return {"frames": frames, "seconds": elapsed, "fps": frames / elapsed}


def official(oracle_py, config, ckpt, video, objects, overrides, device, threads):
    cmd = [oracle_py, str(SCRIPTS / "video_speed_official.py"), "--config", config,
           "--checkpoint", ckpt, "--video", video, "--objects", str(objects), "--device", device,
           "--threads", str(threads)]
    for o in overrides:
        cmd += ["--override", o]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    with tempfile.TemporaryDirectory() as cwd:  # a folder without a sam2/ subfolder
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not line:
        sys.exit(f"official run failed:\n{proc.stderr[-3000:]}")
    return json.loads(line[0][len("RESULT "):])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="t", choices=["t", "s", "b+", "l"])
    ap.add_argument("--image-size", type=int, default=512)
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--objects", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2,
                    help="alternate ours / official this many times and keep each one's best fps")
    ap.add_argument("--oracle-python", default=os.environ.get("SAM2_ORACLE_PY", DEFAULT_ORACLE))
    args = ap.parse_args()

    import torch

    import seeded_ckpt
    from video_clip import make_clip

    torch.set_num_threads(args.threads)
    config = f"configs/sam2.1/sam2.1_hiera_{args.size}.yaml"
    overrides = [] if args.image_size == 1024 else [f"++model.image_size={args.image_size}"]
    with tempfile.TemporaryDirectory() as tmp:
        make_clip(tmp, frames=args.frames)
        video = os.path.join(tmp, "JPEGImages")
        ckpt = os.path.join(tmp, "w.pt")
        torch.save({"model": seeded_ckpt.make_seeded_state_dict(args.size, 0)}, ckpt)
        print(f"{args.size} at {args.image_size}px, {args.frames} frames, device {args.device}, "
              f"{args.threads} threads", flush=True)
        for n in args.objects:
            theirs, mine = None, None
            for _ in range(max(args.repeat, 1)):
                t = official(args.oracle_python, config, ckpt, video, n, overrides, args.device,
                             args.threads)
                m = ours(config, ckpt, video, n, overrides, args.device)
                theirs = t if theirs is None or t["fps"] > theirs["fps"] else theirs
                mine = m if mine is None or m["fps"] > mine["fps"] else mine
            print(f"{n} object(s): ours {mine['fps']:.3f} fps, official {theirs['fps']:.3f} fps, "
                  f"ratio {mine['fps'] / theirs['fps']:.2f}", flush=True)


if __name__ == "__main__":
    main()
