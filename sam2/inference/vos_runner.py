"""Inference of one video of a MOSEv2-style split with a SAM2 video predictor.

Three prompt modes (the baseline tool's):

* default: every object of the first annotated frame is added with ``add_new_mask`` on that
  frame, all objects are tracked in one inference state;
* ``use_all_masks``: every annotated frame is a prompt (an object absent from the first annotated
  frame is an error that names the file and suggests ``track_object_appearing_later_in_video``);
* ``track_object_appearing_later_in_video``: each object gets its own propagation from its first
  annotated appearance (its earlier frames score :data:`~sam2.inference.masks.NOT_STARTED_LOGIT`).

Every frame of the video gets an output (frames before the first prompt are empty); a frame the
predictor did not produce is an error, never silently blank.
"""
from __future__ import annotations

import contextlib
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator, Optional, Protocol, Sequence

import numpy as np
import torch

from sam2.data.mose_layout import DataFormatError, MoseSplit, write_palette_png
from sam2.inference.masks import NOT_STARTED_LOGIT, LabelAccumulator, check_object_ids, resolve_labels
from sam2.inference.per_object_prompts import object_folders, read_per_object_prompts
from sam2.inference.prompt_records import RunnerSettings, VideoPrompts

logger = logging.getLogger(__name__)

ProgressFn = Callable[[float], None]


class VideoPredictorLike(Protocol):
    """The part of ``SAM2VideoPredictor``'s public API this runner uses (plus, when present,
    ``revises_outputs(state)`` / ``final_outputs(state)``: see :func:`_propagated`)."""

    def init_state(self, video_path: str, **kwargs: Any) -> Any: ...

    def add_new_mask(self, inference_state: Any, frame_idx: int, obj_id: int, mask: Any) -> Any: ...

    def propagate_in_video(
        self, inference_state: Any, start_frame_idx: Optional[int] = None, max_frame_num_to_track: Optional[int] = None,
        reverse: bool = False, *, progress: bool = True,
    ) -> Iterator[tuple[int, Sequence[int], torch.Tensor]]: ...

    def reset_state(self, inference_state: Any) -> None: ...


def read_prompts(split: MoseSplit, video: str, settings: RunnerSettings) -> VideoPrompts:
    """Collect the prompt masks of ``video`` for the chosen mode (see the module docstring).

    Raises:
        DataFormatError: no annotation, an unreadable / non-palette / wrong-size PNG, no object in the
            first annotated frame, or (``use_all_masks`` in the joint mode) an object that appears later.

    A video annotated per object (``<ann>/<video>/<obj_id:03d>/<frame>.png``, the SA-V layout) is
    read by :func:`sam2.inference.per_object_prompts.read_per_object_prompts`.
    """
    if object_folders(split, video):
        return read_per_object_prompts(split, video, settings)
    frame_names = split.frames(video)
    height, width = split.frame_size(video)
    position = {name: idx for idx, name in enumerate(frame_names)}
    annotated = split.annotated_frames(video)
    if not annotated:
        raise DataFormatError(split.annotation_path(video, frame_names[0]).parent, "no annotation PNG for this video")
    for name in annotated:
        if name not in position:
            raise DataFormatError(split.annotation_path(video, name), "annotation has no matching frame")
    read_all = settings.use_all_masks or settings.track_object_appearing_later_in_video
    names = annotated if read_all else annotated[:1]
    prompts = VideoPrompts(frame_names, height, width, split.read_palette(video, annotated[0]))
    for name in names:
        ids = split.read_annotation(video, name)
        found = [int(v) for v in np.unique(ids) if v != 0]
        check_object_ids(found, str(split.annotation_path(video, name)))
        frame_idx = position[name]
        for obj_id in found:
            is_new = obj_id not in prompts.start
            if is_new and name != names[0] and not settings.track_object_appearing_later_in_video:
                raise DataFormatError(
                    split.annotation_path(video, name),
                    f"object {obj_id} first appears here, after the first annotated frame; "
                    "use --track_object_appearing_later_in_video to track it",
                )
            if not is_new and not settings.use_all_masks:
                continue  # separate-object mode without use_all_masks: first appearance only
            prompts.start.setdefault(obj_id, frame_idx)
            prompts.masks.setdefault(frame_idx, {})[obj_id] = ids == obj_id
    if not prompts.start:
        raise DataFormatError(split.annotation_path(video, names[0]), "annotation holds no object (all pixels are 0)")
    return prompts


