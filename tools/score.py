#!/usr/bin/env python
"""Score VOS predictions with the MOSEv2 metrics (same command line as the reference scorer).

    python tools/score.py --meta META.json --ann GT_ANNOTATIONS_DIR --pred PRED_DIR --output OUT_DIR \
        [--workers N] [--allow-missing] [--no-progress]

Writes OUT_DIR/metrics.json and OUT_DIR/scores.txt (reference formats), metrics_full.json and
per_object.csv. Exit codes: 0 success (missing videos score 0 and are listed), 1 bad input
(the message names the file), 2 usage error, 130 interrupted. ``--out`` / ``--output-dir`` are
aliases of ``--output``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from sam2.data.mose_layout import DataFormatError
from sam2.evaluation import evaluate_split, write_reports
from sam2.evaluation.report import dataset_metrics
from sam2.utils import cli
from sam2.utils.safe_paths import UnsafePathError, check_output_folder, check_outputs_apart

log = logging.getLogger("score")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="MOSEv2 metric evaluation")
    parser.add_argument("--meta", required=True, help="path to meta.json")
    parser.add_argument("--ann", required=True, help="ground-truth Annotations folder")
    parser.add_argument("--pred", required=True, help="prediction folder (one sub-folder per video)")
    cli.add_output_flag(parser, required=True, what="folder for metrics.json, scores.txt, ...")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes (default: all cores)")
    parser.add_argument("--allow-missing", action="store_true", help="score missing/unreadable/wrong-size prediction frames as empty")
    parser.add_argument("--chunk-frames", type=int, default=15, help="frames per task")
    cli.add_progress_flag(parser)
    parser.add_argument("--debug", action="store_true", help="accepted for compatibility (unused)")
    return parser.parse_args(argv)


def _fmt(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:6.2f}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:  # the reports must not land in (or around) the inputs
        check_output_folder(args.output, "--output")
        check_outputs_apart({"--output": args.output}, {"--meta": args.meta, "--ann": args.ann, "--pred": args.pred})
    except UnsafePathError as exc:
        raise cli.ToolError(str(exc), cli.EXIT_USAGE) from None
    warnings: list[str] = []
    try:
        result = evaluate_split(
            args.meta,
            args.ann,
            args.pred,
            workers=max(1, args.workers),
            allow_missing=args.allow_missing,
            progress=not args.no_progress,
            chunk_frames=max(1, args.chunk_frames),
            on_warning=warnings.append,
        )
    except DataFormatError as exc:
        log.error("%s", exc)
        return 1
    for message in warnings:
        log.warning("%s", message)
    paths = write_reports(
        args.output,
        result.objects,
        result.dataset,
        result.total_time,
        missing_videos=result.missing_videos,
        no_eval_frame_videos=result.no_eval_frame_videos,
        warnings=warnings,
    )
    if result.missing_videos:
        banner = "!" * 72
        log.error(banner)
        log.error("%d VIDEO(S) MISSING FROM THE PREDICTIONS, SCORED 0:", len(result.missing_videos))
        for name in result.missing_videos:
            log.error("  %s", name)
        log.error(banner)
    metrics = dataset_metrics(result.dataset)
    print(f"objects: {metrics['num_objects']}  (with disappearance: {metrics['num_disappear_objects']}, "
          f"with reappearance: {metrics['num_reappear_objects']})")
    print(f"J&F_new {_fmt(metrics['J&F_new'])} | J {_fmt(metrics['J'])} | F_new {_fmt(metrics['F_new'])} | "
          f"d {_fmt(metrics['disappear_J&F_new'])} | r {_fmt(metrics['reappear_J&F_new'])} | "
          f"bd {_fmt(metrics['before_disappear_J&F_new'])} | F {_fmt(metrics['F'])} | J&F {_fmt(metrics['J&F'])}")
    print(paths["scores"].read_text(encoding="utf-8"), end="")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_main(main))
