"""End-to-end scoring of small hand-made splits (values worked out by hand), error handling,
output formats and the command line."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sam2.data import DataFormatError, write_meta, write_palette_png
from sam2.evaluation import evaluate_split, write_reports

REPO = Path(__file__).resolve().parents[2]
H, W = 60, 80  # diagonal 100 -> r_std 0.8: a 3x3 kernel holding only its centre (exact match)
K_FP = 3  # false-positive pixels on vidA obj 5 frame 2
A5 = 12  # area of vidA obj 5


def _box(y0, x0, bh, bw):
    m = np.zeros((H, W), bool)
    m[y0 : y0 + bh, x0 : x0 + bw] = True
    return m


def _obj2():
    return _box(10, 10, 8, 9)


def _obj5():
    return _box(40, 50, 3, 4)  # area 12


def build(tmp: Path) -> tuple[Path, Path, Path]:
    """GT and predictions:

    vidA (5 frames, ids 2 and 5): obj 2 on every frame; obj 5 absent on frame 2.
        pred: frames 0 and 4 are garbage (not evaluated), obj 2 perfect on 1..3; obj 5 perfect
        on 1, K_FP false-positive pixels on 2, missed on 3.
    vidB (3 frames, id 1): perfect on frame 1.   vidC (2 frames), vidD (1 frame): no window.
    vidE (4 frames, id 1): no prediction folder.
    """
    ann, pred = tmp / "Annotations", tmp / "pred"
    videos = {}
    for t in range(5):
        gt = np.zeros((H, W), np.uint8)
        gt[_obj2()] = 2
        if t != 2:
            gt[_obj5()] = 5
        write_palette_png(ann / "vidA" / f"{t:05d}.png", gt)
        p = np.zeros((H, W), np.uint8)
        if t in (0, 4):
            p[:] = 2 if t == 0 else 0
        else:
            p[_obj2()] = 2
            if t == 1:
                p[_obj5()] = 5
            if t == 2:
                p[0, 0:K_FP] = 5
        write_palette_png(pred / "vidA" / f"{t:05d}.png", p)
    videos["vidA"] = {"length": 5, "height": H, "width": W, "objects": {"2": {}, "5": {}}}
    for name, n in (("vidB", 3), ("vidC", 2), ("vidD", 1), ("vidE", 4)):
        for t in range(n):
            gt = np.zeros((H, W), np.uint8)
            gt[_obj2()] = 1
            write_palette_png(ann / name / f"{t:05d}.png", gt)
            if name != "vidE":
                write_palette_png(pred / name / f"{t:05d}.png", gt)
        videos[name] = {"length": n, "height": None, "width": None, "objects": [1]}
    write_meta(tmp / "meta.json", videos)
    return tmp / "meta.json", ann, pred


def expected_vid_a_obj5():
    j = [1.0, 1 / (K_FP + 1), 1 / (A5 + 1)]
    fd = [1.0, 0.0, 0.0]
    return j, fd


def test_scores_worked_out_by_hand(tmp_path):
    meta, ann, pred = build(tmp_path)
    warnings: list[str] = []
    res = evaluate_split(meta, ann, pred, on_warning=warnings.append)
    by_key = {o.key: o for o in res.objects}
    assert list(by_key) == ["vidA_2", "vidA_5", "vidB_1", "vidC_1", "vidD_1", "vidE_1"]
    a2 = by_key["vidA_2"]  # frames 0 and 4 are garbage but not evaluated
    assert (a2.j, a2.f, a2.f_dot, a2.num_frames) == (1.0, 1.0, 1.0, 3)
    assert a2.d_j is None and a2.r_j is None
    a5 = by_key["vidA_5"]
    j, fd = expected_vid_a_obj5()
    assert a5.j == pytest.approx(sum(j) / 3)
    assert a5.f_dot == pytest.approx(1 / 3) and a5.f == pytest.approx(1 / 3)
    assert (a5.d_j, a5.d_f_dot) == (pytest.approx(1 / (K_FP + 1)), 0.0)
    assert (a5.r_j, a5.r_f_dot) == (pytest.approx(1 / (A5 + 1)), 0.0)
    assert (a5.bd_j, a5.bd_f_dot) == (1.0, 1.0)
    assert by_key["vidB_1"].j == 1.0 and by_key["vidB_1"].num_frames == 1
    for short in ("vidC_1", "vidD_1"):
        assert (by_key[short].j, by_key[short].f_dot, by_key[short].status) == (0.0, 0.0, "no_eval_frames")
    assert by_key["vidE_1"].status == "missing_video" and by_key["vidE_1"].j == 0.0
    assert res.missing_videos == ["vidE"]
    assert res.no_eval_frame_videos == ["vidC", "vidD"]
    assert any("vidE" in w and "missing" in w for w in warnings)
    assert any("vidC" in w for w in warnings)
    # dataset: mean over the 6 objects
    ds = res.dataset
    assert ds.j == pytest.approx((1 + sum(j) / 3 + 1 + 0 + 0 + 0) / 6)
    assert ds.f_dot == pytest.approx((1 + 1 / 3 + 1) / 6)
    assert ds.num_d_objects == 1 and ds.num_r_objects == 1
    assert ds.d_jf_dot == pytest.approx((1 / (K_FP + 1) + 0) / 2)


def test_reports_have_the_reference_format(tmp_path):
    meta, ann, pred = build(tmp_path)
    res = evaluate_split(meta, ann, pred, on_warning=lambda m: None)
    out = tmp_path / "out"
    write_reports(out, res.objects, res.dataset, res.total_time, res.missing_videos, res.no_eval_frame_videos, res.warnings)
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["vidA_5"]) == ["J&F_new", "J", "F_new", "disappear_J&F_new", "reappear_J&F_new", "F", "J&F"]
    j, fd = expected_vid_a_obj5()
    assert metrics["vidA_5"]["J"] == round(sum(j) / 3 * 100, 2)
    assert metrics["vidA_5"]["J&F_new"] == round((sum(j) / 3 + 1 / 3) / 2 * 100, 2)
    assert metrics["vidA_5"]["disappear_J&F_new"] == round((0.25 + 0) / 2 * 100, 2)  # 12.5
    assert metrics["vidA_2"]["reappear_J&F_new"] is None
    assert "total_time" in metrics
    lines = (out / "scores.txt").read_text().splitlines()
    assert [l.split(":")[0] for l in lines] == [
        "J&F_new", "J", "F_new", "disappear_J&F_new", "reappear_J&F_new", "F", "J&F", "Copy-Paste"]
    ds_j = round((1 + sum(j) / 3 + 1) / 6 * 100, 2)
    assert lines[1] == f"J: {ds_j}"
    copy = lines[-1].split(": ")[1].split(",")
    assert copy[1] == f"{ds_j:.1f}" and len(copy) == 7
    full = json.loads((out / "metrics_full.json").read_text())
    assert full["missing_videos"] == ["vidE"]
    assert full["objects"]["vidA_5"]["J"] == pytest.approx(sum(j) / 3 * 100)
    assert full["dataset"]["J"] == pytest.approx((1 + sum(j) / 3 + 1) / 6 * 100)
    assert full["dataset"]["before_disappear_J&F_new"] is not None
    rows = list(csv.DictReader((out / "per_object.csv").open()))
    assert len(rows) == 6 and rows[1]["video"] == "vidA" and rows[1]["object_id"] == "5"


def test_missing_frame_wrong_size_and_unreadable_are_named(tmp_path):
    meta, ann, pred = build(tmp_path)
    (pred / "vidA" / "00002.png").unlink()
    with pytest.raises(DataFormatError, match=r"vidA/00002\.png.*missing"):
        evaluate_split(meta, ann, pred)
    res = evaluate_split(meta, ann, pred, allow_missing=True, on_warning=lambda m: None)
    a5 = next(o for o in res.objects if o.key == "vidA_5")
    assert a5.d_j == 1.0  # the missing frame (GT empty) is scored as an empty prediction

    write_palette_png(pred / "vidA" / "00002.png", np.zeros((H + 1, W), np.uint8))
    with pytest.raises(DataFormatError, match=r"vidA/00002\.png.*size"):
        evaluate_split(meta, ann, pred)
    (pred / "vidA" / "00003.png").write_bytes(b"not a png at all")
    (pred / "vidA" / "00002.png").unlink()
    write_palette_png(pred / "vidA" / "00002.png", np.zeros((H, W), np.uint8))
    with pytest.raises(DataFormatError, match=r"vidA/00003\.png.*unreadable"):
        evaluate_split(meta, ann, pred)
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(pred / "vidA" / "00003.png")
    with pytest.raises(DataFormatError, match=r"vidA/00003\.png.*mode 'RGB'"):
        evaluate_split(meta, ann, pred)


def test_meta_length_mismatch_is_named(tmp_path):
    meta, ann, pred = build(tmp_path)
    doc = json.loads(meta.read_text())
    doc["videos"]["vidB"]["length"] = 4
    meta.write_text(json.dumps(doc))
    with pytest.raises(DataFormatError, match=r"meta\.json.*'vidB'.*length 4"):
        evaluate_split(meta, ann, pred)


def test_wrapper_folder_descent(tmp_path):
    meta, ann, pred = build(tmp_path)
    wrapped = tmp_path / "wrapped"
    shutil.copytree(pred, wrapped / "submission")
    res = evaluate_split(meta, ann, wrapped, on_warning=lambda m: None)
    assert res.pred_dir == wrapped / "submission" and res.missing_videos == ["vidE"]
    # a single folder that IS a video name is not a wrapper
    only = tmp_path / "only"
    shutil.copytree(pred / "vidA", only / "vidA")
    res = evaluate_split(meta, ann, only, on_warning=lambda m: None)
    assert res.pred_dir == only and sorted(res.missing_videos) == ["vidB", "vidE"]


@pytest.mark.slow  # worker processes
def test_workers_give_identical_results(tmp_path):
    meta, ann, pred = build(tmp_path)
    one = evaluate_split(meta, ann, pred, workers=1, chunk_frames=1, on_warning=lambda m: None)
    two = evaluate_split(meta, ann, pred, workers=2, chunk_frames=1, on_warning=lambda m: None)
    assert [(o.key, o.j, o.f, o.f_dot, o.d_j, o.r_j) for o in one.objects] == [
        (o.key, o.j, o.f, o.f_dot, o.d_j, o.r_j) for o in two.objects]


def test_command_line_exit_codes(tmp_path):
    meta, ann, pred = build(tmp_path)
    cmd = [sys.executable, str(REPO / "tools" / "score.py"), "--meta", str(meta), "--ann", str(ann),
           "--pred", str(pred), "--output", str(tmp_path / "out"), "--workers", "1", "--no-progress"]
    ok = subprocess.run(cmd, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "vidE" in ok.stderr and "MISSING" in ok.stderr
    assert (tmp_path / "out" / "scores.txt").read_text().startswith("J&F_new: ")
    (pred / "vidA" / "00001.png").unlink()
    bad = subprocess.run(cmd, capture_output=True, text=True)
    assert bad.returncode == 1
    assert "vidA/00001.png" in bad.stderr
