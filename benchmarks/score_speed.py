#!/usr/bin/env python
"""Scorer speed: seconds to score a synthetic validation-like set, 1 worker vs N workers.

The real MOSEv2 validation set is 433 videos at 720p; by default this scales it down to
``--num-videos`` videos of ``--num-frames`` frames at 720p and extrapolates linearly. Predictions
are the GT shifted by a few pixels (so boundaries and segments are non-trivial).

    python benchmarks/score_speed.py [--num-videos 12] [--num-frames 30] [--workers 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from sam2.data import MoseSplit, write_palette_png
from sam2.data.synthetic import SyntheticConfig, write_synthetic_split
from sam2.evaluation import evaluate_split


def make_predictions(split_root: Path, pred_root: Path) -> None:
    split = MoseSplit(split_root)
    rng = np.random.default_rng(0)
    for video in split.videos():
        dy, dx = (int(v) for v in rng.integers(-4, 5, size=2))
        for name in split.frames(video):
            ids = np.roll(split.read_annotation(video, name, check_size=False), (dy, dx), axis=(0, 1))
            write_palette_png(pred_root / video / f"{name}.png", ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-videos", type=int, default=12)
    parser.add_argument("--num-frames", type=int, default=30)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--keep", default=None, help="folder to keep the generated data in")
    args = parser.parse_args()
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="score_speed_"))
    split_root, pred_root = base / "split", base / "pred"
    if not (split_root / "meta.json").is_file():
        t0 = time.perf_counter()
        cfg = SyntheticConfig(num_videos=args.num_videos, num_frames=args.num_frames, height=args.height, width=args.width, seed=7)
        write_synthetic_split(split_root, cfg, overwrite=True)
        make_predictions(split_root, pred_root)
        print(f"generated {args.num_videos} videos x {args.num_frames} frames at {args.width}x{args.height} "
              f"in {time.perf_counter() - t0:.1f}s ({base})")
    timings = {}
    for workers in sorted({1, max(1, args.workers)}):
        t0 = time.perf_counter()
        result = evaluate_split(split_root / "meta.json", split_root / "Annotations", pred_root, workers=workers,
                                on_warning=lambda m: None)
        timings[workers] = time.perf_counter() - t0
        print(f"workers={workers}: {timings[workers]:.2f}s for {len(result.objects)} objects "
              f"(J&F_new {result.dataset.jf_dot * 100:.2f})")
    scale = 433 * 80 / (args.num_videos * args.num_frames)  # ~433 videos of ~80 frames (assumed mean length)
    for workers, seconds in timings.items():
        print(f"extrapolated to 433 videos x ~80 frames at this resolution, {workers} worker(s): {seconds * scale / 60:.1f} min")
    if len(timings) > 1:
        n = max(timings)
        print(f"speed-up with {n} workers: {timings[1] / timings[n]:.2f}x")


if __name__ == "__main__":
    main()
