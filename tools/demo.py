#!/usr/bin/env python
"""One-command demo of the shipped model, in two modes.

Your own video: track one object prompted on the first frame::

    python tools/demo.py --video clip.mp4 --points 120,80           # a click (label 1)
    python tools/demo.py --video frames/ --points 120,80 40,30,0    # a click and a background click
    python tools/demo.py --video frames/ --box 90,50,160,120 --rcms off
    python tools/demo.py --video frames/ --points 120,80 --model facebook/sam2.1-hiera-tiny   # official model
    python tools/demo.py --video frames/ --mask first_frame.png --checkpoint sam2.1_hiera_base_plus.pt \\
        --config configs/sam2.1/sam2.1_hiera_b+.yaml

``--video`` is a folder of JPEG / PNG frames (00000.jpg, ...) or a video file (MP4 and the like,
read with PyAV: ``pip install "sam2-rcms[video]"``), read and tracked as ``tools/vos_inference.py``
and ``tools/track_stream.py`` do (same masks). Writes ``OUT/masks/*.png`` (one mask per frame)
and ``OUT/overlay.gif`` (or ``--overlay mp4``), with a progress bar; an interrupted run leaves
the masks done so far and an overlay of those frames. The embedded demo model is small and was
trained on synthetic shapes and a few photographs; for real videos use an official model,
``--model facebook/sam2.1-hiera-tiny`` (any official Hugging Face id; ``pip install
"sam2-rcms[hub]"``, downloaded once into the Hugging Face cache).

Held-out scores (no ``--video``): a split the model never saw, with RCMS off and on::

    python tools/demo.py                          # 8 synthetic videos, into demo_output/
    python tools/demo.py --split photo --num-videos 48   # photographic videos, held-out photographs

Stages (each with a progress bar): write the split (``OUT/data``), run the inference tool's logic
with RCMS off and on (``OUT/pred_rcms_off``, ``OUT/pred_rcms_on``), score both like
``tools/score.py`` (``OUT/scores_rcms_*``), print a table (J&Ḟ, J, Ḟ, J&Ḟ_d, J&Ḟ_r) with 95%
bootstrap intervals over videos, and draw one video as a GIF and a picture strip. The scores
recorded for the shipped model (sam2/checkpoints/sam2.1_hiera_demo.md) are printed next to it.
Exit code 0 on success, 1 when a stage fails, 2 for bad flags, 130 when interrupted.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from sam2.demo import DEMO_CONFIG, DEMO_IMAGE_SIZE, SHIPPED_MODELS, DemoSettings, run_demo
from sam2.demo.assets import DEFAULT_CHECKPOINT_HELP, demo_model_notice
from sam2.demo.pipeline import DemoError
from sam2.utils import cli

RECORDED_SCORES = SHIPPED_MODELS[DEMO_IMAGE_SIZE].scores_path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = DemoSettings()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_model_flags(p, config_default=DEMO_CONFIG, checkpoint_default=DEFAULT_CHECKPOINT_HELP)
    cli.add_output_flag(p, default="demo_track/ with --video, demo_output/ otherwise")
    cli.add_progress_flag(p)
    cli.add_device_flag(p)
    own = p.add_argument_group("your own video")
    own.add_argument("--video", type=Path, default=None, help="folder of JPEG / PNG frames or a video file (MP4, ...)")
    own.add_argument("--points", type=cli.parse_click, nargs="+", default=(), metavar="X,Y[,LABEL]",
                     help="first-frame clicks in pixels (LABEL 1 = object, default; 0 = background)")
    own.add_argument("--box", type=cli.parse_box, default=None, metavar="X0,Y0,X1,Y1", help="first-frame box in pixels")
    own.add_argument("--mask", type=Path, default=None, help="first-frame mask image (non-zero = the object)")
    own.add_argument("--rcms", choices=("on", "off"), default="on",
                     help="RCMS memory selection with its published N and tau, or plain SAM 2.1 (default: on)")
    own.add_argument("--apply-postprocessing", action="store_true",
                     help="SAM 2 post-processing (hole filling, stability fallback), as the "
                          "--apply_postprocessing of tools/vos_inference.py (default: off, as there)")
    own.add_argument("--overlay", choices=("gif", "mp4"), default="gif", help="overlay video format (mp4 needs PyAV)")
    own.add_argument("--fps", type=float, default=8.0, help="frame rate of the overlay")
    held = p.add_argument_group("held-out scores (without --video)")
    held.add_argument("--split", choices=("synthetic", "photo"), default=defaults.split,
                      help="synthetic videos, or photographic ones made from the held-out photographs")
    held.add_argument("--num-videos", type=int, default=defaults.num_videos, help="videos in the held-out split")
    held.add_argument("--num-frames", type=int, default=defaults.num_frames, help="frames per video")
    held.add_argument("--seed", type=int, default=defaults.seed, help="seed of the held-out split (training used 1000 and 2000)")
    held.add_argument("--num-prev-frames-to-promote", type=int, default=defaults.num_prev_frames_to_promote,
                      help="RCMS N of the RCMS-on run")
    held.add_argument("--low-quality-threshold", type=float, default=defaults.low_quality_threshold,
                      help="RCMS quality threshold of the RCMS-on run")
    held.add_argument("--num-workers", type=int, default=defaults.num_workers, help="CPU inference processes")
    held.add_argument("--no-pictures", action="store_true", help="skip the GIF and the strip")
    return p.parse_args(argv)


def track_settings(args: argparse.Namespace):
    """The :class:`sam2.demo.track.TrackSettings` of a ``--video`` run."""
    from sam2.demo.track import TrackSettings

    return TrackSettings(
        video=args.video,
        output_dir=args.output or Path("demo_track"),
        points=tuple(args.points),
        box=args.box,
        mask=args.mask,
        checkpoint=args.checkpoint,
        config=args.config,
        model=args.model,
        device=cli.resolve_device(args.device),
        rcms=args.rcms == "on",
        apply_postprocessing=args.apply_postprocessing,
        overlay=args.overlay,
        fps=args.fps,
        show_progress=not args.no_progress,
    )


def track_main(args: argparse.Namespace, argv: list[str]) -> int:
    from sam2.demo.assets import choose_model
    from sam2.demo.track import TrackError, track_video

    try:
        settings = track_settings(args)
        choice = choose_model(settings.model, settings.config, settings.checkpoint)
    except ValueError as exc:  # bad flags, an unknown model id, a config without a checkpoint
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ImportError, RuntimeError) as exc:  # a missing file, the hub extra or download
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        if choice.is_shipped_demo_model:
            print(demo_model_notice("tools/demo.py", argv), file=sys.stderr)
        result = track_video(settings, choice)
    except KeyboardInterrupt:
        print(f"interrupted: masks so far in {settings.output_dir / 'masks'}", file=sys.stderr)
        return 130
    except (TrackError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"tracked {result.num_tracked} of {result.num_frames} frames (RCMS {args.rcms})")
    print(f"masks:   {result.masks_dir}")
    print(f"overlay: {result.overlay}")
    return 0


def bootstrap_lines(result) -> list[str]:
    """95% bootstrap intervals (over videos) of both runs and of RCMS on minus off."""
    from sam2.evaluation.bootstrap import bootstrap_interval, paired_bootstrap_difference

    off, on = result.evaluations.get(False), result.evaluations.get(True)
    if off is None or on is None:
        return []
    lines = ["95% bootstrap intervals over videos:"]
    for key, label in (("J&F_new", "J&Ḟ"), ("disappear_J&F_new", "J&Ḟ_d"), ("reappear_J&F_new", "J&Ḟ_r")):
        try:
            a = bootstrap_interval(off.objects, key)
            b = bootstrap_interval(on.objects, key)
            d = paired_bootstrap_difference(off.objects, on.objects, key)
        except ValueError:
            continue
        lines.append(f"  {label:6s} RCMS off {a}   RCMS on {b}   on - off {d.estimate:+.2f} [{d.low:+.2f}, {d.high:+.2f}]")
    return lines


def recorded_lines() -> list[str]:
    """The scores recorded for the demo model (sam2/checkpoints/sam2.1_hiera_demo_256_scores.json)."""
    if not RECORDED_SCORES.is_file():
        return []
    doc = json.loads(RECORDED_SCORES.read_text(encoding="utf-8"))
    lines = [f"recorded for the shipped demo model, {doc['model']} (sam2/checkpoints/sam2.1_hiera_demo.md):"]
    for entry in doc.get("splits", []):
        lines.append(f"  {entry['description']}")
        for run in ("rcms_off", "rcms_on"):
            m = entry[run]
            ci = f" [{m['J&F_new_ci'][0]:.2f}, {m['J&F_new_ci'][1]:.2f}]" if "J&F_new_ci" in m else ""
            lines.append(f"    RCMS {run[5:]:3s}: J&Ḟ {m['J&F_new']:.2f}{ci}  J&Ḟ_d {m['disappear_J&F_new']:.2f}  "
                         f"J&Ḟ_r {m['reappear_J&F_new']:.2f}")
    return lines


def scores_main(args: argparse.Namespace) -> int:
    from sam2.demo.assets import choose_tool_model

    config, checkpoint = args.config or DEMO_CONFIG, args.checkpoint
    if args.model is not None:
        choice = choose_tool_model(args.model, args.config, args.checkpoint)
        config, checkpoint = choice.config, choice.checkpoint
    try:
        settings = DemoSettings(
            output_dir=args.output or Path("demo_output"),
            checkpoint=checkpoint,
            config=config,
            device=cli.resolve_device(args.device),
            num_videos=args.num_videos,
            num_frames=args.num_frames,
            split=args.split,
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
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    kind = "photographic (held-out photographs)" if settings.split == "photo" else "synthetic"
    print()
    print(f"held-out {kind} split: {settings.num_videos} videos x {settings.num_frames} frames (seed {settings.seed})")
    print(result.table)
    for line in bootstrap_lines(result):
        print(line)
    recorded = recorded_lines() if checkpoint is None and config == DEMO_CONFIG else []
    if recorded:
        print()
        print("\n".join(recorded))
    print()
    out = result.output_dir
    print(f"scores:      {out / 'scores_rcms_off'}  {out / 'scores_rcms_on'}")
    print(f"predictions: {out / 'pred_rcms_off'}  {out / 'pred_rcms_on'}")
    if result.gif is not None:
        print(f"pictures:    {result.gif}  {result.strip}  (video {result.video})")
    timing = ", ".join(f"{k} {v:.1f}s" for k, v in result.seconds.items())
    print(f"time:        {timing}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if args.video is not None:
        return track_main(args, argv)
    if args.points or args.box is not None or args.mask is not None:
        print("error: --points, --box and --mask need --video", file=sys.stderr)
        return 2
    return scores_main(args)


if __name__ == "__main__":
    sys.exit(cli.run_main(main))
