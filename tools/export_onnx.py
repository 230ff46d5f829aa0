#!/usr/bin/env python
"""Export a SAM 2.1 video predictor to the four ONNX graphs a torch-free tracker runs.

    python tools/export_onnx.py --config configs/sam2.1/sam2.1_hiera_t.yaml \\
        --checkpoint checkpoints/sam2.1_hiera_tiny.pt --output onnx/sam2.1_t
    python tools/export_onnx.py --model facebook/sam2.1-hiera-tiny --output onnx/sam2.1_t
    python tools/export_onnx.py --output onnx/demo          # the shipped demo model

Writes ``image_encoder.onnx``, ``prompt_decoder.onnx``, ``track_step.onnx`` and
``memory_encoder.onnx`` into ``--output`` (each checked with ``onnx.checker``; the model's
settings, input/output names and shapes are in their metadata). Run them with
``sam2.onnx.OnnxVideoTracker(DIR)`` or ``tools/vos_inference.py --backend onnx --onnx_dir DIR``;
see docs/onnx.md. Needs ``pip install "sam2-rcms[onnx]"``.

Exit codes: 0 written; 1 the model cannot be exported (the message names the part), graph
files exist (``--overwrite`` replaces graphs an export wrote, never other files) or the model
cannot be loaded; 2 bad arguments (missing file or extra, an output that holds an input);
130 interrupted.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from sam2.demo.assets import DEFAULT_CHECKPOINT_HELP, DEMO_CONFIG
from sam2.utils import cli

logger = logging.getLogger("export_onnx")

EXTRA_HINT = 'exporting needs the onnx extra: pip install "sam2-rcms[onnx]"'


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_model_flags(p, config_default=DEMO_CONFIG, checkpoint_default=DEFAULT_CHECKPOINT_HELP)
    cli.add_output_flag(p, required=True, what="folder to write the four graphs into")
    p.add_argument("--overwrite", action="store_true", help="replace graphs an earlier export wrote in --output")
    p.add_argument("--attention", choices=("standard", "fused"), default="standard",
                   help="attention as standard ONNX operators (any runtime; default) or as ONNX Runtime's "
                        "fused com.microsoft.MultiHeadAttention (same numbers, ONNX Runtime only)")
    p.add_argument("--int8", action="store_true",
                   help="also give the image encoder int8 weights (ONNX Runtime dynamic quantisation; "
                        "faster, slightly different masks: see docs/onnx.md); the other graphs stay float32")
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
    try:
        import onnx  # noqa: F401
        if args.int8:
            import onnxruntime.quantization  # noqa: F401
    except ImportError:
        raise cli.ToolError(EXTRA_HINT, cli.EXIT_USAGE) from None
    if args.num_prev_frames_to_promote is not None and args.num_prev_frames_to_promote < 0:
        parser.error("--num_prev_frames_to_promote must be >= 0")

    from sam2.build_sam import build_sam2_video_predictor
    from sam2.demo.assets import choose_model
    from sam2.onnx_export import UnsupportedModelError, export_tracker
    from sam2.utils.safe_paths import UnsafePathError, check_output_folder, check_outputs_apart

    try:
        choice = choose_model(args.model, args.config, args.checkpoint)
    except (ValueError, FileNotFoundError) as err:
        raise cli.ToolError(str(err), cli.EXIT_USAGE) from None
    except (OSError, ImportError, RuntimeError) as err:
        raise cli.ToolError(str(err)) from None
    try:
        check_output_folder(args.output, "--output")
        config_file = choice.config if Path(choice.config).is_file() else None
        check_outputs_apart({"--output": args.output}, {"--checkpoint": choice.checkpoint, "--config": config_file})
    except UnsafePathError as exc:
        raise cli.ToolError(str(exc), cli.EXIT_USAGE) from None

    kwargs = {k: getattr(args, k) for k in ("memory_dtype", "num_prev_frames_to_promote", "low_quality_threshold")
              if getattr(args, k) is not None}
    predictor = build_sam2_video_predictor(choice.config, str(choice.checkpoint), device="cpu",
                                           apply_postprocessing=not args.no_postprocessing, **kwargs)
    start = time.perf_counter()
    try:
        paths = export_tracker(predictor, args.output, config_name=choice.config, overwrite=args.overwrite,
                               attention=args.attention)
        if args.int8:
            from sam2.onnx_export import quantize_graphs

            quantized = quantize_graphs(args.output)
            logger.info("int8 weights: %s", ", ".join(f"{g} ({n} products)" for g, n in quantized.items()))
    except (UnsupportedModelError, FileExistsError) as exc:
        raise cli.ToolError(str(exc)) from None
    total = sum(p.stat().st_size for p in paths.values())
    print(f"wrote {len(paths)} graphs ({total / 1e6:.1f} MB) to {args.output} in "
          f"{time.perf_counter() - start:.1f} s", flush=True)
    return cli.EXIT_OK


if __name__ == "__main__":
    sys.exit(cli.run_main(main))
