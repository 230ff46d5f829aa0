"""Outputs get the mode the user's umask gives any new file (not mkstemp's private 0600)."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from sam2.data.mose_layout import write_palette_png
from sam2.utils.atomic_files import atomic_write_bytes
from sam2.utils.atomic_files import atomic_output, current_umask
from training.utils.checkpoint_utils import atomic_torch_save


@pytest.fixture(params=[0o022, 0o027, 0o002])
def umask(request):
    before = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(before)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_umask_is_read_without_changing_it(umask):
    assert current_umask() == umask
    assert current_umask() == umask


def test_atomic_output_file_follows_the_umask(tmp_path, umask):
    with atomic_output(tmp_path / "table.txt") as tmp, open(tmp, "w") as handle:
        handle.write("x")
    assert _mode(tmp_path / "table.txt") == 0o666 & ~umask


def test_mask_png_follows_the_umask(tmp_path, umask):
    write_palette_png(tmp_path / "v" / "00000.png", np.zeros((4, 4), np.uint8))
    assert _mode(tmp_path / "v" / "00000.png") == 0o666 & ~umask


def test_metrics_bytes_follow_the_umask(tmp_path, umask):
    atomic_write_bytes(tmp_path / "metrics.json", b"{}")
    assert _mode(tmp_path / "metrics.json") == 0o666 & ~umask


def test_training_checkpoint_follows_the_umask(tmp_path, umask):
    atomic_torch_save({"model": {"w": torch.zeros(1)}}, str(tmp_path / "checkpoint.pt"))
    assert _mode(tmp_path / "checkpoint.pt") == 0o666 & ~umask


def test_synthetic_split_folder_and_files_follow_the_umask(tmp_path, umask):
    from sam2.data.synthetic import SyntheticConfig, write_synthetic_split

    root = write_synthetic_split(tmp_path / "s", SyntheticConfig(num_videos=1, num_frames=2, height=24, width=32))
    assert _mode(root) == 0o777 & ~umask  # the staging folder came from mkdtemp (0700)
    assert _mode(root / "meta.json") == 0o666 & ~umask
    assert _mode(root / "JPEGImages" / "synth0000" / "00000.jpg") == 0o666 & ~umask


def test_overlay_video_follows_the_umask(tmp_path, umask):
    from PIL import Image

    from sam2.demo.overlay_video import OverlayVideo

    writer = OverlayVideo(tmp_path / "overlay.gif", "gif", 8.0)
    writer.add(Image.new("RGB", (8, 6), (10, 20, 30)))
    writer.finish()
    assert _mode(tmp_path / "overlay.gif") == 0o666 & ~umask
