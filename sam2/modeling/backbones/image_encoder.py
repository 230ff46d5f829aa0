"""SAM2 image encoder: a multi-scale trunk followed by a light FPN neck.

The neck projects every trunk stage to ``d_model`` channels with a 1x1 convolution ("lateral"),
adds the 2x-upsampled coarser level on the levels listed in ``fpn_top_down_levels`` and gives
each level a position encoding. Parameter names follow the official checkpoints
(``trunk.*``, ``neck.convs.<i>.conv.*``).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

_FUSE_TYPES = ("sum", "avg")


class ImageEncoder(nn.Module):
    """Trunk + neck, returning the features SAM2 consumes.

    Args:
        trunk: module mapping ``[B, 3, S, S]`` to a list of stage maps and exposing
            ``channel_list`` (widths, lowest resolution first).
        neck: an :class:`FpnNeck` whose ``backbone_channel_list`` equals the trunk's.
        scalp: number of lowest-resolution levels to drop from the outputs.

    ``forward(sample [B, 3, S, S] float)`` returns a dict:

    * ``backbone_fpn``: list of ``[B, d_model, S/4/2^l, S/4/2^l]`` maps, highest resolution first;
    * ``vision_pos_enc``: matching position encodings, same shapes and dtype;
    * ``vision_features``: the lowest-resolution kept map (``backbone_fpn[-1]``).
    """

    def __init__(self, trunk: nn.Module, neck: nn.Module, scalp: int = 0) -> None:
        super().__init__()
        trunk_channels = list(trunk.channel_list)
        neck_channels = list(neck.backbone_channel_list)
        if trunk_channels != neck_channels:
            raise ValueError(
                "ImageEncoder: channel dims of trunk and neck do not match "
                f"(trunk.channel_list={trunk_channels}, neck.backbone_channel_list={neck_channels})"
            )
        if scalp < 0 or scalp >= len(neck_channels):
            raise ValueError(f"ImageEncoder: scalp={scalp} must be in [0, {len(neck_channels) - 1}]")
        self.trunk = trunk
        self.neck = neck
        self.scalp = scalp

    def forward(self, sample: torch.Tensor) -> Dict[str, object]:
        features, pos = self.neck(self.trunk(sample))
        keep = len(features) - self.scalp
        features, pos = features[:keep], pos[:keep]
        return {"vision_features": features[-1], "vision_pos_enc": pos, "backbone_fpn": features}


class FpnNeck(nn.Module):
    """Feature-pyramid neck without output convolutions.

    Args:
        position_encoding: module mapping ``[B, d_model, h, w]`` to an encoding of that shape.
        d_model: output width of every level.
        backbone_channel_list: trunk widths, lowest resolution first.
        kernel_size, stride, padding: geometry of the lateral convolutions.
        fpn_interp_model: ``F.interpolate`` mode of the top-down path (``nearest``, ``bilinear``...).
        fuse_type: ``sum`` or ``avg`` of lateral and top-down features.
        fpn_top_down_levels: levels (0 = highest resolution) that receive top-down features;
            ``None`` means all.

    ``forward(xs)`` takes the trunk's maps highest resolution first and returns
    ``(features, pos)``, two lists in the same order with ``d_model`` channels each.
    """

    def __init__(
        self, position_encoding: nn.Module, d_model: int, backbone_channel_list: List[int],
        kernel_size: int = 1, stride: int = 1, padding: int = 0,
        fpn_interp_model: str = "bilinear",
        fuse_type: str = "sum",
        fpn_top_down_levels: Optional[Sequence[int]] = None,
    ) -> None:
        super().__init__()
        if fuse_type not in _FUSE_TYPES:
            raise ValueError(f"FpnNeck: fuse_type={fuse_type!r}, expected one of {_FUSE_TYPES}")
        self.position_encoding = position_encoding
        self.d_model = d_model
        self.backbone_channel_list = list(backbone_channel_list)
        # convs[j] projects the j-th coarsest level (backbone_channel_list order).
        self.convs = nn.ModuleList(
            nn.Sequential(OrderedDict(conv=nn.Conv2d(width, d_model, kernel_size, stride, padding)))
            for width in self.backbone_channel_list
        )
        self.fpn_interp_model = fpn_interp_model
        self.fuse_type = fuse_type
        levels = range(len(self.convs)) if fpn_top_down_levels is None else fpn_top_down_levels
        self.fpn_top_down_levels = list(levels)

    def _upsample(self, coarse: torch.Tensor) -> torch.Tensor:
        corners = None if self.fpn_interp_model == "nearest" else False
        return F.interpolate(
            coarse.to(dtype=torch.float32),
            scale_factor=2.0,
            mode=self.fpn_interp_model,
            align_corners=corners,
            antialias=False,
        )

    def forward(self, xs: List[torch.Tensor]) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        num_levels = len(self.convs)
        if len(xs) != num_levels:
            raise ValueError(f"FpnNeck: got {len(xs)} feature maps, expected {num_levels}")
        features: List[Optional[torch.Tensor]] = [None] * num_levels
        encodings: List[Optional[torch.Tensor]] = [None] * num_levels
        carried: Optional[torch.Tensor] = None
        # Coarse to fine, so that each level can receive the level below it.
        for level in range(num_levels - 1, -1, -1):
            lateral = self.convs[num_levels - 1 - level](xs[level])
            if carried is None or level not in self.fpn_top_down_levels:
                carried = lateral
            else:
                carried = lateral + self._upsample(carried)
                if self.fuse_type == "avg":
                    carried = carried / 2
            features[level] = carried
            encodings[level] = self.position_encoding(carried).to(carried.dtype)
        return features, encodings  # type: ignore[return-value]
