"""SAM2VideoPredictor and the stream refuse nonsense prompts, naming the value; no object is
added by a refused prompt."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from prompt_fixtures import FRAMES, HEIGHT, WIDTH, tiny_video_predictor, write_clip
from sam2.sam2_video_predictor import PromptError


@pytest.fixture(scope="module")
def predictor():
    return tiny_video_predictor()


@pytest.fixture
def state(predictor, tmp_path):
    return predictor.init_state(str(write_clip(tmp_path / "clip")))


def _refused(state, error, pattern, call) -> None:
    with pytest.raises(error, match=pattern):
        call()
    assert state.obj_ids == []  # nothing was added


WHERE = r"^prompt for object 1 on frame 0: "


def test_nan_click(predictor, state) -> None:
    _refused(state, PromptError, WHERE + r"points must be finite numbers, got \[\[\[nan  2\.\]\]\]$",
             lambda: predictor.add_new_points_or_box(state, 0, 1, points=[[np.nan, 2.0]], labels=[1]))


def test_infinite_box(predictor, state) -> None:
    _refused(state, PromptError, WHERE + r"box must be finite numbers, got \[ 0\.  0\. inf  5\.\]$",
             lambda: predictor.add_new_points_or_box(state, 0, 1, box=[0.0, 0.0, np.inf, 5.0]))


def test_label_seven(predictor, state) -> None:
    _refused(state, PromptError, WHERE + r"labels \[7\] not allowed, got \[\[7\]\]",
             lambda: predictor.add_new_points_or_box(state, 0, 1, points=[[2.0, 2.0]], labels=[7]))


def test_fractional_label(predictor, state) -> None:
    _refused(state, PromptError, WHERE + r"labels must be whole numbers .*got \[\[0\.5\]\]$",
             lambda: predictor.add_new_points_or_box(state, 0, 1, points=[[2.0, 2.0]], labels=np.array([0.5])))


def test_reversed_box(predictor, state) -> None:
    _refused(state, PromptError, WHERE + r"box \[30, 20, 10, 5\] must have x1 > x0 and y1 > y0",
             lambda: predictor.add_new_points_or_box(state, 0, 1, box=[30, 20, 10, 5]))


def test_zero_area_box(predictor, state) -> None:
    _refused(state, PromptError, WHERE + r"box \[10, 5, 30, 5\] must have x1 > x0 and y1 > y0",
             lambda: predictor.add_new_points_or_box(state, 0, 1, box=[10, 5, 30, 5]))


def test_empty_point_array(predictor, state) -> None:
    _refused(state, PromptError, WHERE + r"points is empty \(shape \(1, 0, 2\)\); give at least one click$",
             lambda: predictor.add_new_points_or_box(state, 0, 1, points=np.zeros((0, 2)), labels=np.zeros(0)))


def test_click_outside_the_frame(predictor, state) -> None:
    _refused(state, PromptError, WHERE + rf"points \(2, 31\) is outside the {WIDTH}x{HEIGHT} image",
             lambda: predictor.add_new_points_or_box(state, 0, 1, points=[[2.0, 31.0]], labels=[1]))


def test_nan_mask(predictor, state) -> None:
    mask = np.zeros((HEIGHT, WIDTH), np.float32)
    mask[1, 1] = np.nan
    _refused(state, PromptError, r"^mask prompt for object 1 on frame 0: mask must be finite numbers, "
                                 r"got NaN or infinite values$",
             lambda: predictor.add_new_mask(state, 0, 1, mask))


def test_nan_mask_tensor(predictor, state) -> None:
    mask = torch.full((HEIGHT, WIDTH), float("nan"))
    _refused(state, PromptError, r"^mask prompt for object 1 on frame 0: mask must be finite numbers",
             lambda: predictor.add_new_mask(state, 0, 1, mask))


@pytest.mark.parametrize("index", [2.7, 2.0, "1", True])
def test_non_integer_frame_index(predictor, state, index) -> None:
    _refused(state, TypeError, rf"^frame index must be an integer, got {index!r}",
             lambda: predictor.add_new_points_or_box(state, index, 1, points=[[2.0, 2.0]], labels=[1]))


def test_frame_index_past_the_end(predictor, state) -> None:
    _refused(state, IndexError, rf"^frame index {FRAMES} is out of range: the video has {FRAMES} frames",
             lambda: predictor.add_new_mask(state, FRAMES, 1, np.ones((HEIGHT, WIDTH), bool)))


@pytest.mark.parametrize("obj_id", [1.5, "cat", None])
def test_non_integer_object_id(predictor, state, obj_id) -> None:
    _refused(state, TypeError, rf"^obj_id must be an integer, got {obj_id!r}",
             lambda: predictor.add_new_points_or_box(state, 0, obj_id, points=[[2.0, 2.0]], labels=[1]))


def test_numpy_integers_are_accepted(predictor, state) -> None:
    frame, obj_ids, _ = predictor.add_new_points_or_box(state, np.int64(1), np.int32(4), points=[[2.0, 2.0]],
                                                        labels=np.array([1], np.int64))
    assert frame == 1 and obj_ids == [4] and type(obj_ids[0]) is int


def test_stream_refuses_a_nan_click(predictor) -> None:
    from sam2.video.tracking.stream import open_stream

    first = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    stream = open_stream(predictor, first)
    try:
        with pytest.raises(PromptError, match=WHERE + r"points must be finite numbers"):
            stream.add_points(1, [[np.nan, 1.0]], [1])
        with pytest.raises(TypeError, match=r"^frame index must be an integer, got 0\.0"):
            stream.add_points(1, [[1.0, 1.0]], [1], frame_idx=0.0)
        assert stream.obj_ids == []
    finally:
        stream.close()


def test_box_as_two_corners_keeps_its_official_meaning(predictor, state) -> None:
    flat = predictor.add_new_points_or_box(state, 0, 1, box=[2.0, 3.0, 20.0, 15.0])[2]
    corners = predictor.add_new_points_or_box(state, 0, 1, box=[[2.0, 3.0], [20.0, 15.0]])[2]
    torch.testing.assert_close(flat, corners)


def test_reversed_corner_pair_is_refused(predictor, state) -> None:
    _refused(state, PromptError, WHERE + r"box \[20, 15, 2, 3\] must have x1 > x0 and y1 > y0",
             lambda: predictor.add_new_points_or_box(state, 0, 1, box=[[20.0, 15.0], [2.0, 3.0]]))


def test_fractional_number_of_frames_to_track_is_refused(predictor, state) -> None:
    predictor.add_new_points_or_box(state, 0, 1, points=[[2.0, 2.0]], labels=[1])
    with pytest.raises(TypeError, match=r"^max_frame_num_to_track must be an integer, got 1\.5 \(float\)$"):
        next(iter(predictor.propagate_in_video(state, max_frame_num_to_track=1.5)))
