"""``SAM2Base``: the SAM2 network (image encoder, prompt heads, memory) and its per-frame step.

Inference goes through the predictors (``SAM2ImagePredictor``, ``SAM2VideoPredictor``) and
training through ``SAM2Train``; this class provides the building blocks they share:

* :meth:`SAM2Base.forward_image` / :meth:`SAM2Base._prepare_backbone_features` - image features.
* :meth:`SAM2Base._forward_sam_heads` / :meth:`SAM2Base._use_mask_as_output` - prompt encoder +
  mask decoder (or a mask prompt taken as the output), object pointer and object score.
* memory reading and writing (:mod:`sam2.modeling.sam2_memory`, mixed in):
  :meth:`~SAM2MemoryMixin._prepare_memory_conditioned_features` attends to the frames of a
  :class:`~sam2.modeling.track_types.TrackMemory` chosen by the model's
  :class:`~sam2.modeling.read_window.ReadWindow`; :meth:`~SAM2MemoryMixin._encode_new_memory`
  encodes a predicted mask.
* :meth:`SAM2Base.track_step` - one frame of one track, returning a
  :class:`~sam2.modeling.track_types.FrameOutput`.

Flattened features are sequence-first: ``[H*W, B, C]``.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.init import trunc_normal_

from sam2.modeling.sam.mask_decoder import MaskDecoder
from sam2.modeling.sam.prompt_encoder import PromptEncoder
from sam2.modeling.sam.transformer import TwoWayTransformer
from sam2.modeling.sam2_memory import (
    MemoryFrameRef, MemorySelection, PointerRef, ReadPlan, SAM2MemoryMixin, map_to_seq_first,
    seq_first_to_map,
)
from sam2.modeling.sam2_utils import MLP, DerivedTensorCache
from sam2.modeling.track_types import FrameOutput, MaskCandidates, PointInputs, TrackMemory
from sam2.utils.constants import MISSING_OBJECT_LOGIT

logger = logging.getLogger(__name__)

# logit written into the low-res masks of objects predicted absent
NO_OBJ_SCORE = MISSING_OBJECT_LOGIT
# logits used when a mask prompt is taken as the output (sigmoid(-10) ~ 4.5e-5)
MASK_AS_OUTPUT_SCALE = 20.0
MASK_AS_OUTPUT_BIAS = -10.0

__all__ = [
    "NO_OBJ_SCORE",
    "SAM2Base",
    "SamHeadOutputs",
    "TrackStepCore",
    "MemoryFrameRef",
    "PointerRef",
    "MemorySelection",
]


# constructor arguments stored as plain attributes of the same name
_CONFIG_ATTRIBUTES = (
    "num_maskmem", "image_size", "backbone_stride", "sigmoid_scale_for_mem_enc",
    "sigmoid_bias_for_mem_enc", "binarize_mask_from_pts_for_mem_enc",
    "use_mask_input_as_output_without_sam", "max_cond_frames_in_attn", "directly_add_no_mem_embed",
    "use_high_res_features_in_sam", "multimask_output_in_sam", "multimask_min_pt_num",
    "multimask_max_pt_num", "multimask_output_for_tracking", "use_multimask_token_for_obj_ptr",
    "iou_prediction_use_sigmoid", "memory_temporal_stride_for_eval",
    "non_overlap_masks_for_mem_enc", "use_obj_ptrs_in_encoder", "max_obj_ptrs_in_encoder",
    "add_tpos_enc_to_obj_ptrs", "proj_tpos_enc_in_obj_ptrs", "use_signed_tpos_enc_to_obj_ptrs",
    "only_obj_ptrs_in_the_past_for_eval", "pred_obj_scores", "pred_obj_scores_mlp",
    "fixed_no_obj_ptr", "soft_no_obj_ptr", "use_mlp_for_obj_ptr_proj",
    "sam_mask_decoder_extra_args",
)


class SamHeadOutputs(NamedTuple):
    """Outputs of the SAM heads for a batch of ``B`` objects (``M`` = 3 candidates or 1).

    The first seven fields are the official 7-tuple; the last two describe the candidates.
    """

    low_res_multimasks: torch.Tensor  # [B, M, 4h, 4w] float32 logits
    high_res_multimasks: torch.Tensor  # [B, M, S, S] float32 logits (S = image_size)
    ious: torch.Tensor  # [B, M] float32 predicted IoUs
    low_res_masks: torch.Tensor  # [B, 1, 4h, 4w] best candidate
    high_res_masks: torch.Tensor  # [B, 1, S, S] best candidate
    obj_ptr: torch.Tensor  # [B, C] object pointer
    object_score_logits: torch.Tensor  # [B, 1] presence logit
    candidate_tokens: Optional[torch.Tensor] = None  # [B, M, C] decoder tokens (M > 1 only)
    chosen: Optional[torch.Tensor] = None  # [B] int64 index of the chosen candidate

    def candidates(self) -> MaskCandidates:
        """All candidates as a :class:`~sam2.modeling.track_types.MaskCandidates`."""
        chosen = self.chosen
        if chosen is None:
            chosen = torch.zeros(self.ious.shape[0], dtype=torch.long, device=self.ious.device)
        return MaskCandidates(
            low_res_masks=self.low_res_multimasks, ious=self.ious,
            object_score_logits=self.object_score_logits, tokens=self.candidate_tokens,
            chosen=chosen,
        )


class TrackStepCore(NamedTuple):
    """What :meth:`SAM2Base._track_step` computed before any memory encoding."""

    sam_outputs: SamHeadOutputs
    high_res_features: Optional[List[torch.Tensor]]  # [[B, C/8, 4h, 4w], [B, C/4, 2h, 2w]] or None
    pix_feat: torch.Tensor  # [B, C, h, w] features the heads ran on (memory-conditioned)


def _coerce_point_inputs(point_inputs: Union[PointInputs, Mapping[str, torch.Tensor], None]) -> Optional[PointInputs]:
    if point_inputs is None or isinstance(point_inputs, PointInputs):
        return point_inputs
    if isinstance(point_inputs, Mapping) and "point_coords" in point_inputs and "point_labels" in point_inputs:
        return PointInputs(point_inputs["point_coords"], point_inputs["point_labels"])
    raise TypeError(f"point_inputs must be a PointInputs (got {type(point_inputs).__name__})")


class SAM2Base(SAM2MemoryMixin, nn.Module):
    """SAM2 model. Constructor arguments have the official names, meanings and defaults.

    Args:
        image_encoder: ``ImageEncoder`` (trunk + FPN neck with ``neck.d_model``).
        memory_attention: ``MemoryAttention``.
        memory_encoder: ``MemoryEncoder``.
        num_maskmem: memories attended to (1 conditioning slot + ``num_maskmem - 1`` recent).
        image_size: square input resolution.
        backbone_stride: stride of the lowest-resolution backbone level.
        sigmoid_scale_for_mem_enc, sigmoid_bias_for_mem_enc: affine map of mask probabilities
            before the memory encoder.
        binarize_mask_from_pts_for_mem_enc: in eval, encode thresholded masks on clicked frames.
        use_mask_input_as_output_without_sam: a mask prompt becomes the output directly.
        max_cond_frames_in_attn: at most this many (closest) conditioning frames (-1: all).
        directly_add_no_mem_embed: initial conditioning frames add ``no_mem_embed`` to the
            features instead of running memory attention.
        use_high_res_features_in_sam: feed stride-4/8 features to the mask decoder.
        multimask_output_in_sam: 3 candidates for prompts with ``multimask_min_pt_num`` to
            ``multimask_max_pt_num`` points on initial conditioning frames...
        multimask_min_pt_num, multimask_max_pt_num: ...
        multimask_output_for_tracking: ...and also on tracked frames.
        use_multimask_token_for_obj_ptr: object pointer from the chosen multimask token.
        iou_prediction_use_sigmoid: IoU head outputs in ``[0, 1]``.
        memory_temporal_stride_for_eval: stride ``r`` between recent memories in eval.
        non_overlap_masks_for_mem_enc: in eval, keep one object per pixel before encoding memory.
        use_obj_ptrs_in_encoder: attend to object pointers of other frames.
        max_obj_ptrs_in_encoder: at most this many pointer frames.
        add_tpos_enc_to_obj_ptrs: temporal encoding of pointer distances.
        proj_tpos_enc_in_obj_ptrs: project that encoding with ``obj_ptr_tpos_proj``.
        use_signed_tpos_enc_to_obj_ptrs: signed distances for conditioning-frame pointers.
        only_obj_ptrs_in_the_past_for_eval: in eval, only conditioning pointers from the past.
        pred_obj_scores, pred_obj_scores_mlp: object-presence head (MLP variant).
        fixed_no_obj_ptr: absent objects get exactly ``no_obj_ptr`` as pointer.
        soft_no_obj_ptr: mix ``no_obj_ptr`` by the presence probability instead of hard 0/1.
        use_mlp_for_obj_ptr_proj: 3-layer MLP for ``obj_ptr_proj``.
        no_obj_embed_spatial: add a learned embedding to memories of absent-object frames.
        sam_mask_decoder_extra_args: extra ``MaskDecoder`` kwargs.
        compile_image_encoder: ``torch.compile`` the image encoder's forward.
    """

    def __init__(
        self, image_encoder: nn.Module, memory_attention: nn.Module, memory_encoder: nn.Module,
        num_maskmem: int = 7, image_size: int = 512, backbone_stride: int = 16,
        sigmoid_scale_for_mem_enc: float = 1.0, sigmoid_bias_for_mem_enc: float = 0.0,
        binarize_mask_from_pts_for_mem_enc: bool = False,
        use_mask_input_as_output_without_sam: bool = False, max_cond_frames_in_attn: int = -1,
        directly_add_no_mem_embed: bool = False, use_high_res_features_in_sam: bool = False,
        multimask_output_in_sam: bool = False, multimask_min_pt_num: int = 1,
        multimask_max_pt_num: int = 1, multimask_output_for_tracking: bool = False,
        use_multimask_token_for_obj_ptr: bool = False, iou_prediction_use_sigmoid: bool = False,
        memory_temporal_stride_for_eval: int = 1, non_overlap_masks_for_mem_enc: bool = False,
        use_obj_ptrs_in_encoder: bool = False, max_obj_ptrs_in_encoder: int = 16,
        add_tpos_enc_to_obj_ptrs: bool = True, proj_tpos_enc_in_obj_ptrs: bool = False,
        use_signed_tpos_enc_to_obj_ptrs: bool = False,
        only_obj_ptrs_in_the_past_for_eval: bool = False, pred_obj_scores: bool = False,
        pred_obj_scores_mlp: bool = False, fixed_no_obj_ptr: bool = False,
        soft_no_obj_ptr: bool = False, use_mlp_for_obj_ptr_proj: bool = False,
        no_obj_embed_spatial: bool = False,
        sam_mask_decoder_extra_args: Optional[Dict[str, Any]] = None,
        compile_image_encoder: bool = False,
    ) -> None:
        super().__init__()
        if proj_tpos_enc_in_obj_ptrs and not add_tpos_enc_to_obj_ptrs:
            raise ValueError("SAM2Base: proj_tpos_enc_in_obj_ptrs=True requires add_tpos_enc_to_obj_ptrs=True")
        if fixed_no_obj_ptr and not (pred_obj_scores and use_obj_ptrs_in_encoder):
            raise ValueError("SAM2Base: fixed_no_obj_ptr=True requires pred_obj_scores and use_obj_ptrs_in_encoder")

        # plain configuration values, kept under their constructor names
        settings = dict(locals())
        for name in _CONFIG_ATTRIBUTES:
            setattr(self, name, settings[name])
        self.num_feature_levels = 3 if use_high_res_features_in_sam else 1

        # --- modules and parameters (registration order = checkpoint key order) ----------
        self.image_encoder = image_encoder
        if use_obj_ptrs_in_encoder:
            # brings a mask prompt to the decoder's mask-input stride (pointer of a frame whose
            # mask prompt is taken as the output)
            self.mask_downsample = nn.Conv2d(1, 1, kernel_size=4, stride=4)
        self.memory_attention = memory_attention
        self.memory_encoder = memory_encoder
        self.hidden_dim: int = int(image_encoder.neck.d_model)
        out_proj = getattr(memory_encoder, "out_proj", None)
        # memories may be narrower than the image features (memory encoder's out_proj)
        self.mem_dim: int = int(out_proj.weight.shape[0]) if hasattr(out_proj, "weight") else self.hidden_dim
        self.maskmem_tpos_enc = nn.Parameter(torch.zeros(num_maskmem, 1, 1, self.mem_dim))
        self.no_mem_embed = nn.Parameter(torch.zeros(1, 1, self.hidden_dim))
        self.no_mem_pos_enc = nn.Parameter(torch.zeros(1, 1, self.hidden_dim))
        for p in (self.maskmem_tpos_enc, self.no_mem_embed, self.no_mem_pos_enc):
            trunc_normal_(p, std=0.02)
        if pred_obj_scores and use_obj_ptrs_in_encoder:
            self.no_obj_ptr = nn.Parameter(torch.zeros(1, self.hidden_dim))
            trunc_normal_(self.no_obj_ptr, std=0.02)
        self.no_obj_embed_spatial: Optional[nn.Parameter] = None
        if no_obj_embed_spatial:
            self.no_obj_embed_spatial = nn.Parameter(torch.zeros(1, self.mem_dim))
            trunc_normal_(self.no_obj_embed_spatial, std=0.02)

        self._build_sam_heads()
        # inference cache of the prompt encoder's dense encoding (see _dense_prompt_pe)
        self._dense_pe_cache = DerivedTensorCache()

        if compile_image_encoder:
            logger.info("compiling the image encoder's forward; the first call will be slow")
            self.image_encoder.forward = torch.compile(
                self.image_encoder.forward, mode="max-autotune", fullgraph=True, dynamic=False,
            )

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(self, *args, **kwargs):
        raise NotImplementedError(
            "SAM2Base has no forward(): use SAM2ImagePredictor / SAM2VideoPredictor for inference "
            "or SAM2Train for training."
        )

    def _build_sam_heads(self) -> None:
        """Create ``sam_prompt_encoder``, ``sam_mask_decoder``, ``obj_ptr_proj``, ``obj_ptr_tpos_proj``."""
        self.sam_prompt_embed_dim = self.hidden_dim
        self.sam_image_embedding_size = self.image_size // self.backbone_stride
        grid = (self.sam_image_embedding_size, self.sam_image_embedding_size)
        self.sam_prompt_encoder = PromptEncoder(
            embed_dim=self.sam_prompt_embed_dim, image_embedding_size=grid,
            input_image_size=(self.image_size, self.image_size), mask_in_chans=16,
        )
        decoder_kwargs: Dict[str, Any] = dict(
            num_multimask_outputs=3, transformer_dim=self.sam_prompt_embed_dim, iou_head_depth=3,
            iou_head_hidden_dim=256, use_high_res_features=self.use_high_res_features_in_sam,
            iou_prediction_use_sigmoid=self.iou_prediction_use_sigmoid,
            pred_obj_scores=self.pred_obj_scores, pred_obj_scores_mlp=self.pred_obj_scores_mlp,
            use_multimask_token_for_obj_ptr=self.use_multimask_token_for_obj_ptr,
        )
        decoder_kwargs.update(self.sam_mask_decoder_extra_args or {})
        self.sam_mask_decoder = MaskDecoder(
            transformer=TwoWayTransformer(depth=2, embedding_dim=self.sam_prompt_embed_dim, mlp_dim=2048, num_heads=8),
            **decoder_kwargs,
        )
        c = self.hidden_dim
        if not self.use_obj_ptrs_in_encoder:
            self.obj_ptr_proj: nn.Module = nn.Identity()
        elif self.use_mlp_for_obj_ptr_proj:
            self.obj_ptr_proj = MLP(c, c, c, 3)
        else:
            self.obj_ptr_proj = nn.Linear(c, c)
        self.obj_ptr_tpos_proj: nn.Module = nn.Linear(c, self.mem_dim) if self.proj_tpos_enc_in_obj_ptrs else nn.Identity()

    # ================================================================================
    # SAM heads
    # ================================================================================
    def _mix_no_obj_ptr(self, obj_ptr: torch.Tensor, presence: torch.Tensor) -> torch.Tensor:
        """Blend the pointer with ``no_obj_ptr`` by ``presence`` ``[B, 1]`` (0 absent .. 1 present)."""
        if self.fixed_no_obj_ptr:
            obj_ptr = presence * obj_ptr
        return obj_ptr + (1 - presence) * self.no_obj_ptr

    def _dense_prompt_pe(self) -> torch.Tensor:
        """``sam_prompt_encoder.get_dense_pe()`` ``[1, C, h, w]``; at inference (eval, no
        autograd) the result is kept and reused while the encoding's parameters are unchanged
        (identity, device and in-place version). Training always recomputes it."""
        encoder = self.sam_prompt_encoder
        return self._dense_pe_cache.get(self, encoder.pe_layer.buffers(), encoder.get_dense_pe)

    def _forward_sam_heads(
        self, backbone_features: torch.Tensor, point_inputs: Optional[PointInputs] = None,
        mask_inputs: Optional[torch.Tensor] = None,
        high_res_features: Optional[List[torch.Tensor]] = None, multimask_output: bool = False,
        presence_threshold: float = 0.0,
    ) -> SamHeadOutputs:
        """Run prompt encoder + mask decoder on (memory-conditioned) features.

        Args:
            backbone_features: ``[B, C, h, w]`` with ``h = w = image_size // backbone_stride``.
            point_inputs: clicks ``[B, P, 2]`` in input pixels with labels ``[B, P]``; when
                ``None`` a single padding point is used.
            mask_inputs: ``[B, 1, H', W']`` float/bool mask prompt (resized to the prompt
                encoder's mask size with antialiased bilinear interpolation if needed).
            high_res_features: ``[[B, C/8, 4h, 4w], [B, C/4, 2h, 2w]]`` or ``None``.
            multimask_output: produce 3 candidates and pick the best by predicted IoU.
        """
        point_inputs = _coerce_point_inputs(point_inputs)
        batch, channels, h, w = backbone_features.shape
        device = backbone_features.device
        expected = self.sam_image_embedding_size
        if channels != self.sam_prompt_embed_dim or h != expected or w != expected:
            raise ValueError(
                f"_forward_sam_heads: backbone_features {tuple(backbone_features.shape)} do not match "
                f"[B, {self.sam_prompt_embed_dim}, {expected}, {expected}]"
            )

        if point_inputs is None:
            coords = torch.zeros(batch, 1, 2, device=device)
            labels = -torch.ones(batch, 1, dtype=torch.int32, device=device)
        else:
            coords, labels = point_inputs.coords, point_inputs.labels
            if coords.shape[0] != batch or labels.shape[0] != batch:
                raise ValueError(
                    f"_forward_sam_heads: point prompts for {coords.shape[0]} objects, features for {batch}",
                )

        dense_prompt = None
        if mask_inputs is not None:
            if mask_inputs.dim() != 4 or tuple(mask_inputs.shape[:2]) != (batch, 1):
                raise ValueError(f"_forward_sam_heads: mask_inputs must be [{batch}, 1, H, W], got {tuple(mask_inputs.shape)}")
            target = tuple(self.sam_prompt_encoder.mask_input_size)
            if tuple(mask_inputs.shape[-2:]) != target:
                dense_prompt = F.interpolate(
                    mask_inputs.float(), size=target, mode="bilinear", align_corners=False, antialias=True,
                )
            else:
                dense_prompt = mask_inputs

        sparse, dense = self.sam_prompt_encoder(points=(coords, labels), boxes=None, masks=dense_prompt)
        low_res_multimasks, ious, sam_tokens, object_score_logits = self.sam_mask_decoder(
            image_embeddings=backbone_features, image_pe=self._dense_prompt_pe(),
            sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
            multimask_output=multimask_output, repeat_image=False,
            high_res_features=high_res_features,
        )
        if self.pred_obj_scores:
            present = object_score_logits > presence_threshold  # [B, 1]
            # spatial outputs make a hard present/absent decision
            low_res_multimasks = torch.where(present[:, None, None], low_res_multimasks, NO_OBJ_SCORE)

        low_res_multimasks = low_res_multimasks.float()
        high_res_multimasks = F.interpolate(
            low_res_multimasks, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False,
        )

        token = sam_tokens[:, 0]
        best, candidate_tokens = None, None
        if multimask_output:
            rows = torch.arange(batch, device=device)
            best = ious.argmax(dim=-1)
            low_res_masks = low_res_multimasks[rows, best].unsqueeze(1)
            high_res_masks = high_res_multimasks[rows, best].unsqueeze(1)
            if sam_tokens.shape[1] > 1:
                token = sam_tokens[rows, best]
                candidate_tokens = sam_tokens
        else:
            low_res_masks, high_res_masks = low_res_multimasks, high_res_multimasks

        obj_ptr = self._pointer_from_token(token, object_score_logits, presence_threshold)
        return SamHeadOutputs(
            low_res_multimasks, high_res_multimasks, ious, low_res_masks, high_res_masks, obj_ptr,
            object_score_logits, candidate_tokens, best,
        )

    def _pointer_from_token(self, token: torch.Tensor, object_score_logits: torch.Tensor,
                            presence_threshold: float = 0.0) -> torch.Tensor:
        """Object pointer ``[B, C]`` of a decoder output token ``[B, C]`` (with the "no object"
        pointer mixed in by the presence of ``object_score_logits`` ``[B, 1]``, present above
        ``presence_threshold``)."""
        obj_ptr = self.obj_ptr_proj(token)
        if self.pred_obj_scores and hasattr(self, "no_obj_ptr"):
            if self.soft_no_obj_ptr:
                presence = object_score_logits.sigmoid()
            else:
                presence = (object_score_logits > presence_threshold).float()
            obj_ptr = self._mix_no_obj_ptr(obj_ptr, presence)
        return obj_ptr

    def _use_mask_as_output(
        self, backbone_features: torch.Tensor, high_res_features: Optional[List[torch.Tensor]],
        mask_inputs: torch.Tensor, presence_threshold: float = 0.0,
    ) -> SamHeadOutputs:
        """Take a binary mask prompt ``[B, 1, S, S]`` as the prediction (logits exactly ±10).

        The object pointer still comes from the SAM heads (fed the downsampled mask) when
        pointers are used; the object score is +10 if the mask has a positive pixel, else -10.
        IoUs are ones ``[B, 1]``.
        """
        as_float = mask_inputs.float()
        high_res = as_float * MASK_AS_OUTPUT_SCALE + MASK_AS_OUTPUT_BIAS
        low_res = F.interpolate(
            high_res, size=(high_res.size(-2) // 4, high_res.size(-1) // 4), mode="bilinear",
            align_corners=False, antialias=True,
        )
        batch = mask_inputs.size(0)
        ious = mask_inputs.new_ones(batch, 1).float()
        if self.use_obj_ptrs_in_encoder:
            obj_ptr = self._forward_sam_heads(
                backbone_features=backbone_features, mask_inputs=self.mask_downsample(as_float),
                high_res_features=high_res_features, presence_threshold=presence_threshold,
            ).obj_ptr
        else:
            obj_ptr = torch.zeros(batch, self.hidden_dim, device=mask_inputs.device)

        # presence follows the prompt itself, not the decoder's object score
        presence = (as_float.flatten(1) > 0.0).any(dim=1, keepdim=True).float()
        object_score_logits = MASK_AS_OUTPUT_SCALE * presence + MASK_AS_OUTPUT_BIAS
        if self.pred_obj_scores and hasattr(self, "no_obj_ptr"):
            obj_ptr = self._mix_no_obj_ptr(obj_ptr, presence)
        return SamHeadOutputs(low_res, high_res, ious, low_res, high_res, obj_ptr, object_score_logits)

    # ================================================================================
    # image features
    # ================================================================================
    def forward_image(self, img_batch: torch.Tensor) -> Dict[str, Any]:
        """Encode images ``[B, 3, S, S]`` (normalised float).

        Returns:
            ``{"vision_features": [B, C, S/16, S/16], "vision_pos_enc": [per level [B, C, h_l, w_l]],
            "backbone_fpn": [per level [B, C_l, h_l, w_l]]}``; with high-res features the two
            finest FPN levels are already projected by the decoder's ``conv_s0`` / ``conv_s1``.
        """
        backbone_out = self.image_encoder(img_batch)
        if self.use_high_res_features_in_sam:
            fpn = backbone_out["backbone_fpn"]
            fpn[0] = self.sam_mask_decoder.conv_s0(fpn[0])
            fpn[1] = self.sam_mask_decoder.conv_s1(fpn[1])
        return backbone_out

    def _prepare_backbone_features(
        self, backbone_out: Dict[str, Any],
    ) -> Tuple[List[torch.Tensor], List[torch.Tensor], List[Tuple[int, int]]]:
        """Flatten the last ``num_feature_levels`` levels to ``[h*w, B, C]``.

        Returns:
            ``(vision_feats, vision_pos_embeds, feat_sizes)`` with lists ordered from the finest
            level used to the coarsest, and ``feat_sizes`` as ``(h, w)``.
        """
        fpn, pos = backbone_out["backbone_fpn"], backbone_out["vision_pos_enc"]
        if len(fpn) != len(pos) or len(fpn) < self.num_feature_levels:
            raise ValueError(
                f"backbone output has {len(fpn)} feature levels and {len(pos)} position encodings; "
                f"need matching lists of at least {self.num_feature_levels}"
            )
        levels = fpn[-self.num_feature_levels :]
        level_pos = pos[-self.num_feature_levels :]
        feat_sizes = [(int(p.shape[-2]), int(p.shape[-1])) for p in level_pos]
        vision_feats = [map_to_seq_first(x) for x in levels]
        vision_pos_embeds = [map_to_seq_first(x) for x in level_pos]
        return vision_feats, vision_pos_embeds, feat_sizes

    # ================================================================================
    # per-frame step
    # ================================================================================
    def _track_step(
        self, frame_idx: int, is_init_cond_frame: bool, current_vision_feats: List[torch.Tensor],
        current_vision_pos_embeds: List[torch.Tensor], feat_sizes: List[Tuple[int, int]],
        point_inputs: Optional[PointInputs], mask_inputs: Optional[torch.Tensor],
        memory: TrackMemory, num_frames: Optional[int], track_in_reverse: bool,
        prev_sam_mask_logits: Optional[torch.Tensor], read_plan: Optional[ReadPlan] = None,
        presence_threshold: float = 0.0,
    ) -> TrackStepCore:
        """Heads of one frame (memory conditioning + SAM heads, or mask-as-output)."""
        high_res_features = None
        if len(current_vision_feats) > 1:
            high_res_features = [
                seq_first_to_map(x, s) for x, s in zip(current_vision_feats[:-1], feat_sizes[:-1])
            ]
        if mask_inputs is not None and self.use_mask_input_as_output_without_sam:
            pix_feat = seq_first_to_map(current_vision_feats[-1], feat_sizes[-1])
            outputs = self._use_mask_as_output(pix_feat, high_res_features, mask_inputs, presence_threshold)
            return TrackStepCore(outputs, high_res_features, pix_feat)

        coarsest = slice(-1, None)
        pix_feat = self._prepare_memory_conditioned_features(
            frame_idx, is_init_cond_frame, current_vision_feats[coarsest],
            current_vision_pos_embeds[coarsest], feat_sizes[coarsest], memory, num_frames,
            track_in_reverse=track_in_reverse, read_plan=read_plan,
        )
        if prev_sam_mask_logits is not None:
            # earlier logits of this frame refine new clicks (interactive correction)
            if point_inputs is None or mask_inputs is not None:
                raise ValueError("prev_sam_mask_logits needs point_inputs and no mask_inputs")
            mask_inputs = prev_sam_mask_logits
        outputs = self._forward_sam_heads(
            backbone_features=pix_feat, point_inputs=point_inputs, mask_inputs=mask_inputs,
            high_res_features=high_res_features,
            multimask_output=self._use_multimask(is_init_cond_frame, point_inputs),
            presence_threshold=presence_threshold,
        )
        return TrackStepCore(outputs, high_res_features, pix_feat)

    def track_step(
        self, frame_idx: int, is_init_cond_frame: bool, current_vision_feats: List[torch.Tensor],
        current_vision_pos_embeds: List[torch.Tensor], feat_sizes: List[Tuple[int, int]],
        point_inputs: Optional[PointInputs], mask_inputs: Optional[torch.Tensor],
        memory: TrackMemory, num_frames: Optional[int], track_in_reverse: bool = False,
        run_mem_encoder: bool = True, prev_sam_mask_logits: Optional[torch.Tensor] = None,
        *, read_plan: Optional[ReadPlan] = None, presence_threshold: float = 0.0,
    ) -> FrameOutput:
        """Segment one frame of a track of ``B`` objects and (optionally) encode its memory.

        Args:
            frame_idx: index of the frame in the video.
            is_init_cond_frame: a prompted frame with no usable memory (features get
                ``no_mem_embed``).
            current_vision_feats, current_vision_pos_embeds, feat_sizes: from
                :meth:`_prepare_backbone_features` (``[h*w, B, C]`` per level, finest first).
            point_inputs: clicks/box corners in input pixels, or ``None``.
            mask_inputs: ``[B, 1, S, S]`` mask prompt, or ``None``.
            memory: conditioning and non-conditioning outputs of the track (read only).
            num_frames: video length (bounds the pointer window).
            track_in_reverse: tracking towards earlier frames.
            run_mem_encoder: encode the memory of this frame.
            prev_sam_mask_logits: ``[B, 1, 4h, 4w]`` earlier logits fed with new clicks.
            read_plan: a memory policy's read plan, ``read_plan(frame_idx, reverse, selection,
                memory, window) -> selection``: rewrites which stored frames this frame reads
                (and their key scales; see :class:`~sam2.modeling.sam2_memory.MemorySelection`);
                ``None``: SAM 2's choice.
            presence_threshold: object-score logit above which the heads count the object as
                present (masks kept, pointer not mixed with ``no_obj_ptr``); 0 in SAM 2, a
                memory policy may move it (SAMURAI: -1). The memory encoder's no-object
                embedding always uses 0.

        Returns:
            a :class:`FrameOutput` with masks, pointer, object score, IoUs, memory (when
            ``run_mem_encoder``) and every decoder candidate (``candidates``).
        """
        point_inputs = _coerce_point_inputs(point_inputs)
        features = (current_vision_feats, current_vision_pos_embeds, feat_sizes)
        prompts = (point_inputs, mask_inputs)
        core = self._track_step(
            frame_idx, is_init_cond_frame, *features, *prompts, memory, num_frames, track_in_reverse, prev_sam_mask_logits,
            read_plan=read_plan, presence_threshold=presence_threshold,
        )
        heads = core.sam_outputs
        out = FrameOutput(
            pred_masks=heads.low_res_masks, obj_ptr=heads.obj_ptr,
            object_score_logits=heads.object_score_logits, pred_masks_high_res=heads.high_res_masks,
            ious=heads.ious, point_inputs=point_inputs, mask_inputs=mask_inputs,
            candidates=heads.candidates(),
        )
        self._encode_memory_in_output(
            current_vision_feats, feat_sizes, point_inputs, run_mem_encoder, heads.high_res_masks,
            heads.object_score_logits, out,
        )
        return out

    def _use_multimask(self, is_init_cond_frame: bool, point_inputs: Optional[PointInputs]) -> bool:
        """Whether the SAM heads output 3 candidates for this prompt."""
        point_inputs = _coerce_point_inputs(point_inputs)
        num_pts = 0 if point_inputs is None else int(point_inputs.labels.size(1))
        return bool(
            self.multimask_output_in_sam
            and (is_init_cond_frame or self.multimask_output_for_tracking)
            and self.multimask_min_pt_num <= num_pts <= self.multimask_max_pt_num
        )

    def _apply_non_overlapping_constraints(self, pred_masks: torch.Tensor) -> torch.Tensor:
        """Keep only the highest-scoring object per pixel of ``[B, 1, H, W]`` logits; the others
        are clamped to at most -10 there."""
        num_objects = pred_masks.size(0)
        if num_objects == 1:
            return pred_masks
        winner = pred_masks.argmax(dim=0, keepdim=True)  # [1, 1, H, W]
        ids = torch.arange(num_objects, device=pred_masks.device).view(-1, 1, 1, 1)
        return torch.where(winner == ids, pred_masks, pred_masks.clamp(max=-10.0))
