"""The four exportable graphs of a SAM 2.1 tracker, as ``nn.Module`` wrappers of the model.

Each wrapper calls the model's own modules (no second implementation of a layer); what the
video predictor decides in Python (which memories to read, which candidate to keep, memory
policies) stays outside and becomes graph inputs:

* :class:`ImageEncoderGraph` - ``image [1, 3, S, S]`` -> the three feature levels.
* :class:`PromptGraph` - prompt encoder + mask decoder on a frame's features (the image
  predictor's path; in a video, a prompt on a frame with no memory yet).
* :class:`TrackStepGraph` - memory attention over a fixed-size memory bank given as tensors
  with validity masks, then prompt encoder + mask decoder (tracking, and corrections).
* :class:`MemoryEncoderGraph` - a frame's features + the chosen low-res masks -> memory.

Shapes (``S`` image size, ``h = w = S / 16``, ``C`` hidden dim, ``C_mem`` memory dim, ``B``
objects, ``M`` memory slots, ``P`` pointer slots, ``N`` clicks, ``T = 4`` decoder
candidates: the single-mask output then the three multimask ones) are documented in
``docs/onnx.md``.
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sam2.modeling.sam.transformer import RoPEAttention
from sam2.modeling.sam2_base import SAM2Base
from sam2.modeling.sam2_utils import get_1d_sine_pe

__all__ = [
    "UnsupportedModelError", "check_exportable", "ImageEncoderGraph", "PromptGraph",
    "TrackStepGraph", "MemoryEncoderGraph",
]


class UnsupportedModelError(ValueError):
    """The model has a setting the exported graphs do not implement; the message names it."""


def check_exportable(model: SAM2Base) -> None:
    """Raise :class:`UnsupportedModelError` naming the part of ``model`` that cannot be exported."""
    problems = []
    if not model.use_high_res_features_in_sam:
        problems.append("mask decoder: use_high_res_features_in_sam=false")
    if model.num_maskmem <= 0:
        problems.append("memory: num_maskmem must be > 0 for a video tracker")
    if not model.directly_add_no_mem_embed:
        problems.append("memory attention: directly_add_no_mem_embed=false (initial frames "
                        "attending to a no-memory token)")
    if not model.use_obj_ptrs_in_encoder:
        problems.append("memory attention: use_obj_ptrs_in_encoder=false")
    for i, layer in enumerate(model.memory_attention.layers):
        cross = layer.cross_attn_image
        if not isinstance(cross, RoPEAttention) or not cross.rope_k_repeat:
            problems.append(f"memory attention layer {i}: cross-attention must be RoPEAttention "
                            "with rope_k_repeat=true")
    if model.hidden_dim % model.mem_dim != 0:
        problems.append(f"object pointers: hidden dim {model.hidden_dim} is not a multiple of "
                        f"the memory dim {model.mem_dim}")
    if problems:
        raise UnsupportedModelError("cannot export this model: " + "; ".join(problems))


def _flat(x: Tensor) -> Tensor:
    """``[B, C, h, w] -> [B, h*w, C]`` (batch-first tokens)."""
    return x.flatten(2).transpose(1, 2)


class _Heads(nn.Module):
    """Prompt encoder + mask decoder + pointer projection on (conditioned) features.

    Every candidate is returned; which one a frame keeps (multimask or not, the stability
    fallback, a policy's choice) is decided by the caller, as in the video predictor.
    """

    def __init__(self, model: SAM2Base) -> None:
        super().__init__()
        self.model = model
        with torch.no_grad():
            self.register_buffer("image_pe", model.sam_prompt_encoder.get_dense_pe().clone())

    def forward(self, features: Tensor, feat_s0: Tensor, feat_s1: Tensor, point_coords: Tensor,
                point_labels: Tensor, mask_input: Tensor, has_mask_input: Tensor,
                presence_threshold: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        m = self.model
        encoder = m.sam_prompt_encoder
        # the caller appends the padding click (label -1) the model adds when there is no box
        sparse = encoder._embed_points(point_coords, point_labels, pad=False)
        dense_mask = encoder._embed_masks(mask_input)
        dense_none = encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand_as(dense_mask)
        dense = torch.where(has_mask_input[:, None, None, None], dense_mask, dense_none)
        masks, ious, tokens, scores = m.sam_mask_decoder.predict_masks(
            features, self.image_pe, sparse, dense, repeat_image=False,
            high_res_features=[feat_s0, feat_s1],
        )
        ptrs = m.obj_ptr_proj(tokens)  # [B, T, C]
        if m.pred_obj_scores and hasattr(m, "no_obj_ptr"):
            if m.soft_no_obj_ptr:
                presence = scores.sigmoid()
            else:
                presence = (scores > presence_threshold).float()
            ptrs = m._mix_no_obj_ptr(ptrs, presence[:, :, None])
        return masks.float(), ious, ptrs, scores


class ImageEncoderGraph(nn.Module):
    """``image [1, 3, S, S]`` (normalised) -> ``vision_feat [1, C, h, w]``,
    ``feat_s0 [1, C/8, 4h, 4w]``, ``feat_s1 [1, C/4, 2h, 2w]`` (the decoder's projections
    of the two finest levels already applied)."""

    def __init__(self, model: SAM2Base) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        fpn = self.model.forward_image(image)["backbone_fpn"]
        return fpn[-1], fpn[-3], fpn[-2]


class PromptGraph(nn.Module):
    """Prompt encoder + mask decoder on one frame's features for ``B`` prompts.

    ``add_no_mem_embed`` (bool scalar): add the model's no-memory embedding to the features
    first (a prompt on a frame with no memory, and the image predictor); ``False`` runs the
    heads on the raw features (a mask prompt's object pointer).
    """

    def __init__(self, model: SAM2Base) -> None:
        super().__init__()
        self.model = model
        self.heads = _Heads(model)

    def forward(self, vision_feat: Tensor, feat_s0: Tensor, feat_s1: Tensor, point_coords: Tensor,
                point_labels: Tensor, mask_input: Tensor, has_mask_input: Tensor,
                add_no_mem_embed: Tensor, presence_threshold: Tensor):
        batch = point_coords.shape[0]
        no_mem = self.model.no_mem_embed.reshape(1, -1, 1, 1)
        feats = torch.where(add_no_mem_embed, vision_feat + no_mem, vision_feat)
        expand = (lambda t: t.expand(batch, -1, -1, -1))
        return self.heads(expand(feats), expand(feat_s0), expand(feat_s1), point_coords,
                          point_labels, mask_input, has_mask_input, presence_threshold)


class TrackStepGraph(nn.Module):
    """Memory attention over caller-held memory, then the heads, for ``B`` objects.

    Memory inputs (invalid slots are masked out of the cross-attention):

    * ``mem_feats [B, M, C_mem, h, w]``: memory features of stored frames,
      ``mem_tpos [B, M]`` int64 temporal slot (0 conditioning, ``1 .. num_maskmem - 1``
      oldest to newest recent), ``mem_valid [B, M]`` bool;
    * ``obj_ptrs [B, P, C]``: object pointers, ``ptr_tpos [B, P]`` float32 temporal
      distance divided by the pointer window's largest distance, ``ptr_valid [B, P]`` bool.
    """

    def __init__(self, model: SAM2Base) -> None:
        super().__init__()
        self.model = model
        self.heads = _Heads(model)
        size = model.image_size
        with torch.no_grad():
            dummy = torch.zeros(1, 3, size, size, device=model.device)
            encoded = model.image_encoder(dummy)
            curr_pos, feats = encoded["vision_pos_enc"][-1], encoded["backbone_fpn"][-1]
            mem_pos = model.memory_encoder(feats, torch.zeros(1, 1, size, size, device=model.device),
                                           skip_mask_sigmoid=True)["vision_pos_enc"][-1]
        self.register_buffer("curr_pos", _flat(curr_pos).clone())  # [1, hw, C]
        self.register_buffer("mem_pos", _flat(mem_pos).clone())  # [1, hw, C_mem]

    def _cross_attention(self, layer: nn.Module, tgt: Tensor, memory: Tensor, memory_pos: Tensor,
                         query_pos: Tensor, num_spatial: int, valid: Tensor) -> Tensor:
        """``MemoryAttentionLayer._forward_ca`` with a key-padding mask ``valid [B, K]``."""
        attn: RoPEAttention = layer.cross_attn_image
        normed = layer.norm2(tgt)
        keys = memory + memory_pos if layer.pos_enc_at_cross_attn_keys else memory
        queries = normed + query_pos if layer.pos_enc_at_cross_attn_queries else normed
        q, k, v = attn._project(queries, keys, memory)
        n_q = q.shape[-2]
        q = attn._rotate(q, n_q)
        k_rot = attn._rotate(k[:, :, :num_spatial], n_q, num_spatial // n_q)
        k = torch.cat((k_rot, k[:, :, num_spatial:]), dim=2)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=valid[:, None, None, :])
        return tgt + layer.dropout2(attn.out_proj(attn._merge(out)))

    def forward(self, vision_feat: Tensor, feat_s0: Tensor, feat_s1: Tensor, mem_feats: Tensor,
                mem_tpos: Tensor, mem_valid: Tensor, obj_ptrs: Tensor, ptr_tpos: Tensor,
                ptr_valid: Tensor, point_coords: Tensor, point_labels: Tensor, mask_input: Tensor,
                has_mask_input: Tensor, presence_threshold: Tensor):
        m = self.model
        batch, slots, c_mem, h, w = mem_feats.shape
        hw = h * w
        # spatial memory tokens [B, M*hw, C_mem] and encodings (+ temporal slot encoding)
        spatial = mem_feats.flatten(3).transpose(2, 3).reshape(batch, slots * hw, c_mem)
        tpos = m.maskmem_tpos_enc.reshape(m.num_maskmem, c_mem)[(m.num_maskmem - 1) - mem_tpos]
        spatial_pos = (self.mem_pos[:, None] + tpos[:, :, None, :]).reshape(batch, slots * hw, c_mem)
        spatial_valid = mem_valid[:, :, None].expand(batch, slots, hw).reshape(batch, slots * hw)
        # object-pointer tokens [B, P*parts, C_mem] (a pointer is C / C_mem tokens)
        c = m.hidden_dim
        parts = c // c_mem
        num_ptrs = obj_ptrs.shape[1]
        if m.add_tpos_enc_to_obj_ptrs:
            enc_dim = c if m.proj_tpos_enc_in_obj_ptrs else c_mem
            ptr_enc = m.obj_ptr_tpos_proj(get_1d_sine_pe(ptr_tpos, dim=enc_dim))
        else:
            ptr_enc = torch.zeros_like(obj_ptrs[..., :c_mem])
        ptr_tokens = obj_ptrs.reshape(batch, num_ptrs * parts, c_mem)
        ptr_enc = ptr_enc.repeat_interleave(parts, dim=1)
        ptr_valid_t = ptr_valid.repeat_interleave(parts, dim=1)

        memory = torch.cat((spatial, ptr_tokens), dim=1)
        memory_pos = torch.cat((spatial_pos, ptr_enc), dim=1)
        valid = torch.cat((spatial_valid, ptr_valid_t), dim=1)

        attention = m.memory_attention
        x = _flat(vision_feat).expand(batch, -1, -1)
        query_pos = self.curr_pos.expand(batch, -1, -1)
        if attention.pos_enc_at_input:
            x = x + 0.1 * query_pos
        for layer in attention.layers:
            x = layer._forward_sa(x, query_pos)
            x = self._cross_attention(layer, x, memory, memory_pos, query_pos, slots * hw, valid)
            x = layer._forward_ff(x)
        x = attention.norm(x)
        pix_feat = x.transpose(1, 2).reshape(batch, c, h, w)
        expand = (lambda t: t.expand(batch, -1, -1, -1))
        return self.heads(pix_feat, expand(feat_s0), expand(feat_s1), point_coords, point_labels,
                          mask_input, has_mask_input, presence_threshold)


class MemoryEncoderGraph(nn.Module):
    """A frame's ``vision_feat [1, C, h, w]`` + chosen ``masks [B, 1, 4h, 4w]`` low-res logits
    + ``object_score_logits [B, 1]`` -> ``maskmem_features [B, C_mem, h, w]``.

    The masks are upsampled to ``S x S`` here (as the model does); ``binarize`` (bool scalar)
    encodes thresholded masks (a prompted frame, when the model binarises those); with
    ``non_overlap_masks_for_mem_enc`` the ``B`` objects keep one object per pixel.
    """

    def __init__(self, model: SAM2Base) -> None:
        super().__init__()
        self.model = model

    def forward(self, vision_feat: Tensor, masks: Tensor, object_score_logits: Tensor,
                binarize: Tensor) -> Tensor:
        m = self.model
        size = m.image_size
        batch = masks.shape[0]
        high = F.interpolate(masks, size=(size, size), mode="bilinear", align_corners=False)
        if m.non_overlap_masks_for_mem_enc:
            winner = high.argmax(dim=0, keepdim=True)
            ids = torch.arange(batch, device=high.device).view(-1, 1, 1, 1)
            high = torch.where(winner == ids, high, high.clamp(max=-10.0))
        probs = torch.where(binarize, (high > 0).float(), torch.sigmoid(high))
        probs = probs * m.sigmoid_scale_for_mem_enc + m.sigmoid_bias_for_mem_enc
        feats = vision_feat.expand(batch, -1, -1, -1)
        out = m.memory_encoder(feats, probs, skip_mask_sigmoid=True)["vision_features"]
        if m.no_obj_embed_spatial is not None:
            absent = 1 - (object_score_logits > 0).float()
            out = out + absent[..., None, None] * m.no_obj_embed_spatial[..., None, None]
        return out
