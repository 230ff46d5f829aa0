#!/usr/bin/env python
"""Multi-process video-object-segmentation inference over a MOSEv2-style split.

Example::

    python tools/vos_inference_ddp.py --sam2_cfg configs/sam2.1/sam2.1_hiera_b+_rcms_mqf_mss_lvt.yaml \\
        --sam2_checkpoint CKPT --output_mask_dir OUT --num_gpus 8 \\
        --base_video_dir SPLIT/JPEGImages --input_mask_dir SPLIT/Annotations --zip SUBMISSION.zip

One worker per GPU (NCCL); without CUDA or with ``--num_gpus 0``, ``--num_workers`` CPU processes
(gloo); under ``torchrun`` one worker per launched process. Each video is written to a temporary
folder and renamed into place when complete; a re-run skips complete videos. Exit code 0 when every
video succeeded, 1 when any failed (listed at the end), 2 for bad arguments, 130 interrupted.
"""
from __future__ import annotations

import os

# tqdm reads TQDM_* variables when it is first imported, so this must come before any import that
# pulls it in: it silences the video predictor's per-propagation bar (in this process and in the
# spawned workers, which inherit it) so that each worker shows exactly one line. The workers' own
# bars pass ``disable=`` explicitly; a user's own TQDM_DISABLE=1 turns those off too.
_BARS_WANTED = os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("1", "true", "yes")
os.environ.setdefault("TQDM_DISABLE", "1")

import argparse  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Optional, Sequence  # noqa: E402

from sam2.data.mose_layout import DataFormatError  # noqa: E402
from sam2.inference.app import run_inference  # noqa: E402
from sam2.inference.official_flags import add_official_flags, check_official_paths  # noqa: E402
from sam2.inference.options import InferenceOptions  # noqa: E402
from sam2.utils import cli  # noqa: E402
from sam2.utils.output_lock import OutputLockedError  # noqa: E402
from sam2.utils.safe_paths import UnsafePathError  # noqa: E402

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # without --memory_policy and --num_prev_frames_to_promote, RCMS is switched on with the
    # published baseline's N (options_from_args); the builder logs the settings in force
    add_official_flags(p, num_prev_frames_to_promote=None, low_quality_threshold=None,
                       rcms_default_source="without --memory_policy: RCMS on with the published N and tau")
    p.add_argument(
        "--memory_policy", default=None,
        help="memory policy by name: sam2.1, rcms, samurai, dam4sam, sam2long, or members joined by '+' "
             "(rcms+samurai, rcms+dam4sam); the RCMS flags above are the rcms member's parameters. "
             "Default: the config's memory_policy, with RCMS switched on (the published baseline) "
             "unless --num_prev_frames_to_promote 0",
    )
    p.add_argument(
        "--policy_opt", action="append", default=[], metavar=cli.POLICY_OPT_METAVAR,
        help="a parameter of --memory_policy (repeatable; e.g. kf_score_weight=0.3, num_pathway=3, or samurai.kf_score_weight=0.3 "
             "for a composed policy; the POLICY: prefix, when given, is --memory_policy); values are read as JSON when "
             "they parse, else as text",
    )
    p.add_argument("--num_gpus", type=int, default=None, help="GPU workers (default: all visible; 0 = CPU)")
    p.add_argument("--num_workers", type=int, default=1, help="CPU worker processes when no GPU is used")
    p.add_argument("--zip", dest="zip_path", default=None, help="also pack the submission into this zip")
    p.add_argument("--seed", type=int, default=0, help="torch seed set before each video")
    p.add_argument(
        "--policy_record_dir", "--rcms_record_dir", dest="policy_record_dir", default=None,
        help="also write <dir>/<video>.json: per object, what the memory policy did (RCMS: trigger frame, "
             "promoted frames, qualities); --rcms_record_dir is an older name of this flag",
    )
    cli.add_progress_flag(p)
    return p


def policy_opts(args: argparse.Namespace) -> dict:
    """``--policy_opt`` as ``{key: value}`` for ``--memory_policy`` (:func:`sam2.utils.cli.parse_policy_opts`)."""
    name = args.memory_policy or "--memory_policy"
    return cli.parse_policy_opts(args.policy_opt, [name])[name]


def options_from_args(args: argparse.Namespace) -> InferenceOptions:
    switch = args.num_prev_frames_to_promote
    if switch is None and args.memory_policy is None:
        from sam2.video.policies.rcms import PUBLISHED_N

        switch = PUBLISHED_N
    return InferenceOptions.from_args(
        args,
        num_prev_frames_to_promote=switch,
        memory_policy=args.memory_policy,
        policy_opts=tuple(sorted(policy_opts(args).items())),
        num_gpus=args.num_gpus,
        num_workers=args.num_workers,
        zip_path=None if args.zip_path is None else Path(args.zip_path),
        seed=args.seed,
        policy_record_dir=None if args.policy_record_dir is None else Path(args.policy_record_dir),
        show_progress=_BARS_WANTED and not args.no_progress,
    )


def _check_paths(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    check_official_paths(parser, args)
    if args.num_workers < 1:
        parser.error("--num_workers must be >= 1")
    if args.num_gpus is not None and args.num_gpus < 0:
        parser.error("--num_gpus must be >= 0")
    try:
        opts = policy_opts(args)
    except ValueError as err:
        parser.error(str(err))
    if opts and not args.memory_policy:
        parser.error("--policy_opt needs --memory_policy")
    if args.memory_policy:
        from sam2.video.policies import resolve_policy

        try:  # fail before any video is read: unknown names, bad parameters, clashing members
            rcms = {"num_prev_frames_to_promote": args.num_prev_frames_to_promote,
                    "low_quality_threshold": args.low_quality_threshold}
            resolve_policy({"name": args.memory_policy, "params": opts},
                           {k: v for k, v in rcms.items() if v is not None})
        except (ValueError, TypeError) as err:
            parser.error(f"--memory_policy {args.memory_policy}: {err}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_paths(parser, args)
    where = f" [rank {os.environ['RANK']}]" if "RANK" in os.environ else ""
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s{where} %(levelname)s %(name)s: %(message)s")
    if not args.sam2_checkpoint:
        logging.getLogger("vos_inference_ddp").warning("no --sam2_checkpoint: the model keeps its random initial weights")
    # SIGTERM (schedulers, kill) unwinds like Ctrl-C: the video being written is discarded, not left half-done
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        summary = run_inference(options_from_args(args))
    except (DataFormatError, FileNotFoundError, NotADirectoryError, OutputLockedError, UnsafePathError) as exc:  # unusable split / output
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    if summary.primary:
        for line in summary.failure_lines():
            print(line, file=sys.stderr)
        print(summary.final_line(), flush=True)
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(cli.run_main(main))
