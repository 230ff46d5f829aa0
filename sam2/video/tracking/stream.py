"""Streaming: track live frames as they arrive, with no video length and bounded memory.

Typical use::

    with predictor.open_stream(first_frame) as stream:      # HxWx3 uint8, PIL or tensor
        stream.add_points(obj_id=1, points=[[210, 350]], labels=[1])
        for frame in camera:
            result = stream.push(frame)                        # every object's mask at once
            result.obj_ids, result.logits                      # [O, 1, H, W] float32 logits

A :class:`VideoStream` wraps one :class:`~sam2.video.tracking.state.InferenceState` whose frame source
(:class:`LiveFrameSlot`) holds **only the current frame** and whose length is unknown
(``num_frames=None``). Each :meth:`VideoStream.push` runs the video predictor's own per-frame
step (``track_frame``) on the new frame, so the memory bank's eviction, RCMS and every memory
policy behave exactly as in ``propagate_in_video``; pushing a video's frames one by one gives
the masks of a forward ``propagate_in_video`` from the first frame (tested to 1e-5).

Prompts (points, box, mask) go to the **current** frame, for new objects (from that frame
on) or as corrections, at any time; a prompt naming another frame is refused. Between
pushes the stream keeps: the current frame (model input), its image features, each object's
memory bank (bounded by eviction), and for each object the prompts and tracking bookkeeping
of the frames its memory can still read; nothing that grows with the number of pushed frames.

What a stream cannot do, by construction: track an object on frames before its first prompt
(the offline predictor tracks such frames backwards from the prompt). The offline predictor
clips the object-pointer window (``max_obj_ptrs_in_encoder``, 16 frames for SAM 2.1) to the
video length; a stream of a video shorter than that gives the offline masks only when told
its length (``num_frames``, e.g. a file whose end is in sight).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from sam2.utils.prompt_checks import check_integer
from sam2.video.sources.frame_source import FrameReadError, FrameSource, _normalise_uint8, resize_for_model
from sam2.video.sources.live_sources import CorruptFrameError, LiveFrame, as_rgb_uint8
from sam2.video.tracking.state import InferenceState

logger = logging.getLogger(__name__)

ArrayLike = Union[torch.Tensor, np.ndarray, Sequence]


class StreamClosedError(RuntimeError):
    """The stream was closed; the message says after which frame."""


class StreamFrameError(ValueError):
    """A pushed frame is not an image, or its size differs from the first frame's."""


class StreamPromptError(ValueError):
    """A prompt names a frame other than the stream's current frame."""


@dataclass(frozen=True)
class StreamMasks:
    """Every object's mask on one frame of a stream.

    Attributes:
        frame_idx: the frame's position in the stream (0 = the first frame).
        obj_ids: object ids, in the order objects were added.
        logits: ``[O, 1, H, W]`` float32 mask logits at the frame's size (``> 0``: object).

    Unpacks like the items of ``propagate_in_video``:
    ``frame_idx, obj_ids, logits = stream.push(frame)``.
    """

    frame_idx: int
    obj_ids: List[int]
    logits: torch.Tensor

    def __iter__(self) -> Iterator[Any]:
        return iter((self.frame_idx, self.obj_ids, self.logits))

    @property
    def masks(self) -> torch.Tensor:
        """``[O, H, W]`` bool masks (``logits > 0``)."""
        return self.logits[:, 0] > 0

    def mask_of(self, obj_id: int) -> torch.Tensor:
        """``[H, W]`` bool mask of ``obj_id``."""
        try:
            row = self.obj_ids.index(obj_id)
        except ValueError:
            raise KeyError(f"frame {self.frame_idx}: unknown object id {obj_id!r}; objects: "
                           f"{self.obj_ids}") from None
        return self.logits[row, 0] > 0


