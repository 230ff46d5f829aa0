#!/usr/bin/env python
"""Semi-supervised VOS inference with the command line of the official ``tools/vos_inference.py``.

Example (the official flags, unchanged)::

    python tools/vos_inference.py --sam2_cfg configs/sam2.1/sam2.1_hiera_b+.yaml \\
        --sam2_checkpoint ./checkpoints/sam2.1_hiera_base_plus.pt \\
        --base_video_dir DAVIS/JPEGImages/480p --input_mask_dir DAVIS/Annotations/480p \\
        --video_list_file DAVIS/ImageSets/2017/val.txt --output_mask_dir ./outputs/davis_pred

Meaning of the flags (as in the official tool):

* default: the objects of the first annotated frame are prompted with their masks there and
  tracked together; overlaps go to the highest logit; ``OUT/<video>/<frame>.png`` palette PNGs
  (the input annotation's palette);
* ``--use_all_masks``: every annotated frame is a prompt;
* ``--per_obj_png_file``: masks read from and written to ``<video>/<obj_id:03d>/<frame>.png``
  (the SA-V layout); objects may overlap;
* ``--track_object_appearing_later_in_video``: one propagation per object from its first
  annotated appearance (LVOS, YouTube-VOS);
* ``--apply_postprocessing``: SAM 2 post-processing (hole filling, stability fallback);
* ``--use_vos_optimized_video_predictor``: the compiled predictor (CUDA).

``--backend onnx --onnx_dir DIR`` runs the graphs exported by ``tools/export_onnx.py`` with ONNX
Runtime on the CPU instead (``--sam2_cfg`` / ``--sam2_checkpoint`` are then unused; needs
``pip install "sam2-rcms[onnx]"``).

One process on one device (the first GPU when there is one, else the CPU); every listed video is
recomputed and its folder replaced. The model's RCMS setting comes from the config (the stock
SAM 2 / SAM 2.1 configs: off) unless ``--num_prev_frames_to_promote`` is given. For several
GPUs, resuming and a submission zip, use ``tools/vos_inference_ddp.py``. Exit code 0 when every
video succeeded, 1 when any failed (listed at the end), 2 for bad arguments or an unusable split.
"""
from __future__ import annotations

import os

# the per-propagation progress bar of the predictor is silenced (one bar for the run instead)
_BARS_WANTED = os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("1", "true", "yes")
os.environ.setdefault("TQDM_DISABLE", "1")

import argparse  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
from typing import Optional, Sequence  # noqa: E402

import torch  # noqa: E402

from sam2.data.mose_layout import DataFormatError  # noqa: E402
from sam2.inference.app import run_inference  # noqa: E402
from sam2.inference.official_flags import add_official_flags, check_official_paths  # noqa: E402
from sam2.inference.options import InferenceOptions  # noqa: E402
from sam2.utils.output_lock import OutputLockedError  # noqa: E402
from sam2.utils.safe_paths import UnsafePathError  # noqa: E402

logger = logging.getLogger("vos_inference")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_official_flags(p, num_prev_frames_to_promote=None, low_quality_threshold=None,
                       rcms_default_source="the config's value")
    p.add_argument("--backend", choices=("torch", "onnx"), default="torch",
                   help="torch: the PyTorch predictor; onnx: the exported graphs of --onnx_dir")
    p.add_argument("--onnx_dir", default=None, help="graphs written by tools/export_onnx.py (--backend onnx)")
    return p


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.backend == "onnx":
        if not args.onnx_dir or not os.path.isdir(args.onnx_dir):
            parser.error(f"--backend onnx needs --onnx_dir with the exported graphs (got {args.onnx_dir!r})")
        args.sam2_checkpoint = None  # the model comes from the graphs
    elif args.onnx_dir:
        parser.error("--onnx_dir is only used with --backend onnx")
    check_official_paths(parser, args)


def options_from_args(args: argparse.Namespace) -> InferenceOptions:
    return InferenceOptions.from_args(
        args,
        num_gpus=1 if torch.cuda.is_available() else 0,
        num_workers=1,
        show_progress=_BARS_WANTED,
        skip_complete=False,
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_args(parser, args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    factory = None
    if args.backend == "onnx":
        from sam2.inference.onnx_backend import onnx_predictor_factory

        try:
            factory = onnx_predictor_factory(args.onnx_dir)
        except ImportError as exc:
            parser.exit(2, f"{parser.prog}: error: {exc}\n")
    elif not args.sam2_checkpoint:
        logger.warning("no --sam2_checkpoint: the model keeps its random initial weights")
    logger.info("prompts: %s", "every available input mask" if args.use_all_masks else "the first annotated frame")
    try:
        summary = run_inference(options_from_args(args), predictor_factory=factory)
    except (DataFormatError, FileNotFoundError, NotADirectoryError, OutputLockedError, UnsafePathError) as exc:  # unusable split / output
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    for line in summary.failure_lines():
        print(line, file=sys.stderr)
    print(f"{summary.final_line()}; output masks in {args.output_mask_dir}", flush=True)
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
