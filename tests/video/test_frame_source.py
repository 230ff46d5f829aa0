"""Lazy frame reading: pre-processing equal to the official loader, bounded cache, errors."""
from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from sam2.video.sources.frame_source import FrameReadError, ImageFolderSource, open_frame_source

S = 32


def _reference_frame(path, size):
    """The official recipe written out independently: PIL resize, /255 in float64, float32."""
    arr = np.array(Image.open(path).convert("RGB").resize((size, size))) / 255.0
    img = torch.zeros(3, size, size, dtype=torch.float32)
    img[:] = torch.from_numpy(arr).permute(2, 0, 1)
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float32)[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float32)[:, None, None]
    img -= mean
    img /= std
    return img


def test_frames_match_reference_preprocessing(tiny_clip):
    folder, _ = tiny_clip
    src = open_frame_source(folder, S, torch.device("cpu"))
    assert (len(src), src.video_width, src.video_height) == (6, 64, 48)
    for i in (0, 3, 5):
        ref = _reference_frame(folder / f"{i:05d}.jpg", S)
        assert torch.equal(src.get(i), ref)


def test_integer_sort_and_bounded_cache(tmp_path, tiny_clip):
    folder, _ = tiny_clip
    vid = tmp_path / "v"
    vid.mkdir()
    # names whose string order differs from their integer order
    for i, name in enumerate(["0", "2", "10"]):
        shutil.copy(folder / f"{i:05d}.jpg", vid / f"{name}.jpg")
    (vid / "notes.txt").write_text("not a frame")
    src = ImageFolderSource(vid, S, torch.device("cpu"), cache_size=2)
    assert [p.stem for p in src.paths] == ["0", "2", "10"]
    for i in range(3):
        src.get(i)
    assert src.cached_indices() == [1, 2]
    with pytest.raises(IndexError, match="frame index 3 is out of range"):
        src.get(3)


def test_prefetch_thread_fills_cache(tiny_clip):
    folder, _ = tiny_clip
    src = ImageFolderSource(folder, S, torch.device("cpu"), cache_size=4, prefetch=True)
    # event-driven: note which thread caches each frame, and wake up when both are in
    filled, cached_by = threading.Event(), {}
    remember = src._remember

    def recording_remember(index, frame):
        remember(index, frame)
        cached_by[index] = threading.current_thread().name
        if {1, 2} <= set(cached_by):
            filled.set()

    src._remember = recording_remember
    try:
        src.prefetch([1, 2])
        assert filled.wait(timeout=120), "the prefetch thread never cached frames 1 and 2"
        assert cached_by == {1: "sam2-frame-prefetch", 2: "sam2-frame-prefetch"}
        assert {1, 2} <= set(src.cached_indices())
        assert torch.equal(src.get(2), _reference_frame(folder / "00002.jpg", S))
    finally:
        src.close()


def test_empty_folder_error(tmp_path):
    with pytest.raises(FrameReadError, match="no JPEG frames"):
        open_frame_source(tmp_path, S, torch.device("cpu"))


def test_missing_path_error(tmp_path):
    with pytest.raises(FrameReadError, match="does not exist"):
        open_frame_source(tmp_path / "nope", S, torch.device("cpu"))


def test_truncated_jpeg_names_the_frame(tmp_path, tiny_clip):
    folder, _ = tiny_clip
    vid = tmp_path / "v"
    shutil.copytree(folder, vid)
    data = (vid / "00004.jpg").read_bytes()
    (vid / "00004.jpg").write_bytes(data[: len(data) // 2])
    src = open_frame_source(vid, S, torch.device("cpu"))
    src.get(3)
    with pytest.raises(FrameReadError, match=r"frame 4 .*00004\.jpg"):
        src.get(4)


def test_unreadable_jpeg_names_the_frame(tmp_path, tiny_clip):
    folder, _ = tiny_clip
    vid = tmp_path / "v"
    shutil.copytree(folder, vid)
    (vid / "00002.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(FrameReadError, match=r"frame 2 .*00002\.jpg"):
        open_frame_source(vid, S, torch.device("cpu"))


def test_frames_of_different_sizes(tmp_path, tiny_clip):
    folder, _ = tiny_clip
    vid = tmp_path / "v"
    shutil.copytree(folder, vid)
    Image.open(vid / "00003.jpg").resize((40, 30)).save(vid / "00003.jpg")
    with pytest.raises(FrameReadError, match=r"frame 3 .* is 40x30 but frame 0 .* is 64x48"):
        open_frame_source(vid, S, torch.device("cpu"))


def test_non_integer_name(tmp_path, tiny_clip):
    folder, _ = tiny_clip
    vid = tmp_path / "v"
    vid.mkdir()
    shutil.copy(folder / "00000.jpg", vid / "first.jpg")
    with pytest.raises(FrameReadError, match="integer name"):
        open_frame_source(vid, S, torch.device("cpu"))


def test_video_file_without_av_gives_install_hint(tmp_path):
    try:
        import av  # noqa: F401
        has_av = True
    except ImportError:
        has_av = False
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\x00" * 16)
    if has_av:
        with pytest.raises(FrameReadError):
            open_frame_source(path, S, torch.device("cpu"))
    else:
        with pytest.raises(FrameReadError, match="pip install av"):
            open_frame_source(path, S, torch.device("cpu"))
