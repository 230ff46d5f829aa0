"""The tracker: handed the model, it owns the per-frame step and the memory policy.

:class:`Tracker` builds every inference state (:meth:`Tracker.new_inference_state`, for videos
and streams alike) with its policy, memory dtype and device, and runs the one inference path
of a frame, :meth:`Tracker.infer`; the model (``track_step``, ``_encode_new_memory``, ...) only
computes, and what the policy decides reaches it as arguments of ``track_step``.
:class:`~sam2.sam2_video_predictor.SAM2VideoPredictor` (the official API) delegates to it:

* a prompt (``add_new_points_or_box`` / ``add_new_mask``) runs one object, without memory
  encoding (the prompt's memory is encoded once the user is done, by the preflight);
* tracking (:meth:`Tracker.track_frame`) runs every object that is not conditioned on
  the frame, batched when objects read memory from the same frames, shows each object's
  candidates to the memory policy (:mod:`sam2.video.policies`), encodes the chosen masks into
  memory, stores them and evicts what the read window no longer needs.

Low-res outputs become video-resolution outputs in one place, :meth:`Tracker.to_video_res`.
"""
from __future__ import annotations

from functools import partial
from typing import List, NamedTuple, Optional, Sequence, Union

import torch
import torch.nn.functional as F

from sam2.modeling.track_types import FrameOutput, MaskCandidates, PointInputs, TrackMemory
from sam2.utils.constants import MISSING_OBJECT_LOGIT
from sam2.utils.mask_quality import mask_quality
from sam2.utils.misc import fill_holes_in_mask_scores
from sam2.video.memory.hypotheses import Hypothesis
from sam2.video.memory.memory_bank import EVICTION_MODES, MemoryBank
from sam2.video.policies import FrameDecision, MemoryPolicy
from sam2.video.tracking.settings import as_memory_dtype
from sam2.video.tracking.state import FeatureCache, FrameFeatures, InferenceState, ObjectTrack

__all__ = ["Tracker", "Inferred", "MISSING_OBJECT_LOGIT"]


class Inferred(NamedTuple):
    """What :meth:`Tracker.infer` computed for ``B`` objects on one frame."""

    out: FrameOutput  # the model's output, no memory features ([B, ...] tensors)
    masks: torch.Tensor  # [B, 1, h, w] low-res logits after hole filling (compute device)
    quality: torch.Tensor  # [B] MQF quality of ``masks``
    vision_feats: List[torch.Tensor]  # the frame's features, expanded to the batch


def _presence_threshold(policy) -> float:
    """The decoder presence threshold a policy asks for (SAM 2's 0 without a policy)."""
    return float(getattr(policy, "presence_threshold", 0.0))


def _stack_memories(banks: Sequence, frame_idx: int, reverse: bool, device: torch.device) -> TrackMemory:
    """One ``TrackMemory`` of ``B`` objects from ``B`` banks with the same read layout.

    Conditioning frames and the tracked frames the window lets ``frame_idx`` read are stacked
    along the batch dimension on ``device`` (entries may have been offloaded to the host);
    nothing else can be read.
    """
    first = banks[0]
    merged = TrackMemory()

    def cat(tensors: List[torch.Tensor]) -> torch.Tensor:
        return torch.cat([t.to(device, non_blocking=True) for t in tensors], dim=0)

    def stack(outs: List[FrameOutput]) -> FrameOutput:
        return FrameOutput(
            pred_masks=outs[0].pred_masks,  # not read by memory attention
            obj_ptr=cat([o.obj_ptr for o in outs]),
            object_score_logits=cat([o.object_score_logits for o in outs]),
            maskmem_features=cat([o.maskmem_features for o in outs]),
            maskmem_pos_enc=outs[0].maskmem_pos_enc,
        )

    for k in first.cond:
        merged.cond[k] = stack([b.cond[k] for b in banks])
    for k in first.non_cond:
        if first.window.reads(frame_idx, reverse, k):
            merged.non_cond[k] = stack([b.non_cond[k] for b in banks])
    return merged


