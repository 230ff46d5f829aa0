"""Resume and replacement of outputs: an empty or truncated PNG is not "done"; the lock is released."""
from __future__ import annotations

import sys

from edge_helpers import REPO, make_split

from sam2.data.mose_layout import read_index_png
from sam2.inference.app import run_inference
from sam2.inference.options import InferenceOptions
from sam2.inference.submission import video_output_complete
from sam2.utils.output_lock import LOCK_NAME

sys.path.insert(0, str(REPO / "tests" / "inference"))
from inference_fakes import make_fake_predictor  # noqa: E402


def _options(split, out) -> InferenceOptions:
    return InferenceOptions(sam2_cfg="unused", sam2_checkpoint=None, output_mask_dir=out, show_progress=False,
                            base_video_dir=split / "JPEGImages", input_mask_dir=split / "Annotations")


def test_empty_png_is_not_counted_as_done(tmp_path):
    split = make_split(tmp_path / "split")
    out = tmp_path / "out"
    first = run_inference(_options(split, out), make_fake_predictor)
    assert [r.status for r in first.results] == ["done", "done"]
    assert not (out / LOCK_NAME).exists()  # the lock went with the run
    (out / "a" / "00001.png").write_bytes(b"")  # a crash or a full disk left an empty file
    assert not video_output_complete(out, "a", ["00000", "00001", "00002"], False)
    again = run_inference(_options(split, out), make_fake_predictor)
    assert {r.name: r.status for r in again.results} == {"a": "done", "b": "skipped"}
    ids, _ = read_index_png(out / "a" / "00001.png")
    assert ids.shape == (16, 24)


def test_truncated_png_is_not_counted_as_done(tmp_path):
    split = make_split(tmp_path / "split")
    out = tmp_path / "out"
    run_inference(_options(split, out), make_fake_predictor)
    (out / "b" / "00002.png").write_bytes(b"\x89PN")
    assert not video_output_complete(out, "b", ["00000", "00001", "00002"], False)
    assert {r.name: r.status for r in run_inference(_options(split, out), make_fake_predictor).results} == {
        "a": "skipped", "b": "done"}
