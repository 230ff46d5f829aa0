"""Every name from a list file, a meta file, a folder or a zip is checked before it is used."""
from __future__ import annotations

import json
import os
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edge_helpers import REPO, make_split, snapshot

from sam2.data.mose_layout import DataFormatError, MoseSplit, list_video_frames, read_meta, read_video_list, write_palette_png
from sam2.inference.submission import AtomicVideoDir, write_submission_zip
from sam2.utils.safe_paths import UnsafePathError

sys.path.insert(0, str(REPO / "tools"))
import score as score_tool  # noqa: E402
import vos_inference_ddp  # noqa: E402


@pytest.fixture
def world(tmp_path: Path) -> dict:
    """A split, a private folder beside it that looks like a complete output, and OUT."""
    split = make_split(tmp_path / "split")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "notes.txt").write_text("private")
    write_palette_png(secret / "00000.png", np.zeros((16, 24), np.uint8))
    return {"split": split, "secret": secret, "out": tmp_path / "split_out" / "pred", "root": tmp_path}


def _run_tool(world: dict, list_text: str, capsys, *extra: str) -> str:
    list_file = world["root"] / "list.txt"
    list_file.write_text(list_text)
    argv = ["--sam2_checkpoint", "", "--base_video_dir", str(world["split"] / "JPEGImages"),
            "--input_mask_dir", str(world["split"] / "Annotations"), "--output_mask_dir", str(world["out"]),
            "--video_list_file", str(list_file), "--num_gpus", "0", *extra]
    with pytest.raises(SystemExit) as stop:
        vos_inference_ddp.main(argv)
    assert stop.value.code == 2
    return capsys.readouterr().err


def test_list_entry_climbing_out_is_refused_before_the_resume_check(world, capsys):
    before = snapshot(world["root"] / "secret")
    err = _run_tool(world, "a\n../secret\n", capsys, "--zip", str(world["root"] / "sub.zip"))
    assert "line 2: refusing the name '../secret': contains a path separator" in err
    assert not (world["root"] / "sub.zip").exists()
    assert snapshot(world["root"] / "secret") == before


def test_absolute_list_entry_is_refused(world, capsys):
    err = _run_tool(world, f"{world['secret']}\n", capsys)
    assert f"line 1: refusing the name '{world['secret']}': contains a path separator" in err


def test_dot_dot_list_entry_is_refused(world, capsys):
    err = _run_tool(world, "..\n", capsys)
    assert "line 1: refusing the name '..': a relative reference to a folder" in err


def test_list_entry_with_nul_is_refused(world, capsys):
    err = _run_tool(world, "a\x00b\n", capsys)
    assert "line 1: refusing the name 'a\\x00b': contains a control character" in err


def test_hidden_list_entry_is_refused(world, capsys):
    err = _run_tool(world, ".partial-a\n", capsys)
    assert "line 1: refusing the name '.partial-a': starts with '.'" in err


def test_duplicate_list_entry_is_refused(world, capsys):
    err = _run_tool(world, "a\nb\na\n", capsys)
    assert "line 3: video 'a' is listed twice (first on line 1)" in err
    assert list(world["out"].iterdir()) == []  # nothing written (the folder is made, and left empty)


