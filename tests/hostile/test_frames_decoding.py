"""Frames that Pillow decodes badly or refuses: 16-bit PNGs are scaled (not turned white),
float images are refused, and a decompression bomb is refused naming the file, in every reader."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sam2.data import DataFormatError
from sam2.data.frame_decode import to_rgb8
from sam2.data.mose_layout import read_rgb
from sam2.video.sources.frame_source import FrameReadError, ImageFolderSource

H, W = 16, 24


def _sixteen_bit(folder: Path) -> np.ndarray:
    """A 16-bit grey frame ``00000.png`` in ``folder``; returns its values."""
    folder.mkdir(parents=True, exist_ok=True)
    values = np.linspace(0, 65535, H * W).round().astype(np.uint16).reshape(H, W)
    Image.fromarray(values).save(folder / "00000.png")
    assert Image.open(folder / "00000.png").mode.startswith("I")
    return values


def test_sixteen_bit_frame_is_scaled_to_eight_bits(tmp_path) -> None:
    values = _sixteen_bit(tmp_path / "v")
    rgb = read_rgb(tmp_path / "v" / "00000.png")
    expected = np.round(values / 257.0).astype(np.uint8)
    assert rgb.dtype == np.uint8 and rgb.shape == (H, W, 3)
    np.testing.assert_array_equal(rgb[..., 0], expected)
    assert (rgb == 255).mean() < 0.01  # not white


def test_video_reader_reads_a_sixteen_bit_frame_as_its_eight_bit_equivalent(tmp_path) -> None:
    values = _sixteen_bit(tmp_path / "v16")
    (tmp_path / "v8").mkdir()
    Image.fromarray(np.round(values / 257.0).astype(np.uint8)).convert("RGB").save(tmp_path / "v8" / "00000.png")
    sixteen = ImageFolderSource(tmp_path / "v16", 32, torch.device("cpu")).get(0)
    eight = ImageFolderSource(tmp_path / "v8", 32, torch.device("cpu")).get(0)
    torch.testing.assert_close(sixteen, eight)


def test_float_image_is_refused_naming_the_file(tmp_path) -> None:
    img = Image.fromarray(np.zeros((H, W), np.float32))
    with pytest.raises(DataFormatError, match=r"^frame\.tif: floating-point image \(mode 'F'\)"):
        to_rgb8(img, "frame.tif")


def test_negative_integer_image_is_refused(tmp_path) -> None:
    img = Image.fromarray(np.full((H, W), -5, np.int32))
    with pytest.raises(DataFormatError, match=r"^f\.png: I image with values -5\.\.-5: only 8-bit or 16-bit"):
        to_rgb8(img, "f.png")


@pytest.fixture
def small_bomb_limit(monkeypatch):
    """Pillow's limit lowered so that a tiny frame trips the decompression-bomb refusal."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)


def _frame(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "00000.jpg"
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(path)
    return path


def test_bomb_in_the_video_reader_names_the_file(tmp_path, small_bomb_limit) -> None:
    path = _frame(tmp_path / "v")
    with pytest.raises(FrameReadError) as err:
        ImageFolderSource(tmp_path / "v", 32, torch.device("cpu"))
    assert str(err.value).startswith(f"cannot read frame 0 ({path}): Image size ({H * W} pixels) exceeds limit")
    assert "decompression bomb" in str(err.value)


def test_bomb_in_the_split_reader_names_the_file(tmp_path, small_bomb_limit) -> None:
    path = _frame(tmp_path / "v")
    with pytest.raises(DataFormatError, match=rf"^{path}: unreadable image \(Image size \({H * W} pixels\) exceeds limit"):
        read_rgb(path)


def test_bomb_in_the_demo_reader_names_the_file(tmp_path, small_bomb_limit) -> None:
    from sam2.demo.track import TrackError, iter_video_frames

    path = _frame(tmp_path / "v")
    with pytest.raises(TrackError, match=rf"^{path}: cannot decode this frame \(Image size"):
        list(iter_video_frames(tmp_path / "v"))
