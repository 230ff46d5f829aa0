"""Tiny hand-made splits in the MOSEv2 layout for the inference tests."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from sam2.data.mose_layout import write_palette_png

CUSTOM_PALETTE = np.stack([np.arange(256)[::-1], np.arange(256), (np.arange(256) * 7) % 256], axis=1).astype(np.uint8)
"""A palette that is not the VOC one, to check the output copies the input annotation's palette."""


def box_masks(num_frames: int, height: int, width: int, boxes: dict[int, tuple[int, int, int, int, int]]) -> np.ndarray:
    """``[T, H, W]`` uint8 ids; ``boxes[obj_id] = (first_frame, y0, y1, x0, x1)``, moving right 1 px / frame."""
    ann = np.zeros((num_frames, height, width), dtype=np.uint8)
    for obj_id, (first, y0, y1, x0, x1) in sorted(boxes.items(), reverse=True):
        for t in range(first, num_frames):
            shift = t - first
            ann[t, y0:y1, x0 + shift : x1 + shift] = obj_id
    return ann


def write_video(
    root: Path, name: str, annotations: np.ndarray, annotated: Sequence[int], seed: int = 0,
    palette: np.ndarray = CUSTOM_PALETTE,
) -> None:
    """Write ``root/JPEGImages/name/*.jpg`` (random texture) and the PNGs of the ``annotated`` frames."""
    rng = np.random.default_rng(seed)
    num_frames, height, width = annotations.shape
    (root / "JPEGImages" / name).mkdir(parents=True, exist_ok=True)
    for t in range(num_frames):
        frame = rng.integers(0, 255, size=(height, width, 3), dtype=np.uint8)
        frame[annotations[t] > 0] = 230
        Image.fromarray(frame).save(root / "JPEGImages" / name / f"{t:05d}.jpg", quality=95)
    for t in annotated:
        write_palette_png(root / "Annotations" / name / f"{t:05d}.png", annotations[t], palette)


def make_small_split(root: Path) -> Path:
    """Three videos: ``a`` (7 frames, ids 1 and 3), ``b`` (5 frames, id 2), ``late`` (6 frames, id 2
    appears on frame 3; every frame annotated). Frame size 24 x 32."""
    write_video(root, "a", box_masks(7, 24, 32, {1: (0, 2, 10, 2, 10), 3: (0, 12, 20, 6, 16)}), [0], seed=1)
    write_video(root, "b", box_masks(5, 24, 32, {2: (0, 4, 14, 4, 12)}), [0], seed=2)
    write_video(root, "late", box_masks(6, 24, 32, {1: (0, 2, 9, 1, 9), 2: (3, 12, 20, 2, 12)}), range(6), seed=3)
    return root


def corrupt_jpeg(path: Path) -> None:
    """Overwrite a JPEG with bytes no decoder accepts."""
    path.write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg" + bytes(64))


def read_tree(root: Path) -> dict[str, bytes]:
    """All files under ``root`` (relative posix path -> content), hidden entries included."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