class _OutputWriter:
    """Writes palette PNGs into a (temporary) video folder in either output layout."""

    def __init__(self, folder: Path, prompts: VideoPrompts, per_obj_png_file: bool) -> None:
        self.folder = Path(folder)
        self.prompts = prompts
        self.per_obj = per_obj_png_file
        self.written: set[int] = set()

    def labels(self, frame_idx: int, labels: np.ndarray) -> None:
        name = self.prompts.frame_names[frame_idx]
        write_palette_png(self.folder / f"{name}.png", labels, self.prompts.palette)
        self.written.add(frame_idx)

    def object_mask(self, frame_idx: int, obj_id: int, mask: np.ndarray) -> None:
        name = self.prompts.frame_names[frame_idx]
        write_palette_png(self.folder / f"{obj_id:03d}" / f"{name}.png", mask.astype(np.uint8), self.prompts.palette)

    def empty_frame(self, frame_idx: int) -> None:
        blank = np.zeros((self.prompts.height, self.prompts.width), dtype=np.uint8)
        if self.per_obj:
            for obj_id in self.prompts.object_ids:
                self.object_mask(frame_idx, obj_id, blank)
            self.written.add(frame_idx)
        else:
            self.labels(frame_idx, blank)


def _check_logits(video: str, frame_idx: int, logits: torch.Tensor, obj_ids: Sequence[int], prompts: VideoPrompts) -> None:
    expected = (len(obj_ids), 1, prompts.height, prompts.width)
    if tuple(logits.shape) != expected:
        raise RuntimeError(
            f"video {video!r} frame {frame_idx}: predictor returned masks of shape {tuple(logits.shape)}, expected {expected}"
        )


def _require_frames(video: str, produced: set[int], wanted: range) -> None:
    missing = [idx for idx in wanted if idx not in produced]
    if missing:
        raise RuntimeError(f"video {video!r}: the predictor produced no output for frame(s) {missing[:10]}")


@dataclass
class VideoOutcome:
    """What :func:`run_video` produced: the frame count and, when the predictor keeps one, the per-object
    policy record (RCMS: ``{obj_id: [{"trigger_frame", "promoted_frames", "qualities"}, ...]}``)."""

    num_frames: int
    policy_records: Optional[dict[int, list[dict]]] = None


def _collect_records(state: Any, into: dict[int, list[dict]], only_obj: Optional[int] = None) -> None:
    getter = getattr(state, "policy_records", None)
    if not callable(getter):
        return
    for obj_id, events in getter().items():
        if only_obj is None or int(obj_id) == only_obj:
            into[int(obj_id)] = list(events)


def _add_prompts(predictor: VideoPredictorLike, state: Any, prompts: VideoPrompts, only_obj: Optional[int]) -> None:
    for frame_idx in sorted(prompts.masks):
        for obj_id, mask in sorted(prompts.masks[frame_idx].items()):
            if only_obj is None or obj_id == only_obj:
                predictor.add_new_mask(state, frame_idx, obj_id, torch.from_numpy(mask))


def _propagated(predictor: VideoPredictorLike, state: Any, start: int, tick: ProgressFn, share: float = 1.0):
    """``propagate_in_video`` from ``start`` forward, yielding what to write per frame.

    A predictor whose final outputs may differ from what it yielded (a memory policy with
    several hypotheses per object, SAM2Long: the best pathway at the end of the video) is run
    to the end first; then its final outputs (``predictor.final_outputs``) are yielded."""
    revises = getattr(predictor, "revises_outputs", None)
    # the worker draws its own bar over all videos: none per propagation
    frames = predictor.propagate_in_video(state, start_frame_idx=start, reverse=False, progress=False)
    if revises is None or not revises(state):
        yield from frames
        return
    for _ in frames:
        tick(share / 2)
    for item in predictor.final_outputs(state):
        yield item
        tick(share / 2)


