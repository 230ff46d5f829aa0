"""SAM2VideoPredictor: interactive video object segmentation with the official SAM2.1 API.

Typical use::

    predictor = build_sam2_video_predictor(config, checkpoint, device="cpu")
    state = predictor.init_state("video/JPEGImages/vid0")
    predictor.add_new_mask(state, frame_idx=0, obj_id=1, mask=first_mask)
    for frame_idx, obj_ids, video_res_masks in predictor.propagate_in_video(state):
        ...  # video_res_masks: [num_objects, 1, H, W] float32 logits

Design (see ``docs/video_predictor.md``):

* The state is typed (:class:`~sam2.video.state.InferenceState`): a lazy frame source, one
  :class:`~sam2.video.state.ObjectTrack` per object with its own
  :class:`~sam2.video.memory_bank.MemoryBank`, a small feature cache.
* :meth:`SAM2VideoPredictor.track_frame` is the per-frame step (every object on one frame);
  :meth:`SAM2VideoPredictor.propagate_in_video` is a loop over it.
* The memory-selection policy (:mod:`sam2.video.policies`; RCMS in :mod:`sam2.video.rcms`)
  is called at one point of that step: after a tracked frame's output is stored, before
  eviction.
* Memory features are stored as bfloat16 by default (as the official predictor does); set
  ``memory_dtype=torch.float32`` to keep them in full precision.
"""
from __future__ import annotations

import logging
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from sam2.modeling.sam2_base import SAM2Base
from sam2.modeling.track_types import FrameOutput, PointInputs, TrackMemory
from sam2.utils.misc import fill_holes_in_mask_scores
from sam2.video.frame_source import open_frame_source
from sam2.video.memory_bank import MemoryBank, ReadWindow
from sam2.video.policies import MemorySelectionPolicy, PlainSAM2Policy
from sam2.video.rcms import RCMSPolicy, mask_quality
from sam2.video.state import FeatureCache, FrameFeatures, InferenceState, ObjectTrack, UnknownObjectError

logger = logging.getLogger(__name__)

#: logit given to objects without any output on a frame (same value as the model's "no object")
MISSING_OBJECT_LOGIT = -1024.0
#: range to which earlier mask logits are clamped before being fed back with new clicks
PREV_LOGIT_CLAMP = 32.0
#: frames decoded ahead of the tracking position when prefetching is on
PREFETCH_AHEAD = 2

ArrayLike = Union[torch.Tensor, np.ndarray, Sequence]


class PromptError(ValueError):
    """A prompt (points, box or mask) is malformed; the message names frame and object."""


def _stack_track_memories(memories: List[TrackMemory], frame_idx: int, reverse: bool,
                          reach: int) -> TrackMemory:
    """One ``TrackMemory`` of ``B`` objects from ``B`` memories with the same layout.

    Conditioning frames and the tracked frames within ``reach`` of ``frame_idx`` (on the side
    it is tracked from) are stacked along the batch dimension; nothing else can be read.
    """
    step = -1 if reverse else 1
    first = memories[0]
    merged = TrackMemory()

    def stack(outs: List[FrameOutput]) -> FrameOutput:
        return FrameOutput(
            pred_masks=outs[0].pred_masks,  # not read by memory attention
            obj_ptr=torch.cat([o.obj_ptr for o in outs], dim=0),
            object_score_logits=torch.cat([o.object_score_logits for o in outs], dim=0),
            maskmem_features=torch.cat([o.maskmem_features for o in outs], dim=0),
            maskmem_pos_enc=outs[0].maskmem_pos_enc,
        )

    for k in first.cond:
        merged.cond[k] = stack([m.cond[k] for m in memories])
    for k in first.non_cond:
        if 1 <= (frame_idx - k) * step <= reach:
            merged.non_cond[k] = stack([m.non_cond[k] for m in memories])
    return merged


