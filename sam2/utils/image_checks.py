"""The one check of an RGB input image, shared by the image predictor and the mask generator.

Accepted: an ``[H, W, 3]`` uint8 numpy array (RGB, values 0-255) or a PIL image in mode
``"RGB"``, with ``H, W > 0``. Everything else raises an error that starts with ``where`` (the
call that received the image) and says how to convert the input:

* ``TypeError``: neither a numpy array nor a PIL image;
* ``ValueError``: a grayscale or RGBA array, another shape, another dtype, a PIL image in
  another mode, or an empty image.
"""
from __future__ import annotations

from typing import Any, Tuple

import numpy as np
from PIL import Image as PILImage

_EXPECTED = "an RGB image: a numpy array [H, W, 3] (HxWx3) of dtype uint8, or a PIL image in mode 'RGB'"


def check_rgb_image(image: Any, where: str) -> Tuple[int, int]:
    """Validate ``image`` (see the module docstring) and return its ``(H, W)``."""
    if isinstance(image, PILImage.Image):
        if image.mode != "RGB":
            raise ValueError(
                f"{where}: PIL image in mode {image.mode!r}; expected {_EXPECTED}. "
                "Use image.convert('RGB')"
            )
        width, height = image.size
        if width == 0 or height == 0:
            raise ValueError(f"{where}: empty image of size {width}x{height} (WxH)")
        return int(height), int(width)
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{where}: expected {_EXPECTED}; got {type(image).__name__}")
    shape = tuple(image.shape)
    if image.ndim == 2 or (image.ndim == 3 and shape[2] == 1):
        raise ValueError(
            f"{where}: grayscale image of shape {shape}; expected {_EXPECTED}. "
            "Repeat the channel, e.g. np.repeat(image.reshape(H, W, 1), 3, axis=2)"
        )
    if image.ndim != 3 or shape[2] != 3:
        hint = ". RGBA: drop the alpha channel with image[..., :3]" if image.ndim == 3 and shape[2] == 4 else ""
        raise ValueError(f"{where}: image of shape {shape}; expected {_EXPECTED}{hint}")
    if image.dtype != np.uint8:
        raise ValueError(
            f"{where}: image of dtype {image.dtype}; expected {_EXPECTED} (values 0-255). "
            "Convert a [0, 1] float image with (image * 255).round().astype(np.uint8)"
        )
    if shape[0] == 0 or shape[1] == 0:
        raise ValueError(f"{where}: empty image of shape {shape}")
    return int(shape[0]), int(shape[1])


__all__ = ["check_rgb_image"]
