"""Position encodings used by SAM2.

* :class:`PositionEmbeddingSine` - fixed 2-D sine/cosine maps for the FPN levels and the memory
  encoder. Maps are cached per (height, width, device); the cache is not part of the state dict.
* :class:`PositionEmbeddingRandom` - random Fourier features of the prompt encoder; its
  ``positional_encoding_gaussian_matrix`` buffer *is* stored in checkpoints.
* Axial rotary encoding (RoPE) helpers for the memory-attention layers:
  :func:`compute_axial_cis` (complex table, kept for API compatibility),
  :func:`axial_rope_angles` / :func:`rotate_complex` (what our attention uses; :func:`rotate_pairs`
  takes real cos/sin tables).
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import nn

__all__ = [
    "PositionEmbeddingSine",
    "PositionEmbeddingRandom",
    "sine_frequencies",
    "axial_rope_angles",
    "compute_axial_cis",
    "rotate_pairs",
    "rotate_complex",
    "rotate_pairs_real",
    "apply_rotary_enc",
]


def sine_frequencies(num_feats: int, temperature: float, device: torch.device) -> torch.Tensor:
    """Divisors ``temperature ** (2 * floor(i / 2) / num_feats)`` for ``i < num_feats``.

    Returns:
        ``[num_feats]`` float32; entries ``2k`` and ``2k + 1`` share the same frequency.
    """
    pair_index = torch.div(
        torch.arange(num_feats, dtype=torch.float32, device=device), 2, rounding_mode="floor"
    )
    exponent = (2 * pair_index) / num_feats
    return temperature**exponent


def _interleaved_sin_cos(angles: torch.Tensor) -> torch.Tensor:
    """Even channels take ``sin``, odd channels ``cos`` of the same-index angle (last axis)."""
    is_even = (torch.arange(angles.shape[-1], device=angles.device) % 2) == 0
    return torch.where(is_even, angles.sin(), angles.cos())


class PositionEmbeddingSine(nn.Module):
    """Fixed 2-D sine encoding (DETR style) with ``num_pos_feats`` output channels.

    The first half of the channels encodes the row (y), the second half the column (x); within
    each half, even channels are ``sin`` and odd channels ``cos``.

    Args:
        num_pos_feats: total number of output channels (must be even).
        temperature: frequency base.
        normalize: scale positions to ``(0, scale]`` by dividing by the map extent.
        scale: normalisation scale (default ``2 * pi``); only valid with ``normalize=True``.
        warmup_cache: accepted for config compatibility; maps are built lazily (see :meth:`warmup`).
        image_size, strides: sizes built by :meth:`warmup`.
    """

    def __init__(
        self,
        num_pos_feats: int,
        temperature: int = 10000,
        normalize: bool = True,
        scale: Optional[float] = None,
        warmup_cache: bool = True,
        image_size: int = 1024,
        strides: Sequence[int] = (4, 8, 16, 32),
    ) -> None:
        super().__init__()
        if num_pos_feats % 2 != 0:
            raise ValueError(f"PositionEmbeddingSine: num_pos_feats must be even, got {num_pos_feats}")
        if scale is not None and not normalize:
            raise ValueError("PositionEmbeddingSine: `scale` requires normalize=True")
        self.num_pos_feats = num_pos_feats // 2  # channels per axis
        self.temperature = temperature
        self.normalize = normalize
        self.scale = 2 * math.pi if scale is None else scale
        self.warmup_cache = warmup_cache
        self.warmup_sizes = [(image_size // s, image_size // s) for s in strides]
        # (H, W, device) -> [C, H, W] float32; derived constants, never saved.
        self._maps: Dict[Tuple[int, int, torch.device], torch.Tensor] = {}
        # kept for callers that inspect the official attribute name
        self.cache = self._maps

    # -- 1-D helpers ---------------------------------------------------------------------
    def _axis_table(self, positions: torch.Tensor) -> torch.Tensor:
        """``[N] -> [N, num_pos_feats]`` encoding of already scaled positions."""
        freqs = sine_frequencies(self.num_pos_feats, self.temperature, positions.device)
        return _interleaved_sin_cos(positions[:, None] / freqs)

    def _encode_xy(self, x: torch.Tensor, y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Encode normalised 1-D coordinates ``x, y`` (``[N]`` each) -> two ``[N, C/2]``."""
        if x.dim() != 1 or x.shape != y.shape:
            raise ValueError(f"_encode_xy expects two 1-D tensors of equal length, got {tuple(x.shape)} and {tuple(y.shape)}")
        return self._axis_table(x * self.scale), self._axis_table(y * self.scale)

    @torch.no_grad()
    def encode_boxes(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Boxes (centre ``x, y`` normalised, size ``w, h``; ``[N]`` each) -> ``[N, C + 2]``."""
        enc_x, enc_y = self._encode_xy(x, y)
        return torch.cat((enc_y, enc_x, h[:, None], w[:, None]), dim=1)

    encode = encode_boxes

    @torch.no_grad()
    def encode_points(self, x: torch.Tensor, y: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Points ``[B, N]`` (normalised) with labels ``[B, N]`` -> ``[B, N, C + 1]``."""
        if not (x.shape == y.shape == labels.shape) or x.dim() != 2:
            raise ValueError("encode_points expects x, y and labels of the same [B, N] shape")
        enc_x, enc_y = self._encode_xy(x.flatten(), y.flatten())
        b, n = x.shape
        return torch.cat((enc_y.view(b, n, -1), enc_x.view(b, n, -1), labels[:, :, None]), dim=2)

    # -- dense maps ----------------------------------------------------------------------
    def _build_map(self, height: int, width: int, device: torch.device) -> torch.Tensor:
        rows = torch.arange(1, height + 1, dtype=torch.float32, device=device)
        cols = torch.arange(1, width + 1, dtype=torch.float32, device=device)
        if self.normalize:
            eps = 1e-6
            rows = rows / (rows[-1:] + eps) * self.scale
            cols = cols / (cols[-1:] + eps) * self.scale
        freqs = sine_frequencies(self.num_pos_feats, self.temperature, device)
        row_enc = _interleaved_sin_cos(rows[:, None] / freqs)  # [H, C/2]
        col_enc = _interleaved_sin_cos(cols[:, None] / freqs)  # [W, C/2]
        c = self.num_pos_feats
        y_part = row_enc.t()[:, :, None].expand(c, height, width)
        x_part = col_enc.t()[:, None, :].expand(c, height, width)
        return torch.cat((y_part, x_part), dim=0).contiguous()

    def _map(self, height: int, width: int, device: torch.device) -> torch.Tensor:
        key = (int(height), int(width), device)
        cached = self._maps.get(key)
        if cached is None:
            cached = self._build_map(int(height), int(width), device)
            self._maps[key] = cached
        return cached

    def warmup(self, device: torch.device) -> None:
        """Build the maps of every ``image_size // stride`` level on ``device`` ahead of time
        (useful before ``torch.compile``); otherwise maps are built lazily on first use."""
        for h, w in self.warmup_sizes:
            self._map(h, w, torch.device(device))

    @torch.no_grad()
    def _pe(self, batch: int, device: torch.device, height: int, width: int) -> torch.Tensor:
        grid = self._map(height, width, device)[None]
        if not self.training and not torch.is_grad_enabled():
            # inference: a read-only broadcast view of the cached map (no per-call copy)
            return grid.expand(batch, -1, -1, -1)
        return grid.repeat(batch, 1, 1, 1)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encoding for the spatial grid of ``x`` ``[B, *, H, W]`` -> ``[B, C, H, W]`` float32.

        In eval mode under ``no_grad`` / ``inference_mode`` the result is an expanded view of
        the cached map (do not modify it in place); otherwise a fresh tensor."""
        return self._pe(x.shape[0], x.device, x.shape[-2], x.shape[-1])


class PositionEmbeddingRandom(nn.Module):
    """Random Fourier-feature encoding of 2-D coordinates (SAM prompt encoder).

    Args:
        num_pos_feats: number of random frequencies; outputs have ``2 * num_pos_feats`` channels.
        scale: standard deviation of the frequencies (``None`` or <= 0 means 1).
    """

    def __init__(self, num_pos_feats: int = 64, scale: Optional[float] = None) -> None:
        super().__init__()
        std = 1.0 if scale is None or scale <= 0.0 else scale
        self.register_buffer("positional_encoding_gaussian_matrix", std * torch.randn((2, num_pos_feats)))

    def _pe_encoding(self, coords: torch.Tensor) -> torch.Tensor:
        """``[..., 2]`` coordinates in ``[0, 1]`` -> ``[..., 2 * num_pos_feats]`` (sin then cos)."""
        centred = 2 * coords - 1
        phase = (centred @ self.positional_encoding_gaussian_matrix) * (2 * math.pi)
        return torch.cat([phase.sin(), phase.cos()], dim=-1)

    def forward(self, size: Tuple[int, int]) -> torch.Tensor:
        """Dense encoding of pixel centres of an ``(H, W)`` grid -> ``[C, H, W]`` float32."""
        h, w = size
        device = self.positional_encoding_gaussian_matrix.device
        ys = (torch.arange(h, dtype=torch.float32, device=device) + 0.5) / h
        xs = (torch.arange(w, dtype=torch.float32, device=device) + 0.5) / w
        grid = torch.stack([xs[None, :].expand(h, w), ys[:, None].expand(h, w)], dim=-1)
        return self._pe_encoding(grid).permute(2, 0, 1)

    def forward_with_coords(self, coords_input: torch.Tensor, image_size: Tuple[int, int]) -> torch.Tensor:
        """Encode pixel coordinates ``[B, N, 2]`` (x, y) of an image of size ``(H, W)`` -> ``[B, N, C]``."""
        height, width = image_size
        normalised = torch.stack(
            (coords_input[..., 0] / width, coords_input[..., 1] / height), dim=-1
        )
        return self._pe_encoding(normalised.to(torch.float))


# ----------------------------------------------------------------------------------------
# Axial rotary position encoding.
# Tokens of a W x H map are numbered row-major; token n sits at column n % W and row n // W.
# The head dimension D is split in D/2 pairs: the first D/4 pairs rotate with the column, the
# last D/4 with the row, at frequencies theta ** (-4k / D).
# ----------------------------------------------------------------------------------------


def axial_rope_angles(dim: int, end_x: int, end_y: int, theta: float = 10000.0) -> torch.Tensor:
    """Rotation angles of every token and pair: ``[end_x * end_y, dim // 2]`` float32."""
    if dim % 4 != 0:
        raise ValueError(f"axial RoPE needs a head dimension divisible by 4, got {dim}")
    quarter = dim // 4
    inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 4)[:quarter].float() / dim))
    token = torch.arange(end_x * end_y, dtype=torch.float32)
    col = token % end_x
    row = torch.div(token, end_x, rounding_mode="floor")
    return torch.cat([torch.outer(col, inv_freq), torch.outer(row, inv_freq)], dim=-1)