class SAM2VideoPredictor(SAM2Base):
    """SAM2.1 video predictor (official API) with typed state, bounded memory and RCMS.

    Args:
        fill_hole_area: fill background holes up to this area (low-res pixels) in stored masks.
        non_overlap_masks: keep only the highest-scoring object per pixel in the outputs.
        clear_non_cond_mem_around_input: drop an object's tracked memory around its prompts.
        add_all_frames_to_correct_as_cond: make corrected (already tracked) frames
            conditioning frames too.
        num_prev_frames_to_promote: RCMS ``N`` (0 switches RCMS off). Keyword-only, no default:
            the value comes from the model config's ``rcms`` block via ``build_sam``.
        low_quality_threshold: RCMS ``tau`` (quality must be strictly greater). Keyword-only,
            no default.
        **kwargs: the :class:`~sam2.modeling.sam2_base.SAM2Base` model arguments.
    """

    def __init__(
        self,
        fill_hole_area: int = 0,
        non_overlap_masks: bool = False,
        clear_non_cond_mem_around_input: bool = False,
        add_all_frames_to_correct_as_cond: bool = False,
        *,
        num_prev_frames_to_promote: int,
        low_quality_threshold: float,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.fill_hole_area = fill_hole_area
        self.non_overlap_masks = non_overlap_masks
        self.clear_non_cond_mem_around_input = clear_non_cond_mem_around_input
        self.add_all_frames_to_correct_as_cond = add_all_frames_to_correct_as_cond
        self.num_prev_frames_to_promote = num_prev_frames_to_promote
        self.low_quality_threshold = low_quality_threshold
        #: the memory-selection policy (plain SAM2.1 unless RCMS is on)
        self.memory_policy: MemorySelectionPolicy = self._policy_from_knobs(
            num_prev_frames_to_promote, low_quality_threshold)
        #: dtype of stored memory features (bfloat16 like the official predictor)
        self.memory_dtype: torch.dtype = torch.bfloat16
        #: run objects whose memories have the same layout through the model together
        self.batch_objects: bool = True

    @staticmethod
    def _policy_from_knobs(n: int, tau: float) -> MemorySelectionPolicy:
        policy = RCMSPolicy(n, tau)  # validates the knobs
        return policy if policy.num_prev_frames_to_promote > 0 else PlainSAM2Policy()

    @property
    def _compute_device(self) -> torch.device:
        return next(self.parameters()).device

    # ------------------------------------------------------------------------------------
    # state
    # ------------------------------------------------------------------------------------
    @torch.inference_mode()
    def init_state(
        self,
        video_path,
        offload_video_to_cpu: bool = False,
        offload_state_to_cpu: bool = False,
        async_loading_frames: bool = False,
        *,
        evict_memory: bool = True,
        memory_dtype: Optional[torch.dtype] = None,
        frame_cache_size: int = 4,
    ) -> InferenceState:
        """Open a video (JPEG folder or video file) and return its inference state.

        Frames are read lazily. ``async_loading_frames`` decodes upcoming frames in a
        background thread. ``evict_memory=False`` keeps every frame's memory like the
        official predictor (needed only for corrections far from any prompt after a long
        propagation). ``memory_dtype`` overrides :attr:`memory_dtype` for this video.
        """
        device = self._compute_device
        frames = open_frame_source(
            video_path,
            image_size=self.image_size,
            device=torch.device("cpu") if offload_video_to_cpu else device,
            cache_size=frame_cache_size,
            prefetch=async_loading_frames,
        )
        state = InferenceState(
            frames=frames,
            num_frames=len(frames),
            video_height=frames.video_height,
            video_width=frames.video_width,
            device=device,
            storage_device=torch.device("cpu") if offload_state_to_cpu else device,
            offload_video_to_cpu=offload_video_to_cpu,
            offload_state_to_cpu=offload_state_to_cpu,
            evict_memory=evict_memory,
            memory_dtype=memory_dtype or self.memory_dtype,
            features=FeatureCache(capacity=1),
        )
        # warm up: decode frame 0 and cache its features (fails early on a bad first frame)
        self._frame_features(state, 0)
        return state

    def _read_window(self, state: InferenceState) -> ReadWindow:
        return ReadWindow.for_model(
            num_maskmem=self.num_maskmem,
            memory_temporal_stride=self.memory_temporal_stride_for_eval,
            use_obj_ptrs_in_encoder=self.use_obj_ptrs_in_encoder,
            max_obj_ptrs_in_encoder=self.max_obj_ptrs_in_encoder,
            num_frames=state.num_frames,
        )

    def _get_or_add_track(self, state: InferenceState, obj_id: int, frame_idx: int) -> ObjectTrack:
        if state.propagating:
            raise RuntimeError(
                f"cannot add a prompt for object {obj_id} on frame {frame_idx} while "
                "propagate_in_video is running; finish (or close) the propagation first"
            )
        track = state.tracks.get(obj_id)
        if track is None:
            bank = MemoryBank(self._read_window(state), evict=state.evict_memory)
            track = ObjectTrack(obj_id=obj_id, bank=bank,
                                policy_state=self.memory_policy.new_object_state())
            state.tracks[obj_id] = track
        return track

    @torch.inference_mode()
    def reset_state(self, inference_state: InferenceState) -> None:
        """Forget every object, prompt, memory and policy state (RCMS latches included)."""
        inference_state.tracks.clear()

    # ------------------------------------------------------------------------------------
    # features
    # ------------------------------------------------------------------------------------
    def _frame_features(self, state: InferenceState, frame_idx: int) -> FrameFeatures:
        cached = state.features.get(frame_idx)
        if cached is not None:
            return cached
        image = state.frames.get(frame_idx).to(state.device).float().unsqueeze(0)
        backbone_out = self.forward_image(image)
        _, feats, pos, sizes = self._prepare_backbone_features(backbone_out)
        item = FrameFeatures(image=image, vision_feats=feats, vision_pos_embeds=pos,
                             feat_sizes=sizes)
        state.features.put(frame_idx, item)
        return item

    # ------------------------------------------------------------------------------------
    # one object on one frame
    # ------------------------------------------------------------------------------------
    def _shared_pos_enc(self, state: InferenceState, pos_enc: Optional[List[torch.Tensor]]):
        """The memory positional encoding is the same for every frame: keep one copy."""
        if pos_enc is None:
            return None
        if state.maskmem_pos_enc is None:
            state.maskmem_pos_enc = [p[0:1].clone() for p in pos_enc]
        return state.maskmem_pos_enc

    def _store_memory(self, state: InferenceState, feats: Optional[torch.Tensor]):
        if feats is None:
            return None
        return feats.to(state.memory_dtype).to(state.storage_device, non_blocking=True)

    def _infer_object(
        self,
        state: InferenceState,
        track: ObjectTrack,
        frame_idx: int,
        is_init_cond_frame: bool,
        point_inputs: Optional[PointInputs],
        mask_inputs: Optional[torch.Tensor],
        reverse: bool,
        run_mem_encoder: bool,
        prev_sam_mask_logits: Optional[torch.Tensor] = None,
    ) -> Tuple[FrameOutput, torch.Tensor]:
        """Run the model for one object on one frame.

        Returns:
            ``(stored, pred_masks)``: the compact output to keep as memory (masks on the
            storage device, memory features in :attr:`memory_dtype`, MQF ``quality`` ``[1]``)
            and the ``[1, 1, h, w]`` low-res logits on the compute device.
        """
        feats = self._frame_features(state, frame_idx)
        out = self.track_step(
            frame_idx=frame_idx,
            is_init_cond_frame=is_init_cond_frame,
            current_vision_feats=feats.vision_feats,
            current_vision_pos_embeds=feats.vision_pos_embeds,
            feat_sizes=feats.feat_sizes,
            point_inputs=point_inputs,
            mask_inputs=mask_inputs,
            memory=track.bank.memory,
            num_frames=state.num_frames,
            track_in_reverse=reverse,
            run_mem_encoder=run_mem_encoder,
            prev_sam_mask_logits=prev_sam_mask_logits,
        )
        low_res = out.pred_masks
        if self.fill_hole_area > 0:
            low_res = fill_holes_in_mask_scores(low_res, self.fill_hole_area)
        stored = FrameOutput(
            pred_masks=low_res.to(state.storage_device, non_blocking=True),
            obj_ptr=out.obj_ptr,
            object_score_logits=out.object_score_logits,
            maskmem_features=self._store_memory(state, out.maskmem_features),
            maskmem_pos_enc=self._shared_pos_enc(state, out.maskmem_pos_enc),
            ious=out.ious,
            quality=mask_quality(low_res, out.object_score_logits, out.ious),
        )
        return stored, low_res

    def _encode_prompt_memory(self, state: InferenceState, frame_idx: int, out: FrameOutput) -> None:
        """Encode the memory of a prompted frame from its stored low-res logits."""
        feats = self._frame_features(state, frame_idx)
        high_res = F.interpolate(
            out.pred_masks.to(state.device),
            size=(self.image_size, self.image_size),
            mode="bilinear",
            align_corners=False,
        )
        mem, pos = self._encode_new_memory(
            current_vision_feats=feats.vision_feats,
            feat_sizes=feats.feat_sizes,
            pred_masks_high_res=high_res,
            object_score_logits=out.object_score_logits,
            is_mask_from_pts=True,
        )
        out.maskmem_features = self._store_memory(state, mem)
        out.maskmem_pos_enc = self._shared_pos_enc(state, pos)

    # ------------------------------------------------------------------------------------
    # the per-frame step
    # ------------------------------------------------------------------------------------
    def track_frame(self, state: InferenceState, frame_idx: int, reverse: bool = False) -> torch.Tensor:
        """Track every object on one frame (the core of :meth:`propagate_in_video`).

        For each object: a conditioning frame returns its stored prediction; any other frame
        is tracked from memory, stored, shown to the memory-selection policy
        (``after_frame``, the single policy hook), then the object's memory is pruned.
        Objects whose memories have the same layout are run through the model together
        (:attr:`batch_objects`); each object's result does not depend on the others.

        Returns:
            ``[num_objects, 1, h, w]`` float32 low-res logits (before non-overlap).
        """
        policy = self.memory_policy
        tracks = list(state.tracks.values())
        low_res: List[Optional[torch.Tensor]] = [None] * len(tracks)
        pending: List[int] = []
        for i, track in enumerate(tracks):
            if frame_idx in track.bank.cond:
                low_res[i] = track.bank.cond[frame_idx].pred_masks.to(state.device, non_blocking=True)
                if self.clear_non_cond_mem_around_input:
                    self._clear_around(track, frame_idx)
            else:
                pending.append(i)
        for group in self._memory_layout_groups(tracks, pending, frame_idx, reverse):
            results = self._infer_objects(state, [tracks[i] for i in group], frame_idx, reverse)
            for i, (stored, masks) in zip(group, results):
                bank = tracks[i].bank
                bank.put(frame_idx, stored, is_cond=False)
                # ---- the memory-selection policy hook (plain SAM2.1 / RCMS) ----
                policy.after_frame(tracks[i].policy_state, bank, frame_idx, stored, reverse)
                bank.evict(frame_idx, reverse,
                           keep=policy.frames_to_retain(tracks[i].policy_state, bank))
                low_res[i] = masks
        for track in tracks:
            track.tracked[frame_idx] = reverse
        return torch.cat(low_res, dim=0)

    def _memory_layout_groups(self, tracks: List[ObjectTrack], indices: List[int],
                              frame_idx: int, reverse: bool) -> List[List[int]]:
        """Split objects into groups that read memory from exactly the same frames."""
        if not self.batch_objects or len(indices) < 2:
            return [[i] for i in indices]
        groups: dict = {}
        for i in indices:
            bank = tracks[i].bank
            step = -1 if reverse else 1
            near = tuple(sorted(k for k in bank.non_cond
                                if 1 <= (frame_idx - k) * step <= bank.window.reach))
            complete = all(bank.get(k).maskmem_features is not None
                           for k in (*bank.cond, *near))
            key = (tuple(bank.cond), near) if complete else ("alone", i)
            groups.setdefault(key, []).append(i)
        return list(groups.values())

    def _infer_objects(self, state: InferenceState, tracks: List[ObjectTrack], frame_idx: int,
                       reverse: bool) -> List[Tuple[FrameOutput, torch.Tensor]]:
        """Track several objects with identical memory layouts on one frame in one batch."""
        if len(tracks) == 1:
            return [self._infer_object(state, tracks[0], frame_idx, is_init_cond_frame=False,
                                       point_inputs=None, mask_inputs=None, reverse=reverse,
                                       run_mem_encoder=True)]
        batch = len(tracks)
        feats = self._frame_features(state, frame_idx)
        merged = _stack_track_memories([t.bank.memory for t in tracks], frame_idx, reverse,
                                       tracks[0].bank.window.reach)
        out = self.track_step(
            frame_idx=frame_idx,
            is_init_cond_frame=False,
            current_vision_feats=[x.expand(-1, batch, -1) for x in feats.vision_feats],
            current_vision_pos_embeds=[x.expand(-1, batch, -1) for x in feats.vision_pos_embeds],
            feat_sizes=feats.feat_sizes,
            point_inputs=None,
            mask_inputs=None,
            memory=merged,
            num_frames=state.num_frames,
            track_in_reverse=reverse,
            run_mem_encoder=True,
            prev_sam_mask_logits=None,
        )
        masks = out.pred_masks
        if self.fill_hole_area > 0:
            masks = fill_holes_in_mask_scores(masks, self.fill_hole_area)
        quality = mask_quality(masks, out.object_score_logits, out.ious)
        pos_enc = self._shared_pos_enc(state, out.maskmem_pos_enc)
        results = []
        for b in range(batch):
            one = slice(b, b + 1)
            mem = out.maskmem_features
            stored = FrameOutput(
                pred_masks=masks[one].clone().to(state.storage_device, non_blocking=True),
                obj_ptr=out.obj_ptr[one].clone(),
                object_score_logits=out.object_score_logits[one].clone(),
                maskmem_features=None if mem is None else self._store_memory(state, mem[one].clone()),
                maskmem_pos_enc=pos_enc,
                ious=out.ious[one].clone(),
                quality=quality[one].clone(),
            )
            results.append((stored, masks[one]))
        return results

    def _clear_around(self, track: ObjectTrack, frame_idx: int) -> None:
        radius = self.memory_temporal_stride_for_eval * self.num_maskmem
        track.bank.clear_non_cond_around(frame_idx, radius)

    # ------------------------------------------------------------------------------------
    # outputs
    # ------------------------------------------------------------------------------------
    def _to_video_res(self, state: InferenceState, low_res: torch.Tensor) -> torch.Tensor:
        """``[O, 1, h, w]`` logits -> ``[O, 1, H, W]`` at video resolution (+ non-overlap)."""
        masks = low_res.to(state.device, non_blocking=True)
        size = (state.video_height, state.video_width)
        if masks.shape[-2:] != size:
            masks = F.interpolate(masks, size=size, mode="bilinear", align_corners=False)
        if self.non_overlap_masks:
            masks = self._apply_non_overlapping_constraints(masks)
        return masks

    def _frame_result(self, state: InferenceState, frame_idx: int, is_cond: bool) -> torch.Tensor:
        """Every object's current prediction on ``frame_idx`` at video resolution."""
        size = (state.video_height, state.video_width)
        rows = []
        for track in state.tracks.values():
            out = track.pending.store(is_cond).get(frame_idx)
            if out is None:
                out = track.bank.get(frame_idx)
            if out is None:
                rows.append(torch.full((1, 1, *size), MISSING_OBJECT_LOGIT,
                                       dtype=torch.float32, device=state.device))
                continue
            masks = out.pred_masks.to(state.device)
            if masks.shape[-2:] != size:
                masks = F.interpolate(masks, size=size, mode="bilinear", align_corners=False)
            rows.append(masks)
        masks = torch.cat(rows, dim=0)
        if self.non_overlap_masks:
            masks = self._apply_non_overlapping_constraints(masks)
        return masks

    # ------------------------------------------------------------------------------------
    # prompts
    # ------------------------------------------------------------------------------------
    def _check_correction_memory(self, state: InferenceState, track: ObjectTrack,
                                 frame_idx: int, reverse: bool) -> None:
        """A correction reads the memory around its frame: make sure it was not evicted."""
        reach = track.bank.window.reach
        span = range(frame_idx + 1, frame_idx + reach + 1) if reverse else range(frame_idx - reach, frame_idx)
        gone = [t for t in span if t in track.tracked and t not in track.bank]
        if gone:
            raise RuntimeError(
                f"cannot correct object {track.obj_id} on frame {frame_idx}: the memory of "
                f"frames {gone[0]}..{gone[-1]} that this frame reads was released during "
                "propagation (memory eviction). Re-run propagate_in_video up to this frame "
                "first, or open the video with init_state(..., evict_memory=False)"
            )

    def _prompt_frame(
        self,
        state: InferenceState,
        track: ObjectTrack,
        frame_idx: int,
        point_inputs: Optional[PointInputs],
        mask_inputs: Optional[torch.Tensor],
    ) -> Tuple[int, List[int], torch.Tensor]:
        """Run a new prompt of one object on one frame and return all objects' masks there."""
        is_init_cond_frame = frame_idx not in track.tracked
        reverse = False if is_init_cond_frame else track.tracked[frame_idx]
        is_cond = is_init_cond_frame or self.add_all_frames_to_correct_as_cond
        if not is_init_cond_frame:
            self._check_correction_memory(state, track, frame_idx, reverse)
        prev_logits = None
        if point_inputs is not None:
            previous = track.pending.store(is_cond).get(frame_idx)
            if previous is None:
                previous = track.bank.get(frame_idx)
            if previous is not None and previous.pred_masks is not None:
                prev_logits = previous.pred_masks.to(state.device, non_blocking=True)
                prev_logits = prev_logits.clamp(-PREV_LOGIT_CLAMP, PREV_LOGIT_CLAMP)
        stored, _ = self._infer_object(
            state, track, frame_idx,
            is_init_cond_frame=is_init_cond_frame,
            point_inputs=point_inputs,
            mask_inputs=mask_inputs,
            reverse=reverse,
            # memory is encoded by the preflight, once the user is done with this frame
            run_mem_encoder=False,
            prev_sam_mask_logits=prev_logits,
        )
        track.pending.store(is_cond)[frame_idx] = stored
        return frame_idx, state.obj_ids, self._frame_result(state, frame_idx, is_cond)

    @staticmethod
    def _as_tensor(value: ArrayLike, dtype: torch.dtype, what: str, where: str) -> torch.Tensor:
        try:
            return value.to(dtype) if isinstance(value, torch.Tensor) else torch.tensor(
                np.asarray(value), dtype=dtype)
        except (TypeError, ValueError) as err:
            raise PromptError(f"{where}: {what} is not numeric: {err}") from err

    @classmethod
    def _assemble_clicks(cls, points, labels, box, where: str) -> Tuple[torch.Tensor, torch.Tensor]:
        """Validated ``[1, N, 2]`` float32 coordinates and ``[1, N]`` int32 labels, with the box
        (if any) first as two corner clicks labelled 2 and 3."""
        parts_xy: List[torch.Tensor] = []
        parts_lab: List[torch.Tensor] = []
        if box is not None:
            corners = cls._as_tensor(box, torch.float32, "box", where)
            if corners.numel() != 4:
                raise PromptError(f"{where}: box must be [x0, y0, x1, y1], got {tuple(corners.shape)}")
            parts_xy.append(corners.reshape(1, 2, 2))
            parts_lab.append(torch.tensor([[2, 3]], dtype=torch.int32))
        if points is not None:
            xy = cls._as_tensor(points, torch.float32, "points", where)
            lab = cls._as_tensor(labels, torch.int32, "labels", where)
            xy = xy[None] if xy.dim() == 2 else xy
            lab = lab[None] if lab.dim() == 1 else lab
            if xy.dim() != 3 or xy.shape[0] != 1 or xy.shape[-1] != 2:
                raise PromptError(f"{where}: points must have shape [N, 2], got {tuple(xy.shape)}")
            if lab.dim() != 2 or lab.shape != xy.shape[:2]:
                raise PromptError(
                    f"{where}: {xy.shape[1]} points but labels of shape {tuple(lab.shape)}")
            parts_xy.append(xy)
            parts_lab.append(lab)
        return torch.cat(parts_xy, dim=1), torch.cat(parts_lab, dim=1)

    @torch.inference_mode()
    def add_new_points_or_box(
        self,
        inference_state: InferenceState,
        frame_idx: int,
        obj_id: int,
        points: Optional[ArrayLike] = None,
        labels: Optional[ArrayLike] = None,
        clear_old_points: bool = True,
        normalize_coords: bool = True,
        box: Optional[ArrayLike] = None,
    ) -> Tuple[int, List[int], torch.Tensor]:
        """Add clicks (``points`` ``[N, 2]`` x/y, ``labels`` ``[N]``: 1 positive, 0 negative)
        and/or a ``box`` ``[x0, y0, x1, y1]`` for ``obj_id`` on ``frame_idx``.

        Coordinates are in video pixels (``normalize_coords=True``) or already in model-input
        pixels. On a frame the object was tracked on, the prompt is a correction.

        Returns:
            ``(frame_idx, obj_ids, video_res_masks)`` with ``video_res_masks``
            ``[num_objects, 1, H, W]`` float32 logits of every object on that frame.
        """
        state = inference_state
        frame_idx = state.check_frame(frame_idx)
        where = f"prompt for object {obj_id} on frame {frame_idx}"
        if (points is None) != (labels is None):
            raise PromptError(f"{where}: points and labels must be given together")
        if points is None and box is None:
            raise PromptError(f"{where}: give points (with labels) or a box")
        if box is not None and not clear_old_points:
            raise PromptError(
                f"{where}: a box must come before any click, so it cannot be added with "
                "clear_old_points=False")
        coords, lab = self._assemble_clicks(points, labels, box, where)
        if normalize_coords:
            coords = coords / torch.tensor([state.video_width, state.video_height])
        coords = (coords * self.image_size).to(state.device)
        lab = lab.to(state.device)

        track = self._get_or_add_track(state, obj_id, frame_idx)
        previous = None if clear_old_points else track.point_inputs.get(frame_idx)
        if previous is not None:
            coords = torch.cat([previous.coords, coords], dim=1)
            lab = torch.cat([previous.labels, lab], dim=1)
        point_inputs = PointInputs(coords=coords, labels=lab)
        track.point_inputs[frame_idx] = point_inputs
        track.mask_inputs.pop(frame_idx, None)
        return self._prompt_frame(state, track, frame_idx, point_inputs, None)

    def add_new_points(self, *args, **kwargs):
        """Older name of :meth:`add_new_points_or_box`."""
        return self.add_new_points_or_box(*args, **kwargs)

    @torch.inference_mode()
    def add_new_mask(
        self,
        inference_state: InferenceState,
        frame_idx: int,
        obj_id: int,
        mask: ArrayLike,
    ) -> Tuple[int, List[int], torch.Tensor]:
        """Prompt ``obj_id`` on ``frame_idx`` with a binary ``mask`` ``[H, W]`` (video size).

        Returns:
            ``(frame_idx, obj_ids, video_res_masks)`` as :meth:`add_new_points_or_box`.
        """
        state = inference_state
        frame_idx = state.check_frame(frame_idx)
        where = f"mask prompt for object {obj_id} on frame {frame_idx}"
        mask_t = self._as_tensor(mask, torch.bool, "mask", where) if not isinstance(
            mask, torch.Tensor) else mask
        if mask_t.dim() != 2:
            raise PromptError(f"{where}: the mask must be 2-D [H, W], got shape {tuple(mask_t.shape)}")
        if tuple(mask_t.shape) != (state.video_height, state.video_width):
            raise PromptError(
                f"{where}: the mask is {mask_t.shape[1]}x{mask_t.shape[0]} (WxH) but the video is "
                f"{state.video_width}x{state.video_height}")
        m = mask_t[None, None].float().to(state.device)
        if m.shape[-2:] != (self.image_size, self.image_size):
            m = F.interpolate(m, size=(self.image_size, self.image_size), mode="bilinear",
                              align_corners=False, antialias=True)
            m = (m >= 0.5).float()
        track = self._get_or_add_track(state, obj_id, frame_idx)
        track.mask_inputs[frame_idx] = m
        track.point_inputs.pop(frame_idx, None)
        return self._prompt_frame(state, track, frame_idx, None, m)

    # ------------------------------------------------------------------------------------
    # propagation
    # ------------------------------------------------------------------------------------
    @torch.inference_mode()
    def propagate_in_video_preflight(self, inference_state: InferenceState) -> None:
        """Encode the memory of new prompts and merge them into the objects' memory."""
        state = inference_state
        if not state.tracks:
            raise RuntimeError("no object has a prompt yet: add points, a box or a mask first")
        for track in state.tracks.values():
            for is_cond in (False, True):
                pending = track.pending.store(is_cond)
                for frame_idx, out in pending.items():
                    if out.maskmem_features is None:
                        self._encode_prompt_memory(state, frame_idx, out)
                    track.bank.put(frame_idx, out, is_cond=is_cond)
                    if self.clear_non_cond_mem_around_input:
                        self._clear_around(track, frame_idx)
                pending.clear()
            if not track.bank.cond:
                raise RuntimeError(
                    f"object {track.obj_id} has no prompt (points, box or mask) on any frame; "
                    "add one or remove the object")
            for frame_idx in track.bank.cond:
                track.bank.non_cond.pop(frame_idx, None)

    def _processing_order(self, state: InferenceState, start: Optional[int],
                          max_frames: Optional[int], reverse: bool) -> range:
        if start is None:
            start = min(t for tr in state.tracks.values() for t in tr.bank.cond)
        start = state.check_frame(start)
        if max_frames is None:
            max_frames = state.num_frames
        if max_frames < 0:
            raise ValueError(f"max_frame_num_to_track must be >= 0, got {max_frames}")
        if reverse:
            end = max(start - max_frames, 0)
            return range(start, end - 1, -1) if start > 0 else range(0)
        end = min(start + max_frames, state.num_frames - 1)
        return range(start, end + 1)

    @torch.inference_mode()
    def propagate_in_video(
        self,
        inference_state: InferenceState,
        start_frame_idx: Optional[int] = None,
        max_frame_num_to_track: Optional[int] = None,
        reverse: bool = False,
    ) -> Iterator[Tuple[int, List[int], torch.Tensor]]:
        """Track every object through the video, yielding
        ``(frame_idx, obj_ids, video_res_masks [num_objects, 1, H, W])`` per frame."""
        state = inference_state
        self.propagate_in_video_preflight(state)
        order = self._processing_order(state, start_frame_idx, max_frame_num_to_track, reverse)
        obj_ids = state.obj_ids
        step = -1 if reverse else 1
        state.propagating = True
        try:
            for frame_idx in tqdm(order, desc="propagate in video"):
                state.frames.prefetch(frame_idx + step * k for k in range(1, PREFETCH_AHEAD + 1))
                low_res = self.track_frame(state, frame_idx, reverse)
                yield frame_idx, obj_ids, self._to_video_res(state, low_res)
        finally:
            state.propagating = False

    # ------------------------------------------------------------------------------------
    # editing
    # ------------------------------------------------------------------------------------
    @torch.inference_mode()
    def clear_all_prompts_in_frame(
        self, inference_state: InferenceState, frame_idx: int, obj_id: int, need_output: bool = True
    ):
        """Remove ``obj_id``'s clicks / mask on ``frame_idx`` (a prompted frame becomes an
        ordinary tracked frame). Returns ``(frame_idx, obj_ids, video_res_masks)``."""
        state = inference_state
        frame_idx = state.check_frame(frame_idx)
        track = state.track(obj_id)
        track.point_inputs.pop(frame_idx, None)
        track.mask_inputs.pop(frame_idx, None)
        track.pending.cond.pop(frame_idx, None)
        track.pending.non_cond.pop(frame_idx, None)
        if track.bank.demote(frame_idx) is not None:
            track.tracked.pop(frame_idx, None)
        if not need_output:
            return None
        is_cond = any(frame_idx in t.pending.cond for t in state.tracks.values())
        return frame_idx, state.obj_ids, self._frame_result(state, frame_idx, is_cond)

    @torch.inference_mode()
    def remove_object(self, inference_state: InferenceState, obj_id: int, strict: bool = False,
                      need_output: bool = True):
        """Remove ``obj_id``; returns ``(obj_ids, updated_frames)`` where ``updated_frames``
        lists ``(frame_idx, video_res_masks)`` of the frames it had prompts on."""
        state = inference_state
        if obj_id not in state.tracks:
            if strict:
                raise UnknownObjectError(f"cannot remove unknown object id {obj_id!r}; objects in this "
                               f"video: {state.obj_ids}")
            return state.obj_ids, []
        if len(state.tracks) == 1:
            self.reset_state(state)
            return state.obj_ids, []
        prompted = state.tracks[obj_id].prompted_frames()
        for frame_idx in prompted:
            self.clear_all_prompts_in_frame(state, frame_idx, obj_id, need_output=False)
        del state.tracks[obj_id]
        updated = []
        if need_output:
            for frame_idx in prompted:
                is_cond = any(frame_idx in t.pending.cond for t in state.tracks.values())
                updated.append((frame_idx, self._frame_result(state, frame_idx, is_cond)))
        return state.obj_ids, updated

    @classmethod
    def from_pretrained(cls, model_id: str, **kwargs) -> "SAM2VideoPredictor":
        """Load an official model by its Hugging Face id (e.g. ``"facebook/sam2.1-hiera-large"``);
        needs the ``hub`` extra. ``**kwargs`` as in ``build_sam2_video_predictor``."""
        from sam2.build_sam import build_sam2_video_predictor_hf

        return build_sam2_video_predictor_hf(model_id, **kwargs)


class SAM2VideoPredictorVOS(SAM2VideoPredictor):
    """The video predictor for VOS benchmarks: hot modules compiled with ``torch.compile``
    when running on CUDA, eager elsewhere. Compilation is deferred to the first
    ``init_state`` (when the model sits on its final device); this includes the image
    encoder requested by ``compile_image_encoder=True``. Memory attention stays eager because
    its number of memories varies (more so with RCMS), as in the MOSEv2 baseline."""

    def __init__(self, *args, compile_image_encoder: bool = False, **kwargs) -> None:
        super().__init__(*args, compile_image_encoder=False, **kwargs)
        self._compile_image_encoder = compile_image_encoder
        self._compiled = False

    def _compile_hot_modules(self) -> None:
        if self._compiled:
            return
        self._compiled = True
        if self._compute_device.type != "cuda":
            logger.info("SAM2VideoPredictorVOS: not on CUDA, running eagerly")
            return
        logger.info("compiling the memory encoder, prompt encoder and mask decoder "
                    "(the first frames will be slow)")
        options = dict(mode="max-autotune", fullgraph=True, dynamic=False)
        if self._compile_image_encoder:
            self.image_encoder.forward = torch.compile(self.image_encoder.forward, **options)
        self.memory_encoder.forward = torch.compile(self.memory_encoder.forward, **options)
        self.sam_prompt_encoder.forward = torch.compile(self.sam_prompt_encoder.forward, **options)
        self.sam_mask_decoder.forward = torch.compile(self.sam_mask_decoder.forward, **options)

    def init_state(self, *args, **kwargs) -> InferenceState:
        self._compile_hot_modules()
        return super().init_state(*args, **kwargs)
