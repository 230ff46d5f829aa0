"""Small seeded models and a tiny clip for the prompt tests of this folder (built once per module)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

INSTANT = "configs/sam2.1/sam2.1_hiera_instant.yaml"
WIDTH, HEIGHT, FRAMES = 40, 30, 3


def tiny_image_predictor():
    from sam2.build_sam import build_sam2
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    torch.manual_seed(0)
    predictor = SAM2ImagePredictor(build_sam2(INSTANT, None, device="cpu"))
    predictor.set_image(np.random.default_rng(0).integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8))
    return predictor


def tiny_video_predictor():
    from sam2.build_sam import build_sam2_video_predictor

    torch.manual_seed(0)
    return build_sam2_video_predictor(INSTANT, None, device="cpu")


def write_clip(folder: Path) -> Path:
    """``FRAMES`` noise JPEG frames of ``WIDTH`` x ``HEIGHT`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for i in range(FRAMES):
        Image.fromarray(rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)).save(folder / f"{i:05d}.jpg")
    return folder
