"""Attention exported as ONNX Runtime's fused ``com.microsoft.MultiHeadAttention`` operator.

By default ``torch.onnx`` writes ``F.scaled_dot_product_attention`` as standard operators
(``MatMul`` -> ``Softmax`` -> ``MatMul``), which any ONNX runtime can execute but which
materialise the whole ``[B, heads, S, L]`` score matrix. :func:`fused_attention_export`
routes that call, for the duration of an export, through a translation into ONNX Runtime's
contrib operator ``MultiHeadAttention`` (domain ``com.microsoft``), whose CPU kernel tiles the
computation. The numbers are those of the same attention (scale ``1 / sqrt(head_dim)``); the
graphs then need ONNX Runtime (any execution provider that implements the operator).

Layouts: the model calls attention with ``q [B, N, S, H]``, ``k, v [B, N, L, H]`` (``N``
heads) and optionally a boolean mask broadcastable as ``[B, 1, 1, L]`` (``True`` = attend). The
operator takes ``[B, S, N * H]`` tensors and an int32 key padding mask ``[B, L]`` (1 = attend),
so the translation transposes in and out; ONNX Runtime's transpose optimiser folds these
into the neighbouring reshapes.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.onnx import symbolic_helper

__all__ = ["ATTENTION_MODES", "CONTRIB_DOMAIN", "fused_attention_export"]

#: ``attention=`` values of :func:`sam2.onnx_export.export_tracker`
ATTENTION_MODES = ("standard", "fused")
#: the operator domain of ONNX Runtime's contrib operators
CONTRIB_DOMAIN = "com.microsoft"
_SDPA = F.scaled_dot_product_attention


def _to_tokens(g, x):
    """``[B, N, S, H] -> [B, S, N * H]``."""
    moved = g.op("Transpose", x, perm_i=[0, 2, 1, 3])
    return g.op("Reshape", moved, g.op("Constant", value_t=torch.tensor([0, 0, -1], dtype=torch.int64)))


class _FusedAttention(torch.autograd.Function):
    """``F.scaled_dot_product_attention`` when run; ``MultiHeadAttention`` when exported."""

    @staticmethod
    def forward(ctx, query: Tensor, key: Tensor, value: Tensor, key_valid: Optional[Tensor],
                heads: int) -> Tensor:
        mask = None if key_valid is None else key_valid[:, None, None, :]
        return _SDPA(query, key, value, attn_mask=mask)

    @staticmethod
    def symbolic(g, query, key, value, key_valid, heads: int):
        inputs = [_to_tokens(g, query), _to_tokens(g, key), _to_tokens(g, value)]
        if key_valid is not None and not symbolic_helper._is_none(key_valid):
            padding = g.op("Cast", key_valid, to_i=6)  # int32, 1 = attend
            inputs += [symbolic_helper._optional_input_placeholder_tensor(g), padding]  # no bias
        out = g.op(f"{CONTRIB_DOMAIN}::MultiHeadAttention", *inputs, num_heads_i=heads)  # [B, S, N * Hv]
        # ONNX's shape inference does not know the contrib operator: declare its element type so
        # that tools downstream (ONNX Runtime's quantiser) can follow the graph
        out.setType(query.type().with_sizes([None, None, None]))
        split = g.op("Reshape", out, g.op("Constant", value_t=torch.tensor([0, 0, heads, -1], dtype=torch.int64)))
        return g.op("Transpose", split, perm_i=[0, 2, 1, 3])


def _exported_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask: Optional[Tensor] = None,
                        dropout_p: float = 0.0, is_causal: bool = False, scale: Optional[float] = None,
                        **kwargs) -> Tensor:
    """Stands in for ``F.scaled_dot_product_attention`` during a fused export."""
    if dropout_p or is_causal or scale is not None or kwargs or query.dim() != 4:
        raise UnsupportedAttention(
            "fused attention export translates inference attention over [B, heads, S, H] with the "
            f"default scale and at most a key-padding mask; got dropout_p={dropout_p}, "
            f"is_causal={is_causal}, scale={scale}, query of {query.dim()} dims, extra {sorted(kwargs)}")
    key_valid = None
    if attn_mask is not None:
        if attn_mask.dtype != torch.bool or attn_mask.dim() != 4 or attn_mask.shape[1] != 1 or attn_mask.shape[2] != 1:
            raise UnsupportedAttention("fused attention export translates only boolean key-padding "
                                       f"masks [B, 1, 1, L]; got {attn_mask.dtype} {tuple(attn_mask.shape)}")
        key_valid = attn_mask[:, 0, 0, :]
    return _FusedAttention.apply(query, key, value, key_valid, int(query.shape[1]))


class UnsupportedAttention(RuntimeError):
    """An attention call the fused translation does not cover (the message says which)."""


@contextlib.contextmanager
def fused_attention_export() -> Iterator[None]:
    """Within the block, ``F.scaled_dot_product_attention`` exports (``torch.onnx.export(...,
    dynamo=False)``, which then imports the ``com.microsoft`` opset version 1) as
    ``com.microsoft.MultiHeadAttention``; eager results are unchanged. The replacement is
    process-wide for the block's duration: do not run other models in other threads meanwhile."""
    F.scaled_dot_product_attention = _exported_attention
    try:
        yield
    finally:
        F.scaled_dot_product_attention = _SDPA
