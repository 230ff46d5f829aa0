"""The scorer never guesses: mismatched frame names, 0/255 masks and a meta file that disagrees
with the ground truth are refused with the files, videos and ids named."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sam2.data import DataFormatError, write_meta, write_palette_png
from sam2.evaluation import evaluate_split

H, W, FRAMES = 12, 16, 5


def _split(tmp: Path, objects=(1,), gt_ids=(1,), absent_on=()) -> tuple:
    """One video ``v``: each GT id a box of its own, predictions equal to the GT."""
    ann, pred = tmp / "Annotations", tmp / "pred"
    for t in range(FRAMES):
        gt = np.zeros((H, W), np.uint8)
        for k, obj in enumerate(gt_ids):
            if t not in absent_on:
                gt[2 + 3 * k: 4 + 3 * k, 2:6] = obj
        write_palette_png(ann / "v" / f"{t:05d}.png", gt)
        write_palette_png(pred / "v" / f"{t:05d}.png", gt)
    write_meta(tmp / "meta.json", {"v": {"length": FRAMES, "height": H, "width": W, "objects": list(objects)}})
    return tmp / "meta.json", ann, pred


def _score(meta, ann, pred, **kwargs):
    return evaluate_split(meta, ann, pred, on_warning=lambda m: None, **kwargs)


def test_missing_and_stray_frames_are_not_matched_by_position(tmp_path) -> None:
    meta, ann, pred = _split(tmp_path)
    (pred / "v" / "00002.png").rename(pred / "v" / "00007.png")
    with pytest.raises(DataFormatError) as err:
        _score(meta, ann, pred)
    message = str(err.value)
    assert message.startswith(f"{pred / 'v' / '00002.png'}: prediction missing for this frame (1 of 5 frames")
    assert "missing: 00002.png; stray prediction files matching no GT frame: 00007.png" in message
    assert "never by position" in message


def test_allow_missing_scores_the_gap_and_names_the_stray_file(tmp_path) -> None:
    meta, ann, pred = _split(tmp_path)
    (pred / "v" / "00002.png").rename(pred / "v" / "00007.png")
    warnings: list = []
    result = evaluate_split(meta, ann, pred, allow_missing=True, on_warning=warnings.append)
    assert any("1 stray prediction PNGs matching no GT frame ignored: 00007.png" in w for w in warnings)
    assert any("missing prediction frames scored as empty (--allow-missing): 00002.png" in w for w in warnings)
    assert result.objects[0].j < 1.0  # the gap is scored empty, not filled by the stray frame


def test_binary_0_255_prediction_is_refused(tmp_path) -> None:
    meta, ann, pred = _split(tmp_path)
    binary = np.zeros((H, W), np.uint8)
    binary[2:4, 2:6] = 255
    Image.fromarray(binary, mode="L").save(pred / "v" / "00001.png")
    with pytest.raises(DataFormatError) as err:
        _score(meta, ann, pred)
    assert str(err.value) == (
        f"{pred / 'v' / '00001.png'}: holds the value 255, which is not an object of video 'v' (objects [1]): "
        "a 0/255 binary mask? Prediction PNGs hold object ids (0 background, 1, 2, ...)")


def test_binary_prediction_is_refused_even_with_allow_missing(tmp_path) -> None:
    meta, ann, pred = _split(tmp_path)
    binary = np.zeros((H, W), np.uint8)
    binary[2:4, 2:6] = 255
    Image.fromarray(binary, mode="L").save(pred / "v" / "00003.png")
    with pytest.raises(DataFormatError, match="0/255 binary mask"):
        _score(meta, ann, pred, allow_missing=True)


def test_meta_object_absent_from_the_ground_truth_is_refused(tmp_path) -> None:
    meta, ann, pred = _split(tmp_path, objects=(1, 3), gt_ids=(1,))
    with pytest.raises(DataFormatError) as err:
        _score(meta, ann, pred)
    assert str(err.value) == (
        f"{meta}: video 'v': object 3 is in the meta file but appears in none of the {FRAMES} GT frames of {ann / 'v'}")


def test_object_seen_only_on_the_first_frame_is_scored(tmp_path) -> None:
    meta, ann, pred = _split(tmp_path, objects=(1,), gt_ids=(1,), absent_on=(1, 2, 3, 4))
    result = _score(meta, ann, pred)
    assert [o.obj_id for o in result.objects] == [1]


def test_ground_truth_id_missing_from_the_meta_is_refused(tmp_path) -> None:
    meta, ann, pred = _split(tmp_path, objects=(1,), gt_ids=(1, 4))
    with pytest.raises(DataFormatError) as err:
        _score(meta, ann, pred)
    assert str(err.value) == (
        f"{ann / 'v'}: GT object id(s) [4] of video 'v' are not in the meta file's objects [1] ({meta}); "
        "they would not be scored")


def test_video_with_no_meta_objects_but_annotated_ids_is_refused(tmp_path) -> None:
    meta, ann, pred = _split(tmp_path, objects=(), gt_ids=(2,))
    with pytest.raises(DataFormatError, match=r"GT object id\(s\) \[2\] of video 'v' are not in the meta file's objects \[\]"):
        _score(meta, ann, pred)


def test_consistent_split_scores_100(tmp_path) -> None:
    meta, ann, pred = _split(tmp_path, objects=(1, 2), gt_ids=(1, 2))
    result = _score(meta, ann, pred, workers=1)
    assert [round(o.j, 6) for o in result.objects] == [1.0, 1.0]


def _score_tool():
    import importlib.util

    spec = importlib.util.spec_from_file_location("score_tool", Path(__file__).resolve().parents[2] / "tools" / "score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("flag", ["--workers", "--chunk-frames"])
def test_score_tool_refuses_zero_workers_or_chunk_frames(tmp_path, capsys, flag) -> None:
    meta, ann, pred = _split(tmp_path)
    with pytest.raises(SystemExit) as code:
        _score_tool().main(["--meta", str(meta), "--ann", str(ann), "--pred", str(pred), "--output",
                            str(tmp_path / "out"), flag, "0"])
    assert code.value.code == 2
    assert f"{flag} must be >= 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_score_tool_names_the_stray_file(tmp_path, caplog) -> None:
    meta, ann, pred = _split(tmp_path)
    (pred / "v" / "00001.png").rename(pred / "v" / "00009.png")
    code = _score_tool().main(["--meta", str(meta), "--ann", str(ann), "--pred", str(pred), "--output",
                               str(tmp_path / "out"), "--workers", "1", "--no-progress"])
    assert code == 1
    err = caplog.text
    assert "missing: 00001.png; stray prediction files matching no GT frame: 00009.png" in err


@pytest.mark.parametrize("bad", [0, 256, -1])
def test_meta_object_id_outside_1_255_is_refused(tmp_path, bad) -> None:
    meta, ann, pred = _split(tmp_path, objects=(1, bad), gt_ids=(1,))
    with pytest.raises(DataFormatError) as err:
        _score(meta, ann, pred)
    assert str(err.value) == f"{meta}: video 'v': object ids must be 1..255 (0 is the background), got [{bad}]"


def test_meta_object_listed_twice_is_refused(tmp_path) -> None:
    meta, ann, pred = _split(tmp_path, objects=(1, 1), gt_ids=(1,))
    with pytest.raises(DataFormatError) as err:
        _score(meta, ann, pred)
    assert str(err.value) == f"{meta}: video 'v': object id(s) [1] listed more than once (each would be scored again)"


def test_huge_frame_count_in_the_meta_is_refused_without_work(tmp_path) -> None:
    meta, ann, pred = _split(tmp_path)
    write_meta(meta, {"v": {"length": 10**12, "height": H, "width": W, "objects": [1]}})
    with pytest.raises(DataFormatError) as err:
        _score(meta, ann, pred)
    assert str(err.value) == f"{meta}: video 'v': meta length {10**12} but {FRAMES} GT PNGs in {ann / 'v'}"
