"""Opt-in inference precisions: bf16 autocast context and int8 dynamic quantisation."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from sam2.modeling.backbones.hieradet import MultiScaleBlock
from sam2.utils.inference_precision import (
    apply_inference_precision,
    linear_bias,
    precision_context,
)


def test_unknown_precision_is_named():
    with pytest.raises(ValueError, match="fp16"):
        precision_context("fp16")
    with pytest.raises(ValueError, match="int4"):
        apply_inference_precision(nn.Linear(2, 2), "int4")


def test_bf16_context_runs_linear_layers_in_bfloat16_and_fp32_does_not():
    layer = nn.Linear(8, 8)
    x = torch.randn(2, 8)
    with precision_context("bf16", device="cpu"):
        assert layer(x).dtype == torch.bfloat16
    with precision_context("fp32"):
        assert layer(x).dtype == torch.float32


def test_int8_quantises_every_linear_and_keeps_a_ragged_hiera_block_close():
    torch.manual_seed(0)
    # a 10x10 grid with 4x4 windows: the ragged path reads the qkv bias directly
    block = MultiScaleBlock(dim=32, dim_out=32, num_heads=2, window_size=4).eval()
    x = torch.randn(1, 10, 10, 32)
    with torch.inference_mode():
        reference = block(x)
    bias = block.attn.qkv.bias.detach().clone()
    apply_inference_precision(block, "int8")
    assert not any(type(m) is nn.Linear for m in block.modules())
    torch.testing.assert_close(linear_bias(block.attn.qkv), bias)
    with torch.inference_mode():
        quantised = block(x)
    rel = ((quantised - reference).norm() / reference.norm()).item()
    assert 0 < rel < 0.05


def test_int8_leaves_fp32_untouched():
    layer = nn.Linear(4, 4)
    assert apply_inference_precision(layer, "fp32") is layer
    assert type(layer) is nn.Linear
