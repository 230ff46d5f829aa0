#!/usr/bin/env python
"""Deterministic tiny synthetic clip for the video-predictor tests and their goldens.

Imports only numpy and Pillow, so it runs under the project's python (tests regenerate the
clip in a temporary folder) and under the oracle python (golden generation) with identical
JPEG bytes (both environments use the same Pillow build).

Objects: 1 = a striped disk moving right; 2 = a checkered square that leaves the frame on
the right in the middle of the clip (absent on a couple of frames) and comes back.

    python video_clip.py --out DIR [--frames 6 --width 320 --height 240 --seed 0]

writes ``DIR/JPEGImages/00000.jpg ...`` and ``DIR/masks.npz`` (``obj1``, ``obj2``:
``[T, H, W]`` bool ground truth).
"""
from __future__ import annotations

import argparse
import os
from typing import Dict, Tuple

import numpy as np
from PIL import Image


def _scene(t: int, frames: int, h: int, w: int, rng: np.random.RandomState,
           base: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w]
    phase = t / max(frames - 1, 1)
    # disk: left to right
    dx, dy, dr = 0.25 * w + 0.5 * w * phase, 0.62 * h, 0.17 * min(h, w)
    disk = (xx - dx) ** 2 + (yy - dy) ** 2 <= dr * dr
    # square: out through the right border around the middle of the clip, then back
    sx, sy, half = 0.5 * w + 0.75 * w * np.sin(np.pi * phase), 0.28 * h, 0.11 * min(h, w)
    square = (np.abs(xx - sx) <= half) & (np.abs(yy - sy) <= half)
    img = base.copy()
    stripes = ((xx + yy) // 7) % 2 == 1
    checker = ((xx // 9) + (yy // 9)) % 2 == 1
    img[disk & stripes] = (235, 205, 45)
    img[disk & ~stripes] = (35, 65, 205)
    img[square & checker] = (250, 250, 250)
    img[square & ~checker] = (205, 35, 35)
    disk = disk & ~square  # the square is drawn on top
    noisy = np.clip(img + rng.normal(0.0, 3.0, size=img.shape), 0, 255).astype(np.uint8)
    return noisy, disk, square


def make_clip(out_dir: str, frames: int = 6, width: int = 320, height: int = 240,
              seed: int = 0, quality: int = 95) -> Dict[str, np.ndarray]:
    """Write the clip under ``out_dir`` and return ``{"obj1": [T,H,W], "obj2": [T,H,W]}``."""
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([100 + 45 * np.sin(xx / 21.0), 120 + 40 * np.cos((xx + yy) / 33.0),
                     125 + 40 * np.sin(yy / 15.0)], axis=-1)
    base = np.clip(base + rng.normal(0.0, 10.0, size=base.shape), 0, 255)
    jpeg_dir = os.path.join(out_dir, "JPEGImages")
    os.makedirs(jpeg_dir, exist_ok=True)
    obj1, obj2 = [], []
    for t in range(frames):
        img, disk, square = _scene(t, frames, height, width, rng, base)
        Image.fromarray(img).save(os.path.join(jpeg_dir, f"{t:05d}.jpg"), quality=quality)
        obj1.append(disk)
        obj2.append(square)
    masks = {"obj1": np.stack(obj1), "obj2": np.stack(obj2)}
    np.savez_compressed(os.path.join(out_dir, "masks.npz"), **masks)
    return masks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    masks = make_clip(args.out, args.frames, args.width, args.height, args.seed)
    vis = [(int(masks["obj1"][t].any()), int(masks["obj2"][t].any())) for t in range(args.frames)]
    print(f"wrote {args.frames} frames to {args.out}; visibility (obj1, obj2): {vis}")


if __name__ == "__main__":
    main()
