"""Numbers the package shares, each defined here once and imported where it is used.

* :data:`IMAGENET_MEAN` / :data:`IMAGENET_STD`: per-channel RGB statistics (of images scaled to
  [0, 1]) that every model input is normalised with, ``(x - mean) / std``; the image predictor,
  the video frame reader and the training transforms all use these values.
* :data:`MISSING_OBJECT_LOGIT`: the mask logit written for an object that has no prediction on a
  frame (not tracked yet, or judged absent); low enough that it never wins a pixel and that
  ``sigmoid`` gives exactly 0 in float32.
* :data:`RCMS_PUBLISHED_N` / :data:`RCMS_PUBLISHED_TAU`: the published RCMS defaults (frames
  promoted, quality threshold), used by the PyTorch policy and the ONNX tracker alike.
"""
from __future__ import annotations

from typing import Tuple

IMAGENET_MEAN: Tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: Tuple[float, float, float] = (0.229, 0.224, 0.225)

MISSING_OBJECT_LOGIT: float = -1024.0

RCMS_PUBLISHED_N: int = 4
RCMS_PUBLISHED_TAU: float = 0.6

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "MISSING_OBJECT_LOGIT", "RCMS_PUBLISHED_N", "RCMS_PUBLISHED_TAU"]
