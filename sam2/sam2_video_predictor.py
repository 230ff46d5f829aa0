"""SAM2VideoPredictor: interactive video object segmentation with the official SAM2.1 API.

Typical use::

    predictor = build_sam2_video_predictor(config, checkpoint, device="cpu")
    state = predictor.init_state("video/JPEGImages/vid0")
    predictor.add_new_mask(state, frame_idx=0, obj_id=1, mask=first_mask)
    for frame_idx, obj_ids, video_res_masks in predictor.propagate_in_video(state):
        ...  # video_res_masks: [num_objects, 1, H, W] float32 logits

Design (see ``docs/video_predictor.md``):

* The state is typed (:class:`~sam2.video.tracking.state.InferenceState`): a lazy frame source, one
  :class:`~sam2.video.tracking.state.ObjectTrack` per object with its own
  :class:`~sam2.video.memory.memory_bank.MemoryBank`, a small feature cache.
* The predictor is the model and the official API; it hands itself to a
  :class:`~sam2.video.tracking.tracker.Tracker`, which builds the inference states and owns the
  per-frame step (:meth:`~sam2.video.tracking.tracker.Tracker.track_frame`, every object on one
  frame) and the memory policy. :meth:`SAM2VideoPredictor.propagate_in_video` is a loop over
  that step. Prompts and tracking share one inference path.
* The memory policy (:mod:`sam2.video.policies`: plain SAM2.1, RCMS in :mod:`sam2.video.policies.rcms`)
  is called at one point of that step, for every object on every tracked frame, before the
  frame is memory-encoded and stored.
* Memory features are stored as bfloat16 by default (as the official predictor does); set
  ``memory_dtype="float32"`` to keep them in full precision.

Settings (the memory policy, ``memory_dtype``, ``batch_objects``) are one
:class:`~sam2.video.tracking.settings.VideoSettings` value, resolved once by
:func:`~sam2.video.tracking.settings.resolve_video_settings`: ``build_sam2_video_predictor`` resolves
it from the model config's blocks and its arguments and passes ``settings=``; the
constructor's separate keyword arguments go through the same function.
"""
from __future__ import annotations

import logging
from typing import Iterator, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from tqdm import tqdm

from sam2.modeling.sam2_base import SAM2Base
from sam2.modeling.track_types import PointInputs
from sam2.utils.prompt_checks import check_integer, check_mask, check_obj_id
from sam2.video.sources.frame_source import open_frame_source
from sam2.video.policies import MemoryPolicy, PolicySpec
from sam2.video.tracking.prompts import ArrayLike, PromptError, assemble_clicks
from sam2.video.tracking.settings import VideoSettings, resolve_video_settings
from sam2.video.tracking.state import InferenceState, ObjectTrack, UnknownObjectError
from sam2.video.tracking.tracker import MISSING_OBJECT_LOGIT, Tracker

logger = logging.getLogger(__name__)

__all__ = ["SAM2VideoPredictor", "SAM2VideoPredictorVOS", "PromptError", "MISSING_OBJECT_LOGIT"]

#: range to which earlier mask logits are clamped before being fed back with new clicks
PREV_LOGIT_CLAMP = 32.0
#: frames decoded ahead of the tracking position when prefetching is on
PREFETCH_AHEAD = 2