class LiveFrameSlot(FrameSource):
    """A frame source that holds exactly one frame: the stream's current frame.

    The frame is pre-processed by :func:`sam2.video.sources.frame_source.resize_for_model` and
    normalised like every frame source, so a pushed frame gives the same model input as the
    same image read from a folder or a video file.
    """

    def __init__(self, image_size: int, device: torch.device) -> None:
        self.num_frames = 0
        self.video_width = self.video_height = 0
        super().__init__(image_size, device, cache_size=1, prefetch=False)
        self.index: Optional[int] = None
        self._frame: Optional[torch.Tensor] = None

    def set(self, index: int, rgb: np.ndarray) -> None:
        """Make ``rgb`` (``[H, W, 3]`` uint8) frame ``index``; the previous frame is released."""
        resized = resize_for_model(rgb, self.image_size)
        self._frame = _normalise_uint8(resized, self._mean, self._std).to(self.device)
        self.index = index
        self.num_frames = index + 1
        self.video_height, self.video_width = rgb.shape[:2]

    def get(self, index: int) -> torch.Tensor:
        if index != self.index or self._frame is None:
            raise FrameReadError(
                f"frame {index} is not held: a stream keeps only its current frame "
                f"({self.index})")
        return self._frame

    def held(self) -> List[int]:
        """Indices of the frames held (at most the current one)."""
        return [] if self._frame is None else [int(self.index)]

    def close(self) -> None:
        super().close()
        self._frame = None


class _StreamState(InferenceState):
    """An inference state whose only valid frame (for prompts) is the current one."""

    def check_frame(self, frame_idx: int) -> int:
        current = self.frames.index
        frame_idx = check_integer(frame_idx, "frame index")
        if frame_idx != current:
            tense = "in the past" if frame_idx < current else "not pushed yet"
            raise StreamPromptError(
                f"frame {frame_idx} is {tense}: a stream takes prompts on its current "
                f"frame ({current}) only")
        return frame_idx


