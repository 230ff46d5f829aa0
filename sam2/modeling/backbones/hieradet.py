"""Hiera trunk (hierarchical ViT with query pooling), as used by SAM2's image encoder.

Tokens flow through the trunk channels-last, ``[B, H, W, C]``. Each stage keeps its width;
the first block of a new stage widens the tokens, max-pools the queries (halving the grid)
and still attends inside the previous stage's windows. A few blocks attend globally.
Positional information is a bicubically resized background embedding plus a per-window
embedding tiled over the grid (https://arxiv.org/abs/2311.05613).
Parameter names follow the official checkpoints (``patch_embed``, ``pos_embed``,
``pos_embed_window``, ``blocks.<i>.{norm1,attn.qkv,attn.proj,norm2,mlp,proj}``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from sam2.modeling.backbones.utils import PatchEmbed, window_partition, window_unpartition
from sam2.modeling.sam2_utils import MLP, DerivedTensorCache, DropPath
from sam2.utils.inference_precision import linear_bias

logger = logging.getLogger(__name__)

_LN_EPS = 1e-6


class MultiScaleAttention(nn.Module):
    """Multi-head self-attention over a token grid, with optional max-pooling of the queries.

    Input ``[N, H, W, dim]``; output ``[N, H', W', dim_out]`` where ``(H', W')`` is the pooled
    grid when ``q_pool`` is given, else ``(H, W)``.
    """

    def __init__(
        self, dim: int, dim_out: int, num_heads: int, q_pool: Optional[nn.Module] = None
    ) -> None:
        super().__init__()
        if dim_out % num_heads:
            raise ValueError(f"MultiScaleAttention: dim_out={dim_out} not divisible by num_heads={num_heads}")
        self.dim = dim
        self.dim_out = dim_out
        self.num_heads = num_heads
        self.q_pool = q_pool
        self.qkv = nn.Linear(dim, 3 * dim_out)
        self.proj = nn.Linear(dim_out, dim_out)

    def _pool_queries(self, q: torch.Tensor, grid: Tuple[int, int]) -> Tuple[torch.Tensor, Tuple[int, int]]:
        # q: [N, heads, H*W, hd] (a strided view of the packed qkv). Max-pooling acts per
        # channel; pool the grid as a channels-last [N, heads*hd, H, W] view, which takes
        # the fast channels-last kernel and needs no copy before pooling (a plane-per-channel
        # NCHW layout made the pooling ~5x slower on CPU).
        n, heads, _, hd = q.shape
        planes = q.transpose(1, 2).reshape(n, grid[0], grid[1], heads * hd).permute(0, 3, 1, 2)
        pooled = self.q_pool(planes)
        new_grid = (pooled.shape[-2], pooled.shape[-1])
        # A dense [N, heads, H'W', hd] query keeps SDPA's CPU kernel on the same summation
        # path as for unpooled queries (bit-identical to the reference on CPU).
        q = pooled.permute(0, 2, 3, 1).reshape(n, new_grid[0] * new_grid[1], heads, hd)
        return q.transpose(1, 2).contiguous(), new_grid

    def attend(self, qkv: torch.Tensor) -> torch.Tensor:
        """Attention from projected tokens ``[N, H, W, 3 * dim_out]`` (before ``proj``) ->
        ``[N, H', W', dim_out]``."""
        n, h, w, _ = qkv.shape
        # [N, HW, 3, heads, hd] -> [3, N, heads, HW, hd]
        packed = qkv.reshape(n, h * w, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = packed.unbind(0)
        grid = (h, w)
        if self.q_pool is not None:
            q, grid = self._pool_queries(q, grid)
        attended = F.scaled_dot_product_attention(q, k, v)  # [N, heads, H'W', hd]
        return attended.transpose(1, 2).reshape(n, grid[0], grid[1], self.dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.attend(self.qkv(x)))


class MultiScaleBlock(nn.Module):
    """Pre-norm transformer block of Hiera (windowed or global attention, optional q-pooling).

    Input ``[B, H, W, dim]`` -> output ``[B, H', W', dim_out]``.

    Args:
        dim, dim_out: input and output widths (they differ on the first block of a stage,
            where a linear ``proj`` + pooling also builds the residual branch).
        num_heads: attention heads.
        mlp_ratio: hidden width of the MLP relative to ``dim_out``.
        drop_path: stochastic-depth probability.
        norm_layer: ``nn`` class name or module factory for the two layer norms (eps 1e-6).
        q_stride: pooling stride of the queries, or ``None``.
        act_layer: MLP activation class.
        window_size: attention window side; 0 means global attention.
    """

    def __init__(
        self,
        dim: int,
        dim_out: int,
        num_heads: int,
        *,
        window_size: int = 0,
        q_stride: Optional[Tuple[int, int]] = None,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
        norm_layer: object = "LayerNorm",
        act_layer: type = nn.GELU,
    ) -> None:
        super().__init__()
        make_norm = (lambda c: getattr(nn, norm_layer)(c, eps=_LN_EPS)) if isinstance(norm_layer, str) else norm_layer
        self.dim = dim
        self.dim_out = dim_out
        self.window_size = window_size
        self.q_stride = tuple(q_stride) if q_stride else None
        self.pool = (
            nn.MaxPool2d(kernel_size=self.q_stride, stride=self.q_stride, ceil_mode=False)
            if self.q_stride
            else None
        )
        self.norm1 = make_norm(dim)
        self.attn = MultiScaleAttention(dim, dim_out, num_heads=num_heads, q_pool=self.pool)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = make_norm(dim_out)
        self.mlp = MLP(dim_out, int(dim_out * mlp_ratio), dim_out, num_layers=2, activation=act_layer)
        if dim != dim_out:
            self.proj = nn.Linear(dim, dim_out)

    def _residual(self, x: torch.Tensor, normed: torch.Tensor) -> torch.Tensor:
        if self.dim == self.dim_out:
            return x
        widened = self.proj(normed)
        if self.pool is None:
            return widened
        return self.pool(widened.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = self.norm1(x)
        residual = self._residual(x, normed)
        win = self.window_size
        if win > 0:
            ragged = normed.shape[1] % win != 0 or normed.shape[2] % win != 0
            if ragged:
                # Padding tokens are zeros after norm1, so their qkv projection is just the
                # bias: project the real tokens only and pad the projection with the bias.
                qkv = self.attn.qkv(normed)
                bias = linear_bias(self.attn.qkv)
                fill = bias if bias is not None else qkv.new_zeros(qkv.shape[-1])
                windows, padded = window_partition(qkv, win, fill=fill)
                attended = self.attn.attend(windows)
            else:
                windows, padded = window_partition(normed, win)
                attended = self.attn(windows)
            if self.q_stride:
                # Pooled queries shrink every window (and so the padded grid) by the stride.
                pooled_win = win // self.q_stride[0]
                padded = (padded[0] // win * pooled_win, padded[1] // win * pooled_win)
                win = pooled_win
            out_hw = (residual.shape[1], residual.shape[2])
            attended = window_unpartition(attended, win, padded, out_hw)
            if ragged:
                # the output projection is per token: it skips the cropped padding
                attended = self.attn.proj(attended)
        else:
            attended = self.attn(normed)
        x = residual + self.drop_path(attended)
        return x + self.drop_path(self.mlp(self.norm2(x)))


@dataclass(frozen=True)
class HieraBlockSpec:
    """Geometry of one Hiera block, as derived from the trunk's hyper-parameters."""

    dim: int
    dim_out: int
    num_heads: int
    window_size: int
    q_stride: Optional[Tuple[int, int]]
    drop_path: float


