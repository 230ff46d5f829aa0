"""SAM2 mask decoder: prompt tokens + image embedding -> mask logits, IoU and object scores."""
from __future__ import annotations

from typing import List, Optional, Tuple, Type

import torch
from torch import nn

from sam2.modeling.sam2_utils import MLP, LayerNorm2d

__all__ = ["MaskDecoder"]


class MaskDecoder(nn.Module):
    """Predict masks from image features and prompt embeddings with a two-way transformer.

    Output tokens, in order: [object-score token (if ``pred_obj_scores``)], IoU token,
    ``num_multimask_outputs + 1`` mask tokens (token 0 is the single-mask output).

    Args:
        transformer_dim: channel width of tokens and image features.
        transformer: the token <-> image transformer (``TwoWayTransformer``).
        num_multimask_outputs: number of candidate masks in multimask mode.
        activation: activation class of the upscaling path.
        iou_head_depth, iou_head_hidden_dim: IoU-prediction MLP shape.
        use_high_res_features: add stride-4 / stride-8 backbone features while upscaling.
        iou_prediction_use_sigmoid: squash IoU predictions to ``[0, 1]``.
        dynamic_multimask_via_stability: in single-mask inference, fall back to the best
            multimask candidate when the single mask is unstable.
        dynamic_multimask_stability_delta, dynamic_multimask_stability_thresh: stability test.
        pred_obj_scores: predict an object-presence logit from a dedicated token.
        pred_obj_scores_mlp: use a 3-layer MLP (instead of a linear layer) for that logit.
        use_multimask_token_for_obj_ptr: in multimask mode, return the multimask tokens for
            object pointers (otherwise always the single-mask token).
    """

    def __init__(
        self, *, transformer_dim: int, transformer: nn.Module,
        num_multimask_outputs: int = 3, activation: Type[nn.Module] = nn.GELU,
        iou_head_depth: int = 3, iou_head_hidden_dim: int = 256,
        use_high_res_features: bool = False, iou_prediction_use_sigmoid: bool = False,
        dynamic_multimask_via_stability: bool = False,
        dynamic_multimask_stability_delta: float = 0.05, dynamic_multimask_stability_thresh: float = 0.98,
        pred_obj_scores: bool = False, pred_obj_scores_mlp: bool = False,
        use_multimask_token_for_obj_ptr: bool = False,
    ) -> None:
        super().__init__()
        # single-mask fallback to the best multimask candidate when unstable (inference only)
        self.dynamic_multimask_via_stability = dynamic_multimask_via_stability
        self.dynamic_multimask_stability_delta, self.dynamic_multimask_stability_thresh = (
            dynamic_multimask_stability_delta,
            dynamic_multimask_stability_thresh,
        )
        self.transformer_dim = transformer_dim
        self.transformer = transformer
        self.num_multimask_outputs = num_multimask_outputs
        self.num_mask_tokens = num_multimask_outputs + 1

        self.iou_token = nn.Embedding(1, transformer_dim)
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, transformer_dim)
        self.pred_obj_scores = pred_obj_scores
        if pred_obj_scores:
            self.obj_score_token = nn.Embedding(1, transformer_dim)
        self.use_multimask_token_for_obj_ptr = use_multimask_token_for_obj_ptr

        quarter, eighth = transformer_dim // 4, transformer_dim // 8
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(transformer_dim, quarter, kernel_size=2, stride=2),
            LayerNorm2d(quarter),
            activation(),
            nn.ConvTranspose2d(quarter, eighth, kernel_size=2, stride=2),
            activation(),
        )
        self.use_high_res_features = use_high_res_features
        if use_high_res_features:
            self.conv_s0 = nn.Conv2d(transformer_dim, eighth, kernel_size=1, stride=1)
            self.conv_s1 = nn.Conv2d(transformer_dim, quarter, kernel_size=1, stride=1)

        self.output_hypernetworks_mlps = nn.ModuleList(
            MLP(transformer_dim, transformer_dim, eighth, 3) for _ in range(self.num_mask_tokens)
        )
        # one IoU estimate per mask token
        self.iou_prediction_head = MLP(
            transformer_dim, iou_head_hidden_dim, self.num_mask_tokens, iou_head_depth, sigmoid_output=iou_prediction_use_sigmoid
        )
        if pred_obj_scores:
            self.pred_obj_score_head = (
                MLP(transformer_dim, transformer_dim, 1, 3) if pred_obj_scores_mlp else nn.Linear(transformer_dim, 1)
            )

    # ------------------------------------------------------------------------------------
    def forward(
        self, image_embeddings: torch.Tensor, image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor, dense_prompt_embeddings: torch.Tensor,
        multimask_output: bool, repeat_image: bool,
        high_res_features: Optional[List[torch.Tensor]] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Predict masks.

        Args:
            image_embeddings: ``[B_img, C, h, w]``.
            image_pe: ``[1, C, h, w]`` (from ``PromptEncoder.get_dense_pe``).
            sparse_prompt_embeddings: ``[B, N, C]``.
            dense_prompt_embeddings: ``[B, C, h, w]``.
            multimask_output: return the ``num_multimask_outputs`` candidates instead of one.
            repeat_image: repeat each image embedding ``B`` times (one image, many prompts).
            high_res_features: ``[feat_s0 [B, C/8, 4h, 4w], feat_s1 [B, C/4, 2h, 2w]]`` already
                projected by ``conv_s0``/``conv_s1``, when ``use_high_res_features``.

        Returns:
            masks ``[B, M, 4h, 4w]``, iou_pred ``[B, M]``, sam_tokens_out ``[B, M_tok, C]`` (the
            token(s) used for object pointers) and object_score_logits ``[B, 1]``; ``M`` is
            ``num_multimask_outputs`` or 1.
        """
        all_masks, all_ious, mask_tokens_out, object_score_logits = self.predict_masks(
            image_embeddings, image_pe, sparse_prompt_embeddings, dense_prompt_embeddings, repeat_image, high_res_features
        )
        if multimask_output:
            masks, iou_pred = all_masks[:, 1:], all_ious[:, 1:]
        elif self.dynamic_multimask_via_stability and not self.training:
            masks, iou_pred = self._dynamic_multimask_via_stability(all_masks, all_ious)
        else:
            masks, iou_pred = all_masks[:, :1], all_ious[:, :1]

        use_multi_tokens = multimask_output and self.use_multimask_token_for_obj_ptr
        sam_tokens_out = mask_tokens_out[:, 1:] if use_multi_tokens else mask_tokens_out[:, :1]
        return masks, iou_pred, sam_tokens_out, object_score_logits

    def _output_tokens(self, batch: int) -> torch.Tensor:
        """Learned output tokens ``[batch, T, C]`` in decoder order."""
        parts = [self.iou_token.weight, self.mask_tokens.weight]
        if self.pred_obj_scores:
            parts.insert(0, self.obj_score_token.weight)
        return torch.cat(parts, dim=0).unsqueeze(0).expand(batch, -1, -1)

    def _upscale(self, image: torch.Tensor, high_res_features: Optional[List[torch.Tensor]]) -> torch.Tensor:
        """``[B, C, h, w] -> [B, C/8, 4h, 4w]`` (optionally fusing the high-res features)."""
        if not self.use_high_res_features:
            return self.output_upscaling(image)
        if high_res_features is None or len(high_res_features) != 2:
            raise ValueError("MaskDecoder(use_high_res_features=True) needs high_res_features=[feat_s0, feat_s1]")
        up1, norm1, act1, up2, act2 = self.output_upscaling
        feat_s0, feat_s1 = high_res_features
        stage1 = act1(norm1(up1(image) + feat_s1))
        return act2(up2(stage1) + feat_s0)

    def predict_masks(
        self, image_embeddings: torch.Tensor, image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor, dense_prompt_embeddings: torch.Tensor,
        repeat_image: bool, high_res_features: Optional[List[torch.Tensor]] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """All candidates: masks ``[B, T_m, 4h, 4w]``, ious ``[B, T_m]``, mask tokens
        ``[B, T_m, C]``, object scores ``[B, 1]`` (``T_m = num_multimask_outputs + 1``)."""
        batch = sparse_prompt_embeddings.shape[0]
        tokens = torch.cat((self._output_tokens(batch), sparse_prompt_embeddings), dim=1)

        if repeat_image:
            image = torch.repeat_interleave(image_embeddings, batch, dim=0)
        else:
            if image_embeddings.shape[0] != batch:
                raise ValueError(
                    f"MaskDecoder: {image_embeddings.shape[0]} image embeddings for {batch} prompts "
                    "(use repeat_image=True for one image and several prompts)"
                )
            image = image_embeddings
        image = image + dense_prompt_embeddings
        if image_pe.shape[0] != 1:
            raise ValueError(f"MaskDecoder: image_pe must have batch size 1, got {tuple(image_pe.shape)}")
        image_pos = torch.repeat_interleave(image_pe, batch, dim=0)
        b, c, h, w = image.shape

        token_out, image_out = self.transformer(image, image_pos, tokens)
        first = 1 if self.pred_obj_scores else 0
        iou_token_out = token_out[:, first]
        mask_tokens_out = token_out[:, first + 1 : first + 1 + self.num_mask_tokens]

        upscaled = self._upscale(image_out.transpose(1, 2).view(b, c, h, w), high_res_features)
        hyper_in = torch.stack(
            [mlp(mask_tokens_out[:, i]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], dim=1
        )
        ub, uc, uh, uw = upscaled.shape
        masks = (hyper_in @ upscaled.view(ub, uc, uh * uw)).view(ub, -1, uh, uw)

        iou_pred = self.iou_prediction_head(iou_token_out)
        if self.pred_obj_scores:
            object_score_logits = self.pred_obj_score_head(token_out[:, 0])
        else:
            # no presence head: report a confident "present" (sigmoid(10) ~ 1)
            object_score_logits = 10.0 * iou_pred.new_ones(iou_pred.shape[0], 1)
        return masks, iou_pred, mask_tokens_out, object_score_logits

    # ------------------------------------------------------------------------------------
    def _get_stability_scores(self, mask_logits: torch.Tensor) -> torch.Tensor:
        """IoU of the masks thresholded at ``+delta`` and ``-delta``: ``[..., H, W] -> [...]``."""
        flat = mask_logits.flatten(-2)
        delta = self.dynamic_multimask_stability_delta
        inner = (flat > delta).sum(dim=-1).float()
        outer = (flat > -delta).sum(dim=-1).float()
        return torch.where(outer > 0, inner / outer, 1.0)

    def _dynamic_multimask_via_stability(
        self, all_mask_logits: torch.Tensor, all_iou_scores: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Keep the single-mask output where it is stable, else the best-IoU multimask candidate.

        Args: all candidates ``[B, T_m, H, W]`` and ``[B, T_m]``. Returns ``[B, 1, H, W]``, ``[B, 1]``.
        """
        rows = torch.arange(all_iou_scores.shape[0], device=all_iou_scores.device)
        best = all_iou_scores[:, 1:].argmax(dim=-1)
        fallback_logits = all_mask_logits[:, 1:][rows, best].unsqueeze(1)
        fallback_iou = all_iou_scores[:, 1:][rows, best].unsqueeze(1)

        single_logits = all_mask_logits[:, :1]
        single_iou = all_iou_scores[:, :1]
        stable = self._get_stability_scores(single_logits) >= self.dynamic_multimask_stability_thresh  # [B, 1]
        logits = torch.where(stable[..., None, None], single_logits, fallback_logits)
        ious = torch.where(stable, single_iou, fallback_iou)
        return logits, ious
