"""The one set of prompt rules: clicks, boxes, masks, frame indices and object ids.

Used by :class:`~sam2.sam2_image_predictor.SAM2ImagePredictor`,
:class:`~sam2.sam2_video_predictor.SAM2VideoPredictor` (and so the stream), the automatic mask
generator's settings and ``tools/demo.py``. Every refusal is a :class:`PromptError` (a
``ValueError``) or a ``TypeError`` whose message names the argument and the value.

Rules:

* Coordinates and boxes are finite numbers; a click lies inside the image:
  ``0 <= x <= W`` and ``0 <= y <= H`` in the caller's coordinates (pixels, or ``[0, 1]`` when
  the caller's ``normalize_coords=False``). A box may reach beyond the image (it is clipped by
  the model as in the official package) but must have ``x1 > x0`` and ``y1 > y0``.
* Point arrays are not empty; labels are whole numbers (``1.0`` is read as 1, ``0.5`` is
  refused) with the official meanings (:data:`LABEL_MEANINGS`): 1 positive click, 0 negative
  click, 2 / 3 the top-left / bottom-right corner of a box given as clicks, -1 padding (the
  point is ignored; used to batch prompts of different lengths). Other values are refused.
  The demo command line takes clicks only (:data:`CLICK_LABELS`).
* A mask prompt holds no NaN or infinite value; non-zero means the object.
* A frame index or object id is an integer (``int``, a numpy integer or a 0-d integer
  tensor), never a bool or a float (``2.7`` is not silently read as frame 2).
"""
from __future__ import annotations

import math
import operator
from typing import Any, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch

ArrayLike = Union[torch.Tensor, np.ndarray, Sequence]

#: label -> meaning, as in the official package
LABEL_MEANINGS: Mapping[int, str] = {
    1: "positive click", 0: "negative click", 2: "box top-left corner", 3: "box bottom-right corner",
    -1: "padding (ignored)",
}
ALL_LABELS: Tuple[int, ...] = (1, 0, 2, 3, -1)
CLICK_LABELS: Tuple[int, ...] = (1, 0)

__all__ = [
    "ALL_LABELS", "ArrayLike", "CLICK_LABELS", "LABEL_MEANINGS", "PromptError", "as_tensor",
    "check_boxes", "check_frame_index", "check_integer", "check_mask", "check_mask_logits", "check_obj_id",
    "check_points", "check_setting",
]


class PromptError(ValueError):
    """A prompt (points, labels, box, mask) that cannot mean anything; the message names it."""


def _show(value: Any) -> str:
    """A short rendering of a (possibly large) value for a message."""
    if isinstance(value, str):
        return value
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    text = np.array2string(value, threshold=8) if isinstance(value, np.ndarray) else repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def as_tensor(value: ArrayLike, dtype: torch.dtype, what: str, where: str,
              device: Optional[torch.device] = None) -> torch.Tensor:
    """``value`` as a tensor of ``dtype`` (on ``device``); a :class:`PromptError` when it is not numeric."""
    try:
        if isinstance(value, torch.Tensor):
            out = value
        else:
            arr = np.asarray(value)
            if arr.dtype == object or arr.dtype.kind in "USV":
                raise TypeError(f"holds {arr.dtype} values")
            out = torch.as_tensor(arr)
        return out.to(dtype=dtype, device=device) if device is not None else out.to(dtype)
    except (TypeError, ValueError, RuntimeError) as err:
        raise PromptError(f"{where}: {what} is not numeric: {err}") from err


def _finite(t: torch.Tensor, what: str, where: str, value: Any) -> None:
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        raise PromptError(f"{where}: {what} must be finite numbers, got {_show(value)}")


def _labels(labels: ArrayLike, what: str, where: str, allowed: Sequence[int],
            device: Optional[torch.device]) -> torch.Tensor:
    is_bool = labels.dtype == torch.bool if isinstance(labels, torch.Tensor) else np.asarray(labels).dtype == np.bool_
    if is_bool:
        raise PromptError(f"{where}: {what} must be integers {_allowed(allowed)}, got booleans {_show(labels)}")
    t = as_tensor(labels, torch.float64, what, where)
    if not bool(torch.isfinite(t).all()) or not bool((t == t.round()).all()):
        raise PromptError(f"{where}: {what} must be whole numbers {_allowed(allowed)}, got {_show(labels)}")
    bad = sorted({int(v) for v in t.flatten().tolist()} - set(allowed))
    if bad:
        raise PromptError(f"{where}: {what} {bad} not allowed, got {_show(labels)}; {_allowed(allowed)}")
    return t.to(dtype=torch.int32, device=device if device is not None else t.device)


def _allowed(allowed: Sequence[int]) -> str:
    return "(" + ", ".join(f"{v}: {LABEL_MEANINGS[v]}" for v in allowed) + ")"