def plan_hiera_blocks(
    embed_dim: int,
    num_heads: int,
    stages: Sequence[int],
    q_pool: int,
    q_stride: Tuple[int, int],
    dim_mul: float,
    head_mul: float,
    window_spec: Sequence[int],
    global_att_blocks: Optional[Sequence[int]],
    drop_path_rate: float,
) -> List[HieraBlockSpec]:
    """Per-block widths, heads, window sizes, pooling and drop-path rates of a Hiera trunk.

    A stage's first block still uses the previous stage's window (it pools the queries of
    those windows); blocks listed in ``global_att_blocks`` attend globally (window 0).
    """
    depth = sum(stages)
    stage_ends = [sum(stages[: i + 1]) - 1 for i in range(len(stages))]
    stage_starts = {end + 1 for end in stage_ends[:-1]}
    pooled_starts = set(sorted(stage_starts)[:q_pool])
    global_blocks = set(global_att_blocks or ())
    # Drop-path rates: float32 linspace, as a python float per block (computed on the CPU
    # explicitly so that building under a `meta` device context works).
    rates = torch.linspace(0, drop_path_rate, depth, device="cpu").tolist()

    specs: List[HieraBlockSpec] = []
    width, heads, stage = embed_dim, num_heads, 0
    for idx in range(depth):
        window = 0 if idx in global_blocks else window_spec[stage]
        width_out = width
        if idx in stage_starts:
            width_out = int(width * dim_mul)
            heads = int(heads * head_mul)
            stage += 1
        specs.append(
            HieraBlockSpec(
                dim=width,
                dim_out=width_out,
                num_heads=heads,
                window_size=window,
                q_stride=tuple(q_stride) if idx in pooled_starts else None,
                drop_path=rates[idx],
            )
        )
        width = width_out
    return specs