class Tracker:
    """Per-video tracking with one model (see the module docstring).

    Args:
        model: the network (a :class:`~sam2.modeling.sam2_base.SAM2Base` with the video
            predictor's output settings: ``fill_hole_area``, ``non_overlap_masks``,
            ``clear_non_cond_mem_around_input``).
        policy: the memory policy every new inference state gets.
        memory_dtype: dtype of stored memory features (states may override it).
        batch_objects: run objects whose memories have the same layout through the model together.
    """

    def __init__(self, model, policy: MemoryPolicy, memory_dtype: torch.dtype, batch_objects: bool) -> None:
        self.model = model
        self.policy = policy
        self.memory_dtype = memory_dtype
        self.batch_objects = batch_objects

    # ------------------------------------------------------------------------------------
    # states
    # ------------------------------------------------------------------------------------
    def new_inference_state(
        self, frames, *, num_frames: Optional[int], video_height: int, video_width: int,
        offload_video_to_cpu: bool = False, offload_state_to_cpu: bool = False,
        memory_eviction: str = "offload", memory_dtype: Optional[Union[str, torch.dtype]] = None,
        state_class: type = InferenceState,
    ) -> InferenceState:
        """The one place inference states are made, for videos and streams alike: the model's
        device, this tracker's memory dtype (unless ``memory_dtype`` overrides it) and policy.

        Args:
            frames: the frame source (:class:`~sam2.video.sources.frame_source.FrameSource`).
            num_frames: video length (``None`` for a stream).
            video_height, video_width: frame size in pixels.
            memory_eviction: ``"offload"``, ``"drop"`` or ``"off"``
                (:mod:`sam2.video.memory.memory_bank`).
            state_class: :class:`InferenceState` or a subclass (streams check prompt frames).
        """
        if memory_eviction not in EVICTION_MODES:
            raise ValueError(f"memory_eviction={memory_eviction!r}: expected one of {', '.join(EVICTION_MODES)}")
        device = self.model.device
        return state_class(
            frames=frames,
            num_frames=num_frames,
            video_height=video_height,
            video_width=video_width,
            device=device,
            storage_device=torch.device("cpu") if offload_state_to_cpu else device,
            offload_video_to_cpu=offload_video_to_cpu,
            offload_state_to_cpu=offload_state_to_cpu,
            memory_eviction=memory_eviction,
            memory_dtype=self.memory_dtype if memory_dtype is None else as_memory_dtype(memory_dtype),
            features=FeatureCache(capacity=1),
            policy=self.policy,
        )

    def new_track(self, state: InferenceState, obj_id: int) -> ObjectTrack:
        """Add object ``obj_id`` to ``state``: its memory bank (the model's read window, the
        state's ``memory_eviction``) and the policy's fresh per-object state."""
        bank = MemoryBank(self.model.read_window(state.num_frames), memory_eviction=state.memory_eviction)
        track = ObjectTrack(obj_id=obj_id, bank=bank, policy_state=state.policy.new_object_state())
        state.tracks[obj_id] = track
        return track

    # ------------------------------------------------------------------------------------
    # features and storage
    # ------------------------------------------------------------------------------------
    def frame_features(self, state: InferenceState, frame_idx: int) -> FrameFeatures:
        cached = state.features.get(frame_idx)
        if cached is not None:
            return cached
        image = state.frames.get(frame_idx).to(state.device).float().unsqueeze(0)
        feats, pos, sizes = self.model._prepare_backbone_features(self.model.forward_image(image))
        item = FrameFeatures(image=image, vision_feats=feats, vision_pos_embeds=pos, feat_sizes=sizes)
        state.features.put(frame_idx, item)
        return item

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

    # ------------------------------------------------------------------------------------
    # the one inference path
    # ------------------------------------------------------------------------------------
    def infer(
        self,
        state: InferenceState,
        tracks: List[ObjectTrack],
        frame_idx: int,
        reverse: bool,
        is_init_cond_frame: bool = False,
        point_inputs: Optional[PointInputs] = None,
        mask_inputs: Optional[torch.Tensor] = None,
        prev_sam_mask_logits: Optional[torch.Tensor] = None,
        hypothesis: Optional[Hypothesis] = None,
    ) -> Inferred:
        """Run the model for ``B`` objects on one frame, without encoding memory.

        Several objects must read memory from the same frames (see
        :meth:`MemoryBank.read_layout`); prompts run one object. ``hypothesis``: the memory
        hypothesis whose read plan one object uses (policies with ``keeps_hypotheses``).
        """
        feats = self.frame_features(state, frame_idx)
        batch = len(tracks)
        policy = state.policy
        # what the policy decides reaches the model as arguments of the step: its decoder
        # presence threshold (SAMURAI: -1) and its read plan (one object at a time)
        read_plan = None
        if batch == 1:
            memory = tracks[0].bank.memory
            if policy is not None and policy.keeps_hypotheses:
                read_plan = policy.memory_selector(tracks[0].policy_state, hypothesis=hypothesis)
            elif policy is not None:
                read_plan = policy.memory_selector(tracks[0].policy_state)
            vision, pos = feats.vision_feats, feats.vision_pos_embeds
        else:
            memory = _stack_memories([t.bank for t in tracks], frame_idx, reverse, state.device)
            vision = [x.expand(-1, batch, -1) for x in feats.vision_feats]
            pos = [x.expand(-1, batch, -1) for x in feats.vision_pos_embeds]
        out = self.model.track_step(
            frame_idx=frame_idx,
            is_init_cond_frame=is_init_cond_frame,
            current_vision_feats=vision,
            current_vision_pos_embeds=pos,
            feat_sizes=feats.feat_sizes,
            point_inputs=point_inputs,
            mask_inputs=mask_inputs,
            memory=memory,
            num_frames=state.num_frames,
            track_in_reverse=reverse,
            run_mem_encoder=False,
            prev_sam_mask_logits=prev_sam_mask_logits,
            read_plan=read_plan,
            presence_threshold=_presence_threshold(policy),
        )
        masks = out.pred_masks
        if self.model.fill_hole_area > 0:
            masks = fill_holes_in_mask_scores(masks, self.model.fill_hole_area)
        quality = mask_quality(masks, out.object_score_logits, out.ious)
        return Inferred(out, masks, quality, vision)

    def stored_row(self, state: InferenceState, inferred: Inferred, b: int) -> FrameOutput:
        """Object ``b``'s compact output to keep (masks on the storage device, no memory yet)."""
        batch = inferred.masks.shape[0]
        take = (lambda t: t) if batch == 1 else (lambda t: t[b:b + 1].clone())
        out = inferred.out
        return FrameOutput(
            pred_masks=take(inferred.masks).to(state.storage_device, non_blocking=True),
            obj_ptr=take(out.obj_ptr),
            object_score_logits=take(out.object_score_logits),
            ious=take(out.ious),
            quality=take(inferred.quality),
        )

    def _candidate_output(self, state: InferenceState, candidates: MaskCandidates,
                          default_ptr: torch.Tensor, index: int) -> FrameOutput:
        """The output (and, in ``pred_masks_high_res``, the mask to encode) of candidate
        ``index`` of one object: what the heads give when they pick that candidate.

        Without per-candidate tokens (``use_multimask_token_for_obj_ptr`` off) every candidate
        shares the decoder's pointer ``default_ptr``."""
        low = candidates.low_res_masks[:, index:index + 1]
        high = F.interpolate(low, size=(self.model.image_size, self.model.image_size), mode="bilinear",
                             align_corners=False)
        score = candidates.object_score_logits
        if candidates.tokens is None:
            obj_ptr = default_ptr
        else:
            obj_ptr = self.model._pointer_from_token(candidates.tokens[:, index], score,
                                               _presence_threshold(state.policy))
        if self.model.fill_hole_area > 0:
            low = fill_holes_in_mask_scores(low, self.model.fill_hole_area)
        return FrameOutput(
            pred_masks=low.to(state.storage_device, non_blocking=True),
            obj_ptr=obj_ptr,
            object_score_logits=score,
            pred_masks_high_res=high,
            ious=candidates.ious,
            quality=mask_quality(low, score, candidates.ious),
        )

    # ------------------------------------------------------------------------------------
    # tracking
    # ------------------------------------------------------------------------------------
    def track_frame(self, state: InferenceState, frame_idx: int, reverse: bool = False) -> torch.Tensor:
        """Track every object on one frame (the core of ``propagate_in_video``).

        An object conditioned on this frame returns its stored prediction; every other object
        is tracked from its memory (see :meth:`_track_group`). The frame is then marked as
        tracked in direction ``reverse`` for every object.

        Returns:
            ``[num_objects, 1, h, w]`` float32 low-res logits (before non-overlap).
        """
        tracks = list(state.tracks.values())
        low_res: List[Optional[torch.Tensor]] = [None] * len(tracks)
        to_track: List[int] = []
        for i, track in enumerate(tracks):
            if track.bank.is_cond(frame_idx):
                low_res[i] = track.bank.get(frame_idx).pred_masks.to(state.device, non_blocking=True)
                if self.model.clear_non_cond_mem_around_input:
                    track.bank.clear_non_cond_around(frame_idx)
            else:
                to_track.append(i)
        alone = state.policy is not None and state.policy.plans_reads  # read plans are per object
        for group in self._memory_layout_groups(tracks, to_track, frame_idx, reverse, alone):
            masks = self._track_group(state, [tracks[i] for i in group], frame_idx, reverse)
            for i, m in zip(group, masks):
                low_res[i] = m
        for track in tracks:
            track.tracked[frame_idx] = reverse
        return torch.cat(low_res, dim=0)

    def _memory_layout_groups(self, tracks: List[ObjectTrack], indices: List[int],
                              frame_idx: int, reverse: bool, alone: bool = False) -> List[List[int]]:
        """Split objects into groups that read memory from exactly the same frames
        (``alone``: one group per object)."""
        if not self.batch_objects or len(indices) < 2 or alone:
            return [[i] for i in indices]
        groups: dict = {}
        for i in indices:
            layout = tracks[i].bank.read_layout(frame_idx, reverse)
            groups.setdefault(("alone", i) if layout is None else layout, []).append(i)
        return list(groups.values())

    def _track_group(self, state: InferenceState, tracks: List[ObjectTrack], frame_idx: int,
                     reverse: bool) -> List[torch.Tensor]:
        """Track ``B`` objects with the same memory layout on one frame.

        Per object: the policy hook (:meth:`MemoryPolicy.on_frame`) sees the candidates and
        may choose another one, refuse the frame's mask memory or promote earlier frames; then
        the chosen masks are memory-encoded (one batch), stored, and the bank evicts.

        Returns:
            per object, its ``[1, 1, h, w]`` low-res logits on the compute device.
        """
        policy = state.policy
        if policy.keeps_hypotheses:  # read plans: one object at a time
            return [self._track_hypotheses(state, track, frame_idx, reverse) for track in tracks]
        inferred = self.infer(state, tracks, frame_idx, reverse)
        candidates = inferred.out.candidates
        decisions: List[FrameDecision] = []
        for b, track in enumerate(tracks):
            row = candidates.row(b) if candidates is not None else None
            stored = self.stored_row(state, inferred, b)
            decision = FrameDecision(
                frame_idx=frame_idx, reverse=reverse, candidates=row, bank=track.bank,
                video_size=(state.video_height, state.video_width),
                _output=stored, _build=partial(self._candidate_output, state, row, stored.obj_ptr),
            )
            # ---- the memory policy hook (plain SAM2.1 / RCMS / ...) ----
            policy.on_frame(track.policy_state, decision)
            decisions.append(decision)

        high_res = inferred.out.pred_masks_high_res
        if any(d.chosen is not None for d in decisions):
            high_res = torch.cat([
                d.output.pred_masks_high_res if d.chosen is not None else high_res[b:b + 1]
                for b, d in enumerate(decisions)
            ], dim=0)
        mem, pos = None, None
        if self.model.num_maskmem > 0:
            mem, pos = self.model._encode_new_memory(
                current_vision_feats=inferred.vision_feats,
                feat_sizes=self.frame_features(state, frame_idx).feat_sizes,
                pred_masks_high_res=high_res,
                object_score_logits=inferred.out.object_score_logits,
                is_mask_from_pts=False,
            )
        pos = self._shared_pos_enc(state, pos)

        results = []
        batch = len(tracks)
        for b, (track, decision) in enumerate(zip(tracks, decisions)):
            stored = decision.output
            stored.pred_masks_high_res = None
            if decision.admit and mem is not None:
                stored.maskmem_features = self._store_memory(state, mem if batch == 1 else mem[b:b + 1].clone())
                stored.maskmem_pos_enc = pos
            track.bank.put(frame_idx, stored, is_cond=False)
            if decision.promote_current:
                # the frame becomes a conditioning frame from the next frame on, its memory
                # encoded as a prompt's (from its stored logits; differs only when the model
                # binarises prompt masks for memory)
                track.bank.promote(frame_idx, protect_neighbours=False)
                if self.model.binarize_mask_from_pts_for_mem_enc and decision.admit:
                    self.encode_prompt_memory(state, frame_idx, stored)
            track.bank.evict(frame_idx, reverse,
                             keep=policy.frames_to_retain(track.policy_state, track.bank))
            if decision.chosen is None:
                results.append(inferred.masks[b:b + 1] if batch > 1 else inferred.masks)
            else:
                results.append(stored.pred_masks.to(state.device, non_blocking=True))
        return results

    def _track_hypotheses(self, state: InferenceState, track: ObjectTrack, frame_idx: int,
                          reverse: bool) -> torch.Tensor:
        """Track one object under each of its live memory hypotheses (see
        :mod:`sam2.video.memory.hypotheses`): run every distinct memory once, show all candidates to
        the policy hook, encode and store each surviving (hypothesis, candidate) as a variant
        of the frame, and make the survivors the live hypotheses.

        Returns:
            ``[1, 1, h, w]`` low-res logits of the first survivor (compute device).
        """
        policy, hset = state.policy, track.bank.hypotheses
        heads: List[Optional[Hypothesis]] = list(hset.live) if hset.live else [None]
        runs: dict = {}
        for head in heads:
            key = None if head is None else head.key
            if key not in runs:
                runs[key] = self.infer(state, [track], frame_idx, reverse, hypothesis=head)
        inferred = [runs[None if h is None else h.key] for h in heads]
        cands = [inf.out.candidates for inf in inferred]
        first = self.stored_row(state, inferred[0], 0)
        decision = FrameDecision(
            frame_idx=frame_idx, reverse=reverse, candidates=cands[0], bank=track.bank,
            video_size=(state.video_height, state.video_width), hypotheses=heads,
            hypothesis_candidates=cands, _output=first,
            _build=partial(self._candidate_output, state, cands[0], first.obj_ptr),
        )
        # ---- the memory policy hook ----
        policy.on_frame(track.policy_state, decision)
        survivors = decision.survivors
        if survivors is None:  # the policy kept one hypothesis: the frame's chosen candidate
            j = decision.chosen if decision.chosen is not None else int(cands[0].chosen.reshape(-1)[0])
            survivors = [(0, j, {})]
        feats = self.frame_features(state, frame_idx)
        nodes: dict = {}  # (h, j) -> new hypothesis
        variants: List[FrameOutput] = []
        encoded: dict = {}  # (memory key, j) -> stored output: equal memories stay shared
        for h, j, data in survivors:
            if (h, j) in nodes:
                continue
            head = heads[h]
            content = (None if head is None else head.key, j)
            out = encoded.get(content)
            if out is None:
                default_ptr = self.stored_row(state, inferred[h], 0).obj_ptr
                out = self._candidate_output(state, cands[h], default_ptr, j)
                if self.model.num_maskmem > 0:  # one survivor at a time (no cross-object constraint)
                    mem, pos = self.model._encode_new_memory(
                        current_vision_feats=inferred[h].vision_feats, feat_sizes=feats.feat_sizes,
                        pred_masks_high_res=out.pred_masks_high_res,
                        object_score_logits=out.object_score_logits, is_mask_from_pts=False,
                    )
                    out.maskmem_features = self._store_memory(state, mem)
                    out.maskmem_pos_enc = self._shared_pos_enc(state, pos)
                out.pred_masks_high_res = None
                encoded[content] = out
            nodes[(h, j)] = Hypothesis(
                frame_idx=frame_idx, slot=len(variants), parent=head,
                mask=out.pred_masks.to("cpu"), data=data, key=hset.new_key(),
            )
            variants.append(out)
        # hypotheses with equal memories (same parent memory, same candidate) share one key
        keys: dict = {}
        for (h, j), node in nodes.items():
            content = (None if heads[h] is None else heads[h].key, j)
            node.key = keys.setdefault(content, node.key)
        hset.live = [nodes[(h, j)] for h, j, _ in survivors]
        hset.reverse = reverse
        track.bank.put(frame_idx, variants[0], is_cond=False, variants=variants)
        track.bank.evict(frame_idx, reverse, keep=policy.frames_to_retain(track.policy_state, track.bank))
        return variants[0].pred_masks.to(state.device, non_blocking=True)

    def encode_prompt_memory(self, state: InferenceState, frame_idx: int, out: FrameOutput) -> None:
        """Encode the memory of a prompted frame from its stored low-res logits."""
        feats = self.frame_features(state, frame_idx)
        high_res = F.interpolate(
            out.pred_masks.to(state.device),
            size=(self.model.image_size, self.model.image_size),
            mode="bilinear",
            align_corners=False,
        )
        mem, pos = self.model._encode_new_memory(
            current_vision_feats=feats.vision_feats,
            feat_sizes=feats.feat_sizes,
            pred_masks_high_res=high_res,
            object_score_logits=out.object_score_logits,
            is_mask_from_pts=True,
        )
        out.maskmem_features = self._store_memory(state, mem)
        out.maskmem_pos_enc = self._shared_pos_enc(state, pos)

    # ------------------------------------------------------------------------------------
    # outputs
    # ------------------------------------------------------------------------------------
    def to_video_res(self, state: InferenceState, rows: Sequence[Optional[torch.Tensor]]) -> torch.Tensor:
        """Per object ``[1, 1, h, w]`` low-res logits (``None``: no output, filled with
        :data:`MISSING_OBJECT_LOGIT`) -> ``[O, 1, H, W]`` at video resolution, non-overlap
        applied when :attr:`non_overlap_masks`."""
        size = (state.video_height, state.video_width)
        present = [i for i, r in enumerate(rows) if r is not None]
        resized: List[Optional[torch.Tensor]] = [None] * len(rows)
        if present:
            masks = torch.cat([rows[i] for i in present], dim=0).to(state.device, non_blocking=True)
            if masks.shape[-2:] != size:
                masks = F.interpolate(masks, size=size, mode="bilinear", align_corners=False)
            for j, i in enumerate(present):
                resized[i] = masks[j:j + 1]
        if len(present) == len(rows):
            out = masks
        else:
            missing = torch.full((1, 1, *size), MISSING_OBJECT_LOGIT, dtype=torch.float32, device=state.device)
            out = torch.cat([missing if r is None else r for r in resized], dim=0)
        if self.model.non_overlap_masks:
            out = self.model._apply_non_overlapping_constraints(out)
        return out

    def frame_result(self, state: InferenceState, frame_idx: int,
                      is_cond: Optional[bool] = None) -> torch.Tensor:
        """Every object's current prediction on ``frame_idx`` at video resolution: its new
        prompt output of kind ``is_cond`` (default: conditioning when any object has a new
        prompt there), else its memory, else :data:`MISSING_OBJECT_LOGIT`."""
        if is_cond is None:
            is_cond = state.has_pending_cond(frame_idx)
        rows = []
        for track in state.tracks.values():
            out = track.current_output(frame_idx, is_cond)
            rows.append(None if out is None else out.pred_masks)
        return self.to_video_res(state, rows)
