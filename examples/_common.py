"""Helpers shared by the example scripts: the shipped model's location, a synthetic test scene,
and saving pictures. (Not part of the package: the examples import it from this folder.)"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from sam2.data import SyntheticConfig, generate_video
from sam2.demo import DEMO_CONFIG, require_demo_checkpoint

DEFAULT_OUT = Path("demo_output") / "examples"


def device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def shipped_model(checkpoint: Path | None = None) -> tuple[str, Path]:
    """``(config name, checkpoint path)``: the model shipped inside the package unless ``checkpoint``
    (a checkpoint of the same architecture) is given."""
    return DEMO_CONFIG, (Path(checkpoint) if checkpoint is not None else require_demo_checkpoint())


def synthetic_clip(seed: int, num_frames: int = 24, index: int = 0):
    """A held-out synthetic video (``frames [T, H, W, 3]`` uint8, ``annotations [T, H, W]`` ids).

    The demo model was trained on seed 1000; any other seed gives scenes it never saw.
    """
    config = SyntheticConfig(num_videos=index + 1, num_frames=num_frames, height=180, width=240, seed=seed)
    video = generate_video(config, index)
    return video.frames, video.annotations


def inner_point(mask: np.ndarray) -> tuple[int, int]:
    """An ``(x, y)`` pixel of ``mask`` far from its border (a natural place to click)."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        raise ValueError("empty mask: nothing to click on")
    cy, cx = ys.mean(), xs.mean()
    k = int(np.argmin((ys - cy) ** 2 + (xs - cx) ** 2))
    return int(xs[k]), int(ys[k])


def save_row(pictures: list[np.ndarray], titles: list[str], path: Path) -> Path:
    """Save pictures side by side with a title above each."""
    h = max(p.shape[0] for p in pictures)
    w = sum(p.shape[1] for p in pictures) + 4 * (len(pictures) - 1)
    canvas = Image.new("RGB", (w, h + 14), (24, 24, 24))
    draw = ImageDraw.Draw(canvas)
    x = 0
    for picture, title in zip(pictures, titles):
        canvas.paste(Image.fromarray(picture), (x, 14))
        draw.text((x + 2, 1), title, fill=(235, 235, 235))
        x += picture.shape[1] + 4
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path


def mark_points(picture: np.ndarray, points: list[tuple[int, int]], color=(0, 255, 0)) -> np.ndarray:
    """Draw small crosses at ``(x, y)`` points."""
    image = Image.fromarray(picture)
    draw = ImageDraw.Draw(image)
    for x, y in points:
        draw.line([(x - 4, y), (x + 4, y)], fill=color, width=2)
        draw.line([(x, y - 4), (x, y + 4)], fill=color, width=2)
    return np.asarray(image)
