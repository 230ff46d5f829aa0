"""Entry point for the torchrun test: ``run_inference`` with the fake predictor on SPLIT into OUT.

Usage: ``python -m torch.distributed.run --nproc_per_node 2 inference_torchrun_entry.py SPLIT OUT``.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inference_fakes import make_fake_predictor  # noqa: E402

from sam2.inference.app import run_inference  # noqa: E402
from sam2.inference.options import InferenceOptions  # noqa: E402


def main() -> int:
    split, out = Path(sys.argv[1]), Path(sys.argv[2])
    options = InferenceOptions(
        sam2_cfg="unused", sam2_checkpoint=None, output_mask_dir=out, base_video_dir=split / "JPEGImages",
        input_mask_dir=split / "Annotations", show_progress=False, num_gpus=0,
        track_object_appearing_later_in_video=True,
    )
    summary = run_inference(options, make_fake_predictor)
    if summary.primary:
        print(summary.final_line())
        print("ranks:", ",".join(f"{r.name}={r.rank}" for r in summary.results))
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