class Hiera(nn.Module):
    """Hiera trunk (https://arxiv.org/abs/2306.00989) returning one feature map per stage.

    Input: images ``[B, 3, H, W]`` (float). Output: list of ``[B, C_s, H/(4*2^s), W/(4*2^s)]``
    feature maps, highest resolution first (only the last stage when
    ``return_interm_layers`` is False). ``channel_list`` gives their widths lowest resolution
    first, which is what :class:`~sam2.modeling.backbones.image_encoder.FpnNeck` expects.
    """

    def __init__(
        self,
        embed_dim: int = 96,
        num_heads: int = 1,
        drop_path_rate: float = 0.0,
        q_pool: int = 3,
        q_stride: Tuple[int, int] = (2, 2),
        stages: Tuple[int, ...] = (2, 3, 16, 3),
        dim_mul: float = 2.0, head_mul: float = 2.0,
        window_pos_embed_bkg_spatial_size: Tuple[int, int] = (14, 14),
        window_spec: Tuple[int, ...] = (8, 4, 14, 7),
        global_att_blocks: Tuple[int, ...] = (12, 16, 20),
        weights_path: Optional[str] = None,
        return_interm_layers: bool = True,
    ) -> None:
        super().__init__()
        stages = tuple(stages)
        if len(stages) != len(window_spec):
            raise ValueError(
                f"Hiera: stages {list(stages)} and window_spec {list(window_spec)} must have the same length"
            )
        if not 0 <= q_pool <= len(stages) - 1:
            raise ValueError(f"Hiera: q_pool={q_pool} must be in [0, {len(stages) - 1}]")
        self.window_spec = window_spec
        self.q_stride = q_stride
        self.stage_ends = [sum(stages[: i + 1]) - 1 for i in range(len(stages))]
        self.q_pool_blocks = [end + 1 for end in self.stage_ends[:-1]][:q_pool]
        self.global_att_blocks = global_att_blocks
        self.return_interm_layers = return_interm_layers
        self.window_pos_embed_bkg_spatial_size = window_pos_embed_bkg_spatial_size

        self.patch_embed = PatchEmbed(embed_dim=embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, embed_dim, *window_pos_embed_bkg_spatial_size))
        self.pos_embed_window = nn.Parameter(torch.zeros(1, embed_dim, window_spec[0], window_spec[0]))
        # eval-time cache of the resized positional embedding (see _get_pos_embed); not saved
        self._pos_embed_cache = DerivedTensorCache()

        specs = plan_hiera_blocks(
            embed_dim, num_heads, stages, q_pool, q_stride, dim_mul, head_mul,
            window_spec, global_att_blocks, drop_path_rate,
        )
        self.blocks = nn.ModuleList(
            MultiScaleBlock(
                dim=s.dim,
                dim_out=s.dim_out,
                num_heads=s.num_heads,
                drop_path=s.drop_path,
                q_stride=s.q_stride,
                window_size=s.window_size,
            )
            for s in specs
        )
        emitted = self.stage_ends if return_interm_layers else self.stage_ends[-1:]
        self._emit_after = frozenset(emitted)
        self.channel_list = [specs[i].dim_out for i in reversed(emitted)]

        if weights_path is not None:
            self._load_pretrained(weights_path)

    def _load_pretrained(self, weights_path: str) -> None:
        try:
            state = torch.load(weights_path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - re-raised with the file named
            raise RuntimeError(f"Hiera: cannot read trunk weights {weights_path!r}: {err}") from err
        result = self.load_state_dict(state, strict=False)
        logger.info(
            "Hiera weights from %s: %d missing, %d unexpected keys",
            weights_path, len(result.missing_keys), len(result.unexpected_keys),
        )

    def _get_pos_embed(self, hw: Tuple[int, int]) -> torch.Tensor:
        """Positional embedding for a ``hw`` token grid, ``[1, H, W, C]``.

        In eval mode without autograd the result is kept and reused while the grid size and
        the two embedding parameters (identity and in-place version) stay the same.
        """
        return self._pos_embed_cache.get(
            self, (self.pos_embed, self.pos_embed_window), lambda: self._build_pos_embed(hw),
            extra=(int(hw[0]), int(hw[1])),
        )

    def _build_pos_embed(self, hw: Tuple[int, int]) -> torch.Tensor:
        height, width = int(hw[0]), int(hw[1])
        background = F.interpolate(self.pos_embed, size=(height, width), mode="bicubic")
        win = self.pos_embed_window.shape[-1]
        # ceil division on non-negative sizes (traced graphs divide integers towards zero)
        reps = ((height + win - 1) // win, (width + win - 1) // win)
        tiled = self.pos_embed_window.repeat(1, 1, reps[0], reps[1])[..., :height, :width]
        return (background + tiled).permute(0, 2, 3, 1)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """``[B, 3, H, W]`` -> list of per-stage ``[B, C, h, w]`` maps (high resolution first)."""
        tokens = self.patch_embed(x)
        tokens = tokens + self._get_pos_embed(tokens.shape[1:3])
        features: List[torch.Tensor] = []
        for idx, block in enumerate(self.blocks):
            tokens = block(tokens)
            if idx in self._emit_after:
                features.append(tokens.permute(0, 3, 1, 2))
        return features

    # -- layer-wise learning-rate decay support (training) --------------------------------
    def get_num_layers(self) -> int:
        """Number of transformer blocks."""
        return len(self.blocks)

    def get_layer_id(self, layer_name: str) -> int:
        """Depth index of a parameter for layer-wise LR decay.

        Stem and positional embeddings are layer 0, ``blocks.<i>`` is layer ``i + 1``,
        anything else (and relative-position tables) is ``num_layers + 1``.
        """
        top = self.get_num_layers() + 1
        if "rel_pos" in layer_name:
            return top
        if "pos_embed" in layer_name or "patch_embed" in layer_name:
            return 0
        if "blocks" in layer_name:
            after = layer_name.split("blocks", 1)[1]
            return int(after.split(".")[1]) + 1
        return top


__all__: List[str] = ["Hiera", "MultiScaleBlock", "MultiScaleAttention", "HieraBlockSpec", "plan_hiera_blocks"]