class SAM2VideoPredictor(SAM2Base):
    """SAM2.1 video predictor (official API) with typed state, bounded memory and RCMS.

    Args:
        fill_hole_area: fill background holes up to this area (low-res pixels) in stored masks.
        non_overlap_masks: keep only the highest-scoring object per pixel in the outputs.
        clear_non_cond_mem_around_input: drop an object's tracked memory around its prompts.
        add_all_frames_to_correct_as_cond: make corrected (already tracked) frames
            conditioning frames too.
        settings: the resolved :class:`~sam2.video.tracking.settings.VideoSettings` (memory policy,
            memory dtype, batching); ``build_sam2_video_predictor`` passes them, resolved from
            the config's blocks and its arguments. Without it, the keyword arguments below
            are resolved by the same function (:func:`~sam2.video.tracking.settings.resolve_video_settings`).
        memory_policy: a registered policy name (``"sam2.1"``, ``"rcms"``, see
            :func:`sam2.video.policies.make_policy`), ``{"name": ..., "params": {...}}`` or a
            :class:`~sam2.video.policies.MemoryPolicy`. ``None``: plain SAM2.1.
        num_prev_frames_to_promote, low_quality_threshold, rearm_after_present_frames,
        max_promoted_frames: parameters of the policy's ``rcms`` member (``N``, ``tau``,
            re-arming, cap; see :class:`~sam2.video.policies.rcms.RCMSPolicy`). Without
            ``memory_policy``, a positive ``num_prev_frames_to_promote`` selects RCMS.
        memory_dtype: dtype of stored memory features (``"bfloat16"`` like the official
            predictor, or ``"float32"``); ``init_state`` can override it per video.
        batch_objects: run objects whose memories have the same layout through the model
            together (results equal the one-by-one loop within float tolerance).
        **kwargs: the :class:`~sam2.modeling.sam2_base.SAM2Base` model arguments.
    """

    def __init__(
        self,
        fill_hole_area: int = 0,
        non_overlap_masks: bool = False,
        clear_non_cond_mem_around_input: bool = False,
        add_all_frames_to_correct_as_cond: bool = False,
        *,
        settings: Optional[VideoSettings] = None,
        memory_policy: PolicySpec = None,
        num_prev_frames_to_promote: Optional[int] = None,
        low_quality_threshold: Optional[float] = None,
        rearm_after_present_frames: Optional[int] = None,
        max_promoted_frames: Optional[int] = None,
        memory_dtype: Optional[Union[str, torch.dtype]] = None,
        batch_objects: Optional[bool] = None,
        **kwargs,
    ) -> None:
        loose = dict(memory_policy=memory_policy, num_prev_frames_to_promote=num_prev_frames_to_promote,
                     low_quality_threshold=low_quality_threshold,
                     rearm_after_present_frames=rearm_after_present_frames,
                     max_promoted_frames=max_promoted_frames, memory_dtype=memory_dtype,
                     batch_objects=batch_objects)
        if settings is None:
            settings = resolve_video_settings(None, where="the constructor", **loose)
        elif any(v is not None for v in loose.values()):
            raise ValueError(
                "give either settings= or the separate settings arguments, not both (got "
                f"{sorted(k for k, v in loose.items() if v is not None)} besides settings)")
        super().__init__(**kwargs)
        self.fill_hole_area = fill_hole_area
        self.non_overlap_masks = non_overlap_masks
        self.clear_non_cond_mem_around_input = clear_non_cond_mem_around_input
        self.add_all_frames_to_correct_as_cond = add_all_frames_to_correct_as_cond
        #: the settings this predictor was built with (where each value came from included)
        self.settings: VideoSettings = settings
        #: the tracker, handed this model: it builds the inference states and owns the per-frame
        #: step and the memory policy (:class:`~sam2.video.tracking.tracker.Tracker`)
        self.tracker = Tracker(self, settings.memory_policy, settings.memory_dtype, settings.batch_objects)

    @property
    def memory_policy(self) -> MemoryPolicy:
        """The tracker's memory policy (plain SAM2.1 unless RCMS or another policy is chosen);
        states opened afterwards use the policy set here."""
        return self.tracker.policy

    @memory_policy.setter
    def memory_policy(self, policy: MemoryPolicy) -> None:
        self.tracker.policy = policy

    @property
    def memory_dtype(self) -> torch.dtype:
        """Dtype of stored memory features (bfloat16 like the official predictor)."""
        return self.tracker.memory_dtype

    @memory_dtype.setter
    def memory_dtype(self, dtype: torch.dtype) -> None:
        self.tracker.memory_dtype = dtype

    @property
    def batch_objects(self) -> bool:
        """Whether objects whose memories have the same layout run through the model together."""
        return self.tracker.batch_objects

    @batch_objects.setter
    def batch_objects(self, value: bool) -> None:
        self.tracker.batch_objects = value

    @property
    def num_prev_frames_to_promote(self) -> int:
        """RCMS ``N`` of the current policy (0 when RCMS is off)."""
        return int(getattr(self.memory_policy, "num_prev_frames_to_promote", 0))

    @property
    def low_quality_threshold(self) -> Optional[float]:
        """RCMS ``tau`` of the current policy (``None`` when it has no RCMS)."""
        return getattr(self.memory_policy, "low_quality_threshold", None)

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
        memory_eviction: str = "offload",
        evict_memory: Optional[bool] = None,
        memory_dtype: Optional[Union[str, torch.dtype]] = None,
        frame_cache_size: int = 4,
    ) -> InferenceState:
        """Open a video (JPEG folder or video file) and return its inference state.

        Frames are read lazily. ``async_loading_frames`` decodes upcoming frames in a
        background thread. ``memory_eviction`` says what happens to memory no propagation
        reads any more (:mod:`sam2.video.memory.memory_bank`): ``"offload"`` (default) moves it to
        the host, where corrections and later propagations read it back (device memory flat,
        results of the official predictor); ``"drop"`` deletes it (memory flat everywhere; a
        correction that needs it raises); ``"off"`` keeps everything on the device like the
        official predictor. ``evict_memory=True`` / ``False`` are older spellings of ``"drop"`` /
        ``"off"``. ``memory_dtype`` overrides :attr:`memory_dtype` for this video.
        """
        if evict_memory is not None:
            memory_eviction = "drop" if evict_memory else "off"
        frames = open_frame_source(
            video_path,
            image_size=self.image_size,
            device=torch.device("cpu") if offload_video_to_cpu else self.device,
            cache_size=frame_cache_size,
            prefetch=async_loading_frames,
        )
        state = self.new_inference_state(
            frames, num_frames=len(frames), video_height=frames.video_height,
            video_width=frames.video_width, offload_video_to_cpu=offload_video_to_cpu,
            offload_state_to_cpu=offload_state_to_cpu, memory_eviction=memory_eviction,
            memory_dtype=memory_dtype)
        # warm up: decode frame 0 and cache its features (fails early on a bad first frame)
        self.tracker.frame_features(state, 0)
        return state

    def new_inference_state(self, frames, **kwargs) -> InferenceState:
        """An inference state for ``frames``, made by the tracker
        (:meth:`~sam2.video.tracking.tracker.Tracker.new_inference_state`, the one place states
        are made, for videos and streams alike)."""
        return self.tracker.new_inference_state(frames, **kwargs)

    def open_stream(self, first_frame, *, offload_state_to_cpu: bool = False,
                    memory_dtype: Optional[Union[str, torch.dtype]] = None):
        """Start tracking live frames from ``first_frame`` (``[H, W, 3]`` uint8, PIL image or
        tensor): returns a :class:`~sam2.video.tracking.stream.VideoStream` (prompts on its current
        frame, ``push(frame)`` for every next frame, ``close()``). No video length, no
        look-ahead; the same per-frame step as :meth:`propagate_in_video`."""
        from sam2.video.tracking.stream import VideoStream

        return VideoStream(self, first_frame, offload_state_to_cpu=offload_state_to_cpu,
                           memory_dtype=memory_dtype)

    def _get_or_add_track(self, state: InferenceState, obj_id: int, frame_idx: int) -> ObjectTrack:
        if state.propagating:
            raise RuntimeError(
                f"cannot add a prompt for object {obj_id} on frame {frame_idx} while "
                "propagate_in_video is running; finish (or close) the propagation first"
            )
        track = state.tracks.get(obj_id)
        if track is None:
            track = self.tracker.new_track(state, obj_id)
        return track

    @torch.inference_mode()
    def reset_state(self, inference_state: InferenceState) -> None:
        """Forget every object, prompt, memory and policy state (RCMS latches included)."""
        inference_state.tracks.clear()

    # ------------------------------------------------------------------------------------
    # prompts
    # ------------------------------------------------------------------------------------
    def _check_correction_memory(self, state: InferenceState, track: ObjectTrack,
                                 frame_idx: int, reverse: bool) -> None:
        """A correction reads the memory around its frame: make sure it was not evicted."""
        gone = track.bank.missing_reads(frame_idx, reverse, track.tracked)
        if gone:
            raise RuntimeError(
                f"cannot correct object {track.obj_id} on frame {frame_idx}: the memory of "
                f"frames {gone[0]}..{gone[-1]} that this frame reads was released during "
                "propagation (memory_eviction='drop'). Re-run propagate_in_video up to this "
                "frame first, or open the video with init_state(..., memory_eviction='offload')"
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
            previous = track.current_output(frame_idx, is_cond)
            if previous is not None and previous.pred_masks is not None:
                prev_logits = previous.pred_masks.to(state.device, non_blocking=True)
                prev_logits = prev_logits.clamp(-PREV_LOGIT_CLAMP, PREV_LOGIT_CLAMP)
        # memory is encoded by the preflight, once the user is done with this frame
        inferred = self.tracker.infer(
            state, [track], frame_idx, reverse,
            is_init_cond_frame=is_init_cond_frame,
            point_inputs=point_inputs,
            mask_inputs=mask_inputs,
            prev_sam_mask_logits=prev_logits,
        )
        track.pending.store(is_cond)[frame_idx] = self.tracker.stored_row(state, inferred, 0)
        return frame_idx, state.obj_ids, self.tracker.frame_result(state, frame_idx, is_cond)

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

        Coordinates are in video pixels (``normalize_coords=True``) or already normalised to
        ``[0, 1]``. On a frame the object was tracked on, the prompt is a correction. The
        prompt rules (finite clicks inside the frame, labels 1/0 and the official 2/3 box
        corners and -1 padding, boxes of positive area, an integer frame index and object id)
        are those of :mod:`sam2.utils.prompt_checks`; a violation raises :class:`PromptError`
        (or ``TypeError``/``IndexError`` for the frame index) naming the value.

        Returns:
            ``(frame_idx, obj_ids, video_res_masks)`` with ``video_res_masks``
            ``[num_objects, 1, H, W]`` float32 logits of every object on that frame.
        """
        state = inference_state
        frame_idx = state.check_frame(frame_idx)
        obj_id = check_obj_id(obj_id)
        where = f"prompt for object {obj_id} on frame {frame_idx}"
        if (points is None) != (labels is None):
            raise PromptError(f"{where}: points and labels must be given together")
        if points is None and box is None:
            raise PromptError(f"{where}: give points (with labels) or a box")
        if box is not None and not clear_old_points:
            raise PromptError(
                f"{where}: a box must come before any click, so it cannot be added with "
                "clear_old_points=False")
        size = (state.video_width, state.video_height) if normalize_coords else (1.0, 1.0)
        coords, lab = assemble_clicks(points, labels, box, where, size)
        if normalize_coords:
            coords = coords / torch.tensor([state.video_width, state.video_height])
        coords = (coords * self.image_size).to(state.device)
        lab = lab.to(state.device)
        if not clear_old_points and obj_id not in state.tracks:
            raise UnknownObjectError(
                f"{where}: clear_old_points=False refines an existing object, but object "
                f"{obj_id!r} was never added; objects in this video: {state.obj_ids} (use "
                "clear_old_points=True to add a new object)")

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
        obj_id = check_obj_id(obj_id)
        where = f"mask prompt for object {obj_id} on frame {frame_idx}"
        mask_t = check_mask(mask, where)
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
                        self.tracker.encode_prompt_memory(state, frame_idx, out)
                    track.bank.put(frame_idx, out, is_cond=is_cond)
                    if self.clear_non_cond_mem_around_input:
                        track.bank.clear_non_cond_around(frame_idx)
                pending.clear()
            if not track.bank.cond:
                raise RuntimeError(
                    f"object {track.obj_id} has no prompt (points, box or mask) on any frame; "
                    "add one or remove the object")

    def _processing_order(self, state: InferenceState, start: Optional[int],
                          max_frames: Optional[int], reverse: bool) -> range:
        if start is None:
            start = min(t for tr in state.tracks.values() for t in tr.bank.cond)
        start = state.check_frame(start)
        if max_frames is None:
            max_frames = state.num_frames
        max_frames = check_integer(max_frames, "max_frame_num_to_track")
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
        *,
        progress: bool = True,
    ) -> Iterator[Tuple[int, List[int], torch.Tensor]]:
        """Track every object through the video, yielding
        ``(frame_idx, obj_ids, video_res_masks [num_objects, 1, H, W])`` per frame; ``progress``
        False draws no "propagate in video" bar."""
        state = inference_state
        self.propagate_in_video_preflight(state)
        order = self._processing_order(state, start_frame_idx, max_frame_num_to_track, reverse)
        obj_ids = state.obj_ids
        step = -1 if reverse else 1
        for track in state.tracks.values():  # memory hypotheses restart with each propagation
            track.bank.hypotheses.clear()
        state.last_propagation = list(order)
        state.propagating = True
        try:
            # disable= only when asked: otherwise tqdm's TQDM_* variables keep applying
            bar_options = {} if progress else {"disable": True}
            for frame_idx in tqdm(order, desc="propagate in video", **bar_options):
                state.frames.prefetch(frame_idx + step * k for k in range(1, PREFETCH_AHEAD + 1))
                low_res = self.tracker.track_frame(state, frame_idx, reverse)
                yield frame_idx, obj_ids, self.tracker.to_video_res(state, list(low_res.split(1)))
        finally:
            state.propagating = False

    def revises_outputs(self, inference_state: InferenceState) -> bool:
        """Whether the final outputs of a propagation may differ from what it yielded: the
        memory policy keeps several hypotheses per object (SAM2Long), whose best one at the
        end may descend from another branch than the one yielded on an earlier frame."""
        policy = inference_state.policy
        return policy is not None and policy.keeps_hypotheses

    def final_outputs(self, inference_state: InferenceState
                      ) -> Iterator[Tuple[int, List[int], torch.Tensor]]:
        """``(frame_idx, obj_ids, video_res_masks [num_objects, 1, H, W])`` for every frame of
        the last propagation, with each object's final prediction: the history of its best
        memory hypothesis (policies with hypotheses, see :mod:`sam2.video.memory.hypotheses`), else
        what its memory holds (:data:`MISSING_OBJECT_LOGIT` where nothing is kept). Write
        these instead of the yielded masks when :meth:`revises_outputs` says so."""
        state = inference_state
        histories = [t.bank.hypotheses.history() for t in state.tracks.values()]
        for frame_idx in state.last_propagation:
            rows = []
            for track, history in zip(state.tracks.values(), histories):
                mask = history.get(frame_idx)
                if mask is None:
                    out = track.bank.get(frame_idx)
                    mask = None if out is None else out.pred_masks
                rows.append(mask)
            yield frame_idx, state.obj_ids, self.tracker.to_video_res(state, rows)

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
        track.pending.discard(frame_idx)
        if track.bank.demote(frame_idx) is not None:
            track.tracked.pop(frame_idx, None)
        if not need_output:
            return None
        return frame_idx, state.obj_ids, self.tracker.frame_result(state, frame_idx)

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
                updated.append((frame_idx, self.tracker.frame_result(state, frame_idx)))
        return state.obj_ids, updated

    @classmethod
    def from_pretrained(cls, model_id: str, **kwargs) -> "SAM2VideoPredictor":
        """Load an official model by its Hugging Face id (e.g. ``"facebook/sam2.1-hiera-large"``);
        needs the ``hub`` extra. ``**kwargs`` as in ``build_sam2_video_predictor``."""
        from sam2.build_sam import build_sam2_video_predictor_hf

        return build_sam2_video_predictor_hf(model_id, **kwargs)


def __getattr__(name: str):
    # ``SAM2VideoPredictorVOS`` lives in its own module (which imports this one); it stays
    # importable from here, where the official package has it.
    if name == "SAM2VideoPredictorVOS":
        from sam2.sam2_video_predictor_vos import SAM2VideoPredictorVOS

        return SAM2VideoPredictorVOS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
