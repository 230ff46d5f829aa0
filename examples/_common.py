"""Helpers shared by the example scripts: the shipped model's location, a synthetic test scene,
and saving pictures. (Not part of the package: the examples import it from this folder.)"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from sam2.data import SyntheticConfig, generate_video
from sam2.demo.assets import DEFAULT_CHECKPOINT_HELP, DEMO_CONFIG, choose_tool_model
from sam2.utils import cli

DEFAULT_OUT = Path("demo_output") / "examples"


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    """The tools' flags every example takes: ``--config/--checkpoint/--model``, ``--output``, ``--device``."""
    cli.add_model_flags(parser, config_default=DEMO_CONFIG, checkpoint_default=DEFAULT_CHECKPOINT_HELP)
    cli.add_output_flag(parser, default=str(DEFAULT_OUT))
    cli.add_device_flag(parser)


def chosen_model(args: argparse.Namespace) -> tuple[str, Path, str]:
    """``(config name, checkpoint path, device)`` of the flags: the embedded demo model unless
    ``--config/--checkpoint`` or ``--model`` (an official Hugging Face id) name another."""
    choice = choose_tool_model(args.model, args.config, args.checkpoint)
    return choice.config, choice.checkpoint, cli.resolve_device(args.device)


def output_dir(args: argparse.Namespace) -> Path:
    """The ``--output`` folder (default :data:`DEFAULT_OUT`)."""
    return args.output if args.output is not None else DEFAULT_OUT


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
