"""Live frame sources: order, corrupt frames, size changes, source strings, PyAV."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sam2.video.sources.live_sources import (
    AVSource, CorruptFrameError, FrameSizeError, LiveFolderSource, IteratorSource,
    LiveSourceError, MissingExtraError, as_rgb_uint8, camera_target, open_live_source,
    parse_source_spec,
)
from stream_media import corrupt_mjpeg_frame, moving_square_frames, write_video


def _save(folder: Path, name: str, value: int, size=(8, 6)) -> None:
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(folder / name)


def _values(frames):
    return [int(f.image[0, 0, 0]) for f in frames]


# ---------------------------------------------------------------------------------------
# folders
# ---------------------------------------------------------------------------------------
def test_folder_order_integer_then_natural(tmp_path):
    for name, v in [("10.png", 10), ("2.png", 2), ("1.jpg", 1), (".hidden.png", 99)]:
        _save(tmp_path, name, v)
    (tmp_path / "notes.txt").write_text("not an image")
    frames = list(LiveFolderSource(tmp_path))
    assert _values(frames) == [1, 2, 10]
    assert [f.index for f in frames] == [0, 1, 2]
    assert [f.name for f in frames] == ["1", "2", "10"]
    assert frames[0].image.shape == (6, 8, 3) and frames[0].image.dtype == np.uint8

    natural = tmp_path / "nat"
    natural.mkdir()
    for name, v in [("cam_frame10.png", 10), ("cam_frame9.png", 9), ("cam_frame100.png", 100)]:
        _save(natural, name, v)
    assert _values(LiveFolderSource(natural)) == [9, 10, 100]


def test_folder_follows_the_frame_lister_rules(tmp_path):
    """The live folder lists frames with sam2.data.frame_files: links out of the folder and two
    files at the same position are refused, naming the files."""
    outside = tmp_path / "outside"
    outside.mkdir()
    _save(outside, "secret.png", 7)
    linked = tmp_path / "linked"
    linked.mkdir()
    _save(linked, "0.png", 0)
    (linked / "1.png").symlink_to(outside / "secret.png")
    with pytest.raises(LiveSourceError, match="1.png.*outside its folder"):
        LiveFolderSource(linked)
    twice = tmp_path / "twice"
    twice.mkdir()
    _save(twice, "1.png", 1)
    _save(twice, "001.jpg", 1)
    with pytest.raises(LiveSourceError, match="001.jpg and 1.png"):
        LiveFolderSource(twice)


def test_folder_corrupt_frame_skipped_or_error(tmp_path, caplog):
    _save(tmp_path, "0.png", 0)
    (tmp_path / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    _save(tmp_path, "2.png", 2)
    source = LiveFolderSource(tmp_path, on_corrupt="skip")
    with caplog.at_level("WARNING"):
        frames = list(source)
    assert [f.index for f in frames] == [0, 2]  # the skipped frame leaves a gap
    assert [s.index for s in source.skipped] == [1]
    assert "1.png" in source.skipped[0].where
    assert any("frame 1" in r.getMessage() and "1.png" in r.getMessage() for r in caplog.records)

    with pytest.raises(CorruptFrameError, match=r"frame 1 \(.*1\.png\)"):
        list(LiveFolderSource(tmp_path, on_corrupt="error"))


def test_folder_size_change_names_both_frames(tmp_path):
    _save(tmp_path, "0.png", 0, size=(8, 6))
    _save(tmp_path, "1.png", 1, size=(8, 6))
    _save(tmp_path, "2.png", 2, size=(10, 6))
    it = iter(LiveFolderSource(tmp_path))
    next(it), next(it)
    expected = r"frame 2 \(.*2\.png\) is 10x6 .*first frame, frame 0 \(.*0\.png\), is 8x6"
    with pytest.raises(FrameSizeError, match=expected):
        next(it)


def test_folder_errors(tmp_path):
    with pytest.raises(LiveSourceError, match="does not exist"):
        LiveFolderSource(tmp_path / "missing")
    with pytest.raises(LiveSourceError, match="no images"):
        LiveFolderSource(tmp_path)
    with pytest.raises(ValueError, match="on_corrupt"):
        IteratorSource([], on_corrupt="ignore")


def test_folder_follow_reads_new_images_once_complete(tmp_path):
    """Polling with a scripted sleep: a file whose size still changes waits one more poll."""
    _save(tmp_path, "0.png", 0)
    now = [0.0]
    script = []

    def fake_sleep(seconds):
        now[0] += seconds
        step = len(script)
        script.append(step)
        if step == 0:
            _save(tmp_path, "1.png", 1)
            (tmp_path / "2.png").write_bytes(b"\x89PNG partial")  # being written
        elif step == 1:
            pass  # 1.png stable now; 2.png grows below
        if step == 1:
            _save(tmp_path, "2.png", 2)

    source = LiveFolderSource(tmp_path, follow=True, poll_interval=1.0, idle_timeout=3.0,
                               sleep=fake_sleep, clock=lambda: now[0])
    frames = list(source)
    assert _values(frames) == [0, 1, 2]
    assert source.skipped == []  # the half-written 2.png was never read
    assert now[0] >= 3.0  # stopped by the idle timeout, on the scripted clock


# ---------------------------------------------------------------------------------------
# iterables and conversions
# ---------------------------------------------------------------------------------------
def test_iterator_accepts_arrays_pil_and_tensors():
    rgb = np.random.RandomState(0).randint(0, 256, size=(6, 8, 3), dtype=np.uint8)
    items = [
        rgb,
        Image.fromarray(rgb),
        torch.from_numpy(rgb).permute(2, 0, 1).contiguous(),          # CHW uint8
        torch.from_numpy(rgb.astype(np.float32) / 255.0).permute(2, 0, 1),  # CHW float
        torch.from_numpy(rgb),                                       # HWC uint8
        np.concatenate([rgb, np.full((6, 8, 1), 7, np.uint8)], -1),  # RGBA
    ]
    frames = list(IteratorSource(items))
    assert len(frames) == len(items)
    for f in frames:
        np.testing.assert_array_equal(f.image, rgb)
    grey = as_rgb_uint8(np.arange(48, dtype=np.uint8).reshape(6, 8), "g")
    assert grey.shape == (6, 8, 3) and (grey[..., 0] == grey[..., 2]).all()


@pytest.mark.parametrize("bad, message", [
    ("not an image", "expected an image"),
    (np.zeros((6, 8, 5), np.uint8), "shape"),
    (np.full((6, 8, 3), 2.0, np.float32), r"\[0, 1\]"),
    (np.full((6, 8, 3), np.nan, np.float32), "NaN"),
    (np.zeros((6, 8, 3), np.int64), "dtype"),
])
def test_iterator_corrupt_items(bad, message):
    good = np.zeros((6, 8, 3), np.uint8)
    source = IteratorSource([good, bad, good], on_corrupt="skip")
    assert [f.index for f in source] == [0, 2]
    assert source.skipped[0].index == 1 and "frame 1" in source.skipped[0].where
    with pytest.raises(CorruptFrameError, match=rf"frame 1 of the frame iterator: .*{message}"):
        list(IteratorSource([good, bad, good], on_corrupt="error"))


def test_iterator_size_change():
    items = [np.zeros((6, 8, 3), np.uint8), np.zeros((8, 6, 3), np.uint8)]
    with pytest.raises(FrameSizeError, match=r"frame 1 of the frame iterator is 6x8 but the first"):
        list(IteratorSource(items))


# ---------------------------------------------------------------------------------------
# source strings
# ---------------------------------------------------------------------------------------
def test_parse_source_spec(tmp_path):
    kind, target = parse_source_spec("rtsp://10.0.0.2:554/live")
    assert kind == "av" and target.kind == "network" and target.live
    assert target.options == {"rtsp_transport": "tcp"}
    assert parse_source_spec("http://host/x.m3u8")[1].options == {}
    cam = camera_target("camera:0", platform="linux")
    assert (cam.target, cam.av_format, cam.live) == ("/dev/video0", "v4l2", True)
    assert camera_target("camera:/dev/video4", platform="linux").target == "/dev/video4"
    assert camera_target("camera:1", platform="darwin").av_format == "avfoundation"
    assert camera_target("camera:Integrated Camera", platform="win32").target == "video=Integrated Camera"
    with pytest.raises(LiveSourceError, match="by name"):
        camera_target("camera:0", platform="win32")
    with pytest.raises(LiveSourceError, match="name a camera"):
        camera_target("camera:", platform="linux")
    with pytest.raises(LiveSourceError, match="unsupported URL scheme 'ftp'"):
        parse_source_spec("ftp://host/video.mp4")
    with pytest.raises(LiveSourceError, match="does not exist"):
        parse_source_spec(str(tmp_path / "nope.mp4"))
    (tmp_path / "clip.txt").write_text("x")
    with pytest.raises(LiveSourceError, match="neither a folder of images nor a video file"):
        parse_source_spec(str(tmp_path / "clip.txt"))
    assert parse_source_spec(str(tmp_path)) == ("folder", tmp_path)
    with pytest.raises(LiveSourceError, match="iterable"):
        open_live_source(np.zeros((4, 4, 3), np.uint8))


def test_missing_pyav_names_the_extra(tmp_path, monkeypatch):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"")
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(MissingExtraError, match=r'pip install "sam2-rcms\[video\]"'):
        open_live_source(str(video))


# ---------------------------------------------------------------------------------------
# PyAV
# ---------------------------------------------------------------------------------------
def test_mp4_frames_in_order(tmp_path):
    frames = moving_square_frames(5)
    video = write_video(tmp_path / "clip.mp4", frames)
    with open_live_source(str(video)) as source:
        got = list(source)
    assert [f.index for f in got] == [0, 1, 2, 3, 4]
    assert got[0].size == (64, 48) and "clip.mp4" in got[3].where
    for want, have in zip(frames, got):  # lossy codec: close, not equal
        assert np.abs(want.astype(int) - have.image.astype(int)).mean() < 6


def test_corrupt_packet_skipped_or_error(tmp_path):
    frames = moving_square_frames(5)
    video = write_video(tmp_path / "clip.mkv", frames, codec="mjpeg")
    corrupt_mjpeg_frame(video, 2)
    source = AVSource(video)
    assert [f.index for f in source] == [0, 1, 3, 4]
    assert [s.index for s in source.skipped] == [2]
    with pytest.raises(CorruptFrameError, match=r"frame 2 of .*clip\.mkv"):
        list(AVSource(video, on_corrupt="error"))


def test_unreachable_stream_and_missing_camera_are_named():
    """A refused local RTSP connection and an absent camera device fail at once, naming the
    source (nothing listens on port 9 of the loopback; /dev/video99 does not exist)."""
    source = open_live_source("rtsp://127.0.0.1:9/live")
    assert isinstance(source, AVSource) and source.target.live
    with pytest.raises(LiveSourceError, match=r"cannot open network rtsp://127\.0\.0\.1:9/live"):
        next(iter(source))
    camera = open_live_source("camera:/dev/video99")
    with pytest.raises(LiveSourceError, match="cannot open camera /dev/video99"):
        next(iter(camera))
