"""SAM2ImagePredictor.predict refuses prompts that cannot mean anything, naming argument and value."""
from __future__ import annotations

import numpy as np
import pytest

from prompt_fixtures import HEIGHT, WIDTH, tiny_image_predictor
from sam2.utils.prompt_checks import PromptError


@pytest.fixture(scope="module")
def pred():
    return tiny_image_predictor()


def test_nan_click_is_refused(pred) -> None:
    with pytest.raises(PromptError, match=r"^predict: point_coords must be finite numbers, got \[\[nan  5\.\]\]$"):
        pred.predict(point_coords=np.array([[np.nan, 5.0]]), point_labels=np.array([1]))


def test_infinite_click_is_refused(pred) -> None:
    with pytest.raises(PromptError, match=r"^predict: point_coords must be finite numbers, got \[\[ 3\. inf\]\]$"):
        pred.predict(point_coords=np.array([[3.0, np.inf]]), point_labels=np.array([1]))


def test_nan_box_is_refused(pred) -> None:
    with pytest.raises(PromptError, match=r"^predict: box must be finite numbers, got \[ 1\.  2\. nan 20\.\]$"):
        pred.predict(box=np.array([1.0, 2.0, np.nan, 20.0]))


def test_label_seven_is_refused(pred) -> None:
    with pytest.raises(PromptError, match=r"^predict: point_labels \[7\] not allowed, got \[1 7\]; \(1: positive click, "
                                          r"0: negative click, 2: box top-left corner, 3: box bottom-right corner, "
                                          r"-1: padding \(ignored\)\)$"):
        pred.predict(point_coords=np.array([[3.0, 3.0], [4.0, 4.0]]), point_labels=np.array([1, 7]))


def test_fractional_label_is_refused(pred) -> None:
    with pytest.raises(PromptError, match=r"^predict: point_labels must be whole numbers .*got \[0\.5\]$"):
        pred.predict(point_coords=np.array([[3.0, 3.0]]), point_labels=np.array([0.5]))


def test_boolean_labels_are_refused(pred) -> None:
    with pytest.raises(PromptError, match=r"^predict: point_labels must be integers .*got booleans \[ True\]$"):
        pred.predict(point_coords=np.array([[3.0, 3.0]]), point_labels=np.array([True]))


def test_whole_float_label_keeps_its_meaning(pred) -> None:
    as_float = pred.predict(point_coords=np.array([[3.0, 3.0]]), point_labels=np.array([1.0]))
    as_int = pred.predict(point_coords=np.array([[3.0, 3.0]]), point_labels=np.array([1]))
    np.testing.assert_array_equal(as_float[1], as_int[1])


def test_official_padding_label_is_accepted(pred) -> None:
    masks, ious, _ = pred.predict(point_coords=np.array([[3.0, 3.0], [0.0, 0.0]]), point_labels=np.array([1, -1]))
    assert np.isfinite(ious).all()


def test_reversed_box_is_refused(pred) -> None:
    with pytest.raises(PromptError, match=r"^predict: box \[20, 20, 5, 5\] must have x1 > x0 and y1 > y0"):
        pred.predict(box=np.array([20.0, 20.0, 5.0, 5.0]))


def test_zero_area_box_is_refused(pred) -> None:
    with pytest.raises(PromptError, match=r"^predict: box \[5, 5, 5, 9\] must have x1 > x0 and y1 > y0"):
        pred.predict(box=np.array([5.0, 5.0, 5.0, 9.0]))


def test_empty_point_array_is_refused(pred) -> None:
    with pytest.raises(PromptError, match=r"^predict: point_coords is empty \(shape \(0, 2\)\); give at least one click$"):
        pred.predict(point_coords=np.zeros((0, 2)), point_labels=np.zeros((0,), np.int64))


def test_click_outside_the_image_is_refused(pred) -> None:
    with pytest.raises(PromptError, match=rf"^predict: point_coords \(41, 3\) is outside the {WIDTH}x{HEIGHT} image"):
        pred.predict(point_coords=np.array([[41.0, 3.0]]), point_labels=np.array([1]))


def test_normalised_click_outside_the_unit_square_is_refused(pred) -> None:
    with pytest.raises(PromptError, match=r"^predict: point_coords \(1\.5, 0\.5\) is outside the 1x1 image"):
        pred.predict(point_coords=np.array([[1.5, 0.5]]), point_labels=np.array([1]), normalize_coords=False)


def test_nan_mask_logits_are_refused(pred) -> None:
    logits = np.zeros((1, 32, 32), np.float32)
    logits[0, 3, 4] = np.nan
    with pytest.raises(PromptError, match=r"^predict: mask_input must be finite numbers, got NaN or infinite values$"):
        pred.predict(mask_input=logits)


def test_string_coordinates_are_refused(pred) -> None:
    with pytest.raises(PromptError, match=r"^predict: point_coords is not numeric"):
        pred.predict(point_coords=[["a", "b"]], point_labels=[1])


def test_batch_prompts_name_the_image(pred) -> None:
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    pred.set_image_batch([image, image])
    try:
        with pytest.raises(PromptError, match=r"^predict_batch \(image 1\): point_coords must be finite"):
            pred.predict_batch([np.array([[1.0, 1.0]]), np.array([[np.nan, 1.0]])], [np.array([1]), np.array([1])])
    finally:
        pred.set_image(np.zeros((HEIGHT, WIDTH, 3), np.uint8))


@pytest.mark.parametrize("name, value, message", [
    ("mask_threshold", float("nan"), "mask_threshold must be a finite number, got nan"),
    ("max_hole_area", -1, "max_hole_area must be >= 0, got -1"),
    ("max_sprinkle_area", float("inf"), "max_sprinkle_area must be a finite number, got inf"),
])
def test_bad_predictor_setting_is_refused(pred, name, value, message) -> None:
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    with pytest.raises(ValueError) as err:
        SAM2ImagePredictor(pred.model, **{name: value})
    assert str(err.value) == f"SAM2ImagePredictor: {message}"
