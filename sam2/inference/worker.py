"""One worker's loop: build a predictor, run its videos one by one, isolate each video's failure."""
from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import traceback
from pathlib import Path
from typing import Any, Callable, ContextManager, Optional, Sequence

import torch

from sam2.data.mose_layout import MoseSplit
from sam2.utils.atomic_files import atomic_write_bytes
from sam2.inference.options import InferenceOptions, VideoResult, WorkerReport
from sam2.inference.submission import AtomicVideoDir, video_output_complete
from sam2.inference.prompt_records import RunnerSettings
from sam2.inference.vos_runner import VideoOutcome, VideoPredictorLike, run_video

logger = logging.getLogger(__name__)

PredictorFactory = Callable[[InferenceOptions, torch.device], VideoPredictorLike]


def open_split(options: InferenceOptions) -> MoseSplit:
    """The split reader for the tool's ``--base_video_dir`` / ``--input_mask_dir`` / ``--video_list_file``."""
    return MoseSplit.from_dirs(options.base_video_dir, options.input_mask_dir, video_list_file=options.video_list_file)


NO_PREDICTOR_OVERLAP_RULE = "++model.non_overlap_masks=false"
"""The runner resolves overlaps itself (label layout) or keeps them (per-object layout, as the
baseline does), so the predictor's own output-time rule is switched off whatever the config says."""


def build_predictor(options: InferenceOptions, device: torch.device) -> VideoPredictorLike:
    """``build_sam2_video_predictor`` with the tool's settings (RCMS knobs passed through as given)."""
    from sam2.build_sam import build_sam2_video_predictor  # deferred: the model code is heavy to import

    return build_sam2_video_predictor(
        options.sam2_cfg,
        options.sam2_checkpoint,
        device=device,
        hydra_overrides_extra=[NO_PREDICTOR_OVERLAP_RULE],
        apply_postprocessing=options.apply_postprocessing,
        vos_optimized=options.use_vos_optimized_video_predictor,
        num_prev_frames_to_promote=options.num_prev_frames_to_promote,
        low_quality_threshold=options.low_quality_threshold,
        memory_policy=None if options.memory_policy is None else {
            "name": options.memory_policy, "params": dict(options.policy_opts)},
    )


def autocast_for(device: torch.device) -> Callable[[], ContextManager[Any]]:
    """bf16 autocast on CUDA, plain float32 elsewhere."""
    if device.type == "cuda":
        return lambda: torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext


def describe_error(exc: BaseException) -> str:
    """``"<Type>: <message>"`` on one line (the traceback goes to the log)."""
    text = str(exc).strip().replace("\n", " | ")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _make_progress_bar(options: InferenceOptions, rank: int, total: int) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total,
        position=rank,
        desc=f"worker {rank}",
        unit="frame",
        leave=True,
        dynamic_ncols=True,
        disable=not options.show_progress,
    )


def run_worker(
    rank: int,
    videos: Sequence[tuple[str, int]],
    options: InferenceOptions,
    device: torch.device,
    predictor_factory: Optional[PredictorFactory] = None,
) -> WorkerReport:
    """Run ``videos`` (name, frame count) in order on ``device``; never raises for a bad video.

    Each video is written to a temporary folder and renamed into place only when complete; a video
    whose output is already complete is skipped. Returns one :class:`VideoResult` per video.
    """
    report = WorkerReport(rank=rank)
    factory = predictor_factory if predictor_factory is not None else build_predictor
    try:
        predictor = factory(options, device)
        split = open_split(options)
    except Exception as exc:  # the worker cannot run anything: every video fails with this reason
        logger.error("worker %d could not start: %s\n%s", rank, describe_error(exc), traceback.format_exc())
        report.fatal_error = describe_error(exc)
        report.results = [
            VideoResult(name, "failed", count, error=f"worker {rank} could not start: {report.fatal_error}", rank=rank)
            for name, count in videos
        ]
        return report
    settings = RunnerSettings(
        score_thresh=options.score_thresh,
        use_all_masks=options.use_all_masks,
        per_obj_png_file=options.per_obj_png_file,
        track_object_appearing_later_in_video=options.track_object_appearing_later_in_video,
    )
    amp = autocast_for(device)
    bar = _make_progress_bar(options, rank, sum(count for _, count in videos))
    try:
        for name, count in videos:
            report.results.append(_run_one(predictor, split, name, count, options, settings, amp, bar, rank, device))
    finally:
        bar.close()
    return report


def _run_one(
    predictor: VideoPredictorLike, split: MoseSplit, name: str, count: int, options: InferenceOptions,
    settings: RunnerSettings, amp: Callable[[], ContextManager[Any]], bar: Any, rank: int, device: torch.device,
) -> VideoResult:
    started = time.perf_counter()
    advanced: float = 0

    def tick(n: float) -> None:
        nonlocal advanced
        advanced += n
        bar.update(n)

    try:
        frame_names = split.frames(name)
        if options.skip_complete and video_output_complete(
            options.output_mask_dir, name, frame_names, options.per_obj_png_file
        ):
            bar.update(count)
            return VideoResult(name, "skipped", len(frame_names), rank=rank)
        torch.manual_seed(options.seed)  # same result whichever worker runs the video, in any order
        output = AtomicVideoDir(options.output_mask_dir, name)
        with output as temp:
            outcome = run_video(predictor, split, name, temp, settings, progress=tick, autocast=amp)
            if options.policy_record_dir is not None:
                write_policy_record(Path(options.policy_record_dir), name, outcome)
            output.commit()
        return VideoResult(name, "done", outcome.num_frames, time.perf_counter() - started, rank=rank)
    except Exception as exc:
        logger.error("video %s failed on worker %d: %s\n%s", name, rank, describe_error(exc), traceback.format_exc())
        if isinstance(exc, torch.OutOfMemoryError) and device.type == "cuda":
            torch.cuda.empty_cache()
        remaining = float(max(0.0, count - advanced))
        bar.update(int(remaining) if remaining.is_integer() else remaining)
        return VideoResult(name, "failed", count, time.perf_counter() - started, error=describe_error(exc), rank=rank)


def write_policy_record(folder: Path, video: str, outcome: VideoOutcome) -> Path:
    """Write ``folder/<video>.json`` = ``{"video", "objects": {obj_id: [events]}}`` atomically.

    Raises ``RuntimeError`` when the predictor keeps no policy record (the flag cannot be honoured).
    """
    if outcome.policy_records is None:
        raise RuntimeError("--policy_record_dir: this video predictor keeps no policy record (no state.policy_records())")
    payload = {"video": video, "objects": {str(k): v for k, v in sorted(outcome.policy_records.items())}}
    path = Path(folder) / f"{video}.json"
    atomic_write_bytes(path, json.dumps(payload, indent=1).encode("utf-8"))
    return path


def default_cpu_threads(world_size: int) -> int:
    """Threads per CPU worker: ``OMP_NUM_THREADS`` when set, else the cores split evenly."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, (os.cpu_count() or 1) // max(1, world_size))
