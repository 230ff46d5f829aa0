"""Opt-in lower precision for inference (never the default; see docs/video_predictor.md).

Two settings, measured on CPU in ``benchmarks/video_speed.py --variants bf16 int8``:

* ``"bf16"``: ``torch.autocast`` to bfloat16 around the inference calls (matrix products and
  convolutions in bf16, reductions in fp32). Use :func:`precision_context` around
  ``propagate_in_video`` / ``add_new_*``::

      with precision_context("bf16", device="cpu"):
          for frame_idx, obj_ids, masks in predictor.propagate_in_video(state):
              ...

* ``"int8"``: dynamic int8 quantisation of every ``nn.Linear`` (weights int8 per tensor,
  activations quantised on the fly; ``torch.ao.quantization.quantize_dynamic``), applied
  once to the model with :func:`apply_inference_precision`. CPU only; the model cannot be
  trained or moved to CUDA afterwards.

``"fp32"`` changes nothing.
"""
from __future__ import annotations

import contextlib
import logging
import warnings
from typing import ContextManager, Union

import torch
from torch import nn

logger = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16", "int8")


def _check(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown inference precision {precision!r}; choose from {list(PRECISIONS)}")
    return precision


def apply_inference_precision(model: nn.Module, precision: str) -> nn.Module:
    """Prepare ``model`` (in place) for ``precision``; returns it.

    Only ``"int8"`` changes the model (its ``nn.Linear`` layers become dynamically quantised
    ones, on CPU); ``"bf16"`` needs :func:`precision_context` around the calls instead.
    """
    if _check(precision) != "int8":
        return model
    device = next(model.parameters()).device
    if device.type != "cpu":
        raise ValueError(f"int8 dynamic quantisation runs on CPU only; the model is on {device}")
    from torch.ao.quantization import quantize_dynamic

    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao deprecation notices
        quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8, inplace=True)
    logger.info("int8 dynamic quantisation of the linear layers applied")
    return model


def precision_context(precision: str, device: Union[str, torch.device] = "cpu") -> ContextManager:
    """Context for the inference calls: bf16 autocast for ``"bf16"``, nothing otherwise."""
    if _check(precision) == "bf16":
        return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def linear_bias(layer: nn.Module):
    """The bias tensor of a linear layer, also for quantised ones (whose ``bias`` is a method)."""
    bias = layer.bias
    return bias() if callable(bias) else bias
