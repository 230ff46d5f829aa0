"""Memory encoder: fuse a frame's image features with its predicted mask into a memory.

``MaskDownSampler`` brings the (sigmoid) mask from input resolution to the feature stride,
``Fuser`` (a stack of ConvNeXt ``CXBlock``s) mixes it with the projected image features, and
``MemoryEncoder`` projects the result to the memory width and attaches a sine position encoding.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Type, Union

import torch
import torch.nn.functional as F
from torch import nn

from sam2.modeling.sam2_utils import DropPath, LayerNorm2d, get_clones

__all__ = ["MaskDownSampler", "CXBlock", "Fuser", "MemoryEncoder"]


class MaskDownSampler(nn.Module):
    """Reduce a ``[B, 1, H, W]`` mask by ``total_stride`` in steps of ``stride``.

    Each step is conv (channels x ``stride**2``) -> LayerNorm2d -> activation; a final 1x1 conv
    maps to ``embed_dim`` channels.

    Args:
        embed_dim: output channels.
        kernel_size, stride, padding: of each downsampling convolution.
        total_stride: overall reduction (must be a power of ``stride``).
        activation: activation class.
    """

    def __init__(
        self,
        embed_dim: int = 256,
        kernel_size: int = 4,
        stride: int = 4,
        padding: int = 0,
        total_stride: int = 16,
        activation: Type[nn.Module] = nn.GELU,
    ) -> None:
        super().__init__()
        steps = int(math.log2(total_stride) // math.log2(stride))
        if stride**steps != total_stride:
            raise ValueError(f"MaskDownSampler: total_stride={total_stride} is not a power of stride={stride}")
        modules: List[nn.Module] = []
        channels = 1
        for _ in range(steps):
            widened = channels * stride * stride
            modules += [
                nn.Conv2d(channels, widened, kernel_size=kernel_size, stride=stride, padding=padding),
                LayerNorm2d(widened),
                activation(),
            ]
            channels = widened
        modules.append(nn.Conv2d(channels, embed_dim, kernel_size=1))
        self.encoder = nn.Sequential(*modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 1, H, W] -> [B, embed_dim, H / total_stride, W / total_stride]``."""
        return self.encoder(x)


class CXBlock(nn.Module):
    """ConvNeXt block: depthwise conv, channel LayerNorm, pointwise MLP (as linear layers on
    channels-last tensors), layer scale ``gamma`` and a residual connection.

    Args:
        dim: channels.
        kernel_size, padding: of the depthwise convolution.
        drop_path: stochastic-depth rate of the residual branch.
        layer_scale_init_value: initial ``gamma`` (<= 0 disables layer scale).
        use_dwconv: depthwise (grouped) convolution; a full convolution otherwise.
    """

    def __init__(
        self,
        dim: int,
        kernel_size: int = 7,
        padding: int = 3,
        drop_path: float = 0.0,
        layer_scale_init_value: float = 1e-6,
        use_dwconv: bool = True,
    ) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=kernel_size, padding=padding, groups=dim if use_dwconv else 1)
        self.norm = LayerNorm2d(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma: Optional[nn.Parameter] = (
            nn.Parameter(layer_scale_init_value * torch.ones(dim), requires_grad=True)
            if layer_scale_init_value > 0
            else None
        )
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W] -> [B, C, H, W]``."""
        branch = self.norm(self.dwconv(x)).permute(0, 2, 3, 1)
        branch = self.pwconv2(self.act(self.pwconv1(branch)))
        if self.gamma is not None:
            branch = self.gamma * branch
        return x + self.drop_path(branch.permute(0, 3, 1, 2))


class Fuser(nn.Module):
    """Optional 1x1 input projection followed by ``num_layers`` clones of ``layer``.

    Args:
        layer: block to clone (``CXBlock``).
        num_layers: number of clones.
        dim: channels (needed with ``input_projection``).
        input_projection: add a 1x1 conv before the blocks.
    """

    def __init__(self, layer: nn.Module, num_layers: int, dim: Optional[int] = None, input_projection: bool = False) -> None:
        super().__init__()
        self.proj: nn.Module = nn.Identity()
        self.layers = get_clones(layer, num_layers)
        if input_projection:
            if dim is None:
                raise ValueError("Fuser(input_projection=True) needs `dim`")
            self.proj = nn.Conv2d(dim, dim, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W] -> [B, C, H, W]``."""
        x = self.proj(x)
        for block in self.layers:
            x = block(x)
        return x


class MemoryEncoder(nn.Module):
    """Encode image features + mask into a memory feature map and its position encoding.

    Args:
        out_dim: memory channels (``C_mem``); a 1x1 ``out_proj`` is added when it differs from
            ``in_dim``.
        mask_downsampler: ``MaskDownSampler`` producing ``in_dim`` channels at feature stride.
        fuser: ``Fuser`` mixing features and mask.
        position_encoding: ``PositionEmbeddingSine`` with ``out_dim`` channels.
        in_dim: channels of the image features.
    """

    def __init__(
        self,
        out_dim: int,
        mask_downsampler: nn.Module,
        fuser: nn.Module,
        position_encoding: nn.Module,
        in_dim: int = 256,
    ) -> None:
        super().__init__()
        self.mask_downsampler = mask_downsampler
        self.pix_feat_proj = nn.Conv2d(in_dim, in_dim, kernel_size=1)
        self.fuser = fuser
        self.position_encoding = position_encoding
        self.out_proj: nn.Module = nn.Conv2d(in_dim, out_dim, kernel_size=1) if out_dim != in_dim else nn.Identity()

    def forward(
        self,
        pix_feat: torch.Tensor,
        masks: torch.Tensor,
        skip_mask_sigmoid: bool = False,
    ) -> Dict[str, Union[torch.Tensor, List[torch.Tensor]]]:
        """Encode one memory per batch element.

        Args:
            pix_feat: ``[B, in_dim, h, w]`` image features.
            masks: ``[B, 1, 16h, 16w]`` mask logits (or probabilities with ``skip_mask_sigmoid``).
            skip_mask_sigmoid: the caller already mapped the masks to probabilities.

        Returns:
            ``{"vision_features": [B, out_dim, h, w], "vision_pos_enc": [[B, out_dim, h, w]]}``.
        """
        probs = masks if skip_mask_sigmoid else F.sigmoid(masks)
        mask_feat = self.mask_downsampler(probs)
        fused = self.pix_feat_proj(pix_feat.to(mask_feat.device)) + mask_feat
        features = self.out_proj(self.fuser(fused))
        pos = self.position_encoding(features).to(features.dtype)
        return {"vision_features": features, "vision_pos_enc": [pos]}
