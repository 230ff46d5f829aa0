"""The shared RGB input check: what it accepts, what it refuses and with which error."""
import numpy as np
import pytest
from PIL import Image

from sam2.utils.image_checks import check_rgb_image


def test_accepts_rgb_arrays_and_pil_images_and_returns_height_width():
    assert check_rgb_image(np.zeros((20, 30, 3), np.uint8), "f") == (20, 30)
    assert check_rgb_image(Image.new("RGB", (30, 20)), "f") == (20, 30)
    # views are fine (non-contiguous, negative strides)
    assert check_rgb_image(np.zeros((40, 30, 3), np.uint8)[::-2], "f") == (20, 30)


@pytest.mark.parametrize("bad, error, message", [
    (np.zeros((20, 30), np.uint8), ValueError, "grayscale"),
    (np.zeros((20, 30, 1), np.uint8), ValueError, "grayscale"),
    (np.zeros((20, 30, 4), np.uint8), ValueError, r"RGBA.*image\[\.\.\., :3\]"),
    (np.zeros((3, 20, 30), np.uint8), ValueError, r"shape \(3, 20, 30\)"),
    (np.zeros((20, 30, 3), np.float32), ValueError, "dtype float32"),
    (np.zeros((0, 30, 3), np.uint8), ValueError, "empty"),
    (Image.new("RGBA", (30, 20)), ValueError, r"mode 'RGBA'.*convert\('RGB'\)"),
    (Image.new("L", (30, 20)), ValueError, "mode 'L'"),
    ([[0, 0, 0]], TypeError, "got list"),
])
def test_refusals_name_the_caller_and_the_problem(bad, error, message):
    with pytest.raises(error, match=message) as info:
        check_rgb_image(bad, "my_call(image)")
    assert str(info.value).startswith("my_call(image): ")
