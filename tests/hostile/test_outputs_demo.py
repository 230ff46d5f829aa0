"""tools/demo.py writes only into a new, empty or its own folder, and never over its inputs."""
from __future__ import annotations

import sys

import pytest

from edge_helpers import REPO, make_split, snapshot

from sam2.demo.pipeline import DEMO_MARKER, DemoError, DemoSettings, run_demo
from sam2.demo.track import TRACK_MARKER, TrackError, TrackSettings, track_video
from sam2.utils.output_lock import OutputLock
from sam2.utils.safe_paths import UnsafePathError, claim_output_folder

sys.path.insert(0, str(REPO / "tools"))
import demo as demo_tool  # noqa: E402


def test_held_out_demo_refuses_a_folder_of_other_files(tmp_path, capsys):
    out = tmp_path / "X"
    (out / "data").mkdir(parents=True)
    (out / "data" / "notes.txt").write_text("a user's file")
    (out / "rcms_records").mkdir()
    before = snapshot(tmp_path)
    code = demo_tool.main(["--output-dir", str(out), "--no-progress"])
    assert code == 1
    assert (f"error: --output-dir {out} already holds files that tools/demo.py did not write; it writes only into "
            f"a new or empty folder, or one it made before (marked by {DEMO_MARKER}): choose another --output-dir"
            ) in capsys.readouterr().err
    assert snapshot(tmp_path) == before


def test_held_out_demo_refuses_a_checkpoint_inside_its_folder(tmp_path):
    out = tmp_path / "X"
    out.mkdir()
    (out / DEMO_MARKER).write_text("")
    (out / "pred_rcms_on").mkdir()
    ckpt = out / "pred_rcms_on" / "mine.pt"
    ckpt.write_bytes(b"weights")
    before = snapshot(tmp_path)
    with pytest.raises(DemoError, match=f"--output-dir {out} holds --checkpoint {ckpt}"):
        run_demo(DemoSettings(output_dir=out, checkpoint=ckpt, show_progress=False))
    assert snapshot(tmp_path) == before


def test_held_out_demo_on_a_locked_folder_stops(tmp_path):
    out = tmp_path / "X"
    claim_output_folder(out, DEMO_MARKER, "tools/demo.py", "--output-dir")
    with OutputLock(out, "another demo"):
        before = snapshot(tmp_path)
        with pytest.raises(DemoError, match=f"{out} is in use by process .* \\(another demo"):
            run_demo(DemoSettings(output_dir=out, show_progress=False))
        assert snapshot(tmp_path) == before


def test_track_refuses_a_folder_of_other_files(tmp_path):
    frames = make_split(tmp_path / "split", videos=("a",)) / "JPEGImages" / "a"
    out = tmp_path / "mine"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"photo")
    before = snapshot(tmp_path)
    with pytest.raises(TrackError, match=f"--output-dir {out} already holds files that tools/demo.py --video did not write"):
        track_video(TrackSettings(video=frames, output_dir=out, points=((4.0, 4.0, 1),), show_progress=False))
    assert snapshot(tmp_path) == before


def test_track_refuses_to_write_into_the_video_folder(tmp_path):
    frames = make_split(tmp_path / "split", videos=("a",)) / "JPEGImages" / "a"
    before = snapshot(tmp_path)
    with pytest.raises(TrackError, match=f"--output-dir {frames} is the same path as --video {frames}"):
        track_video(TrackSettings(video=frames, output_dir=frames, points=((4.0, 4.0, 1),), show_progress=False))
    assert snapshot(tmp_path) == before


def test_claim_marks_a_new_folder_and_reuses_it(tmp_path):
    out = tmp_path / "new"
    claim_output_folder(out, TRACK_MARKER, "tools/demo.py --video", "--output-dir")
    assert (out / TRACK_MARKER).is_file()
    (out / "masks").mkdir()
    claim_output_folder(out, TRACK_MARKER, "tools/demo.py --video", "--output-dir")  # its own: accepted


def test_claim_refuses_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(UnsafePathError, match=f"--output-dir: {tmp_path / 'f'} exists and is a regular file, not a folder"):
        claim_output_folder(tmp_path / "f", DEMO_MARKER, "tools/demo.py", "--output-dir")


def test_track_refuses_a_mask_that_is_a_fifo(tmp_path):
    import os

    frames = make_split(tmp_path / "split", videos=("a",)) / "JPEGImages" / "a"
    fifo = tmp_path / "mask.png"
    os.mkfifo(fifo)
    with pytest.raises(TrackError, match=f"--mask: {fifo} is a FIFO \\(named pipe\\), not a regular file"):
        track_video(TrackSettings(video=frames, output_dir=tmp_path / "out", mask=fifo, show_progress=False))
    assert not (tmp_path / "out").exists()
