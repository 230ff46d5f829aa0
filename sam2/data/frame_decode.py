"""Decoding a frame image to 8-bit RGB: the one set of rules for every frame reader.

Used by the split reader (:mod:`sam2.data.mose_layout`), the video predictor's frame folder
reader, the live folder source and the demo.

* 8-bit images of any mode (``L``, ``P``, ``RGBA``, ``CMYK``, ...) are converted to RGB as
  Pillow does.
* 16-bit greyscale images (PNG modes ``I;16*``, or ``I`` holding values up to 65535) are scaled
  to 8 bits (``round(v / 257)``: 65535 -> 255) rather than clipped (Pillow's plain conversion
  turns almost every 16-bit pixel white).
* Floating-point images (mode ``F``) and 32-bit integer images with values outside
  0..65535 have no agreed 8-bit meaning and are refused, naming the file.
* An image larger than Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``,
  about 179 million pixels for an error) is refused by Pillow; :data:`IMAGE_ERRORS` lists it
  with the other decoding errors so that every reader names the file.
"""
from __future__ import annotations

import os
from typing import Union

import numpy as np
from PIL import Image, UnidentifiedImageError

from sam2.data.errors import DataFormatError

#: the errors Pillow raises on a file that is not a usable image (the decompression-bomb refusal included)
IMAGE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


def to_rgb8(img: Image.Image, path: Union[str, "os.PathLike[str]"]) -> Image.Image:
    """``img`` as an 8-bit ``RGB`` image (see the module docstring).

    Raises:
        DataFormatError: a floating-point image or integer values outside 0..65535 (names ``path``).
    """
    if img.mode == "RGB":
        return img
    if img.mode in _SIXTEEN_BIT_MODES or img.mode == "I":
        values = np.asarray(img).astype(np.int64)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise DataFormatError(path, f"{img.mode} image with values {values.min()}..{values.max()}: "
                                        "only 8-bit or 16-bit (0..65535) frames are supported")
        grey = np.round(values / 257.0).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if img.mode == "F":
        raise DataFormatError(path, "floating-point image (mode 'F'): frames must be 8-bit or 16-bit images")
    return img.convert("RGB")


__all__ = ["IMAGE_ERRORS", "to_rgb8"]