def run_video(
    predictor: VideoPredictorLike,
    split: MoseSplit,
    video: str,
    out_folder: Path,
    settings: RunnerSettings,
    progress: Optional[ProgressFn] = None,
    autocast: Optional[Callable[[], ContextManager[Any]]] = None,
) -> VideoOutcome:
    """Segment every frame of ``video`` and write its PNGs into ``out_folder``.

    Args:
        predictor: a video predictor (``SAM2VideoPredictor`` or anything with its API).
        split: the split reader (frames under ``image_root/<video>``, prompts under ``ann_root/<video>``).
        video: the video name.
        out_folder: an existing (temporary) folder receiving ``<frame>.png`` or ``<obj:03d>/<frame>.png``.
        settings: prompt mode, threshold and output layout.
        progress: called with the number of frames (possibly fractional) just processed.
        autocast: factory of the context to run the model in (e.g. bf16 autocast on CUDA).
    """
    prompts = read_prompts(split, video, settings)
    writer = _OutputWriter(out_folder, prompts, settings.per_obj_png_file)
    amp = autocast if autocast is not None else contextlib.nullcontext
    tick = progress if progress is not None else (lambda _n: None)
    records: dict[int, list[dict]] = {}
    with torch.inference_mode(), amp():
        state = predictor.init_state(video_path=str(split.image_root / video))
        try:
            if settings.track_object_appearing_later_in_video:
                _run_each_object(predictor, state, video, prompts, settings, writer, tick, Path(out_folder), records)
            else:
                _run_all_objects(predictor, state, video, prompts, settings, writer, tick)
                _collect_records(state, records)
        finally:
            predictor.reset_state(state)
    _require_frames(video, writer.written, range(len(prompts.frame_names)))
    has_records = callable(getattr(state, "policy_records", None))
    return VideoOutcome(len(prompts.frame_names), records if has_records else None)


def _run_all_objects(
    predictor: VideoPredictorLike, state: Any, video: str, prompts: VideoPrompts, settings: RunnerSettings,
    writer: _OutputWriter, tick: ProgressFn,
) -> None:
    first = min(prompts.masks)
    _add_prompts(predictor, state, prompts, only_obj=None)
    for frame_idx in range(first):
        writer.empty_frame(frame_idx)
        tick(1)
    revises = bool(getattr(predictor, "revises_outputs", lambda _s: False)(state))
    for frame_idx, obj_ids, logits in _propagated(predictor, state, first, tick):
        ids = [int(o) for o in obj_ids]
        _check_logits(video, frame_idx, logits, ids, prompts)
        if settings.per_obj_png_file:
            covered = (logits[:, 0] > settings.score_thresh).cpu().numpy()
            for i, obj_id in enumerate(ids):
                writer.object_mask(frame_idx, obj_id, covered[i])
            writer.written.add(frame_idx)
        else:
            writer.labels(frame_idx, resolve_labels(logits, ids, settings.score_thresh))
        if not revises:
            tick(1)


def _run_each_object(
    predictor: VideoPredictorLike, state: Any, video: str, prompts: VideoPrompts, settings: RunnerSettings,
    writer: _OutputWriter, tick: ProgressFn, out_folder: Path, records: dict[int, list[dict]],
) -> None:
    num_frames = len(prompts.frame_names)
    obj_ids = prompts.object_ids
    share: float = 1 if len(obj_ids) == 1 else 1.0 / len(obj_ids)
    # scratch next to (not inside) the output folder; its ".partial-" prefix marks it for clean-up
    with tempfile.TemporaryDirectory(prefix=".partial-scratch-", dir=out_folder.parent) as scratch:
        acc = None
        if not settings.per_obj_png_file:
            acc = LabelAccumulator(num_frames, prompts.height, prompts.width, settings.score_thresh, Path(scratch))
        for n, obj_id in enumerate(obj_ids):
            if n > 0:
                predictor.reset_state(state)
            start = prompts.start[obj_id]
            _add_prompts(predictor, state, prompts, only_obj=obj_id)
            produced: set[int] = set()
            for frame_idx in range(start):
                if acc is not None:
                    acc.add_constant(frame_idx, obj_id, NOT_STARTED_LOGIT)
                else:
                    writer.object_mask(frame_idx, obj_id, np.zeros((prompts.height, prompts.width), dtype=bool))
                produced.add(frame_idx)
                tick(share)
            revises = bool(getattr(predictor, "revises_outputs", lambda _s: False)(state))
            for frame_idx, out_ids, logits in _propagated(predictor, state, start, tick, share):
                ids = [int(o) for o in out_ids]
                if ids != [obj_id]:
                    raise RuntimeError(f"video {video!r}: expected outputs for object {obj_id} only, got objects {ids}")
                _check_logits(video, frame_idx, logits, ids, prompts)
                if acc is not None:
                    acc.add(frame_idx, obj_id, logits[0, 0])
                else:
                    writer.object_mask(frame_idx, obj_id, (logits[0, 0] > settings.score_thresh).cpu().numpy())
                produced.add(frame_idx)
                if not revises:
                    tick(share)
            _require_frames(f"{video}' object '{obj_id}", produced, range(num_frames))
            _collect_records(state, records, only_obj=obj_id)
        for frame_idx in range(num_frames):
            if acc is not None:
                writer.labels(frame_idx, acc.labels(frame_idx))
            else:
                writer.written.add(frame_idx)
        del acc
