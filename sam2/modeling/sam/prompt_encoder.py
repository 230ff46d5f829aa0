"""SAM prompt encoder: points, boxes and a dense mask into decoder embeddings."""
from __future__ import annotations

from typing import Optional, Tuple, Type

import torch
from torch import nn

from sam2.modeling.position_encoding import PositionEmbeddingRandom
from sam2.modeling.sam2_utils import LayerNorm2d

__all__ = ["PromptEncoder"]

# point label meanings (index into ``point_embeddings``): 0 negative click, 1 positive click,
# 2 box top-left corner, 3 box bottom-right corner; -1 is padding ("not a point").
PADDING_LABEL = -1
NUM_POINT_KINDS = 4


class PromptEncoder(nn.Module):
    """Embed prompts for the SAM mask decoder.

    Args:
        embed_dim: width of the produced embeddings.
        image_embedding_size: ``(h, w)`` of the image embedding the decoder works on.
        input_image_size: ``(H, W)`` of the model input; point coordinates are in these pixels.
        mask_in_chans: hidden width of the mask-downscaling convolutions.
        activation: activation class of the mask branch.
    """

    def __init__(
        self, embed_dim: int, image_embedding_size: Tuple[int, int],
        input_image_size: Tuple[int, int], mask_in_chans: int,
        activation: Type[nn.Module] = nn.GELU,
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.input_image_size = tuple(input_image_size)
        self.image_embedding_size = tuple(image_embedding_size)
        self.pe_layer = PositionEmbeddingRandom(embed_dim // 2)

        self.num_point_embeddings: int = NUM_POINT_KINDS
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, embed_dim) for _ in range(NUM_POINT_KINDS))
        self.not_a_point_embed = nn.Embedding(1, embed_dim)

        # masks are given at 4x the embedding resolution and reduced by two stride-2 convs
        self.mask_input_size = (4 * image_embedding_size[0], 4 * image_embedding_size[1])
        quarter = mask_in_chans // 4
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, quarter, kernel_size=2, stride=2),
            LayerNorm2d(quarter),
            activation(),
            nn.Conv2d(quarter, mask_in_chans, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans),
            activation(),
            nn.Conv2d(mask_in_chans, embed_dim, kernel_size=1),
        )
        self.no_mask_embed = nn.Embedding(1, embed_dim)

    def _embed_points(self, points: torch.Tensor, labels: torch.Tensor, pad: bool) -> torch.Tensor:
        """Points ``[B, N, 2]`` (x, y pixels) and labels ``[B, N]`` -> ``[B, N (+1), C]``.

        With ``pad`` a padding point (label -1) is appended. Padding points get
        ``not_a_point_embed`` alone; labels 0-3 add their learned embedding to the positional
        encoding of the pixel centre.
        """
        centres = points + 0.5
        if pad:
            batch = points.shape[0]
            centres = torch.cat([centres, centres.new_zeros(batch, 1, 2)], dim=1)
            labels = torch.cat([labels, -torch.ones(batch, 1, dtype=labels.dtype, device=labels.device)], dim=1)
        encoded = self.pe_layer.forward_with_coords(centres, self.input_image_size)
        kind_table = torch.cat([emb.weight for emb in self.point_embeddings], dim=0)  # [4, C]
        known = (labels >= 0) & (labels < NUM_POINT_KINDS)
        offsets = kind_table[labels.clamp(0, NUM_POINT_KINDS - 1).long()]
        encoded = torch.where(known.unsqueeze(-1), encoded + offsets, encoded)
        is_padding = (labels == PADDING_LABEL).unsqueeze(-1)
        return torch.where(is_padding, self.not_a_point_embed.weight.expand_as(encoded), encoded)

    def _embed_boxes(self, boxes: torch.Tensor) -> torch.Tensor:
        """Boxes ``[B, 4]`` (x0, y0, x1, y1 pixels) -> corner embeddings ``[B, 2, C]``."""
        corners = (boxes + 0.5).reshape(-1, 2, 2)
        encoded = self.pe_layer.forward_with_coords(corners, self.input_image_size)
        corner_kinds = torch.stack([self.point_embeddings[2].weight[0], self.point_embeddings[3].weight[0]])
        return encoded + corner_kinds

    def _embed_masks(self, masks: torch.Tensor) -> torch.Tensor:
        """Mask logits ``[B, 1, 4h, 4w]`` -> dense embedding ``[B, C, h, w]``."""
        return self.mask_downscaling(masks)

    def _get_device(self) -> torch.device:
        return self.point_embeddings[0].weight.device

    @staticmethod
    def _get_batch_size(
        points: Optional[Tuple[torch.Tensor, torch.Tensor]],
        boxes: Optional[torch.Tensor],
        masks: Optional[torch.Tensor],
    ) -> int:
        for candidate in (points[0] if points is not None else None, boxes, masks):
            if candidate is not None:
                return int(candidate.shape[0])
        return 1

    def forward(
        self, points: Optional[Tuple[torch.Tensor, torch.Tensor]], boxes: Optional[torch.Tensor],
        masks: Optional[torch.Tensor],
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Embed any combination of prompts.

        Args:
            points: ``(coords [B, N, 2] float, labels [B, N] int)`` or ``None``.
            boxes: ``[B, 4]`` float or ``None``.
            masks: ``[B, 1, 4h, 4w]`` float logits or ``None``.

        Returns:
            sparse ``[B, N_tokens, C]`` and dense ``[B, C, h, w]`` embeddings (float32).
        """
        if points is not None:
            coords, labels = points
            if labels is None or coords.shape[:2] != labels.shape[:2] or coords.shape[-1] != 2:
                raise ValueError(
                    "PromptEncoder: points must be (coords [B, N, 2], labels [B, N]); got "
                    f"{tuple(coords.shape)} and {None if labels is None else tuple(labels.shape)}"
                )
        if boxes is not None and boxes.shape[-1] != 4 and tuple(boxes.shape[-2:]) != (2, 2):
            raise ValueError(f"PromptEncoder: boxes must be [B, 4], got {tuple(boxes.shape)}")
        batch = self._get_batch_size(points, boxes, masks)
        pieces = []
        if points is not None:
            pieces.append(self._embed_points(points[0], points[1], pad=boxes is None))
        if boxes is not None:
            pieces.append(self._embed_boxes(boxes))
        if pieces:
            sparse = pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=1)
        else:
            sparse = torch.empty((batch, 0, self.embed_dim), device=self._get_device())

        if masks is not None:
            dense = self._embed_masks(masks)
        else:
            h, w = self.image_embedding_size
            dense = self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(batch, -1, h, w)
        return sparse, dense

    def get_dense_pe(self) -> torch.Tensor:
        """Positional encoding of the image-embedding grid: ``[1, embed_dim, h, w]`` float32."""
        return self.pe_layer(self.image_embedding_size).unsqueeze(0)
