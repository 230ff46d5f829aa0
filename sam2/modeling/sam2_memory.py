"""The memory half of :class:`~sam2.modeling.sam2_base.SAM2Base`: reading and writing memory.

* Which stored frames a frame reads: :meth:`SAM2MemoryMixin._select_memory`, which asks the
  model's :class:`~sam2.modeling.read_window.ReadWindow` (recent-memory slots, pointer frames).
* Turning them into tokens and attending: :meth:`SAM2MemoryMixin._memory_tokens`,
  :meth:`SAM2MemoryMixin._attend_memory`,
  :meth:`SAM2MemoryMixin._prepare_memory_conditioned_features`.
* Writing a frame's memory: :meth:`SAM2MemoryMixin._encode_new_memory`.

The mixin reads the model's settings and modules (``num_maskmem``, ``memory_attention``,
``memory_encoder``, ``maskmem_tpos_enc``, ...), which ``SAM2Base.__init__`` creates.
Flattened features are sequence-first: ``[H*W, B, C]``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

import torch

from sam2.modeling.read_window import ReadWindow
from sam2.modeling.sam2_utils import get_1d_sine_pe, select_closest_cond_frames
from sam2.modeling.track_types import FrameOutput, PointInputs, TrackMemory

__all__ = [
    "MemoryFrameRef", "PointerRef", "MemorySelection", "SAM2MemoryMixin",
    "seq_first_to_map", "map_to_seq_first",
]


@dataclass(frozen=True)
class MemoryFrameRef:
    """A stored frame whose spatial memory is read, at temporal slot ``t_pos``.

    ``t_pos`` is 0 for conditioning frames and ``1 .. num_maskmem - 1`` (oldest to newest) for
    recent frames; the temporal encoding used is ``maskmem_tpos_enc[num_maskmem - t_pos - 1]``.
    """

    frame_idx: int
    t_pos: int
    output: FrameOutput = field(compare=False, repr=False)


@dataclass(frozen=True)
class PointerRef:
    """A stored frame whose object pointer is read; ``distance`` feeds its temporal encoding."""

    frame_idx: int
    distance: int
    output: FrameOutput = field(compare=False, repr=False)


@dataclass
class MemorySelection:
    """Which memories a (non-initial) frame attends to."""

    spatial: List[MemoryFrameRef]
    pointers: List[PointerRef]
    max_ptr_distance: int  # normaliser of pointer distances (max pointer count - 1)
    #: optional factors on the cross-attention keys of each spatial memory (``[len(spatial)]``)
    #: and of each pointer (``[len(pointers)]``), float32; ``None``: keys unscaled (SAM 2)
    key_scales: Optional[Tuple[torch.Tensor, torch.Tensor]] = None


#: a memory policy's read plan, an argument of the step:
#: ``read_plan(frame_idx, reverse, selection, memory, window) -> selection`` rewrites what
#: :meth:`SAM2MemoryMixin._select_memory` chose (``memory``: the track's
#: :class:`~sam2.modeling.track_types.TrackMemory`; ``window``: the model's
#: :class:`~sam2.modeling.read_window.ReadWindow`)
ReadPlan = Callable[[int, bool, MemorySelection, TrackMemory, ReadWindow], MemorySelection]


def seq_first_to_map(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """``[h*w, B, C] -> [B, C, h, w]``."""
    return x.permute(1, 2, 0).view(x.size(1), x.size(2), *size)


def map_to_seq_first(x: torch.Tensor) -> torch.Tensor:
    """``[B, C, h, w] -> [h*w, B, C]``."""
    return x.flatten(2).permute(2, 0, 1)


class SAM2MemoryMixin:
    """Memory reading (selection, tokens, attention) and writing (encoder) of SAM2."""

    # ================================================================================
    # memory selection
    # ================================================================================
    def read_window(self, num_frames: Optional[int] = None) -> ReadWindow:
        """The model's :class:`~sam2.modeling.read_window.ReadWindow` for a video of
        ``num_frames`` frames (unknown: ``None``); stride 1 in training."""
        stride = 1 if self.training else self.memory_temporal_stride_for_eval
        return ReadWindow.for_model(
            self.num_maskmem, stride, self.use_obj_ptrs_in_encoder, self.max_obj_ptrs_in_encoder,
            num_frames,
        )

    def _recent_memory_slots(self, frame_idx: int, track_in_reverse: bool = False) -> List[Tuple[int, int]]:
        """``(t_pos, frame index)`` of the recent-memory slots (see :meth:`ReadWindow.mask_slots`)."""
        return self.read_window().mask_slots(frame_idx, track_in_reverse)

    def _select_memory(
        self, frame_idx: int, memory: TrackMemory, num_frames: Optional[int],
        track_in_reverse: bool = False,
    ) -> MemorySelection:
        """Decide which stored frames a non-initial frame reads (spatial memories and pointers).

        Spatial: the selected conditioning frames (all, or the ``max_cond_frames_in_attn``
        closest) at ``t_pos = 0`` in ``memory.cond`` order, then the recent slots of
        :meth:`_recent_memory_slots` from ``memory.non_cond`` (or an unselected conditioning
        frame at that index). Pointers (when ``use_obj_ptrs_in_encoder``): the selected
        conditioning frames (only past ones with ``only_obj_ptrs_in_the_past_for_eval`` in
        eval) at their (signed) distance, then frames 1, 2, ... away in the tracking direction
        up to the pointer window, stopping at the video's ends.
        """
        if not memory.cond:
            raise ValueError(
                f"frame {frame_idx}: tracking needs at least one conditioning frame in memory "
                "(prompt a frame first)"
            )
        selected, unselected = select_closest_cond_frames(frame_idx, memory.cond, self.max_cond_frames_in_attn)

        def stored(idx: int) -> Optional[FrameOutput]:
            out = memory.non_cond.get(idx)
            return unselected.get(idx) if out is None else out

        spatial = [MemoryFrameRef(t, 0, out) for t, out in selected.items()]
        window = self.read_window(num_frames)
        for t_pos, idx in window.mask_slots(frame_idx, track_in_reverse):
            out = stored(idx)
            if out is not None:
                spatial.append(MemoryFrameRef(idx, t_pos, out))

        pointers: List[PointerRef] = []
        if self.use_obj_ptrs_in_encoder:
            direction = -1 if track_in_reverse else 1
            past_only = (not self.training) and self.only_obj_ptrs_in_the_past_for_eval
            for t, out in selected.items():
                if past_only and (t < frame_idx if track_in_reverse else t > frame_idx):
                    continue
                dist = (frame_idx - t) * direction if self.use_signed_tpos_enc_to_obj_ptrs else abs(frame_idx - t)
                pointers.append(PointerRef(t, dist, out))
            for t, step in window.pointer_steps(frame_idx, track_in_reverse):
                out = stored(t)
                if out is not None:
                    pointers.append(PointerRef(t, step, out))
        return MemorySelection(spatial=spatial, pointers=pointers, max_ptr_distance=window.pointer_window - 1)

    # ================================================================================
    # memory tokens and attention
    # ================================================================================
    def _spatial_memory_tokens(
        self, refs: Sequence[MemoryFrameRef], device: torch.device, dtype: torch.dtype,
    ) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """Tokens ``[h*w, B, C_mem]`` and encodings (spatial + temporal) of each stored memory.

        Stored memories (possibly bfloat16 or offloaded) are brought to ``device`` / ``dtype``.
        Frames without an encoded memory are skipped.
        """
        tokens, encodings = [], []
        for ref in refs:
            feats, pos_list = ref.output.maskmem_features, ref.output.maskmem_pos_enc
            if feats is None or not pos_list:
                continue
            tokens.append(map_to_seq_first(feats.to(device=device, dtype=dtype, non_blocking=True)))
            pos = pos_list[-1].to(device=device, dtype=dtype)
            if pos.shape[0] != feats.shape[0]:
                pos = pos.expand(feats.shape[0], -1, -1, -1)
            tpos = self.maskmem_tpos_enc[self.num_maskmem - ref.t_pos - 1]
            encodings.append(map_to_seq_first(pos) + tpos)
        return tokens, encodings

    def _pointer_tokens(
        self, selection: MemorySelection, batch: int, device: torch.device, dtype: torch.dtype,
    ) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
        """Object-pointer tokens ``[P * C/C_mem, B, C_mem]`` and their temporal encodings."""
        refs = selection.pointers
        if not refs:
            return None, None
        c, c_mem = self.hidden_dim, self.mem_dim
        ptrs = torch.stack([r.output.obj_ptr.to(device=device, dtype=dtype) for r in refs], dim=0)  # [P, B, C]
        if self.add_tpos_enc_to_obj_ptrs:
            dists = torch.tensor([r.distance for r in refs], device=device)
            enc_dim = c if self.proj_tpos_enc_in_obj_ptrs else c_mem
            enc = get_1d_sine_pe(dists / selection.max_ptr_distance, dim=enc_dim)
            enc = self.obj_ptr_tpos_proj(enc).unsqueeze(1).expand(-1, batch, c_mem)
        else:
            enc = ptrs.new_zeros(len(refs), batch, c_mem)
        if c_mem < c:
            # one pointer becomes C / C_mem consecutive tokens of width C_mem
            parts = c // c_mem
            ptrs = ptrs.reshape(-1, batch, parts, c_mem).permute(0, 2, 1, 3).flatten(0, 1)
            enc = enc.repeat_interleave(parts, dim=0)
        return ptrs, enc

    def _memory_tokens(
        self, selection: MemorySelection, batch: int, device: torch.device, dtype: torch.dtype,
    ) -> Tuple[torch.Tensor, torch.Tensor, int]:
        """Concatenate spatial then pointer tokens: ``(memory [M, B, C_mem], pos [M, B, C_mem], n_ptr_tokens)``."""
        tokens, encodings = self._spatial_memory_tokens(selection.spatial, device, dtype)
        ptrs, ptr_enc = self._pointer_tokens(selection, batch, device, dtype)
        num_ptr_tokens = 0
        if ptrs is not None:
            tokens.append(ptrs)
            encodings.append(ptr_enc)
            num_ptr_tokens = int(ptrs.shape[0])
        if not tokens:
            raise ValueError("no memory to attend to: conditioning frames lack encoded memories and pointers")
        return torch.cat(tokens, dim=0), torch.cat(encodings, dim=0), num_ptr_tokens

    def _token_key_scale(self, selection: MemorySelection, device: torch.device) -> Optional[torch.Tensor]:
        """``[M]`` factor of each memory token's key from ``selection.key_scales`` (the tokens
        of :meth:`_memory_tokens`: each spatial memory's ``h*w``, each pointer's
        ``C / C_mem``), or ``None``."""
        if selection.key_scales is None:
            return None
        frame_scale, ptr_scale = selection.key_scales
        parts = []
        for ref, scale in zip(selection.spatial, frame_scale):
            feats = ref.output.maskmem_features
            if feats is None or not ref.output.maskmem_pos_enc:
                continue
            parts.append(scale.reshape(1).expand(feats.shape[-2] * feats.shape[-1]))
        per_ptr = max(self.hidden_dim // self.mem_dim, 1)
        for scale in ptr_scale[:len(selection.pointers)]:
            parts.append(scale.reshape(1).expand(per_ptr))
        return torch.cat(parts).to(device=device, dtype=torch.float32)

    def _attend_memory(
        self, current_vision_feats: List[torch.Tensor],
        current_vision_pos_embeds: List[torch.Tensor], feat_size: Tuple[int, int],
        memory_tokens: torch.Tensor, memory_pos: torch.Tensor, num_obj_ptr_tokens: int,
        key_scale: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Memory attention on the coarsest level; returns ``[B, C, h, w]``."""
        extra = {} if key_scale is None else {"key_scale": key_scale}
        fused = self.memory_attention(
            current_vision_feats[-1:], memory_tokens, curr_pos=current_vision_pos_embeds[-1:],
            memory_pos=memory_pos, num_obj_ptr_tokens=num_obj_ptr_tokens, **extra,
        )
        return seq_first_to_map(fused, feat_size)

    def _prepare_memory_conditioned_features(
        self, frame_idx: int, is_init_cond_frame: bool, current_vision_feats: List[torch.Tensor],
        current_vision_pos_embeds: List[torch.Tensor], feat_sizes: List[Tuple[int, int]],
        memory: TrackMemory, num_frames: Optional[int], track_in_reverse: bool = False,
        read_plan: Optional[ReadPlan] = None,
    ) -> torch.Tensor:
        """Fuse the current frame's coarsest features ``[h*w, B, C]`` with memory -> ``[B, C, h, w]``.

        Initial conditioning frames use no memory (``no_mem_embed``); other frames read the
        memories chosen by :meth:`_select_memory`.
        """
        feats = current_vision_feats[-1]
        batch, size = feats.size(1), feat_sizes[-1]
        if self.num_maskmem == 0:  # memory disabled (plain SAM on images)
            return seq_first_to_map(feats, size)

        if is_init_cond_frame:
            if self.directly_add_no_mem_embed:
                return seq_first_to_map(feats + self.no_mem_embed, size)
            memory_tokens = self.no_mem_embed.expand(1, batch, self.mem_dim)
            memory_pos = self.no_mem_pos_enc.expand(1, batch, self.mem_dim)
            num_ptr_tokens = 0
            key_scale = None
        else:
            selection = self._select_memory(frame_idx, memory, num_frames, track_in_reverse)
            if read_plan is not None:  # a memory policy's read plan rewrites SAM 2's choice
                selection = read_plan(frame_idx, track_in_reverse, selection, memory, self.read_window(num_frames))
            memory_tokens, memory_pos, num_ptr_tokens = self._memory_tokens(
                selection, batch, feats.device, feats.dtype,
            )
            key_scale = self._token_key_scale(selection, feats.device)
        extra = {} if key_scale is None else {"key_scale": key_scale}
        return self._attend_memory(
            current_vision_feats, current_vision_pos_embeds, size, memory_tokens, memory_pos, num_ptr_tokens,
            **extra,
        )

    # ================================================================================
    # memory encoding
    # ================================================================================
    def _encode_new_memory(
        self, current_vision_feats: List[torch.Tensor], feat_sizes: List[Tuple[int, int]],
        pred_masks_high_res: torch.Tensor, object_score_logits: torch.Tensor,
        is_mask_from_pts: bool,
    ) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """Encode the frame's coarsest features and its mask logits ``[B, 1, S, S]`` into memory.

        Returns:
            ``maskmem_features [B, C_mem, h, w]`` and ``maskmem_pos_enc`` (``[[B, C_mem, h, w]]``).
        """
        pix_feat = seq_first_to_map(current_vision_feats[-1], feat_sizes[-1])
        masks = pred_masks_high_res
        if self.non_overlap_masks_for_mem_enc and not self.training:
            masks = self._apply_non_overlapping_constraints(masks)
        hard = self.binarize_mask_from_pts_for_mem_enc and is_mask_from_pts and not self.training
        probs = (masks > 0).float() if hard else torch.sigmoid(masks)
        # affine map of the probabilities (x * 1 + 0 is exact, so no special case is needed)
        probs = probs * self.sigmoid_scale_for_mem_enc + self.sigmoid_bias_for_mem_enc
        encoded = self.memory_encoder(pix_feat, probs, skip_mask_sigmoid=True)
        maskmem_features = encoded["vision_features"]
        maskmem_pos_enc = encoded["vision_pos_enc"]
        if self.no_obj_embed_spatial is not None:
            absent = 1 - (object_score_logits > 0).float()  # [B, 1]
            maskmem_features = maskmem_features + absent[..., None, None] * self.no_obj_embed_spatial[..., None, None]
        return maskmem_features, maskmem_pos_enc

    def _encode_memory_in_output(
        self, current_vision_feats: List[torch.Tensor], feat_sizes: List[Tuple[int, int]],
        point_inputs: Optional[PointInputs], run_mem_encoder: bool, high_res_masks: torch.Tensor,
        object_score_logits: torch.Tensor, current_out: FrameOutput,
    ) -> None:
        """Fill ``current_out.maskmem_features`` / ``maskmem_pos_enc`` (``None`` when skipped)."""
        if run_mem_encoder and self.num_maskmem > 0:
            current_out.maskmem_features, current_out.maskmem_pos_enc = self._encode_new_memory(
                current_vision_feats=current_vision_feats, feat_sizes=feat_sizes,
                pred_masks_high_res=high_res_masks, object_score_logits=object_score_logits,
                is_mask_from_pts=point_inputs is not None,
            )
        else:
            current_out.maskmem_features, current_out.maskmem_pos_enc = None, None