class VideoStream:
    """Live tracking of a stream of frames (see the module docstring).

    Args:
        predictor: a :class:`~sam2.sam2_video_predictor.SAM2VideoPredictor`.
        first_frame: ``[H, W, 3]`` uint8 array, PIL image, or tensor (``[3, H, W]`` or
            ``[H, W, 3]``; float in ``[0, 1]`` or uint8) - frame 0; it fixes the size.
        offload_state_to_cpu: keep the memory banks on the CPU.
        memory_dtype: dtype of stored memory features (``"bfloat16"``, ``"float32"`` or a
            torch dtype; default: the predictor's).
        num_frames: the stream's length when it is known (``None``: unknown). It bounds the
            object-pointer window as in ``propagate_in_video``, which matters for videos
            shorter than ``max_obj_ptrs_in_encoder``; pushing more frames is an error.
    """

    def __init__(self, predictor, first_frame: Any, *, offload_state_to_cpu: bool = False,
                 memory_dtype: Optional[Union[str, torch.dtype]] = None,
                 num_frames: Optional[int] = None) -> None:
        if num_frames is not None and (isinstance(num_frames, bool) or not isinstance(
                num_frames, (int, np.integer)) or num_frames < 1):
            raise ValueError(f"num_frames must be a positive int or None, got {num_frames!r}")
        self.predictor = predictor
        warm_up = getattr(predictor, "warm_up", None)
        if callable(warm_up):  # SAM2VideoPredictorVOS: compile and warm up, as init_state does
            warm_up(1)
        device = predictor.device
        rgb = self._as_rgb(first_frame, "the first frame (frame 0) of the stream")
        height, width = rgb.shape[:2]
        slot = LiveFrameSlot(predictor.image_size, device)
        slot.set(0, rgb)
        self._state: Optional[_StreamState] = predictor.new_inference_state(
            slot, num_frames=None if num_frames is None else int(num_frames),
            video_height=height, video_width=width,
            offload_state_to_cpu=offload_state_to_cpu,
            # a stream never revisits a past frame: memory behind the read window is dropped,
            # not offloaded, so that neither device nor host memory grows with its length
            memory_eviction="drop", memory_dtype=memory_dtype, state_class=_StreamState,
        )
        self._closed_after: Optional[int] = None
        #: prompts were added on the current frame and are not in memory yet
        self._uncommitted = False

    # ------------------------------------------------------------------------------------
    # properties
    # ------------------------------------------------------------------------------------
    @property
    def state(self) -> InferenceState:
        """The underlying inference state (read it, do not prompt through it)."""
        return self._open_state()

    @property
    def frame_idx(self) -> int:
        """The current frame's position in the stream (0 for the first frame)."""
        return int(self._open_state().frames.index)

    @property
    def obj_ids(self) -> List[int]:
        return self._open_state().obj_ids

    @property
    def size(self) -> Tuple[int, int]:
        """``(width, height)`` of the stream's frames."""
        state = self._open_state()
        return state.video_width, state.video_height

    @property
    def closed(self) -> bool:
        return self._state is None

    def held_frames(self) -> List[int]:
        """Frames whose image or image features the stream holds (the current one only)."""
        state = self._open_state()
        return sorted(set(state.frames.held()) | set(state.features._items))

    # ------------------------------------------------------------------------------------
    # prompts (current frame only)
    # ------------------------------------------------------------------------------------
    def add_points(self, obj_id: int, points: ArrayLike, labels: ArrayLike, *,
                   frame_idx: Optional[int] = None, clear_old_points: bool = True,
                   normalize_coords: bool = True) -> StreamMasks:
        """Clicks for ``obj_id`` on the current frame: ``points`` ``[N, 2]`` (x, y in frame
        pixels unless ``normalize_coords=False``), ``labels`` ``[N]`` (1 positive,
        0 negative). A new object starts here; a tracked object is corrected here.
        ``frame_idx`` (optional) must be the current frame.

        Returns:
            every object's mask on the current frame.
        """
        return self._prompt(frame_idx, lambda state, t: self.predictor.add_new_points_or_box(
            state, t, obj_id, points=points, labels=labels, clear_old_points=clear_old_points,
            normalize_coords=normalize_coords))

    def add_box(self, obj_id: int, box: ArrayLike, *, points: Optional[ArrayLike] = None,
                labels: Optional[ArrayLike] = None, frame_idx: Optional[int] = None,
                normalize_coords: bool = True) -> StreamMasks:
        """A box ``[x0, y0, x1, y1]`` (plus optional clicks) for ``obj_id`` on the current frame."""
        return self._prompt(frame_idx, lambda state, t: self.predictor.add_new_points_or_box(
            state, t, obj_id, points=points, labels=labels, box=box,
            normalize_coords=normalize_coords))

    def add_mask(self, obj_id: int, mask: ArrayLike, *,
                 frame_idx: Optional[int] = None) -> StreamMasks:
        """A binary ``[H, W]`` mask (the frame's size) for ``obj_id`` on the current frame."""
        return self._prompt(frame_idx, lambda state, t: self.predictor.add_new_mask(
            state, t, obj_id, mask))

    def remove_object(self, obj_id: int) -> List[int]:
        """Stop tracking ``obj_id`` (its memory is freed). Returns the remaining ids."""
        state = self._open_state()
        state.track(obj_id)  # clear error for an unknown id
        # the object's prompts, pending outputs, memory and policy state all live in its
        # track (the predictor's remove_object also revisits its past prompted frames,
        # which a stream no longer holds)
        del state.tracks[obj_id]
        self._uncommitted = any(t.pending.cond or t.pending.non_cond
                                for t in state.tracks.values())
        return state.obj_ids

    def _prompt(self, frame_idx: Optional[int], run) -> StreamMasks:
        state = self._open_state()
        t = state.frames.index if frame_idx is None else frame_idx
        t = state.check_frame(t)
        _, obj_ids, logits = run(state, t)
        self._uncommitted = True
        return StreamMasks(t, obj_ids, logits)

    # ------------------------------------------------------------------------------------
    # frames
    # ------------------------------------------------------------------------------------
    @staticmethod
    def _as_rgb(frame: Any, where: str) -> np.ndarray:
        try:
            return as_rgb_uint8(frame, where)
        except CorruptFrameError as err:
            raise StreamFrameError(str(err)) from None

    @torch.inference_mode()
    def push(self, frame: Any) -> StreamMasks:
        """Track every object on the next frame and return their masks.

        Args:
            frame: the next frame (same kinds as the first frame, or a
                :class:`~sam2.video.sources.live_sources.LiveFrame`), of the first frame's size.

        Returns:
            :class:`StreamMasks` of the new current frame (no objects: ``logits`` ``[0, 1, H, W]``).

        Raises:
            StreamFrameError: not an image, a size other than the first frame's, or a frame
                past ``num_frames`` (the message names the frame); the stream is unchanged.
            StreamClosedError: the stream is closed.
        """
        state = self._open_state()
        t = state.frames.index + 1
        where = f"frame {t} of the stream"
        if isinstance(frame, LiveFrame):
            where = f"frame {t} of the stream ({frame.where})"
            frame = frame.image
        rgb = self._as_rgb(frame, where)
        if rgb.shape[:2] != (state.video_height, state.video_width):
            raise StreamFrameError(
                f"{where} is {rgb.shape[1]}x{rgb.shape[0]} but the stream's first frame is "
                f"{state.video_width}x{state.video_height}: every frame of a stream must have "
                "the same size")
        if state.num_frames is not None and t >= state.num_frames:
            raise StreamFrameError(
                f"{where}: the stream was opened for {state.num_frames} frames (num_frames)")
        self._commit()
        state.frames.set(t, rgb)
        if not state.tracks:
            empty = torch.empty((0, 1, state.video_height, state.video_width),
                                dtype=torch.float32, device=state.device)
            return StreamMasks(t, [], empty)
        low_res = self.predictor.tracker.track_frame(state, t, reverse=False)
        logits = self.predictor.tracker.to_video_res(state, list(low_res.split(1)))
        self._forget_unreadable(t)
        return StreamMasks(t, state.obj_ids, logits)

    def _commit(self) -> None:
        """Encode the current frame's new prompts into memory (before leaving the frame)."""
        if not self._uncommitted:
            return
        state = self._state
        self.predictor.propagate_in_video_preflight(state)
        current = state.frames.index
        for track in state.tracks.values():
            if current in track.bank.cond:
                # as propagate_in_video does when it passes a prompted frame
                track.tracked[current] = False
                if self.predictor.clear_non_cond_mem_around_input:
                    track.bank.clear_non_cond_around(current)
        self._uncommitted = False

    def _forget_unreadable(self, current: int) -> None:
        """Drop per-frame bookkeeping of frames no future step or prompt can read: tracking
        directions, prompts, and policy host copies of frames older than the read window that
        are no longer in an object's memory."""
        policy = self._state.policy
        for track in self._state.tracks.values():
            reach = track.bank.window.reach
            horizon = current - reach - 1
            for store in (track.tracked, track.point_inputs, track.mask_inputs):
                stale = [k for k in store if k < horizon and k not in track.bank]
                for k in stale:
                    del store[k]
            if policy is not None:
                bank = track.bank
                policy.forget(track.policy_state, lambda t: t < horizon and t not in bank)

    # ------------------------------------------------------------------------------------
    # lifetime
    # ------------------------------------------------------------------------------------
    def _open_state(self) -> _StreamState:
        if self._state is None:
            raise StreamClosedError(
                f"the stream was closed after frame {self._closed_after}; open a new one with "
                "predictor.open_stream(first_frame)")
        return self._state

    def close(self) -> None:
        """Free the stream's frame, features and memory (idempotent)."""
        state = self._state
        if state is None:
            return
        self._closed_after = state.frames.index
        state.tracks.clear()
        state.features.clear()
        state.maskmem_pos_enc = None
        state.frames.close()
        self._state = None

    def __enter__(self) -> "VideoStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._state is None:
            return f"VideoStream(closed after frame {self._closed_after})"
        return (f"VideoStream(frame {self.frame_idx}, {self.size[0]}x{self.size[1]}, "
                f"objects {self.obj_ids})")


def open_stream(predictor, first_frame: Any, **kwargs) -> VideoStream:
    """Open a :class:`VideoStream` on ``predictor`` from its first frame (see the class)."""
    return VideoStream(predictor, first_frame, **kwargs)
