"""tools/track_stream.py on generated media: a subprocess run on an MP4, an interrupted run,
corrupt frames, bad flags."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sam2.video.sources.live_sources import IteratorSource
from stream_media import corrupt_mjpeg_frame, moving_square_frames, square_mask, write_video

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "track_stream.py"


def _tool():
    spec = importlib.util.spec_from_file_location("track_stream_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _decode_all(path: Path):
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _mask_png(path: Path) -> Path:
    Image.fromarray(square_mask().astype(np.uint8) * 255).save(path)
    return path


def test_tracks_a_generated_mp4(tmp_path):
    frames = moving_square_frames(8)
    video = write_video(tmp_path / "clip.mp4", frames)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(TOOL), "--source", str(video), "--mask", str(_mask_png(tmp_path / "m.png")),
         "--out", str(out), "--png", "--overlay", str(out / "overlay.mp4"), "--no-progress"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    pngs = sorted(p.name for p in (out / "masks").glob("*.png"))
    assert pngs == [f"{i:05d}.png" for i in range(8)]
    first = Image.open(out / "masks" / "00000.png")
    assert first.mode == "P" and first.size == (64, 48)
    ids = np.asarray(first)
    assert set(np.unique(ids)) <= {0, 1}
    # frame 0 shows the prompt itself
    assert (ids.astype(bool) == square_mask()).mean() > 0.95
    overlay = _decode_all(out / "overlay.mp4")
    assert len(overlay) == 8 and overlay[0].shape == (48, 64, 3)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_tracked"] == 8 and not summary["interrupted"]
    assert summary["dropped_frames"] == [] and summary["skipped_frames"] == []
    assert "fps" in proc.stderr  # the progress / log readout


def test_interrupt_leaves_valid_outputs(tmp_path):
    tool = _tool()
    frames = moving_square_frames(6)

    def camera():
        for i, frame in enumerate(frames):
            if i == 4:
                raise KeyboardInterrupt  # Ctrl-C while frame 4 is being read
            yield frame

    out = tmp_path / "out"
    args = tool.parse_args(["--source", "camera:0", "--mask", str(_mask_png(tmp_path / "m.png")),
                            "--out", str(out), "--png", "--overlay", str(out / "live.mp4"),
                            "--no-progress"])
    code = tool.run(args, source=IteratorSource(camera()))
    assert code == 130
    assert sorted(p.name for p in (out / "masks").glob("*.png")) == [f"{i:05d}.png" for i in range(4)]
    for png in (out / "masks").glob("*.png"):
        Image.open(png).load()
    assert not list((out / "masks").glob(".*"))  # no temporary files left behind
    assert len(_decode_all(out / "live.mp4")) == 4
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["frames_tracked"] == 4


def test_corrupt_frames_skip_or_fail(tmp_path):
    tool = _tool()
    video = write_video(tmp_path / "clip.mkv", moving_square_frames(5), codec="mjpeg")
    corrupt_mjpeg_frame(video, 2)
    mask = str(_mask_png(tmp_path / "m.png"))
    args = tool.parse_args(["--source", str(video), "--mask", mask, "--out", str(tmp_path / "a"),
                            "--no-progress"])
    assert tool.run(args) == 0
    names = sorted(p.stem for p in (tmp_path / "a" / "masks").glob("*.png"))
    assert names == ["00000", "00001", "00003", "00004"]
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert [s["index"] for s in summary["skipped_frames"]] == [2]
    assert "frame 2 of" in summary["skipped_frames"][0]["frame"]

    args = tool.parse_args(["--source", str(video), "--mask", mask, "--out", str(tmp_path / "b"),
                            "--on-corrupt", "error", "--no-progress"])
    assert tool.run(args) == 1
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert "frame 2 of" in summary["error"] and summary["frames_tracked"] == 2


def test_points_and_box_prompts_and_frame_size_change(tmp_path):
    tool = _tool()
    frames = moving_square_frames(4)
    frames[3] = frames[3][:40]
    args = tool.parse_args(["--source", "x", "--points", "15,20", "--points", "2,2,0",
                            "--box", "6,12,26,32", "--out", str(tmp_path), "--no-progress"])
    assert args.points == [(15.0, 20.0, 1), (2.0, 2.0, 0)] and args.box == (6.0, 12.0, 26.0, 32.0)
    assert tool.run(args, source=IteratorSource(frames)) == 1
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["frames_tracked"] == 3
    assert "frame 3 of the frame iterator is 64x40" in summary["error"]


@pytest.mark.parametrize("argv, message", [
    (["--source", "v.mp4", "--out", "o"], "give a first-frame prompt"),
    (["--source", "v.mp4", "--out", "o", "--points", "1"], "--points '1'"),
    (["--source", "v.mp4", "--out", "o", "--points", "1,2,5"], "--points '1,2,5': labels [5] not allowed"),
    (["--source", "v.mp4", "--out", "o", "--box", "5,5,1,1"], "must have x1 > x0 and y1 > y0"),
    (["--source", "v.mp4", "--out", "o", "--mask", "m.png", "--box", "1,1,5,5"], "cannot be combined"),
    (["--source", "v.mp4", "--out", "o", "--box", "1,1,5,5", "--overlay", "o.gif"], ".mp4, .mkv"),
    (["--source", "v.mp4", "--out", "o", "--points", "1,1", "--obj-id", "300"], "--obj-id 300"),
])
def test_bad_flags(argv, message, capsys):
    tool = _tool()
    with pytest.raises(SystemExit) as info:
        tool.parse_args(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_source_is_named(tmp_path, capsys):
    tool = _tool()
    args = tool.parse_args(["--source", str(tmp_path / "nope.mp4"), "--box", "1,1,5,5",
                            "--out", str(tmp_path / "o")])
    assert tool.run(args) == 1
    assert "nope.mp4 does not exist" in capsys.readouterr().err


def test_drop_late_tracks_the_first_frame_and_accounts_for_every_frame(tmp_path):
    tool = _tool()
    video = write_video(tmp_path / "clip.mp4", moving_square_frames(10))
    out = tmp_path / "out"
    args = tool.parse_args(["--source", str(video), "--mask", str(_mask_png(tmp_path / "m.png")),
                            "--out", str(out), "--drop-late", "--no-progress"])
    assert tool.run(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    names = sorted(int(p.stem) for p in (out / "masks").glob("*.png"))
    # every frame was either tracked or dropped; the prompt frame and the last one are tracked
    assert summary["policy"] == "latest"
    assert summary["frames_tracked"] + len(summary["dropped_frames"]) == 10
    assert sorted(set(names) | set(summary["dropped_frames"])) == list(range(10))
    assert names[0] == 0 and names[-1] == 9
