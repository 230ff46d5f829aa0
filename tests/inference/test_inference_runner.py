"""The per-video runner and a whole run with a fake predictor (fast; no model)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from inference_fakes import FakeVideoPredictor, make_fake_predictor
from inference_splits import CUSTOM_PALETTE, corrupt_jpeg, make_small_split, read_tree

from sam2.data.mose_layout import DataFormatError, MoseSplit, read_index_png
from sam2.inference.app import run_inference
from sam2.inference.options import InferenceOptions
from sam2.inference.prompt_records import RunnerSettings
from sam2.inference.vos_runner import run_video


@pytest.fixture()
def split_root(tmp_path: Path) -> Path:
    return make_small_split(tmp_path / "split")


def _split(root: Path) -> MoseSplit:
    return MoseSplit.from_dirs(root / "JPEGImages", root / "Annotations")


def _labels(folder: Path) -> list[np.ndarray]:
    return [read_index_png(p)[0] for p in sorted(folder.glob("*.png"))]


def test_default_mode_writes_every_frame_with_input_palette(split_root, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    predictor = FakeVideoPredictor()
    outcome = run_video(predictor, _split(split_root), "a", out, RunnerSettings())
    assert outcome.num_frames == 7 and outcome.policy_records is None  # the fake keeps no RCMS record
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"{t:05d}.png" for t in range(7)]
    ids, palette = read_index_png(out / "00004.png")
    np.testing.assert_array_equal(palette, CUSTOM_PALETTE)
    assert set(np.unique(ids)) == {0, 1, 3}
    # the fake rolls the frame-0 mask right by t pixels: the output must follow it
    first_gt = read_index_png(split_root / "Annotations" / "a" / "00000.png")[0]
    np.testing.assert_array_equal(ids == 1, np.roll(first_gt == 1, 4, axis=1))
    assert predictor.states[0].calls == ["mask:0:1", "mask:0:3", "propagate:0", "reset"]


def test_track_later_mode_second_object_empty_before_its_first_frame(split_root, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    predictor = FakeVideoPredictor()
    run_video(predictor, _split(split_root), "late", out, RunnerSettings(track_object_appearing_later_in_video=True))
    labels = _labels(out)
    assert len(labels) == 6
    assert all(2 not in np.unique(labels[t]) for t in range(3))
    assert all(2 in np.unique(labels[t]) for t in range(3, 6))
    assert all(1 in np.unique(labels[t]) for t in range(6))
    calls = predictor.states[0].calls
    assert calls == ["mask:0:1", "propagate:0", "reset", "mask:3:2", "propagate:3", "reset"]
    assert not any(p.name.startswith(".partial-scratch") for p in tmp_path.iterdir())


def test_default_mode_ignores_later_objects_and_use_all_masks_rejects_them(split_root, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    run_video(FakeVideoPredictor(), _split(split_root), "late", out, RunnerSettings())
    assert all(2 not in np.unique(lab) for lab in _labels(out))
    with pytest.raises(DataFormatError, match="track_object_appearing_later_in_video"):
        run_video(FakeVideoPredictor(), _split(split_root), "late", out, RunnerSettings(use_all_masks=True))


def test_use_all_masks_prompts_every_annotated_frame(split_root, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    predictor = FakeVideoPredictor()
    settings = RunnerSettings(use_all_masks=True, track_object_appearing_later_in_video=True)
    run_video(predictor, _split(split_root), "late", out, settings)
    calls = predictor.states[0].calls
    assert [c for c in calls if c.startswith("mask:") and c.endswith(":1")] == [f"mask:{t}:1" for t in range(6)]
    assert [c for c in calls if c.startswith("mask:") and c.endswith(":2")] == [f"mask:{t}:2" for t in range(3, 6)]


def test_per_object_png_layout(split_root, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    settings = RunnerSettings(per_obj_png_file=True, track_object_appearing_later_in_video=True)
    run_video(FakeVideoPredictor(), _split(split_root), "late", out, settings)
    assert sorted(p.name for p in out.iterdir()) == ["001", "002"]
    masks = _labels(out / "002")
    assert len(masks) == 6 and all(m.max() == 0 for m in masks[:3]) and all(m.max() == 1 for m in masks[3:])


def test_empty_first_annotation_is_an_error_naming_the_file(split_root, tmp_path):
    ann = split_root / "Annotations" / "b" / "00000.png"
    from sam2.data.mose_layout import write_palette_png

    write_palette_png(ann, np.zeros((24, 32), dtype=np.uint8))
    with pytest.raises(DataFormatError, match="00000.png.*no object"):
        run_video(FakeVideoPredictor(), _split(split_root), "b", tmp_path, RunnerSettings())


def _options(split_root: Path, out: Path, **kw) -> InferenceOptions:
    return InferenceOptions(
        sam2_cfg="unused", sam2_checkpoint=None, output_mask_dir=out, base_video_dir=split_root / "JPEGImages",
        input_mask_dir=split_root / "Annotations", show_progress=False, num_gpus=0, **kw,
    )


def test_failing_video_is_reported_others_complete_and_rerun_resumes(split_root, tmp_path):
    out = tmp_path / "out"
    corrupt_jpeg(split_root / "JPEGImages" / "b" / "00003.jpg")
    summary = run_inference(_options(split_root, out, zip_path=tmp_path / "s.zip"), make_fake_predictor)
    assert summary.exit_code == 1
    assert [(r.name, r.status) for r in summary.results] == [("a", "done"), ("b", "failed"), ("late", "done")]
    assert "00003.jpg" in summary.failed[0].error
    assert sorted(p.name for p in out.iterdir()) == ["a", "late"]  # no partial output of "b"
    assert not (tmp_path / "s.zip").exists()  # a submission missing a video is not written
    assert "failures: 1" in summary.final_line()

    before = read_tree(out)
    shutil.copy(split_root / "JPEGImages" / "b" / "00002.jpg", split_root / "JPEGImages" / "b" / "00003.jpg")
    again = run_inference(_options(split_root, out, zip_path=tmp_path / "s.zip"), make_fake_predictor)
    assert again.exit_code == 0
    assert [(r.name, r.status) for r in again.results] == [("a", "skipped"), ("b", "done"), ("late", "skipped")]
    after = read_tree(out)
    assert {k: v for k, v in after.items() if not k.startswith("b/")} == before
    assert len([k for k in after if k.startswith("b/")]) == 5
    assert (tmp_path / "s.zip").is_file()


def test_worker_that_cannot_build_its_model_fails_every_video(split_root, tmp_path):
    def broken(options, device):
        raise FileNotFoundError("no such config: foo.yaml")

    summary = run_inference(_options(split_root, tmp_path / "out"), broken)
    assert summary.exit_code == 1 and len(summary.failed) == 3
    assert all("foo.yaml" in r.error for r in summary.failed)


class _RecordingState:
    """Wraps the fake state and adds ``policy_records()`` as the real ``InferenceState`` has."""

    def __init__(self, inner):
        self.inner = inner

    def policy_records(self):
        return {obj_id: [{"trigger_frame": 2, "promoted_frames": [1], "qualities": [0.9]}]
                for obj_id in sorted({o for _, o in self.inner.prompts})}


class _RecordingPredictor(FakeVideoPredictor):
    def init_state(self, video_path, **kwargs):
        return _RecordingState(super().init_state(video_path))

    def add_new_mask(self, state, frame_idx, obj_id, mask):
        return super().add_new_mask(state.inner, frame_idx, obj_id, mask)

    def reset_state(self, state):
        return super().reset_state(state.inner)

    def propagate_in_video(self, state, **kwargs):
        return super().propagate_in_video(state.inner, **kwargs)


def _recording_factory(options, device):
    return _RecordingPredictor()


@pytest.mark.parametrize("separate", [False, True])
def test_policy_record_written_per_video(split_root, tmp_path, separate):
    import json

    options = _options(split_root, tmp_path / "out", policy_record_dir=tmp_path / "rcms",
                       track_object_appearing_later_in_video=separate)
    assert run_inference(options, _recording_factory).exit_code == 0
    record = json.loads((tmp_path / "rcms" / "late.json").read_text())
    assert record["video"] == "late"
    expected = {"1": [{"trigger_frame": 2, "promoted_frames": [1], "qualities": [0.9]}]}
    if separate:  # both objects tracked (each in its own pass); the default mode only tracks frame 0's
        expected["2"] = expected["1"]
    assert record["objects"] == expected
    assert sorted(p.name for p in (tmp_path / "rcms").iterdir()) == ["a.json", "b.json", "late.json"]


def test_policy_record_flag_without_record_support_fails_loudly(split_root, tmp_path):
    options = _options(split_root, tmp_path / "out", policy_record_dir=tmp_path / "rcms")
    summary = run_inference(options, make_fake_predictor)
    assert summary.exit_code == 1 and all("policy_records" in r.error for r in summary.failed)


def _load_tool(monkeypatch):
    import importlib.util

    monkeypatch.setenv("TQDM_DISABLE", "0")  # the tool sets it when absent; keep this process unchanged
    path = Path(__file__).resolve().parents[2] / "tools" / "vos_inference_ddp.py"
    spec = importlib.util.spec_from_file_location("vos_inference_ddp_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_rejects_bad_paths_with_exit_code_2(split_root, tmp_path, monkeypatch, capsys):
    tool = _load_tool(monkeypatch)
    base = ["--output_mask_dir", str(tmp_path / "o"), "--input_mask_dir", str(split_root / "Annotations")]
    with pytest.raises(SystemExit) as err:
        tool.main([*base, "--base_video_dir", str(tmp_path / "nope"), "--sam2_checkpoint", ""])
    assert err.value.code == 2 and "--base_video_dir" in capsys.readouterr().err
    with pytest.raises(SystemExit) as err:
        tool.main([*base, "--base_video_dir", str(split_root / "JPEGImages"), "--sam2_checkpoint", str(tmp_path / "x.pt")])
    assert err.value.code == 2 and "x.pt" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_cli_flags_map_to_options(monkeypatch):
    tool = _load_tool(monkeypatch)
    args = tool.build_parser().parse_args([
        "--output_mask_dir", "O", "--base_video_dir", "J", "--input_mask_dir", "A", "--num_gpus", "0",
        "--num_workers", "3", "--per_obj_png_file", "--score_thresh", "-1.5", "--zip", "s.zip",
        "--num_prev_frames_to_promote", "0", "--track_object_appearing_later_in_video",
    ])
    options = tool.options_from_args(args)
    assert (options.num_workers, options.num_gpus, options.per_obj_png_file) == (3, 0, True)
    assert options.score_thresh == -1.5 and options.zip_path == Path("s.zip")
    assert options.num_prev_frames_to_promote == 0 and options.low_quality_threshold is None
    assert options.track_object_appearing_later_in_video and not options.use_all_masks
    defaults = tool.options_from_args(tool.build_parser().parse_args(
        ["--output_mask_dir", "O", "--base_video_dir", "J", "--input_mask_dir", "A"]))
    assert defaults.num_prev_frames_to_promote == 4 and defaults.num_gpus is None and defaults.num_workers == 1
    named = tool.options_from_args(tool.build_parser().parse_args(
        ["--output_mask_dir", "O", "--base_video_dir", "J", "--input_mask_dir", "A", "--memory_policy", "sam2.1"]))
    assert named.memory_policy == "sam2.1" and named.num_prev_frames_to_promote is None  # no RCMS switch


class _RevisingPredictor(FakeVideoPredictor):
    """Yields the fake's masks while propagating, then final outputs shifted one more pixel
    (like SAM2Long, whose best pathway at the end may differ from what each frame yielded)."""

    def revises_outputs(self, state) -> bool:
        return True

    def propagate_in_video(self, state, start_frame_idx=None, max_frame_num_to_track=None, reverse=False,
                           progress=True):
        self.last = list(super().propagate_in_video(state, start_frame_idx, max_frame_num_to_track, reverse))
        yield from self.last

    def final_outputs(self, state):
        state.calls.append("final")
        for t, ids, out in self.last:
            yield t, ids, out.roll(1, dims=-1)


@pytest.mark.parametrize("later", [False, True])
def test_runner_writes_final_outputs_of_a_revising_predictor(split_root, tmp_path, later):
    out = tmp_path / "out"
    out.mkdir()
    predictor = _RevisingPredictor()
    run_video(predictor, _split(split_root), "a", out, RunnerSettings(track_object_appearing_later_in_video=later))
    ids = read_index_png(out / "00004.png")[0]
    first_gt = read_index_png(split_root / "Annotations" / "a" / "00000.png")[0]
    np.testing.assert_array_equal(ids == 1, np.roll(first_gt == 1, 5, axis=1))  # 4 + 1: the final output
    assert "final" in predictor.states[0].calls