def check_points(points: ArrayLike, labels: ArrayLike, where: str, *,
                 size: Optional[Tuple[float, float]] = None, points_name: str = "points",
                 labels_name: str = "labels", allowed_labels: Sequence[int] = ALL_LABELS,
                 device: Optional[torch.device] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Validated clicks.

    Args:
        points: ``[N, 2]`` or ``[B, N, 2]`` x, y.
        labels: ``[N]`` or ``[B, N]`` (see :data:`LABEL_MEANINGS`).
        where: what the message starts with, e.g. ``"predict"``.
        size: ``(W, H)``: clicks must lie in ``[0, W] x [0, H]``; None: no range check.
        allowed_labels: the labels accepted.

    Returns:
        float32 coordinates and int32 labels of the same shapes as given, on ``device``.
    """
    coords = as_tensor(points, torch.float32, points_name, where, device)
    if coords.dim() not in (2, 3) or coords.shape[-1] != 2:
        raise PromptError(f"{where}: {points_name} must have shape [N, 2] or [B, N, 2], got {tuple(coords.shape)}")
    if coords.shape[-2] == 0 or coords.numel() == 0:
        raise PromptError(f"{where}: {points_name} is empty (shape {tuple(coords.shape)}); give at least one click")
    _finite(coords, points_name, where, points)
    labs = _labels(labels, labels_name, where, allowed_labels, coords.device)
    if tuple(labs.shape) != tuple(coords.shape[:-1]):
        raise PromptError(f"{where}: {coords.shape[-2]} points but {labels_name} of shape {tuple(labs.shape)}: does "
                          f"not match {points_name} shape {tuple(coords.shape)} (expected {tuple(coords.shape[:-1])})")
    if size is not None:
        width, height = float(size[0]), float(size[1])
        x, y = coords[..., 0], coords[..., 1]
        outside = (x < 0) | (x > width) | (y < 0) | (y > height)
        outside &= labs != -1  # padding points carry no position
        if bool(outside.any()):
            first = coords[outside][0].tolist()
            raise PromptError(f"{where}: {points_name} ({first[0]:g}, {first[1]:g}) is outside the "
                              f"{width:g}x{height:g} image (x in [0, {width:g}], y in [0, {height:g}])")
    return coords, labs


def check_boxes(box: ArrayLike, where: str, *, name: str = "box",
                device: Optional[torch.device] = None) -> torch.Tensor:
    """Validated boxes ``[4]`` or ``[B, 4]`` (x0, y0, x1, y1) as float32, each with positive area."""
    boxes = as_tensor(box, torch.float32, name, where, device)
    if boxes.dim() not in (1, 2) or boxes.shape[-1] != 4 or boxes.numel() == 0:
        raise PromptError(f"{where}: {name} must have shape [4] or [B, 4] (x0, y0, x1, y1), got {tuple(boxes.shape)}")
    _finite(boxes, name, where, box)
    rows = boxes.reshape(-1, 4)
    bad = (rows[:, 2] <= rows[:, 0]) | (rows[:, 3] <= rows[:, 1])
    if bool(bad.any()):
        row = rows[bad][0].tolist()
        raise PromptError(f"{where}: {name} [{', '.join(f'{v:g}' for v in row)}] must have x1 > x0 and y1 > y0 "
                          "(a box of positive area, corners top-left then bottom-right)")
    return boxes


def check_mask(mask: ArrayLike, where: str, *, name: str = "mask") -> torch.Tensor:
    """A mask prompt; NaN or infinite values are refused.

    A tensor is returned as given (float values keep their weight, as in the official
    predictor); anything else becomes a bool tensor (non-zero = object).
    """
    if isinstance(mask, torch.Tensor):
        _finite(mask, name, where, "NaN or infinite values")
        return mask
    arr = np.asarray(mask)
    if arr.dtype.kind == "f" and not bool(np.isfinite(arr).all()):
        raise PromptError(f"{where}: {name} must be finite numbers, got NaN or infinite values")
    return as_tensor(arr, torch.bool, name, where)


def check_mask_logits(mask: ArrayLike, where: str, *, name: str = "mask_input",
                      device: Optional[torch.device] = None) -> torch.Tensor:
    """Low-resolution mask logits as float32; NaN or infinite values are refused."""
    t = as_tensor(mask, torch.float32, name, where, device)
    _finite(t, name, where, "NaN or infinite values")
    return t


def check_integer(value: Any, name: str) -> int:
    """``value`` as an int: ``int``, numpy integers, 0-d integer tensors; a ``TypeError`` naming
    ``name`` for bools, floats (even 2.0), strings."""
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, torch.Tensor) and value.dtype == torch.bool):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})") from None


def check_frame_index(frame_idx: Any, num_frames: Optional[int], name: str = "frame index") -> int:
    """``frame_idx`` as an int in ``[0, num_frames)`` (no upper bound when ``num_frames`` is None).

    Raises:
        TypeError: not an integer (a float such as 2.7 or 2.0, a bool, a string).
        IndexError: out of range (the message gives the valid range).
    """
    index = check_integer(frame_idx, name)
    if index < 0 or (num_frames is not None and index >= num_frames):
        raise IndexError(f"{name} {index} is out of range: the video has {num_frames} frames "
                         f"(0..{num_frames - 1 if num_frames is not None else '?'})")
    return index


def check_obj_id(obj_id: Any, name: str = "obj_id") -> int:
    """An object id as an int (ints, numpy integers; not bools, floats or strings)."""
    return check_integer(obj_id, name)


def check_setting(owner: str, name: str, value: Any, *, low: Optional[float] = None,
                  high: Optional[float] = None, integer: bool = False, low_open: bool = False,
                  high_open: bool = False) -> Union[int, float]:
    """A numeric setting checked against its range; ``ValueError``/``TypeError`` naming ``owner: name=value``.

    ``low``/``high`` are inclusive bounds unless ``low_open``/``high_open``.
    """
    where = f"{owner}: {name}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where} must be a number, got {value!r}")
    if integer:
        if isinstance(value, (float, np.floating)) and not float(value).is_integer():
            raise ValueError(f"{where} must be an integer, got {value!r}")
        out: Union[int, float] = int(value)
    else:
        out = float(value)
        if not math.isfinite(out):
            raise ValueError(f"{where} must be a finite number, got {value!r}")
    too_low = low is not None and (out <= low if low_open else out < low)
    too_high = high is not None and (out >= high if high_open else out > high)
    if too_low or too_high:
        lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
        raise ValueError(f"{where} must be {' and '.join(p for p in (lo, hi) if p)}, got {value!r}")
    return out
