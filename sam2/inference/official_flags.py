"""The command-line flags of the official ``tools/vos_inference.py``, declared once for both of
our inference tools (``tools/vos_inference.py``, ``tools/vos_inference_ddp.py``); each tool
adds its own flags after them. :meth:`InferenceOptions.from_args` reads them back."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional


def add_official_flags(parser: argparse.ArgumentParser, *, num_prev_frames_to_promote: Optional[int],
                       low_quality_threshold: Optional[float], rcms_default_source: str) -> None:
    """Add the official tool's flags (and RCMS's two) to ``parser``.

    Args:
        num_prev_frames_to_promote, low_quality_threshold: the RCMS defaults of this tool
            (``None``: the model config's ``rcms`` block decides).
        rcms_default_source: where those defaults come from, for the help text.
    """
    add = parser.add_argument
    add("--sam2_cfg", default="configs/sam2.1/sam2.1_hiera_b+.yaml", help="model config (name or path)")
    add("--sam2_checkpoint", default="./checkpoints/sam2.1_hiera_base_plus.pt", help="checkpoint file")
    add("--base_video_dir", required=True, help="frames root: <base_video_dir>/<video>/<frame>.jpg")
    add("--input_mask_dir", required=True, help="annotations root: <input_mask_dir>/<video>/<frame>.png")
    add("--video_list_file", default=None, help="text file of video names (default: every sub-folder)")
    add("--output_mask_dir", required=True, help="where <output_mask_dir>/<video>/<frame>.png are written")
    add("--score_thresh", type=float, default=0.0, help="logit threshold of the output masks (default 0)")
    add("--use_all_masks", action="store_true", help="prompt with every available input mask")
    add("--per_obj_png_file", action="store_true",
        help="one PNG per object in <video>/<obj_id:03d>/ for inputs and outputs (SA-V layout)")
    add("--apply_postprocessing", action="store_true", help="SAM 2 post-processing (hole filling, ...)")
    add("--track_object_appearing_later_in_video", action="store_true",
        help="track each object from its first annotated frame (LVOS, YouTube-VOS)")
    add("--use_vos_optimized_video_predictor", action="store_true",
        help="the VOS-optimised predictor (torch.compile of the hot modules, CPU and CUDA)")
    add("--num_prev_frames_to_promote", type=int, default=num_prev_frames_to_promote,
        help=f"RCMS frames promoted at a disappearance (0 = off; default: %(default)s, {rcms_default_source})")
    add("--low_quality_threshold", type=float, default=low_quality_threshold,
        help=f"RCMS quality a frame must exceed (default: %(default)s, {rcms_default_source})")


def check_official_paths(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Stop with a usage error naming the flag when a path given to an official flag is missing, an
    output overlaps an input, or ``--score_thresh`` is not finite (:func:`check_run_paths`)."""
    for flag, value in (("--base_video_dir", args.base_video_dir), ("--input_mask_dir", args.input_mask_dir)):
        if not Path(value).is_dir():
            parser.error(f"{flag}: folder not found: {value}")
    if args.video_list_file is not None and not Path(args.video_list_file).is_file():
        parser.error(f"--video_list_file: file not found: {args.video_list_file}")
    if args.sam2_checkpoint and not Path(args.sam2_checkpoint).is_file():
        parser.error(f"--sam2_checkpoint: file not found: {args.sam2_checkpoint}")
    if args.num_prev_frames_to_promote is not None and args.num_prev_frames_to_promote < 0:
        parser.error("--num_prev_frames_to_promote must be >= 0")
    from sam2.inference.options import check_run_paths

    try:  # outputs apart from inputs, an output folder that is a folder, a finite threshold
        check_run_paths(
            output_mask_dir=args.output_mask_dir, base_video_dir=args.base_video_dir,
            input_mask_dir=args.input_mask_dir, video_list_file=args.video_list_file,
            sam2_checkpoint=args.sam2_checkpoint or None, zip_path=getattr(args, "zip_path", None),
            policy_record_dir=getattr(args, "policy_record_dir", None), score_thresh=args.score_thresh,
        )
    except ValueError as err:
        parser.error(str(err))
