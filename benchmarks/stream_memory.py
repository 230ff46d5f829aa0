#!/usr/bin/env python
"""Resident memory of a stream versus the number of pushed frames.

Opens a stream on a small synthetic camera (a textured square moving over noise), prompts one
object (or more) on the first frame and pushes N frames, reading the process's current
resident memory (``VmRSS``, after a garbage collection) at checkpoints. The goal:
RSS after 10,000 frames equals RSS after 1,000 within 10 %.

    python benchmarks/stream_memory.py [--frames 10000] [--checkpoints 1000 10000]
        [--config configs/sam2.1/sam2.1_hiera_instant.yaml] [--checkpoint PT] [--size 64x48]
        [--objects 1] [--rcms N,TAU] [--json OUT.json]

Without ``--checkpoint`` the model is randomly initialised (seed 0): memory does not depend on
the weights. Prints one line per checkpoint (RSS, peak RSS, stored memory frames, frames the
stream holds) and the ratio last / first; nothing is asserted (benchmarks never fail on
numbers).
"""
from __future__ import annotations

import argparse
import gc
import json
import platform
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    """Current resident set size of this process in MB (Linux ``/proc``; else the peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def synthetic_frames(count: int, width: int, height: int, seed: int = 0):
    """``count`` distinct RGB uint8 frames (cycled by the caller): a square moving right and
    back over a noisy background."""
    import numpy as np

    rng = np.random.RandomState(seed)
    side = max(4, min(width, height) // 3)
    frames = []
    for t in range(count):
        img = rng.randint(20, 60, size=(height, width, 3), dtype=np.uint8)
        x0 = int((width - side) * (0.5 - 0.5 * np.cos(2 * np.pi * t / count)))
        y0 = (height - side) // 2
        img[y0:y0 + side, x0:x0 + side] = (220, 190, 40)
        frames.append(img)
    return frames, side


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=10000)
    ap.add_argument("--checkpoints", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--config", default="configs/sam2.1/sam2.1_hiera_instant.yaml")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--size", default="64x48", help="frame size WxH")
    ap.add_argument("--objects", type=int, default=1)
    ap.add_argument("--rcms", default=None, help="N,TAU: RCMS settings (default: the config's)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()

    import numpy as np
    import torch
    from tqdm import tqdm

    from sam2.build_sam import build_sam2_video_predictor
    from sam2.video.tracking.stream import open_stream

    if args.threads:
        torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.lower().split("x"))
    kwargs = {}
    if args.rcms:
        n, tau = args.rcms.split(",")
        kwargs = {"num_prev_frames_to_promote": int(n), "low_quality_threshold": float(tau)}
    torch.manual_seed(0)
    predictor = build_sam2_video_predictor(args.config, args.checkpoint, device=args.device, **kwargs)
    frames, side = synthetic_frames(64, width, height)
    checkpoints = sorted(c for c in set(args.checkpoints) if c <= args.frames)
    results = []
    with open_stream(predictor, frames[0]) as stream:
        y0 = (height - side) // 2
        for obj in range(1, args.objects + 1):
            mask = np.zeros((height, width), bool)
            mask[y0:y0 + side, :side] = True
            if obj > 1:  # further objects: background patches
                mask[:] = False
                mask[:side // 2, (obj - 2) * side // 2:(obj - 1) * side // 2 + 1] = True
            stream.add_mask(obj, mask)
        start = time.perf_counter()
        for t in tqdm(range(1, args.frames + 1), desc="pushing", mininterval=5.0):
            stream.push(frames[t % len(frames)])
            if t in checkpoints:
                gc.collect()
                banks = [tr.bank for tr in stream.state.tracks.values()]
                row = {
                    "frames": t,
                    "rss_mb": round(rss_mb(), 1),
                    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
                    "stored_memory_frames": [len(b.cond) + len(b.non_cond) for b in banks],
                    "held_frames": stream.held_frames(),
                    "seconds": round(time.perf_counter() - start, 1),
                }
                results.append(row)
                print(json.dumps(row), flush=True)
    first, last = results[0], results[-1]
    ratio = last["rss_mb"] / first["rss_mb"]
    summary = {
        "config": args.config, "frame_size": args.size, "objects": args.objects,
        "device": args.device, "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "checkpoints": results,
        "rss_ratio": round(ratio, 4),
    }
    print(f"RSS after {last['frames']} frames / after {first['frames']} frames: {ratio:.3f} "
          f"({last['rss_mb']:.1f} MB / {first['rss_mb']:.1f} MB; goal <= 1.10)")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