def test_list_file_that_is_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "list.fifo"
    os.mkfifo(fifo)
    outcome: list = []
    reader = threading.Thread(target=lambda: outcome.append(_catch(read_video_list, fifo)), daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive(), "reading a FIFO list file blocked"
    assert isinstance(outcome[0], DataFormatError)
    assert str(outcome[0]) == f"{fifo}: video list file: {fifo} is a FIFO (named pipe), not a regular file"


def _catch(fn, *args):
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        return exc
    return None


def test_list_file_that_is_a_folder_is_refused(tmp_path):
    with pytest.raises(DataFormatError, match=r"video list file: .* is a folder, not a regular file"):
        read_video_list(tmp_path)


def _meta(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_meta_video_name_climbing_out_is_refused(world, caplog):
    meta = _meta(world["root"] / "meta.json", json.dumps({"videos": {"../secret": {"length": 1}}}))
    before = snapshot(world["secret"])
    code = score_tool.main(["--meta", str(meta), "--ann", str(world["split"] / "Annotations"),
                            "--pred", str(world["split"] / "Annotations"), "--output", str(world["root"] / "scores"),
                            "--no-progress"])
    assert code == 1
    assert f"{meta}: video name: refusing the name '../secret': contains a path separator" in caplog.text
    assert snapshot(world["secret"]) == before and not (world["root"] / "scores").exists()


def test_meta_with_a_repeated_key_is_refused(tmp_path):
    meta = _meta(tmp_path / "meta.json", '{"videos": {"a": {"length": 3}, "a": {"length": 9}}}')
    with pytest.raises(DataFormatError, match="the key 'a' appears twice in one JSON object"):
        read_meta(meta)


def test_meta_with_a_huge_frame_count_is_named_not_allocated(world):
    from sam2.evaluation import evaluate_split

    meta = _meta(world["root"] / "meta.json",
                 json.dumps({"videos": {"a": {"length": 10**15, "objects": [1]}, "b": {"length": 3, "objects": [1]}}}))
    with pytest.raises(DataFormatError, match=r"video 'a': meta length 1000000000000000 but 1 GT PNGs"):
        evaluate_split(meta, world["split"] / "Annotations", world["split"] / "Annotations", progress=False)


def test_meta_with_a_zero_frame_count_is_refused(tmp_path):
    meta = _meta(tmp_path / "meta.json", '{"videos": {"a": {"length": 0}}}')
    with pytest.raises(DataFormatError, match=r"videos\['a'\]: length must be >= 1, got 0"):
        read_meta(meta)


def test_meta_file_that_is_a_fifo_is_refused(tmp_path):
    fifo = tmp_path / "meta.json"
    os.mkfifo(fifo)
    with pytest.raises(DataFormatError, match="meta file: .* is a FIFO"):
        read_meta(fifo)


def test_video_folder_with_a_newline_in_its_name_is_refused(tmp_path):
    split = make_split(tmp_path / "split", videos=("a",))
    (split / "JPEGImages" / "evil\nname").mkdir()
    with pytest.raises(DataFormatError, match=r"refusing the name 'evil\\nname': contains a control character"):
        MoseSplit.from_dirs(split / "JPEGImages", split / "Annotations").videos()


def test_frame_linking_outside_its_folder_is_refused(world):
    frames = world["split"] / "JPEGImages" / "a"
    link = frames / "00003.jpg"
    link.symlink_to(world["secret"] / "notes.txt")
    with pytest.raises(DataFormatError) as err:
        list_video_frames(frames)
    assert str(err.value).startswith(f"{link}: frame is a link to {(world['secret'] / 'notes.txt').resolve()}, outside its folder")


def test_frame_linking_inside_its_folder_is_read(world):
    frames = world["split"] / "JPEGImages" / "a"
    (frames / "00003.jpg").symlink_to("00002.jpg")
    assert [p.name for p in list_video_frames(frames)] == ["00000.jpg", "00001.jpg", "00002.jpg", "00003.jpg"]


def test_zip_refuses_a_name_climbing_out(world):
    out = world["root"] / "out"
    out.mkdir()
    with pytest.raises(UnsafePathError, match="video name to zip: refusing the name '../secret'"):
        write_submission_zip(out, ["../secret"], world["root"] / "s.zip")
    assert not (world["root"] / "s.zip").exists()


def test_zip_refuses_a_link_planted_in_an_output_folder(world):
    out = world["root"] / "out"
    (out / "a").mkdir(parents=True)
    write_palette_png(out / "a" / "00000.png", np.zeros((4, 4), np.uint8))
    (out / "a" / "00001.png").symlink_to(world["secret"] / "notes.txt")
    with pytest.raises(UnsafePathError, match=r"00001.png is a symbolic link; the submission zip holds only files written here"):
        write_submission_zip(out, ["a"], world["root"] / "s.zip")
    assert not (world["root"] / "s.zip").exists()


def test_zip_holds_only_relative_names_under_its_root(world):
    out = world["root"] / "out"
    for video in ("a", "b"):
        write_palette_png(out / video / "00000.png", np.zeros((4, 4), np.uint8))
    write_submission_zip(out, ["a", "b"], world["root"] / "s.zip")
    with zipfile.ZipFile(world["root"] / "s.zip") as archive:
        names = archive.namelist()
    assert names == ["a/00000.png", "b/00000.png"]


def test_commit_keeps_a_users_folder_of_the_same_name(tmp_path):
    out = tmp_path / "out"
    (out / "a").mkdir(parents=True)
    (out / "a" / "notes.txt").write_text("mine")
    before = snapshot(out)
    handle = AtomicVideoDir(out, "a")
    with pytest.raises(UnsafePathError, match=r"holds files an inference run does not write \(notes.txt\); it is not replaced"):
        with handle as temp:
            write_palette_png(temp / "00000.png", np.zeros((4, 4), np.uint8))
            handle.commit()
    assert snapshot(out) == before
