#!/usr/bin/env python
"""One-command demo: the shipped model on a held-out synthetic split, with RCMS off and on.

    python tools/demo.py                       # shipped model, 8 videos, into demo_output/
    python tools/demo.py --num-videos 16 --seed 3 --output-dir /tmp/demo

Stages (each with a progress bar): write a synthetic MOSE-style split that the model never saw
(``OUT/data``), run the inference tool's logic with RCMS off and on (``OUT/pred_rcms_off``,
``OUT/pred_rcms_on``), score both like ``tools/score.py`` (``OUT/scores_rcms_off``,
``OUT/scores_rcms_on``), print a table (J&Ḟ, J, Ḟ, J&Ḟ_d, J&Ḟ_r) and draw one video as an animated
GIF and a picture strip (``OUT/demo.gif``, ``OUT/demo_strip.png``): ground truth and both runs
overlaid, RCMS promotions marked. Exit code 0 on success, 1 when a stage fails, 2 for bad flags.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from sam2.demo import DEMO_CONFIG, DemoSettings, run_demo
from sam2.demo.pipeline import DemoError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = DemoSettings()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="model checkpoint (default: the shipped sam2/checkpoints/sam2.1_hiera_demo.pt)")
    p.add_argument("--config", default=DEMO_CONFIG, help=f"model config name or path (default: {DEMO_CONFIG})")
    p.add_argument("--num-videos", type=int, default=defaults.num_videos, help="videos in the held-out split")
    p.add_argument("--num-frames", type=int, default=defaults.num_frames, help="frames per video")
    p.add_argument("--seed", type=int, default=defaults.seed, help="seed of the held-out split (training used 1000)")
    p.add_argument("--output-dir", type=Path, default=defaults.output_dir, help="output folder (default: demo_output/)")
    p.add_argument("--num-prev-frames-to-promote", type=int, default=defaults.num_prev_frames_to_promote,
                   help="RCMS N of the RCMS-on run")
    p.add_argument("--low-quality-threshold", type=float, default=defaults.low_quality_threshold,
                   help="RCMS quality threshold of the RCMS-on run")
    p.add_argument("--num-workers", type=int, default=defaults.num_workers, help="CPU inference processes")
    p.add_argument("--no-pictures", action="store_true", help="skip the GIF and the strip")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        settings = DemoSettings(
            output_dir=args.output_dir,
            checkpoint=args.checkpoint,
            config=args.config,
            num_videos=args.num_videos,
            num_frames=args.num_frames,
            seed=args.seed,
            num_prev_frames_to_promote=args.num_prev_frames_to_promote,
            low_quality_threshold=args.low_quality_threshold,
            num_workers=max(1, args.num_workers),
            show_progress=not args.no_progress,
            pictures=not args.no_pictures,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        result = run_demo(settings)
    except (DemoError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print()
    print(f"held-out synthetic split: {settings.num_videos} videos x {settings.num_frames} frames (seed {settings.seed})")
    print(result.table)
    print()
    out = result.output_dir
    print(f"scores:      {out / 'scores_rcms_off'}  {out / 'scores_rcms_on'}")
    print(f"predictions: {out / 'pred_rcms_off'}  {out / 'pred_rcms_on'}")
    if result.gif is not None:
        print(f"pictures:    {result.gif}  {result.strip}  (video {result.video})")
    timing = ", ".join(f"{k} {v:.1f}s" for k, v in result.seconds.items())
    print(f"time:        {timing}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