def compute_axial_cis(dim: int, end_x: int, end_y: int, theta: float = 10000.0) -> torch.Tensor:
    """Complex unit rotations ``exp(i * angle)``: ``[end_x * end_y, dim // 2]`` complex64."""
    angles = axial_rope_angles(dim, end_x, end_y, theta)
    return torch.polar(torch.ones_like(angles), angles)


def rotate_complex(x: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
    """Rotate consecutive channel pairs of ``x`` by a complex unit table (one fused multiply).

    Args:
        x: ``[..., N, D]`` any float dtype; the last axis must be contiguous.
        rotation: ``[N, D/2]`` complex64 (broadcast over the leading axes of ``x``).

    Returns:
        ``[..., N, D]`` in the dtype of ``x`` (computed in float32).
    """
    pairs = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(pairs * rotation).flatten(-2).to(x.dtype)


def rotate_pairs(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate consecutive channel pairs ``(x[2k], x[2k+1])`` of ``x`` by the given angles.

    Args:
        x: ``[..., N, D]`` any float dtype.
        cos, sin: ``[N, D/2]`` float32 tables (broadcast over the leading axes of ``x``).

    Returns:
        ``[..., N, D]`` in the dtype of ``x`` (computed in float32).
    """
    return rotate_complex(x, torch.complex(cos.float(), sin.float()))


def rotate_pairs_real(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """:func:`rotate_pairs` in real arithmetic only (no complex tensors), for graph export.

    ``(a, b) -> (a * cos - b * sin, a * sin + b * cos)`` on consecutive channel pairs of ``x``
    ``[..., N, D]`` with ``cos``/``sin`` ``[N, D/2]``; computed in float32, returned in the
    dtype of ``x``.
    """
    pairs = x.float().unflatten(-1, (-1, 2))  # shape-agnostic, so traced graphs keep dynamic axes
    a, b = pairs[..., 0], pairs[..., 1]
    cos, sin = cos.float(), sin.float()
    rotated = torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1)
    return rotated.flatten(-2).to(x.dtype)


def apply_rotary_enc(
    xq: torch.Tensor,
    xk: torch.Tensor,
    freqs_cis: torch.Tensor,
    repeat_freqs_k: bool = False,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Apply a complex rotation table to queries and keys (compatibility helper).

    Args:
        xq: ``[B, heads, Nq, D]``; xk: ``[B, heads, Nk, D]`` with ``Nk == Nq`` or, when
            ``repeat_freqs_k``, ``Nk`` a multiple of ``Nq``.
        freqs_cis: ``[Nq, D/2]`` complex table from :func:`compute_axial_cis`.
    """
    table = freqs_cis.to(torch.complex64)
    q_out = rotate_complex(xq, table)
    if xk.shape[-2] == 0:
        return q_out, xk
    if repeat_freqs_k:
        table = table.repeat(xk.shape[-2] // xq.shape[-2], 1)
    return q_out, rotate_complex(xk, table)
