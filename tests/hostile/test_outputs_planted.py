"""Links planted in an output folder never make a run delete or pack files outside it."""
from __future__ import annotations

import sys

from edge_helpers import REPO, make_split, snapshot

from sam2.inference.app import run_inference
from sam2.inference.options import InferenceOptions

sys.path.insert(0, str(REPO / "tests" / "inference"))
from inference_fakes import make_fake_predictor  # noqa: E402


def _options(split, out, **more) -> InferenceOptions:
    return InferenceOptions(sam2_cfg="unused", sam2_checkpoint=None, output_mask_dir=out, show_progress=False,
                            base_video_dir=split / "JPEGImages", input_mask_dir=split / "Annotations", **more)


def test_partial_folder_planted_as_a_link_to_the_inputs(tmp_path):
    split = make_split(tmp_path / "split")
    out = tmp_path / "out"
    out.mkdir()
    (out / ".partial-a").symlink_to(split / "Annotations" / "a", target_is_directory=True)
    before = snapshot(split)
    summary = run_inference(_options(split, out), make_fake_predictor)
    assert snapshot(split) == before  # the link's target is untouched
    assert {r.name: r.status for r in summary.results} == {"a": "failed", "b": "done"}


def test_video_folder_planted_as_a_link_to_the_inputs(tmp_path):
    split = make_split(tmp_path / "split")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a").symlink_to(split / "JPEGImages" / "a", target_is_directory=True)
    before = snapshot(split)
    summary = run_inference(_options(split, out, zip_path=tmp_path / "s.zip"), make_fake_predictor)
    assert snapshot(split) == before
    result = {r.name: r for r in summary.results}
    assert result["a"].status == "failed"
    assert result["a"].error == f"UnsafePathError: {out / 'a'} exists and is not a folder of masks; it is not replaced (move it away)"
    assert not (tmp_path / "s.zip").exists()  # no zip while a video failed
