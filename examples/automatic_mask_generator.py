#!/usr/bin/env python
"""SAM2AutomaticMaskGenerator with the shipped demo model: segment everything in a synthetic picture.

    python examples/automatic_mask_generator.py [--seed 3] [--points-per-side 16]
    python examples/automatic_mask_generator.py --model facebook/sam2.1-hiera-tiny   # an official model (hub extra)

Writes ``automatic_mask_generator.png`` (the picture, and every mask in its own colour, largest
first) and prints the masks found with their predicted IoU and stability score.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_common_flags, chosen_model, output_dir, save_row, synthetic_clip  # noqa: E402

from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator  # noqa: E402
from sam2.utils import cli  # noqa: E402
from sam2.build_sam import build_sam2  # noqa: E402
from sam2.data.palette import overlay_ids  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--points-per-side", type=int, default=16)
    p.add_argument("--pred-iou-thresh", type=float, default=0.6, help="the small model's IoU head is modest")
    p.add_argument("--stability-score-thresh", type=float, default=0.85)
    add_common_flags(p)
    args = p.parse_args(argv)

    config, checkpoint, device = chosen_model(args)
    generator = SAM2AutomaticMaskGenerator(
        build_sam2(config, checkpoint, device=device),
        points_per_side=args.points_per_side,
        pred_iou_thresh=args.pred_iou_thresh,
        stability_score_thresh=args.stability_score_thresh,
    )
    frames, annotations = synthetic_clip(args.seed, num_frames=1)
    image = frames[0]
    found = sorted(generator.generate(image), key=lambda m: m["area"], reverse=True)

    labels = np.zeros(image.shape[:2], np.int64)
    for k, entry in enumerate(found, start=1):  # smaller masks are painted over larger ones
        labels[entry["segmentation"]] = k
    path = save_row(
        [overlay_ids(image, annotations[0].astype(np.int64)), overlay_ids(image, labels % 255)],
        ["ground truth", f"{len(found)} automatic masks"],
        output_dir(args) / "automatic_mask_generator.png",
    )
    for k, entry in enumerate(found[:10], start=1):
        print(f"mask {k}: area {entry['area']}, bbox {[round(v) for v in entry['bbox']]}, "
              f"predicted IoU {entry['predicted_iou']:.2f}, stability {entry['stability_score']:.2f}")
    print(f"{len(found)} masks; wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_main(main))
