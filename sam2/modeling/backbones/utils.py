"""Helpers for the Hiera trunk: the patch stem and square-window (un)partitioning.

All tensors here are channels-last token grids ``[B, H, W, C]`` (any float dtype).
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn


def _padded_extent(size: int, window: int) -> int:
    """Smallest multiple of ``window`` that is >= ``size`` (``size >= 0``; written without
    negative floor division, which traced graphs would round towards zero)."""
    return (size + window - 1) // window * window


def window_partition(
    x: torch.Tensor, window_size: int, fill: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """Cut a token grid into non-overlapping square windows, padding bottom/right.

    Args:
        x: ``[B, H, W, C]`` tokens.
        window_size: side length ``w`` of a window (> 0).
        fill: ``[C]`` token written into the padding (zeros when ``None``).

    Returns:
        ``(windows, (Hp, Wp))``: windows ``[B * (Hp/w) * (Wp/w), w, w, C]`` in row-major
        window order per image, and the padded grid size.
    """
    batch, height, width, chans = x.shape
    hp, wp = _padded_extent(height, window_size), _padded_extent(width, window_size)
    if (hp, wp) != (height, width):
        if fill is None:
            # F.pad pads the last dims first: (C_lo, C_hi, W_lo, W_hi, H_lo, H_hi)
            x = F.pad(x, (0, 0, 0, wp - width, 0, hp - height))
        else:
            # concatenation, not slice assignment: the same copy, and it exports to ONNX
            fill = fill.to(x.dtype)
            if wp > width:
                x = torch.cat((x, fill.expand(batch, height, wp - width, chans)), dim=2)
            if hp > height:
                x = torch.cat((x, fill.expand(batch, hp - height, wp, chans)), dim=1)
    rows, cols = hp // window_size, wp // window_size
    grid = x.reshape(batch, rows, window_size, cols, window_size, chans)
    windows = grid.transpose(2, 3).reshape(batch * rows * cols, window_size, window_size, chans)
    return windows, (hp, wp)


def window_unpartition(
    windows: torch.Tensor,
    window_size: int,
    pad_hw: Tuple[int, int],
    hw: Tuple[int, int],
) -> torch.Tensor:
    """Inverse of :func:`window_partition`: stitch windows back and crop the padding.

    Args:
        windows: ``[B * nWin, w, w, C]``.
        window_size: ``w``.
        pad_hw: padded grid size ``(Hp, Wp)``.
        hw: grid size ``(H, W)`` to crop to.

    Returns:
        ``[B, H, W, C]`` tokens.
    """
    hp, wp = pad_hw
    rows, cols = hp // window_size, wp // window_size
    batch = windows.shape[0] // (rows * cols)
    grid = windows.reshape(batch, rows, cols, window_size, window_size, windows.shape[-1])
    x = grid.transpose(2, 3).reshape(batch, hp, wp, windows.shape[-1])
    height, width = hw
    if hp != height or wp != width:
        x = x[:, :height, :width, :]
    return x


class PatchEmbed(nn.Module):
    """Strided convolution stem turning an image into a channels-last token grid.

    Args:
        kernel_size, stride, padding: geometry of the projection convolution.
        in_chans: image channels.
        embed_dim: token width.

    Input ``[B, in_chans, H, W]`` -> output ``[B, H', W', embed_dim]`` (same dtype).
    """

    def __init__(
        self,
        kernel_size: Tuple[int, int] = (7, 7),
        stride: Tuple[int, int] = (4, 4),
        padding: Tuple[int, int] = (3, 3),
        in_chans: int = 3,
        embed_dim: int = 768,
    ) -> None:
        super().__init__()
        self.proj = nn.Conv2d(
            in_chans, embed_dim, kernel_size=kernel_size, stride=stride, padding=padding
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)
