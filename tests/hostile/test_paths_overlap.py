"""Outputs that are, hold or lie inside an input are refused before any work, naming both paths."""
from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import pytest

from edge_helpers import REPO, make_split, snapshot

from sam2.inference.app import run_inference
from sam2.inference.options import InferenceOptions
from sam2.utils import cli
from sam2.utils.safe_paths import UnsafePathError

sys.path.insert(0, str(REPO / "tools"))
import score as score_tool  # noqa: E402
import vos_inference  # noqa: E402
import vos_inference_ddp  # noqa: E402


@pytest.fixture
def split(tmp_path: Path) -> Path:
    return make_split(tmp_path / "split")


def _argv(split: Path, out: Path, *extra: str) -> list[str]:
    return ["--sam2_checkpoint", "", "--base_video_dir", str(split / "JPEGImages"),
            "--input_mask_dir", str(split / "Annotations"), "--output_mask_dir", str(out), *extra]


def _refused(tool, argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as stop:
        tool.main(argv)
    assert stop.value.code == 2
    return capsys.readouterr().err


def test_output_equal_to_frames_folder_is_refused(split, capsys):
    before = snapshot(split)
    err = _refused(vos_inference, _argv(split, split / "JPEGImages"), capsys)
    assert f"--output_mask_dir {split / 'JPEGImages'} is the same path as --base_video_dir {split / 'JPEGImages'}" in err
    assert snapshot(split) == before


def test_output_equal_to_annotation_folder_is_refused(split, capsys):
    before = snapshot(split)
    err = _refused(vos_inference_ddp, _argv(split, split / "Annotations"), capsys)
    assert f"--output_mask_dir {split / 'Annotations'} is the same path as --input_mask_dir {split / 'Annotations'}" in err
    assert snapshot(split) == before


def test_output_inside_an_input_is_refused(split, capsys):
    before = snapshot(split)
    out = split / "Annotations" / "pred"
    err = _refused(vos_inference, _argv(split, out), capsys)
    assert f"--output_mask_dir {out} lies inside --input_mask_dir {split / 'Annotations'}" in err
    assert not out.exists()
    assert snapshot(split) == before


def test_output_holding_the_inputs_is_refused(split, capsys):
    before = snapshot(split)
    err = _refused(vos_inference_ddp, _argv(split, split), capsys)
    assert f"--output_mask_dir {split} holds --base_video_dir {split / 'JPEGImages'}" in err
    assert snapshot(split) == before


def test_output_linked_to_an_input_is_refused(split, tmp_path, capsys):
    link = tmp_path / "looks_new"
    link.symlink_to(split / "JPEGImages", target_is_directory=True)
    before = snapshot(split)
    err = _refused(vos_inference, _argv(split, link), capsys)
    assert f"--output_mask_dir {link} (resolves to {(split / 'JPEGImages').resolve()}) is the same path as" in err
    assert snapshot(split) == before


def test_zip_inside_an_input_is_refused(split, tmp_path, capsys):
    before = snapshot(split)
    zip_path = split / "Annotations" / "submission.zip"
    err = _refused(vos_inference_ddp, _argv(split, tmp_path / "out", "--zip", str(zip_path)), capsys)
    assert f"--zip {zip_path} lies inside --input_mask_dir {split / 'Annotations'}" in err
    assert snapshot(split) == before and not (tmp_path / "out").exists()


@pytest.mark.parametrize("flag", ["--policy_record_dir", "--rcms_record_dir"])  # the older name is an alias
def test_record_folder_equal_to_an_input_is_refused(split, tmp_path, capsys, flag):
    before = snapshot(split)
    err = _refused(vos_inference_ddp, _argv(split, tmp_path / "out", flag, str(split / "Annotations")), capsys)
    assert f"--policy_record_dir {split / 'Annotations'} is the same path as --input_mask_dir" in err
    assert snapshot(split) == before


def test_list_file_inside_the_output_is_refused(split, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "val.txt").write_text("a\n")
    before = snapshot(tmp_path)
    err = _refused(vos_inference, _argv(split, out, "--video_list_file", str(out / "val.txt")), capsys)
    assert f"--output_mask_dir {out} holds --video_list_file {out / 'val.txt'}" in err
    assert snapshot(tmp_path) == before


def test_output_that_is_a_file_is_refused(split, tmp_path, capsys):
    out = tmp_path / "results"
    out.write_text("my notes")
    before = snapshot(tmp_path)
    err = _refused(vos_inference, _argv(split, out), capsys)
    assert f"--output_mask_dir: {out} exists and is a regular file, not a folder; choose a folder path" in err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_score_threshold_is_refused(split, tmp_path, capsys, value):
    err = _refused(vos_inference_ddp, _argv(split, tmp_path / "out", f"--score_thresh={value}"), capsys)
    assert f"--score_thresh must be a finite number, got {float(value)}" in err
    assert not (tmp_path / "out").exists()


def test_library_run_refuses_overlap_before_any_work(split):
    before = snapshot(split)
    options = InferenceOptions(sam2_cfg="unused", sam2_checkpoint=None, output_mask_dir=split / "JPEGImages",
                               base_video_dir=split / "JPEGImages", input_mask_dir=split / "Annotations")
    with pytest.raises(UnsafePathError, match="is the same path as --base_video_dir"):
        run_inference(options, predictor_factory=lambda *_: pytest.fail("no predictor may be built"))
    assert snapshot(split) == before


def test_library_run_refuses_nan_threshold(split, tmp_path):
    options = InferenceOptions(sam2_cfg="unused", sam2_checkpoint=None, output_mask_dir=tmp_path / "out",
                               base_video_dir=split / "JPEGImages", input_mask_dir=split / "Annotations",
                               score_thresh=math.nan)
    with pytest.raises(ValueError, match="--score_thresh must be a finite number, got nan"):
        run_inference(options)
    assert not (tmp_path / "out").exists()


def test_scorer_output_equal_to_predictions_is_refused(split, tmp_path, capsys):
    (split / "meta.json").write_text('{"videos": {}}')
    before = snapshot(split)
    code = cli.run_main(score_tool.main, ["--meta", str(split / "meta.json"), "--ann", str(split / "Annotations"),
                                          "--pred", str(split / "Annotations"), "--output", str(split / "Annotations"),
                                          "--no-progress"])
    assert code == 2
    assert (f"error: --output {split / 'Annotations'} is the same path as --ann {split / 'Annotations'}"
            in capsys.readouterr().err)
    assert snapshot(split) == before


def test_synthetic_overwrite_refuses_a_foreign_folder(tmp_path, caplog):
    import make_synthetic_mose

    target = tmp_path / "mine"
    target.mkdir()
    (target / "thesis.tex").write_text("years of work")
    before = snapshot(tmp_path)
    code = make_synthetic_mose.main(["--output", str(target), "--num-videos", "1", "--num-frames", "2", "--overwrite"])
    assert code == 2
    assert f"{target}: exists and holds files not written by the synthetic split writer" in caplog.text
    assert snapshot(tmp_path) == before


def test_synthetic_overwrite_replaces_its_own_split(tmp_path):
    from sam2.data.synthetic import SPLIT_MARKER, SyntheticConfig, write_synthetic_split

    config = SyntheticConfig(num_videos=1, num_frames=2, height=24, width=32)
    root = write_synthetic_split(tmp_path / "s", config)
    assert (root / SPLIT_MARKER).is_file()
    write_synthetic_split(root, config, overwrite=True)
    assert sorted(os.listdir(root)) == sorted([SPLIT_MARKER, "Annotations", "JPEGImages", "meta.json"])


def test_stream_tool_refuses_out_equal_to_its_source(split, capsys):
    import track_stream

    frames = split / "JPEGImages" / "a"
    before = snapshot(split)
    code = cli.run_main(track_stream.main, ["--source", str(frames), "--output", str(frames), "--points", "4,4",
                                            "--no-progress"])
    assert code == 2
    assert f"error: --output {frames} is the same path as --source {frames}" in capsys.readouterr().err
    assert snapshot(split) == before


def test_policy_comparison_refuses_out_inside_its_split(split, capsys):
    import compare_policies

    (split / "meta.json").write_text('{"videos": {}}')
    before = snapshot(split)
    with pytest.raises(SystemExit) as stop:
        compare_policies.main(["--split", str(split), "--config", "configs/sam2.1/sam2.1_hiera_demo.yaml",
                               "--output", str(split / "Annotations"), "--no_chart"])
    assert stop.value.code == 2
    assert f"--output {split / 'Annotations'} lies inside --split {split}" in capsys.readouterr().err
    assert snapshot(split) == before


def test_zip_over_a_file_that_is_not_a_zip_is_refused(split, tmp_path, capsys):
    thesis = tmp_path / "thesis.pdf"
    thesis.write_bytes(b"%PDF-1.7 years of work")
    before = snapshot(tmp_path)
    err = _refused(vos_inference_ddp, _argv(split, tmp_path / "out", "--zip", str(thesis)), capsys)
    assert f"--zip: {thesis} exists and is not a zip file; it is not replaced (choose another path)" in err
    assert snapshot(tmp_path) == before


def test_stream_tool_refuses_a_mask_that_is_a_fifo(split, tmp_path, capsys):
    import track_stream

    fifo = tmp_path / "mask.png"
    os.mkfifo(fifo)
    code = cli.run_main(track_stream.main, ["--source", str(split / "JPEGImages" / "a"), "--output", str(tmp_path / "o"),
                                            "--mask", str(fifo), "--no-progress"])
    assert code == 2
    assert f"error: --mask: {fifo} is a FIFO (named pipe), not a regular file" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_stream_tool_never_replaces_an_existing_overlay_outside_its_output(split, tmp_path, capsys):
    import track_stream

    film = tmp_path / "holiday.mp4"
    film.write_bytes(b"a user's own video")
    before = snapshot(tmp_path)
    code = cli.run_main(track_stream.main, ["--source", str(split / "JPEGImages" / "a"), "--output", str(tmp_path / "o"),
                                            "--points", "4,4", "--overlay", str(film), "--no-progress"])
    assert code == 2
    assert (f"error: --overlay {film}: the file exists and is not in --output {tmp_path / 'o'}; "
            "remove it or choose another --overlay") in capsys.readouterr().err
    assert snapshot(tmp_path) == before
