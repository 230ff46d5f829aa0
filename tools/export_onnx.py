#!/usr/bin/env python
"""Export a SAM 2.1 video predictor to the four ONNX graphs a torch-free tracker runs.

    python tools/export_onnx.py --config configs/sam2.1/sam2.1_hiera_t.yaml \\
        --checkpoint checkpoints/sam2.1_hiera_tiny.pt --out onnx/sam2.1_t

Writes ``image_encoder.onnx``, ``prompt_decoder.onnx``, ``track_step.onnx`` and
``memory_encoder.onnx`` into ``--out`` (each checked with ``onnx.checker``; the model's settings,
input/output names and shapes are in their metadata). Run them with
``sam2.onnx.OnnxVideoTracker(out)`` or ``tools/vos_inference.py --backend onnx --onnx_dir out``;
see docs/onnx.md. Needs ``pip install "sam2-rcms[onnx]"``.

Exit codes: 0 written; 1 the model cannot be exported (the message names the part) or the
files exist (use --overwrite); 2 usage error (missing file, missing extra).
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

logger = logging.getLogger("export_onnx")

EXTRA_HINT = 'exporting needs the onnx extra: pip install "sam2-rcms[onnx]"'


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="model config (name or path), e.g. configs/sam2.1/sam2.1_hiera_t.yaml")
    p.add_argument("--checkpoint", required=True, help="checkpoint file of that model")
    p.add_argument("--out", required=True, help="folder to write the four graphs into")
    p.add_argument("--overwrite", action="store_true", help="replace graph files already in --out")
    p.add_argument("--memory_dtype", choices=("bfloat16", "float32"), default=None,
                   help="how the tracker stores memories by default (default: the config's)")
    p.add_argument("--no_postprocessing", action="store_true",
                   help="record SAM 2's post-processing as off (the tracker can switch it at run time)")
    p.add_argument("--num_prev_frames_to_promote", type=int, default=None,
                   help="RCMS N recorded as the tracker's default (default: the config's)")
    p.add_argument("--low_quality_threshold", type=float, default=None,
                   help="RCMS tau recorded as the tracker's default (default: the config's)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not Path(args.checkpoint).is_file():
        parser.error(f"--checkpoint: file not found: {args.checkpoint}")
    try:
        import onnx  # noqa: F401
    except ImportError:
        parser.exit(2, f"{parser.prog}: error: {EXTRA_HINT}\n")

    from sam2.build_sam import build_sam2_video_predictor
    from sam2.onnx_export import UnsupportedModelError, export_tracker
    from sam2.utils.safe_paths import UnsafePathError, check_output_folder, check_outputs_apart

    try:
        check_output_folder(args.out, "--out")
        config_file = args.config if Path(args.config).is_file() else None
        check_outputs_apart({"--out": args.out}, {"--checkpoint": args.checkpoint, "--config": config_file})
    except UnsafePathError as exc:
        parser.error(str(exc))

    kwargs = {k: getattr(args, k) for k in ("memory_dtype", "num_prev_frames_to_promote", "low_quality_threshold")
              if getattr(args, k) is not None}
    predictor = build_sam2_video_predictor(args.config, args.checkpoint, device="cpu",
                                           apply_postprocessing=not args.no_postprocessing, **kwargs)
    start = time.perf_counter()
    try:
        paths = export_tracker(predictor, args.out, config_name=args.config, overwrite=args.overwrite)
    except (UnsupportedModelError, FileExistsError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    total = sum(p.stat().st_size for p in paths.values())
    print(f"wrote {len(paths)} graphs ({total / 1e6:.1f} MB) to {args.out} in {time.perf_counter() - start:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
