#!/usr/bin/env python
"""Write a synthetic MOSE-style split (JPEGImages/, Annotations/, meta.json) from a seed.

Example::

    python tools/make_synthetic_mose.py --output /tmp/synth --num-videos 8 --num-frames 24 --seed 0
    python tools/make_synthetic_mose.py --output /tmp/photo --num-videos 8 --photographic 1 --photo-split val

Exit codes: 0 written, 2 bad arguments (or an existing folder without ``--overwrite``), 130
interrupted. ``-o`` / ``--out`` / ``--output-dir`` are aliases of ``--output``.
"""

from __future__ import annotations

import argparse
import logging
import sys

from sam2.data.photo_library import PhotoLibraryError
from sam2.data.synthetic import SyntheticConfig, write_synthetic_split
from sam2.utils import cli


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = SyntheticConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_output_flag(parser, required=True, what="split folder to create", short="-o")
    parser.add_argument("--num-videos", type=int, default=defaults.num_videos)
    parser.add_argument("--num-frames", type=int, default=defaults.num_frames)
    parser.add_argument("--height", type=int, default=defaults.height)
    parser.add_argument("--width", type=int, default=defaults.width)
    parser.add_argument("--min-objects", type=int, default=defaults.min_objects)
    parser.add_argument("--max-objects", type=int, default=defaults.max_objects)
    parser.add_argument("--max-distractors", type=int, default=defaults.max_distractors)
    parser.add_argument("--max-occluders", type=int, default=defaults.max_occluders)
    parser.add_argument("--crowded-prob", type=float, default=defaults.crowded_prob)
    parser.add_argument("--event-prob", type=float, default=defaults.event_prob)
    parser.add_argument("--late-entry-prob", type=float, default=defaults.late_entry_prob)
    parser.add_argument("--no-camera-motion", action="store_true")
    parser.add_argument("--no-lighting", action="store_true")
    parser.add_argument("--photographic", type=float, default=defaults.photographic,
                        help="fraction of videos in the photographic mode (0..1; needs the train extra)")
    parser.add_argument("--photo-split", choices=("train", "val"), default=defaults.photo_split,
                        help="photographs of the photographic videos: the training or the held-out set")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    cli.add_progress_flag(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        config = SyntheticConfig(
            num_videos=args.num_videos,
            num_frames=args.num_frames,
            height=args.height,
            width=args.width,
            min_objects=args.min_objects,
            max_objects=args.max_objects,
            max_distractors=args.max_distractors,
            max_occluders=args.max_occluders,
            crowded_prob=args.crowded_prob,
            event_prob=args.event_prob,
            late_entry_prob=args.late_entry_prob,
            camera_motion=not args.no_camera_motion,
            lighting=not args.no_lighting,
            photographic=args.photographic,
            photo_split=args.photo_split,
            seed=args.seed,
        )
        write_synthetic_split(args.output, config, overwrite=args.overwrite, progress=not args.no_progress)
    except (ValueError, FileExistsError, PhotoLibraryError) as exc:
        logging.error("%s", exc)
        return 2
    logging.info("synthetic split written to %s", args.output)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_main(main))
