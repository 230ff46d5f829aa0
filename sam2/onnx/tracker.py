"""``OnnxVideoTracker``: the SAM 2.1 video predictor's calls on exported graphs, without torch.

The four graphs (``sam2.onnx_export``) are stateless; this class keeps every object's memory
bank in NumPy and decides, per frame, what the graphs read, exactly as
:class:`sam2.sam2_video_predictor.SAM2VideoPredictor` does:

* the memory read by a tracked frame: every (or the closest ``max_cond_frames_in_attn``)
  conditioning frame at temporal slot 0, the recent tracked frames of the read window
  (``num_maskmem - 1`` slots with the config's stride), and the object pointers of the
  conditioning frames and of up to ``max_obj_ptrs_in_encoder - 1`` previous frames with
  their temporal distances; packed into fixed-size slot tensors with validity masks;
* which decoder candidate is kept (multimask rules, the stability fallback), the "no
  object" overwrite, hole filling, the MQF quality, the memory policy (plain SAM 2.1 or RCMS,
  :mod:`sam2.onnx.policies`), bfloat16 storage of memories, objects batched when they read
  the same frames, the non-overlap constraints, and the video-resolution outputs.

See ``docs/onnx.md`` for the protocol in language-neutral terms.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from sam2.modeling.read_window import ReadWindow
from sam2.onnx import ops
from sam2.onnx.graphs import TrackerGraphs
from sam2.onnx.policies import make_policy
from sam2.onnx.state import Entry, FrameReader, ObjectState, TrackerState, select_closest_cond_frames
from sam2.utils.constants import MISSING_OBJECT_LOGIT

logger = logging.getLogger(__name__)

__all__ = ["OnnxVideoTracker", "PromptError"]

#: range to which earlier mask logits are clamped before being fed back with new clicks
PREV_LOGIT_CLAMP = 32.0
_F32 = np.float32


class PromptError(ValueError):
    """A prompt (points, box or mask) is malformed; the message names frame and object."""


class OnnxVideoTracker:
    """Track objects through a video with the exported graphs and ONNX Runtime.

    Args:
        onnx_dir: folder with the four graphs of one model (``tools/export_onnx.py``).
        memory_policy: ``"sam2.1"`` or ``"rcms"`` (default: the exported model's).
        rcms: RCMS settings overriding the exported ones (``num_prev_frames_to_promote``,
            ``low_quality_threshold``, ``rearm_after_present_frames``, ``max_promoted_frames``).
            A named ``memory_policy`` is never changed by them; without one, an explicit
            ``num_prev_frames_to_promote`` switches RCMS on (> 0) or off (0), as the builders do.
        memory_slots, pointer_slots: sizes of the memory tensors fed to the tracking graph
            (default: ``num_maskmem + 1`` frames, ``max_obj_ptrs_in_encoder + 1`` pointers);
            a frame that reads more (many conditioning frames) gets larger tensors.
        fixed_slots: pad to those sizes, marking unused slots invalid (one tensor shape for
            every frame, as a caller with fixed buffers does); ``False`` (default, faster)
            feeds exactly the memories read.
        memory_dtype: ``"bfloat16"`` (memories rounded to bfloat16 when stored, as the
            predictor's default) or ``"float32"``; default: the exported predictor's.
        apply_postprocessing: switch SAM 2's post-processing (stability fallback of single
            masks, binarised prompt masks for memory, hole filling up to 8 pixels) on or off,
            as ``build_sam2_video_predictor(apply_postprocessing=...)``; default: as exported.
        non_overlap_masks: resolve overlaps in the outputs (highest logit wins); default: as
            exported.
        memory_eviction: ``"off"`` (default) keeps every frame's entry, so corrections and
            re-propagations anywhere stay exact; ``"drop"`` deletes tracked entries no later
            frame can read (the predictor's ``memory_eviction="drop"``): memory stays bounded
            on long videos, and a correction that would read a dropped entry raises.
        intra_op_threads, providers, graph_optimization, profile_dir: ONNX Runtime session
            settings (:class:`~sam2.onnx.graphs.TrackerGraphs`).
    """

    def __init__(self, onnx_dir: Union[str, os.PathLike], memory_policy: Optional[str] = None,
                 rcms: Optional[Dict[str, Any]] = None, memory_slots: Optional[int] = None,
                 pointer_slots: Optional[int] = None, fixed_slots: bool = False,
                 memory_dtype: Optional[str] = None, apply_postprocessing: Optional[bool] = None,
                 non_overlap_masks: Optional[bool] = None, memory_eviction: str = "off",
                 intra_op_threads: Optional[int] = None, providers: Optional[Sequence[str]] = None,
                 graph_optimization: str = "all", profile_dir: Optional[Union[str, os.PathLike]] = None) -> None:
        self.graphs = TrackerGraphs(onnx_dir, providers=providers, intra_op_threads=intra_op_threads,
                                    graph_optimization=graph_optimization, profile_dir=profile_dir)
        cfg = self.config = dict(self.graphs.config)
        if apply_postprocessing is not None:
            on = bool(apply_postprocessing)
            cfg.update(dynamic_multimask_via_stability=on, binarize_mask_from_pts_for_mem_enc=on,
                       fill_hole_area=8 if on else 0)
            if on:
                cfg.update(dynamic_multimask_stability_delta=0.05, dynamic_multimask_stability_thresh=0.98)
        if non_overlap_masks is not None:
            cfg["non_overlap_masks"] = bool(non_overlap_masks)
        self.image_size = int(cfg["image_size"])
        self.low_res = 4 * int(cfg["feat_size"])
        explicit = dict(rcms or {})
        settings = {**dict(cfg.get("rcms") or {}), **explicit}
        n_given = explicit.get("num_prev_frames_to_promote")
        if memory_policy is not None:  # a named policy is never changed by the RCMS settings
            name = memory_policy
        elif n_given is not None:  # no name: an explicit N switches RCMS on (> 0) or off (0)
            name = "rcms" if int(n_given) > 0 else "sam2.1"
        else:
            name = cfg.get("memory_policy")
        self.policy = make_policy(name, settings)
        self.memory_slots = int(memory_slots or cfg["num_maskmem"] + 1)
        self.pointer_slots = int(pointer_slots or cfg["max_obj_ptrs_in_encoder"] + 1)
        self.fixed_slots = bool(fixed_slots)
        if memory_eviction not in ("off", "drop"):
            raise ValueError(f"memory_eviction={memory_eviction!r}: expected 'off' or 'drop'")
        self.memory_eviction = memory_eviction
        dtype = cfg.get("memory_dtype") if memory_dtype is None else memory_dtype
        if dtype not in ("bfloat16", "bf16", "float32", "fp32"):
            raise ValueError(f"memory_dtype {dtype!r} is not supported (bfloat16 or float32)")
        self.round_memory = dtype in ("bfloat16", "bf16")
        self._no_obj_ptr = None if not cfg.get("has_no_obj_ptr") else np.asarray(cfg["no_obj_ptr"], _F32)[None]
        if cfg.get("mask_downsample_weight") is not None:
            self._ds_weight = np.asarray(cfg["mask_downsample_weight"], _F32).reshape(4, 4)
            self._ds_bias = _F32(cfg["mask_downsample_bias"][0])
        logger.info("ONNX tracker: model %s, policy %s", self.graphs.model_id, self.policy.name)

    # ------------------------------------------------------------------------------------
    # state
    # ------------------------------------------------------------------------------------
    def init_state(self, video_path: Union[str, os.PathLike]) -> TrackerState:
        """Open a folder of JPEG/PNG frames; returns the state the other calls take."""
        frames = FrameReader(video_path, self.image_size)
        cfg = self.config
        window = ReadWindow.for_model(cfg["num_maskmem"], cfg["memory_temporal_stride_for_eval"],
                                      cfg["use_obj_ptrs_in_encoder"], cfg["max_obj_ptrs_in_encoder"], len(frames))
        state = TrackerState(frames=frames, num_frames=len(frames), video_height=frames.video_height,
                             video_width=frames.video_width, window=window)
        self._features(state, 0)
        return state

    def reset_state(self, state: TrackerState) -> None:
        """Forget every object, prompt, memory and policy state."""
        state.objects.clear()

    def policy_records(self, state: TrackerState) -> Dict[int, List[dict]]:
        """Per object id, what the memory policy did (RCMS: triggers and promoted frames)."""
        return {oid: self.policy.records(o.policy_state) for oid, o in state.objects.items()}

    def _features(self, state: TrackerState, frame_idx: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        cached = state.features.get(frame_idx)
        if cached is None:
            image = state.frames.get(frame_idx)
            cached = tuple(self.graphs.run("image_encoder", {"image": image}))
            state.features[frame_idx] = cached
            while len(state.features) > 2:
                state.features.popitem(last=False)
        return cached

    def _object(self, state: TrackerState, obj_id: int, frame_idx: int) -> ObjectState:
        if state.propagating:
            raise RuntimeError(f"cannot add a prompt for object {obj_id} on frame {frame_idx} while "
                               "propagate_in_video is running; finish the propagation first")
        obj = state.objects.get(obj_id)
        if obj is None:
            obj = ObjectState(obj_id=obj_id, policy_state=self.policy.new_object_state())
            state.objects[obj_id] = obj
        return obj

    # ------------------------------------------------------------------------------------
    # prompts
    # ------------------------------------------------------------------------------------
    def add_new_points_or_box(self, inference_state: TrackerState, frame_idx: int, obj_id: int,
                              points=None, labels=None, clear_old_points: bool = True,
                              normalize_coords: bool = True, box=None
                              ) -> Tuple[int, List[int], np.ndarray]:
        """Clicks (``points [N, 2]`` x/y, ``labels [N]``) and/or a ``box [x0, y0, x1, y1]``
        in video pixels (or model pixels with ``normalize_coords=False``).

        Returns ``(frame_idx, obj_ids, masks [O, 1, H, W] float32 logits)``."""
        state = inference_state
        frame_idx = state.check_frame(frame_idx)
        where = f"prompt for object {obj_id} on frame {frame_idx}"
        if (points is None) != (labels is None):
            raise PromptError(f"{where}: points and labels must be given together")
        if points is None and box is None:
            raise PromptError(f"{where}: give points (with labels) or a box")
        if box is not None and not clear_old_points:
            raise PromptError(f"{where}: a box must come before any click, so it cannot be added with clear_old_points=False")
        coords, lab = _assemble_clicks(points, labels, box, where)
        if normalize_coords:
            coords = coords / np.asarray([state.video_width, state.video_height], _F32)
        coords = (coords * _F32(self.image_size)).astype(_F32)
        if not clear_old_points and obj_id not in state.objects:
            raise PromptError(f"{where}: clear_old_points=False refines an existing object, but object "
                              f"{obj_id!r} was never added; objects in this video: {state.obj_ids}")
        obj = self._object(state, obj_id, frame_idx)
        previous = None if clear_old_points else obj.point_inputs.get(frame_idx)
        if previous is not None:
            coords = np.concatenate([previous[0], coords], axis=1)
            lab = np.concatenate([previous[1], lab], axis=1)
        obj.point_inputs[frame_idx] = (coords, lab)
        obj.mask_inputs.pop(frame_idx, None)
        return self._prompt_frame(state, obj, frame_idx, (coords, lab), None)

    def add_new_mask(self, inference_state: TrackerState, frame_idx: int, obj_id: int, mask
                     ) -> Tuple[int, List[int], np.ndarray]:
        """Prompt ``obj_id`` on ``frame_idx`` with a binary ``mask [H, W]`` (video size)."""
        state = inference_state
        frame_idx = state.check_frame(frame_idx)
        where = f"mask prompt for object {obj_id} on frame {frame_idx}"
        try:
            m = np.asarray(mask).astype(bool)
        except (TypeError, ValueError) as err:
            raise PromptError(f"{where}: the mask is not numeric: {err}") from err
        if m.ndim != 2:
            raise PromptError(f"{where}: the mask must be 2-D [H, W], got shape {m.shape}")
        if m.shape != (state.video_height, state.video_width):
            raise PromptError(f"{where}: the mask is {m.shape[1]}x{m.shape[0]} (WxH) but the video is "
                              f"{state.video_width}x{state.video_height}")
        full = m[None, None].astype(_F32)
        s = self.image_size
        if full.shape[-2:] != (s, s):
            full = (ops.resize_bilinear_aa(full, (s, s)) >= 0.5).astype(_F32)
        obj = self._object(state, obj_id, frame_idx)
        obj.mask_inputs[frame_idx] = full
        obj.point_inputs.pop(frame_idx, None)
        return self._prompt_frame(state, obj, frame_idx, None, full)

    def _prompt_frame(self, state: TrackerState, obj: ObjectState, frame_idx: int,
                      points: Optional[Tuple[np.ndarray, np.ndarray]], mask: Optional[np.ndarray]):
        is_init = frame_idx not in obj.tracked
        reverse = False if is_init else obj.tracked[frame_idx]
        is_cond = is_init or bool(self.config["add_all_frames_to_correct_as_cond"])
        if not is_init:
            gone = [t for t in state.window.read_span(frame_idx, reverse)
                    if t in obj.tracked and obj.get(t) is None]
            if gone:
                raise RuntimeError(
                    f"cannot correct object {obj.obj_id} on frame {frame_idx}: the memory of frames "
                    f"{gone[0]}..{gone[-1]} that this frame reads was dropped during propagation "
                    "(memory_eviction='drop'); re-run propagate_in_video up to this frame first")
        prev = None
        if points is not None:
            previous = obj.current_output(frame_idx, is_cond)
            if previous is not None:
                prev = np.clip(previous.pred_masks, -PREV_LOGIT_CLAMP, PREV_LOGIT_CLAMP).astype(_F32)
        if mask is not None and self.config["use_mask_input_as_output_without_sam"]:
            entry = self._mask_as_output(state, frame_idx, mask)
        else:
            mask_in = prev
            if mask is not None:
                mask_in = ops.resize_bilinear_aa(mask, (self.low_res, self.low_res))
            num_pts = 0 if points is None else points[1].shape[1]
            multimask = self._use_multimask(is_init, num_pts)
            if is_init:
                outs = self._run_prompt(state, frame_idx, points, mask_in, add_no_mem_embed=True)
            else:
                outs = self._run_track(state, [obj], frame_idx, reverse, points, mask_in)
            entry, _ = self._select(outs, 0, multimask)
        obj.pending(is_cond)[frame_idx] = entry
        return frame_idx, state.obj_ids, self._frame_result(state, frame_idx, is_cond)

    # ------------------------------------------------------------------------------------
    # graph calls
    # ------------------------------------------------------------------------------------
    def _prompt_feeds(self, batch: int, points, mask_in) -> Dict[str, np.ndarray]:
        if points is None:
            coords = np.zeros((batch, 1, 2), _F32)
            labels = -np.ones((batch, 1), np.int32)
        else:
            coords, labels = points
        # the padding click the prompt encoder appends when no box is given
        coords = np.concatenate([coords, np.zeros((batch, 1, 2), _F32)], axis=1)
        labels = np.concatenate([labels, -np.ones((batch, 1), np.int32)], axis=1)
        has_mask = mask_in is not None
        mask = mask_in if has_mask else np.zeros((batch, 1, self.low_res, self.low_res), _F32)
        return {"point_coords": coords.astype(_F32), "point_labels": labels.astype(np.int32),
                "mask_input": mask.astype(_F32), "has_mask_input": np.full((batch,), has_mask),
                "presence_threshold": np.asarray(self.policy.presence_threshold, _F32)}

    def _run_prompt(self, state, frame_idx, points, mask_in, add_no_mem_embed: bool) -> List[np.ndarray]:
        vision, s0, s1 = self._features(state, frame_idx)
        feeds = {"vision_feat": vision, "feat_s0": s0, "feat_s1": s1,
                 "add_no_mem_embed": np.asarray(add_no_mem_embed), **self._prompt_feeds(1, points, mask_in)}
        return self.graphs.run("prompt_decoder", feeds)

    def _memory_feeds(self, objs: List[ObjectState], frame_idx: int, reverse: bool,
                      window: ReadWindow) -> Dict[str, np.ndarray]:
        """The memory each object reads on ``frame_idx``, packed into slot tensors."""
        cfg = self.config
        spatial, pointers = [], []
        for obj in objs:
            if not obj.cond:
                raise RuntimeError(f"object {obj.obj_id}, frame {frame_idx}: tracking needs at least one "
                                   "conditioning frame in memory (prompt a frame first)")
            selected, unselected = select_closest_cond_frames(frame_idx, obj.cond, cfg["max_cond_frames_in_attn"])

            def stored(idx: int, obj=obj, unselected=unselected) -> Optional[Entry]:
                out = obj.non_cond.get(idx)
                return unselected.get(idx) if out is None else out

            refs = [(out, 0) for out in selected.values()]
            for t_pos, idx in window.mask_slots(frame_idx, reverse):
                out = stored(idx)
                if out is not None:
                    refs.append((out, t_pos))
            spatial.append([(e, t) for e, t in refs if e.maskmem is not None])
            ptrs = []
            direction = -1 if reverse else 1
            for t, out in selected.items():
                if cfg["only_obj_ptrs_in_the_past_for_eval"] and (t < frame_idx if reverse else t > frame_idx):
                    continue
                dist = (frame_idx - t) * direction if cfg["use_signed_tpos_enc_to_obj_ptrs"] else abs(frame_idx - t)
                ptrs.append((out, dist))
            for t, step in window.pointer_steps(frame_idx, reverse):
                out = stored(t)
                if out is not None:
                    ptrs.append((out, step))
            pointers.append(ptrs)
        max_dist = _F32(window.pointer_window - 1)
        m = max(len(s) for s in spatial)
        p = max(max(len(x) for x in pointers), 1)
        if self.fixed_slots:
            m, p = max(m, self.memory_slots), max(p, self.pointer_slots)
        b, fs = len(objs), int(cfg["feat_size"])
        feeds = {"mem_feats": np.zeros((b, m, int(cfg["mem_dim"]), fs, fs), _F32),
                 "mem_tpos": np.zeros((b, m), np.int64), "mem_valid": np.zeros((b, m), bool),
                 "obj_ptrs": np.zeros((b, p, int(cfg["hidden_dim"])), _F32),
                 "ptr_tpos": np.zeros((b, p), _F32), "ptr_valid": np.zeros((b, p), bool)}
        for i in range(b):
            for j, (entry, t_pos) in enumerate(spatial[i]):
                feeds["mem_feats"][i, j] = entry.maskmem[0]
                feeds["mem_tpos"][i, j] = t_pos
                feeds["mem_valid"][i, j] = True
            for j, (entry, dist) in enumerate(pointers[i]):
                feeds["obj_ptrs"][i, j] = entry.obj_ptr[0]
                feeds["ptr_tpos"][i, j] = _F32(dist) / max_dist
                feeds["ptr_valid"][i, j] = True
        return feeds

    def _run_track(self, state, objs, frame_idx, reverse, points=None, mask_in=None) -> List[np.ndarray]:
        vision, s0, s1 = self._features(state, frame_idx)
        feeds = {"vision_feat": vision, "feat_s0": s0, "feat_s1": s1,
                 **self._memory_feeds(objs, frame_idx, reverse, state.window),
                 **self._prompt_feeds(len(objs), points, mask_in)}
        return self.graphs.run("track_step", feeds)

    def _encode_memory(self, state, frame_idx, masks: np.ndarray, scores: np.ndarray, binarize: bool) -> np.ndarray:
        vision = self._features(state, frame_idx)[0]
        mem = self.graphs.run("memory_encoder", {
            "vision_feat": vision, "masks": masks.astype(_F32), "object_score_logits": scores.astype(_F32),
            "binarize": np.asarray(binarize)})[0]
        return ops.round_bfloat16(mem) if self.round_memory else mem

    def _mask_as_output(self, state, frame_idx: int, mask: np.ndarray) -> Entry:
        """A mask prompt taken as the output (logits exactly +-10); its pointer comes from the
        heads fed the mask downsampled by the model's 4x4 convolution."""
        high = mask * _F32(20.0) + _F32(-10.0)
        low = ops.resize_bilinear_aa(high, (self.low_res, self.low_res))
        s = self.image_size
        blocks = mask.reshape(1, 1, s // 4, 4, s // 4, 4)
        down = (np.einsum("bchiwj,ij->bchw", blocks, self._ds_weight) + self._ds_bias).astype(_F32)
        outs = self._run_prompt(state, frame_idx, None, down, add_no_mem_embed=False)
        ptr = outs[2][:, 0]
        presence = _F32((mask > 0).any())
        score = np.full((1, 1), _F32(20.0) * presence - _F32(10.0), _F32)
        if self._no_obj_ptr is not None:
            ptr = self._mix_no_obj_ptr(ptr, presence)
        ious = np.ones((1, 1), _F32)
        if self.config["fill_hole_area"] > 0:
            low = ops.fill_holes(low, self.config["fill_hole_area"])
        return Entry(pred_masks=low, obj_ptr=ptr.astype(_F32), object_score_logits=score,
                     ious=ious, quality=float(ops.mask_quality(low, score, ious)[0]))

    def _mix_no_obj_ptr(self, ptr: np.ndarray, presence) -> np.ndarray:
        if self.config["fixed_no_obj_ptr"]:
            ptr = presence * ptr
        return (ptr + (_F32(1) - presence) * self._no_obj_ptr).astype(_F32)

    def _use_multimask(self, is_init: bool, num_pts: int) -> bool:
        cfg = self.config
        return bool(cfg["multimask_output_in_sam"] and (is_init or cfg["multimask_output_for_tracking"])
                    and cfg["multimask_min_pt_num"] <= num_pts <= cfg["multimask_max_pt_num"])

    def _select(self, outs: List[np.ndarray], b: int, multimask: bool) -> Tuple[Entry, np.ndarray]:
        """Object ``b``'s kept candidate: (stored entry, low-res logits before hole filling)."""
        cfg = self.config
        masks, ious, ptrs, scores = (o[b:b + 1] for o in outs)
        if multimask:
            best = int(ious[0, 1:].argmax()) + 1
            low, kept_ious = masks[:, best:best + 1], ious[:, 1:]
            ptr = ptrs[:, best] if cfg["use_multimask_token_for_obj_ptr"] else ptrs[:, 0]
        else:
            low, kept_ious, ptr = masks[:, :1], ious[:, :1], ptrs[:, 0]
            if cfg["dynamic_multimask_via_stability"]:
                stable = ops.stability_scores(low, cfg["dynamic_multimask_stability_delta"])[0, 0] \
                    >= cfg["dynamic_multimask_stability_thresh"]
                if not stable:
                    best = int(ious[0, 1:].argmax()) + 1
                    low, kept_ious = masks[:, best:best + 1], ious[:, best:best + 1]
        if cfg["pred_obj_scores"]:
            present = scores[0, 0] > self.policy.presence_threshold
            low = low if present else np.full_like(low, MISSING_OBJECT_LOGIT)
        stored = low
        if cfg["fill_hole_area"] > 0:
            stored = ops.fill_holes(low, cfg["fill_hole_area"])
        quality = float(ops.mask_quality(stored, scores, kept_ious)[0])
        entry = Entry(pred_masks=stored.astype(_F32), obj_ptr=ptr.astype(_F32),
                      object_score_logits=scores.astype(_F32), ious=kept_ious.astype(_F32), quality=quality)
        return entry, low

    # ------------------------------------------------------------------------------------
    # propagation
    # ------------------------------------------------------------------------------------
    def propagate_in_video_preflight(self, inference_state: TrackerState) -> None:
        """Encode the memory of new prompts and merge them into the objects' memory."""
        state = inference_state
        if not state.objects:
            raise RuntimeError("no object has a prompt yet: add points, a box or a mask first")
        for obj in state.objects.values():
            for is_cond in (False, True):
                pending = obj.pending(is_cond)
                for frame_idx, entry in pending.items():
                    if entry.maskmem is None:
                        entry.maskmem = self._encode_memory(
                            state, frame_idx, entry.pred_masks, entry.object_score_logits,
                            binarize=bool(self.config["binarize_mask_from_pts_for_mem_enc"]))
                    obj.put(frame_idx, entry, is_cond)
                    if self.config["clear_non_cond_mem_around_input"]:
                        self._clear_around(state, obj, frame_idx)
                pending.clear()
            if not obj.cond:
                raise RuntimeError(f"object {obj.obj_id} has no prompt (points, box or mask) on any frame; "
                                   "add one or remove the object")

    @staticmethod
    def _clear_around(state: TrackerState, obj: ObjectState, frame_idx: int) -> None:
        radius = state.window.clear_radius
        for t in range(frame_idx - radius, frame_idx + radius + 1):
            obj.non_cond.pop(t, None)

    def propagate_in_video(self, inference_state: TrackerState, start_frame_idx: Optional[int] = None,
                           max_frame_num_to_track: Optional[int] = None, reverse: bool = False
                           ) -> Iterator[Tuple[int, List[int], np.ndarray]]:
        """Track every object, yielding ``(frame_idx, obj_ids, masks [O, 1, H, W] float32)``."""
        state = inference_state
        self.propagate_in_video_preflight(state)
        if start_frame_idx is None:
            start_frame_idx = min(t for o in state.objects.values() for t in o.cond)
        start = state.check_frame(start_frame_idx)
        count = state.num_frames if max_frame_num_to_track is None else int(max_frame_num_to_track)
        if count < 0:
            raise ValueError(f"max_frame_num_to_track must be >= 0, got {max_frame_num_to_track}")
        if reverse:
            order = range(start, max(start - count, 0) - 1, -1) if start > 0 else range(0)
        else:
            order = range(start, min(start + count, state.num_frames - 1) + 1)
        obj_ids = state.obj_ids
        state.propagating = True
        try:
            for frame_idx in order:
                rows = self.track_frame(state, frame_idx, reverse)
                yield frame_idx, obj_ids, self._to_video_res(state, rows)
        finally:
            state.propagating = False

    def track_frame(self, state: TrackerState, frame_idx: int, reverse: bool = False) -> List[np.ndarray]:
        """Track every object on one frame; per object its ``[1, 1, S/4, S/4]`` logits."""
        objs = list(state.objects.values())
        rows: List[Optional[np.ndarray]] = [None] * len(objs)
        to_track = []
        for i, obj in enumerate(objs):
            if frame_idx in obj.cond:
                rows[i] = obj.cond[frame_idx].pred_masks
                if self.config["clear_non_cond_mem_around_input"]:
                    self._clear_around(state, obj, frame_idx)
            else:
                to_track.append(i)
        groups: Dict[Any, List[int]] = {}
        for i in to_track:
            layout = objs[i].read_layout(state.window, frame_idx, reverse) if self.config["batch_objects"] else None
            groups.setdefault(("alone", i) if layout is None else layout, []).append(i)
        for group in groups.values():
            for i, m in zip(group, self._track_group(state, [objs[i] for i in group], frame_idx, reverse)):
                rows[i] = m
        for obj in objs:
            obj.tracked[frame_idx] = reverse
        return rows

    def _track_group(self, state, objs: List[ObjectState], frame_idx: int, reverse: bool) -> List[np.ndarray]:
        outs = self._run_track(state, objs, frame_idx, reverse)
        multimask = self._use_multimask(False, 0)
        entries, lows = [], []
        for b, obj in enumerate(objs):
            entry, low = self._select(outs, b, multimask)
            self.policy.on_frame(obj.policy_state, obj, frame_idx, entry)
            entries.append(entry)
            lows.append(low)
        scores = np.concatenate([e.object_score_logits for e in entries], axis=0)
        mem = self._encode_memory(state, frame_idx, np.concatenate(lows, axis=0), scores, binarize=False)
        for b, (obj, entry) in enumerate(zip(objs, entries)):
            entry.maskmem = mem[b:b + 1]
            obj.put(frame_idx, entry, is_cond=False)
            if self.memory_eviction == "drop":
                self._evict(state, obj, frame_idx, reverse)
        return [e.pred_masks for e in entries]

    def _evict(self, state: TrackerState, obj: ObjectState, frame_idx: int, reverse: bool) -> None:
        """Drop tracked entries behind the read window of the frame just tracked and of every
        conditioning frame, except those the memory policy may still promote."""
        keep = set(self.policy.frames_to_retain(obj.policy_state, obj))
        cond = list(obj.cond)
        for t in [t for t in obj.non_cond
                  if t not in keep and state.window.evictable(t, frame_idx, reverse, cond)]:
            del obj.non_cond[t]

    # ------------------------------------------------------------------------------------
    # outputs
    # ------------------------------------------------------------------------------------
    def _to_video_res(self, state: TrackerState, rows: Sequence[Optional[np.ndarray]]) -> np.ndarray:
        size = (state.video_height, state.video_width)
        out = np.full((len(rows), 1, *size), MISSING_OBJECT_LOGIT, _F32)
        present = [i for i, r in enumerate(rows) if r is not None]
        if present:
            masks = np.concatenate([rows[i] for i in present], axis=0)
            if masks.shape[-2:] != size:
                masks = ops.resize_bilinear(masks, size)
            out[present] = masks
        if self.config["non_overlap_masks"]:
            out = ops.non_overlap(out)
        return out

    def _frame_result(self, state: TrackerState, frame_idx: int, is_cond: Optional[bool] = None) -> np.ndarray:
        if is_cond is None:
            is_cond = state.has_pending_cond(frame_idx)
        rows = []
        for obj in state.objects.values():
            out = obj.current_output(frame_idx, is_cond)
            rows.append(None if out is None else out.pred_masks)
        return self._to_video_res(state, rows)


def _assemble_clicks(points, labels, box, where: str) -> Tuple[np.ndarray, np.ndarray]:
    """``[1, N, 2]`` float32 coordinates and ``[1, N]`` int32 labels, the box first (2, 3)."""
    xy_parts, lab_parts = [], []
    try:
        if box is not None:
            corners = np.asarray(box, dtype=_F32)
            if corners.size != 4:
                raise PromptError(f"{where}: box must be [x0, y0, x1, y1], got shape {corners.shape}")
            xy_parts.append(corners.reshape(1, 2, 2))
            lab_parts.append(np.asarray([[2, 3]], np.int32))
        if points is not None:
            xy = np.asarray(points, dtype=_F32)
            lab = np.asarray(labels, dtype=np.int32)
    except (TypeError, ValueError) as err:
        raise PromptError(f"{where}: prompt is not numeric: {err}") from err
    if points is not None:
        xy = xy[None] if xy.ndim == 2 else xy
        lab = lab[None] if lab.ndim == 1 else lab
        if xy.ndim != 3 or xy.shape[0] != 1 or xy.shape[-1] != 2:
            raise PromptError(f"{where}: points must have shape [N, 2], got {xy.shape}")
        if lab.shape != xy.shape[:2]:
            raise PromptError(f"{where}: {xy.shape[1]} points but labels of shape {lab.shape}")
        xy_parts.append(xy)
        lab_parts.append(lab)
    return np.concatenate(xy_parts, axis=1), np.concatenate(lab_parts, axis=1)
