"""Score a prediction folder against MOSEv2-layout ground truth (the library side of
``tools/score.py``).

``evaluate_split(meta, ann_dir, pred_dir, workers=..., allow_missing=...)`` plans one task per
(video, object, chunk of frames) over the evaluated window (frames 1 .. L-2), runs them inline or
in a process pool, merges the chunks per object and aggregates over objects. It raises
:class:`sam2.data.DataFormatError` (naming the file) on bad input; it never exits.

Rules (MOSEv2 reference scorer, with our stricter checks):

* Videos = the folders of ``ann_dir``; each must be in ``meta`` with ``length`` equal to its
  number of GT PNGs. Objects = ``meta``'s ``objects``. Size = ``meta`` height/width, else the
  first GT frame's.
* A ``pred_dir`` holding a single non-hidden folder whose name is not a video is descended into
  (unzipped submissions).
* A video without a prediction folder scores 0 for all its objects (``missing_videos``).
* Prediction PNGs are matched to GT frames by frame number (``00007.png`` = GT ``00007.png``),
  never by position. A missing frame, a wrong size or an unreadable/non-indexed PNG is an error
  naming the file (and, for missing frames, the stray prediction files that match no GT frame),
  unless ``allow_missing``, which scores that frame as an empty prediction and records a
  warning. Stray prediction PNGs beside a complete set are ignored with a warning naming them.
* A prediction PNG holding the value 255 when 255 is not an object of its video is refused
  (it is a 0/255 binary mask; predictions hold object ids 1, 2, ...), even with ``allow_missing``.
* The meta file and the GT must agree: an object id found in a video's evaluated GT frames but
  missing from the meta's ``objects`` is an error (it would silently not be scored), and so
  is a meta object that appears in none of the video's GT frames (it would score 100 for an
  empty prediction). An object absent from the evaluated window but present on the first or
  last frame is legitimate (MOSE protocol) and scored as usual. Meta object ids must be unique
  and in 1..255.
* Videos of 1 or 2 frames have no evaluated frame: their objects score 0 (with a warning) and
  count in the means, as in the reference.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections import OrderedDict
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from sam2.data.mose_layout import DataFormatError, SplitMeta, image_size_of, list_frame_files, read_index_png, read_meta
from sam2.evaluation.aggregate import DatasetScore, aggregate_objects
from sam2.evaluation.measures import frame_score
from sam2.evaluation.segments import ObjectScore, summarize_object

logger = logging.getLogger(__name__)

__all__ = ["ChunkTask", "ChunkResult", "EvaluationResult", "evaluate_split", "resolve_pred_dir", "plan_tasks", "run_chunk"]

DEFAULT_CHUNK_FRAMES = 15


@dataclass(frozen=True)
class ChunkTask:
    """Frames ``[start, end)`` (positions in the video) of one object.

    ``gt_paths`` / ``pred_paths`` hold one entry per frame of the chunk; a ``None`` prediction
    is scored as empty (``allow_missing`` only).
    """

    video: str
    obj_id: int
    start: int
    end: int
    size: tuple[int, int]
    gt_paths: tuple[str, ...]
    pred_paths: tuple[str | None, ...]
    allow_missing: bool = False
    objects: tuple[int, ...] = ()  # the video's meta objects (to recognise 0/255 binary masks)
    collect_ids: bool = False  # report the ids found in the GT frames (one task per video chunk)


@dataclass
class ChunkResult:
    """Per-frame values of one :class:`ChunkTask` (lists of length ``end - start``)."""

    video: str
    obj_id: int
    start: int
    j: list[float]
    f: list[float]
    f_dot: list[float]
    gt_empty: list[bool]
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    gt_ids: list[int] = field(default_factory=list)  # ids in the chunk's GT frames (collect_ids)


@dataclass
class EvaluationResult:
    """Everything the reports need."""

    objects: list[ObjectScore]
    dataset: DatasetScore
    missing_videos: list[str]
    no_eval_frame_videos: list[str]
    warnings: list[str]
    total_time: float
    pred_dir: Path


# ----------------------------------------------------------------------------------------------
# Reading (with a small per-process cache: consecutive tasks of one chunk share frames)
# ----------------------------------------------------------------------------------------------
_CACHE: "OrderedDict[tuple[str, tuple[int, int], bool], np.ndarray]" = OrderedDict()
_CACHE_SIZE = 32


def _load_ids(path: str, size: tuple[int, int], prediction: bool) -> np.ndarray:
    key = (path, size, prediction)
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit
    ids, _ = read_index_png(path, expected_size=size, allow_grayscale=prediction)
    _CACHE[key] = ids
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return ids


def run_chunk(task: ChunkTask) -> ChunkResult:
    """Score one chunk (runs in a worker process or inline)."""
    started = time.perf_counter()
    result = ChunkResult(task.video, task.obj_id, task.start, [], [], [], [])
    empty_pred = np.zeros(task.size, dtype=bool)
    seen = np.zeros(256, dtype=np.int64)
    for gt_path, pred_path in zip(task.gt_paths, task.pred_paths):
        gt_ids = _load_ids(gt_path, task.size, prediction=False)
        if task.collect_ids:
            seen += np.bincount(gt_ids.ravel(), minlength=256)
        gt = gt_ids == task.obj_id
        if pred_path is None:
            pred = empty_pred
        else:
            try:
                pred_ids = _load_ids(pred_path, task.size, prediction=True)
            except DataFormatError as exc:
                if not task.allow_missing:
                    raise
                result.warnings.append(f"{exc} -> scored as an empty prediction (--allow-missing)")
                pred_ids = None
            if pred_ids is None:
                pred = empty_pred
            else:
                _refuse_binary_mask(pred_ids, pred_path, task)
                pred = pred_ids == task.obj_id
        score = frame_score(gt, pred)
        result.j.append(score.j)
        result.f.append(score.f)
        result.f_dot.append(score.f_dot)
        result.gt_empty.append(score.gt_empty)
    result.gt_ids = [int(i) for i in np.flatnonzero(seen)]
    result.seconds = time.perf_counter() - started
    return result


def _refuse_binary_mask(pred_ids: np.ndarray, path: str, task: ChunkTask) -> None:
    if 255 not in task.objects and bool((pred_ids == 255).any()):
        raise DataFormatError(
            path, f"holds the value 255, which is not an object of video {task.video!r} (objects "
            f"{list(task.objects)}): a 0/255 binary mask? Prediction PNGs hold object ids (0 background, 1, 2, ...)")


# ----------------------------------------------------------------------------------------------
# Planning
# ----------------------------------------------------------------------------------------------
def _visible_entries(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if not p.name.startswith(".")]


def resolve_pred_dir(pred_dir: str | os.PathLike, video_names: Sequence[str]) -> Path:
    """``pred_dir``, or its single sub-folder when that is the only entry and not a video name."""
    root = Path(pred_dir)
    if not root.is_dir():
        raise DataFormatError(root, "prediction folder not found")
    entries = _visible_entries(root)
    if len(entries) == 1 and entries[0].is_dir() and entries[0].name not in set(video_names):
        logger.info("descending into the single wrapper folder %s", entries[0])
        return entries[0]
    return root


def _match_predictions(
    video: str, gt_files: list[Path], pred_folder: Path, allow_missing: bool, warnings: list[str]
) -> list[str | None]:
    """Prediction path per GT frame, matched by frame number; None = missing (allow_missing only)."""
    pred_files = list_frame_files(pred_folder, (".png",))
    gt_index = [int(p.stem) for p in gt_files]
    pred_by_index = {int(p.stem): p for p in pred_files}
    gt_set = set(gt_index)
    stray = [p.name for p in pred_files if int(p.stem) not in gt_set]
    missing = [gt_files[k].name for k, i in enumerate(gt_index) if i not in pred_by_index]
    stray_note = f"; stray prediction files matching no GT frame: {_names(stray)}" if stray else ""
    if missing and not allow_missing:
        raise DataFormatError(
            pred_folder / missing[0],
            f"prediction missing for this frame ({len(missing)} of {len(gt_files)} frames of video {video!r} "
            f"missing: {_names(missing)}{stray_note}; frames are matched by number, never by position; "
            "use --allow-missing to score missing frames as empty)",
        )
    if missing:
        warnings.append(f"{pred_folder}: {len(missing)} missing prediction frames scored as empty (--allow-missing): "
                        f"{_names(missing)}")
    if stray:
        warnings.append(f"{pred_folder}: {len(stray)} stray prediction PNGs matching no GT frame ignored: {_names(stray)}")
    return [str(pred_by_index[i]) if i in pred_by_index else None for i in gt_index]


def _names(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


@dataclass
class _Plan:
    tasks: list[ChunkTask]
    objects: dict[tuple[str, int], int]  # (video, obj) -> number of evaluated frames
    order: list[tuple[str, int]]
    missing_videos: list[str]
    no_eval_frame_videos: list[str]
    warnings: list[str]
    end_frames: dict[str, tuple[str, str]] = field(default_factory=dict)  # video -> first, last GT PNG


def plan_tasks(
    meta: SplitMeta,
    ann_dir: Path,
    pred_dir: Path,
    allow_missing: bool = False,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
) -> _Plan:
    """Check the inputs and build the (video, object, chunk) tasks."""
    if not ann_dir.is_dir():
        raise DataFormatError(ann_dir, "GT annotation folder not found")
    videos = sorted(p.name for p in _visible_entries(ann_dir) if p.is_dir())
    where = meta.path or "meta.json"
    plan = _Plan([], {}, [], [], [], [])
    for video in videos:
        if video not in meta.videos:
            raise DataFormatError(where, f"video {video!r} of {ann_dir} is not in the meta file")
        entry = meta.videos[video]
        bad_ids = [o for o in entry.objects if not 1 <= o <= 255]
        if bad_ids:
            raise DataFormatError(where, f"video {video!r}: object ids must be 1..255 (0 is the background), got {bad_ids}")
        repeated = sorted({o for o in entry.objects if entry.objects.count(o) > 1})
        if repeated:
            raise DataFormatError(where, f"video {video!r}: object id(s) {repeated} listed more than once "
                                         "(each would be scored again)")
        gt_files = list_frame_files(ann_dir / video, (".png",))
        if entry.length != len(gt_files):
            raise DataFormatError(where, f"video {video!r}: meta length {entry.length} but {len(gt_files)} GT PNGs in {ann_dir / video}")
        if entry.height is not None and entry.width is not None:
            size = (entry.height, entry.width)
        elif gt_files:
            size = image_size_of(gt_files[0])
        else:
            size = (0, 0)
        for obj_id in entry.objects:
            plan.order.append((video, obj_id))
            plan.objects[(video, obj_id)] = max(0, len(gt_files) - 2)
        if len(gt_files) < 3:
            plan.no_eval_frame_videos.append(video)
            plan.warnings.append(f"video {video!r} has {len(gt_files)} frame(s): no evaluated frame, its objects score 0")
            continue
        pred_folder = pred_dir / video
        if not pred_folder.is_dir():
            plan.missing_videos.append(video)
            continue
        preds = _match_predictions(video, gt_files, pred_folder, allow_missing, plan.warnings)
        plan.end_frames[video] = (str(gt_files[0]), str(gt_files[-1]))
        for start in range(1, len(gt_files) - 1, chunk_frames):
            end = min(start + chunk_frames, len(gt_files) - 1)
            for k, obj_id in enumerate(entry.objects or (0,)):  # 0: no object, still collect the GT ids
                plan.tasks.append(
                    ChunkTask(
                        video=video, obj_id=obj_id, start=start, end=end, size=size,
                        gt_paths=tuple(str(p) for p in gt_files[start:end]),
                        pred_paths=tuple(preds[start:end]), allow_missing=allow_missing,
                        objects=tuple(entry.objects), collect_ids=k == 0,
                    )
                )
    extra = sorted(set(p.name for p in _visible_entries(pred_dir) if p.is_dir()) - set(videos))
    if extra:
        plan.warnings.append(f"{pred_dir}: {len(extra)} prediction folder(s) not in the GT ignored: {', '.join(extra[:10])}")
    return plan


# ----------------------------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------------------------
def _run_tasks(tasks: list[ChunkTask], workers: int, progress: bool) -> list[ChunkResult]:
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(tasks), desc="scoring chunks", unit="chunk")
    results: list[ChunkResult] = []
    _CACHE.clear()  # files may have changed since an earlier run in this process
    try:
        if workers <= 1 or len(tasks) <= 1:
            for task in tasks:
                results.append(run_chunk(task))
                if bar is not None:
                    bar.update(1)
            return results
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            pending = {pool.submit(run_chunk, task) for task in tasks}
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in done:
                    error = future.exception()
                    if error is not None:
                        for other in pending:
                            other.cancel()
                        raise error
                    results.append(future.result())
                    if bar is not None:
                        bar.update(1)
        return results
    finally:
        if bar is not None:
            bar.close()


def _check_meta_against_gt(meta: SplitMeta, ann_root: Path, plan: _Plan, chunks: list[ChunkResult],
                           per_object: dict[tuple[str, int], list[ChunkResult]]) -> None:
    """Refuse GT ids absent from the meta and meta objects absent from every GT frame."""
    where = meta.path or "meta.json"
    seen: dict[str, set[int]] = {}
    for chunk in chunks:
        seen.setdefault(chunk.video, set()).update(chunk.gt_ids)
    for video, ids in seen.items():
        declared = set(meta.videos[video].objects)
        undeclared = sorted(ids - declared - {0})
        if undeclared:
            raise DataFormatError(
                ann_root / video, f"GT object id(s) {undeclared} of video {video!r} are not in the meta file's "
                f"objects {sorted(declared)} ({where}); they would not be scored")
    for (video, obj_id), parts in per_object.items():
        if obj_id == 0 or not all(v for c in parts for v in c.gt_empty):
            continue
        first, last = plan.end_frames[video]
        if any(bool((read_index_png(p)[0] == obj_id).any()) for p in (first, last)):
            continue  # present on the first or last frame only: legitimate
        raise DataFormatError(
            where, f"video {video!r}: object {obj_id} is in the meta file but appears in none of the "
                   f"{meta.videos[video].length} GT frames of {ann_root / video}")


def evaluate_split(
    meta: str | os.PathLike | SplitMeta,
    ann_dir: str | os.PathLike,
    pred_dir: str | os.PathLike,
    workers: int = 1,
    allow_missing: bool = False,
    progress: bool = False,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    on_warning: Callable[[str], None] | None = None,
) -> EvaluationResult:
    """Score ``pred_dir`` against ``ann_dir``.

    Args:
        meta: ``meta.json`` path or a parsed :class:`SplitMeta`.
        ann_dir: GT ``Annotations`` folder (one sub-folder per video).
        pred_dir: prediction folder (one sub-folder per video, one PNG per frame).
        workers: processes (1 = inline).
        allow_missing: score missing/unreadable/wrong-size prediction frames as empty.
        progress: show a tqdm bar.
        chunk_frames: frames per task.
        on_warning: called with each warning (default: ``logger.warning``).

    Returns:
        :class:`EvaluationResult` (per-object scores in GT video order, dataset means, ...).
    """
    started = time.perf_counter()
    meta_obj = meta if isinstance(meta, SplitMeta) else read_meta(meta)
    ann_root = Path(ann_dir)
    video_names = sorted(p.name for p in _visible_entries(ann_root) if p.is_dir()) if ann_root.is_dir() else []
    pred_root = resolve_pred_dir(pred_dir, video_names)
    plan = plan_tasks(meta_obj, ann_root, pred_root, allow_missing=allow_missing, chunk_frames=chunk_frames)
    chunks = _run_tasks(plan.tasks, workers, progress)
    warnings = list(plan.warnings)
    per_object: dict[tuple[str, int], list[ChunkResult]] = {}
    for chunk in chunks:
        per_object.setdefault((chunk.video, chunk.obj_id), []).append(chunk)
        warnings.extend(chunk.warnings)
    _check_meta_against_gt(meta_obj, ann_root, plan, chunks, per_object)
    objects: list[ObjectScore] = []
    missing = set(plan.missing_videos)
    for video, obj_id in plan.order:
        if video in missing:
            objects.append(ObjectScore(video, obj_id, 0.0, 0.0, 0.0, status="missing_video"))
            continue
        parts = sorted(per_object.get((video, obj_id), []), key=lambda c: c.start)
        j = [v for c in parts for v in c.j]
        f = [v for c in parts for v in c.f]
        f_dot = [v for c in parts for v in c.f_dot]
        empty = [v for c in parts for v in c.gt_empty]
        objects.append(summarize_object(video, obj_id, j, f, f_dot, empty))
    if plan.missing_videos:
        warnings.insert(
            0, f"{len(plan.missing_videos)} video(s) missing from the predictions, scored 0: {', '.join(plan.missing_videos)}"
        )
    report = on_warning if on_warning is not None else logger.warning
    for message in warnings:
        report(message)
    total_time = float(sum(c.seconds for c in chunks))
    logger.info("scored %d objects in %.2fs (%d chunk tasks)", len(objects), time.perf_counter() - started, len(chunks))
    return EvaluationResult(
        objects=objects,
        dataset=aggregate_objects(objects),
        missing_videos=list(plan.missing_videos),
        no_eval_frame_videos=list(plan.no_eval_frame_videos),
        warnings=warnings,
        total_time=total_time,
        pred_dir=pred_root,
    )
