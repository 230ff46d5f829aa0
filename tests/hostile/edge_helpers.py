"""Helpers of the hostile-input tests of the tools' edges: a tiny split, a tree snapshot."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from sam2.data.mose_layout import write_palette_png

REPO = Path(__file__).resolve().parents[2]


def make_split(root: Path, videos: tuple[str, ...] = ("a", "b"), frames: int = 3) -> Path:
    """``root/JPEGImages/<v>/*.jpg`` (16 x 24) and ``root/Annotations/<v>/00000.png`` (one object)."""
    rng = np.random.default_rng(0)
    for video in videos:
        (root / "JPEGImages" / video).mkdir(parents=True, exist_ok=True)
        for t in range(frames):
            Image.fromarray(rng.integers(0, 255, (16, 24, 3), dtype=np.uint8)).save(
                root / "JPEGImages" / video / f"{t:05d}.jpg")
        ids = np.zeros((16, 24), np.uint8)
        ids[4:10, 4:12] = 1
        write_palette_png(root / "Annotations" / video / "00000.png", ids)
    return root


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (links not followed): relative path -> (kind, bytes or target, mtime_ns)."""
    state: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            info = path.lstat()
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                state[rel] = ("link", os.readlink(path), info.st_mtime_ns)
            elif path.is_dir():
                state[rel] = ("dir", None, info.st_mtime_ns)
            elif path.is_file():
                state[rel] = ("file", path.read_bytes(), info.st_mtime_ns)
            else:
                state[rel] = ("other", None, info.st_mtime_ns)
    return state
