"""Tests of the synthetic MOSE-style generator."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sam2.data import MoseSplit
from sam2.data.synthetic import SyntheticConfig, generate_video, write_synthetic_split


def _presence_string(split: MoseSplit, video: str, obj_id: int) -> str:
    return "".join("1" if (split.read_annotation(video, n) == obj_id).any() else "0" for n in split.frames(video))


def _has_disappear_and_reappear(presence: str) -> bool:
    """present -> absent -> present, judged on the evaluated frames 1..L-2 (hand-written rule)."""
    window = presence[1:-1]
    gone = window.find("10")
    return gone >= 0 and window.find("01", gone + 1) >= 0


def test_deterministic_and_independent_of_num_videos():
    small = SyntheticConfig(num_videos=2, num_frames=14, height=48, width=64, seed=3)
    a = generate_video(small, 1)
    b = generate_video(small, 1)
    c = generate_video(dataclasses.replace(small, num_videos=5), 1)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.annotations, c.annotations)
    other = generate_video(dataclasses.replace(small, seed=4), 1)
    assert not np.array_equal(a.frames, other.frames)
    assert a.frames.shape == (14, 48, 64, 3) and a.frames.dtype == np.uint8
    assert a.annotations.shape == (14, 48, 64) and a.annotations.dtype == np.uint8


def test_default_split_is_valid_and_half_the_objects_come_back(tmp_path):
    cfg = SyntheticConfig(num_videos=6, seed=0)
    root = write_synthetic_split(tmp_path / "split", cfg)
    split = MoseSplit(root)
    assert len(split.videos()) == 6
    returned = total = 0
    for video in split.videos():
        split.validate(video, require_all_annotations=True, decode_frames=True)
        assert split.frame_size(video) == (240, 320)
        ids = split.object_ids(video)
        assert ids == list(split.meta.videos[video].objects)
        assert ids == list(range(1, len(ids) + 1))
        assert split.object_ids(video, 0) == ids  # every target is visible on frame 0
        for obj_id in ids:
            total += 1
            returned += _has_disappear_and_reappear(_presence_string(split, video, obj_id))
    assert total >= 6
    assert returned * 2 >= total, f"{returned}/{total} objects disappear and reappear"


def test_late_entry_objects_are_absent_on_frame_zero():
    cfg = SyntheticConfig(num_frames=16, height=60, width=80, min_objects=3, max_objects=3, late_entry_prob=1.0, event_prob=0.0)
    video = generate_video(cfg, 0)
    assert (video.annotations[0] == 1).any()
    for obj_id in (2, 3):
        first = int(np.flatnonzero((video.annotations == obj_id).reshape(16, -1).any(1))[0])
        assert first > 0
        assert video.events[obj_id][0].kind == "late_entry"


def test_refuses_to_overwrite(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="out"):
        write_synthetic_split(target, SyntheticConfig(num_videos=1, num_frames=2, height=16, width=16))
    with pytest.raises(FileExistsError, match="holds files not written by the synthetic split writer"):
        write_synthetic_split(target, SyntheticConfig(num_videos=1, num_frames=2, height=16, width=16), overwrite=True)
    assert (target / "keep.txt").read_text() == "x"  # someone else's folder is never replaced
    (target / "keep.txt").unlink()
    write_synthetic_split(target, SyntheticConfig(num_videos=1, num_frames=2, height=16, width=16))
    write_synthetic_split(target, SyntheticConfig(num_videos=2, num_frames=2, height=16, width=16), overwrite=True)
    assert sorted(p.name for p in (target / "JPEGImages").iterdir()) == ["synth0000", "synth0001"]


def test_command_line_writes_a_split(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "tools" / "make_synthetic_mose.py"
    out = tmp_path / "split"
    cmd = [sys.executable, str(script), "--output", str(out), "--num-videos", "2", "--num-frames", "5",
           "--height", "32", "--width", "48", "--seed", "5"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    split = MoseSplit(out)
    assert split.videos() == ["synth0000", "synth0001"] and split.num_frames("synth0001") == 5
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 2 and "exists" in again.stderr
