#!/usr/bin/env python
"""SAM2ImagePredictor with the shipped demo model: a click and a box on a synthetic picture.

    python examples/image_predictor.py [--seed 3] [--output demo_output/examples]
    python examples/image_predictor.py --model facebook/sam2.1-hiera-tiny   # an official model (hub extra)

Writes ``image_predictor.png``: the picture with its ground truth, the mask from one click, and
the mask from a box, and prints the IoU of each with the ground truth.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import ImageDraw, Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_common_flags, chosen_model, output_dir, inner_point, mark_points, save_row, synthetic_clip  # noqa: E402

from sam2.utils import cli  # noqa: E402
from sam2.build_sam import build_sam2  # noqa: E402
from sam2.data.palette import overlay_ids  # noqa: E402
from sam2.sam2_image_predictor import SAM2ImagePredictor  # noqa: E402


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=3)
    add_common_flags(p)
    args = p.parse_args(argv)

    config, checkpoint, device = chosen_model(args)
    predictor = SAM2ImagePredictor(build_sam2(config, checkpoint, device=device))
    frames, annotations = synthetic_clip(args.seed, num_frames=1)
    image, gt_ids = frames[0], annotations[0]
    target = gt_ids == 1

    predictor.set_image(image)
    click = inner_point(target)
    masks, scores, _ = predictor.predict(point_coords=np.array([click]), point_labels=np.array([1]), multimask_output=True)
    from_click = masks[int(np.argmax(scores))]
    ys, xs = np.nonzero(target)
    box = np.array([xs.min(), ys.min(), xs.max(), ys.max()])
    masks, _, _ = predictor.predict(box=box, multimask_output=False)
    from_box = masks[0]

    boxed = Image.fromarray(overlay_ids(image, from_box.astype(np.int64)))
    ImageDraw.Draw(boxed).rectangle(box.tolist(), outline=(0, 255, 0))
    path = save_row(
        [overlay_ids(image, gt_ids.astype(np.int64)),
         mark_points(overlay_ids(image, from_click.astype(np.int64)), [click]),
         np.asarray(boxed)],
        ["ground truth", "one click", "box"],
        output_dir(args) / "image_predictor.png",
    )
    print(f"object 1: IoU {iou(from_click, target):.3f} from one click, {iou(from_box, target):.3f} from its box")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_main(main))
