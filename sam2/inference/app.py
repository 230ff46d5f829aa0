"""A whole inference run: plan (list, skip complete, balance), launch workers, verify, summarise, zip.

Honesty rules: a video counts as done only if its final folder holds every frame after the run
(checked on disk, whatever the workers reported); a video whose worker died is failed; the zip is
written only when no video failed. Each video is seeded the same way wherever it runs, so the output
does not depend on the number of workers (on CPU, bitwise so for a fixed per-worker thread count,
e.g. ``OMP_NUM_THREADS=1``: floating-point sums depend on how many threads split them).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import torch
import torch.distributed as dist

from sam2.utils.atomic_files import atomic_write_bytes
from sam2.inference import launcher
from sam2.inference.options import InferenceOptions, VideoResult, WorkerReport
from sam2.inference.sharding import balance_by_frames
from sam2.inference.submission import remove_stale_partials, video_output_complete, write_submission_zip
from sam2.inference.worker import PredictorFactory, default_cpu_threads, describe_error, open_split, run_worker
from sam2.utils.output_lock import OutputLock

logger = logging.getLogger(__name__)


@dataclass
class RunPlan:
    """What to do: every listed video, which are already complete, and each worker's share."""

    videos: list[str]
    frame_names: dict[str, list[str]]
    early_results: list[VideoResult]  # skipped (complete) or failed before running (cannot list frames)
    shards: list[list[tuple[str, int]]]


@dataclass
class RunSummary:
    """Outcome of a run, one result per listed video (in listing order)."""

    results: list[VideoResult]
    seconds: float
    zip_path: Optional[Path] = None
    primary: bool = True  # False on non-zero torchrun ranks (rank 0 prints the summary)
    exit_code_override: Optional[int] = None

    @property
    def failed(self) -> list[VideoResult]:
        return [r for r in self.results if r.failed]

    @property
    def done(self) -> list[VideoResult]:
        return [r for r in self.results if r.status == "done"]

    @property
    def skipped(self) -> list[VideoResult]:
        return [r for r in self.results if r.status == "skipped"]

    @property
    def frames_processed(self) -> int:
        return sum(r.num_frames for r in self.done)

    @property
    def frames_per_second(self) -> float:
        return self.frames_processed / self.seconds if self.seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        if self.exit_code_override is not None:
            return self.exit_code_override
        return 1 if self.failed else 0

    def final_line(self) -> str:
        complete = len(self.done) + len(self.skipped)
        return (
            f"videos done: {complete}/{len(self.results)} ({len(self.done)} run, {len(self.skipped)} already complete), "
            f"{self.frames_processed} frames in {self.seconds:.1f}s = {self.frames_per_second:.2f} frames/s, "
            f"failures: {len(self.failed)}"
        )

    def failure_lines(self) -> list[str]:
        return [f"FAILED {r.name} (worker {r.rank}): {r.error}" for r in self.failed]


def make_plan(options: InferenceOptions, world_size: int) -> RunPlan:
    """List the split, set aside complete videos and unlistable ones, balance the rest over workers."""
    split = open_split(options)
    videos = split.videos()
    if not videos:
        raise FileNotFoundError(f"no videos found under {options.base_video_dir}")
    early: list[VideoResult] = []
    pending: dict[str, int] = {}
    names: dict[str, list[str]] = {}
    for video in videos:
        try:
            names[video] = split.frames(video)
        except Exception as exc:
            early.append(VideoResult(video, "failed", error=describe_error(exc)))
            continue
        if options.skip_complete and video_output_complete(
            options.output_mask_dir, video, names[video], options.per_obj_png_file
        ):
            early.append(VideoResult(video, "skipped", len(names[video])))
        else:
            pending[video] = len(names[video])
    shards = [[(v, pending[v]) for v in shard] for shard in balance_by_frames(pending, world_size)]
    return RunPlan(videos=videos, frame_names=names, early_results=early, shards=shards)


def _merge(plan: RunPlan, reports: list[WorkerReport], options: InferenceOptions, crash: Optional[str]) -> list[VideoResult]:
    """One result per video; a claim of "done" is checked on disk, a video without a report failed."""
    by_name = {r.name: r for r in plan.early_results}
    for report in reports:
        for result in report.results:
            by_name[result.name] = result
    merged: list[VideoResult] = []
    for video in plan.videos:
        result = by_name.get(video)
        on_disk = video in plan.frame_names and video_output_complete(
            options.output_mask_dir, video, plan.frame_names[video], options.per_obj_png_file
        )
        if result is None:
            rank = next((i for i, shard in enumerate(plan.shards) if any(v == video for v, _ in shard)), 0)
            count = len(plan.frame_names.get(video, []))
            result = (
                VideoResult(video, "done", count, rank=rank)
                if on_disk
                else VideoResult(video, "failed", count, error=f"worker {rank} stopped before finishing it ({crash})", rank=rank)
            )
        elif not result.failed and not on_disk:
            result = dataclasses.replace(result, status="failed", error="output folder incomplete on disk after the run")
        merged.append(result)
    return merged


def _finish(plan: RunPlan, reports: list[WorkerReport], options: InferenceOptions, started: float, crash: Optional[str]) -> RunSummary:
    summary = RunSummary(_merge(plan, reports, options, crash), time.perf_counter() - started)
    for line in summary.failure_lines():
        logger.error(line)
    if options.zip_path is not None:
        if summary.failed:
            logger.error("zip %s not written: %d video(s) failed", options.zip_path, len(summary.failed))
        else:
            count = write_submission_zip(options.output_mask_dir, plan.videos, options.zip_path)
            summary.zip_path = Path(options.zip_path)
            logger.info("wrote %s (%d files, %d videos)", options.zip_path, count, len(plan.videos))
    return summary


@contextlib.contextmanager
def _cpu_threads(count: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(count)``, restoring the caller's setting after.

    Every worker pins its thread count explicitly: ``torch.set_num_threads`` also sets MKL's, which
    otherwise follows an inherited ``MKL_NUM_THREADS`` and changes the float sums (and so the masks)
    of an in-process run compared with a spawned worker's.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ------------------------------------------------------------------------------------------------
# Worker entry points
# ------------------------------------------------------------------------------------------------
def _report_to_json(reports: list[WorkerReport]) -> bytes:
    return json.dumps([dataclasses.asdict(r) for r in reports]).encode("utf-8")


def _report_from_json(payload: bytes) -> list[WorkerReport]:
    items = json.loads(payload.decode("utf-8"))
    return [
        WorkerReport(rank=i["rank"], results=[VideoResult(**r) for r in i["results"]], fatal_error=i["fatal_error"])
        for i in items
    ]


def _spawned_worker(
    rank: int,
    layout: launcher.WorkerLayout,
    init_method: str,
    shards: list[list[tuple[str, int]]],
    options: InferenceOptions,
    report_path: str,
    log_level: int,
    factory: Optional[PredictorFactory],
) -> None:
    """Body of one locally spawned worker process; rank 0 gathers every report into ``report_path``."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=log_level, format=f"%(asctime)s [worker {rank}] %(levelname)s %(name)s: %(message)s")
    device = layout.device(rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    torch.set_num_threads(default_cpu_threads(layout.world_size))
    launcher.init_process_group(layout.backend, rank, layout.world_size, init_method)
    try:
        report = run_worker(rank, shards[rank], options, device, factory)
        gathered: Optional[list[Optional[WorkerReport]]] = [None] * layout.world_size if rank == 0 else None
        dist.gather_object(report, gathered, dst=0)
        if rank == 0:
            assert gathered is not None
            atomic_write_bytes(report_path, _report_to_json([r for r in gathered if r is not None]))
    finally:
        dist.destroy_process_group()


def _run_local(options: InferenceOptions, factory: Optional[PredictorFactory], started: float) -> RunSummary:
    layout = launcher.choose_layout(options.num_gpus, options.num_workers)
    with OutputLock(options.output_mask_dir, "sam2 VOS inference"):
        return _run_local_locked(options, factory, started, layout)


def _run_local_locked(options: InferenceOptions, factory: Optional[PredictorFactory], started: float,
                      layout: launcher.WorkerLayout) -> RunSummary:
    remove_stale_partials(options.output_mask_dir)
    plan = make_plan(options, layout.world_size)
    pending = sum(len(s) for s in plan.shards)
    logger.info(
        "%d video(s): %d to run on %d %s worker(s), %d already complete",
        len(plan.videos), pending, layout.world_size, layout.device_type,
        sum(r.status == "skipped" for r in plan.early_results),
    )
    if pending == 0:
        return _finish(plan, [], options, started, None)
    if layout.world_size == 1:
        if layout.device_type == "cuda":
            torch.cuda.set_device(layout.device(0))
        with _cpu_threads(default_cpu_threads(1)):  # the same pinning as a spawned worker's
            report = run_worker(0, plan.shards[0], options, layout.device(0), factory)
        return _finish(plan, [report], options, started, None)
    crash: Optional[str] = None
    reports: list[WorkerReport] = []
    with tempfile.TemporaryDirectory(prefix="vos_inference_") as scratch:
        report_path = str(Path(scratch) / "reports.json")
        init_method = f"tcp://127.0.0.1:{launcher.find_free_port()}"
        args = (layout, init_method, plan.shards, options, report_path, logging.getLogger().getEffectiveLevel(), factory)
        try:
            launcher.spawn(_spawned_worker, layout.world_size, args)
        except Exception as exc:  # a worker process died: what it finished is on disk, the rest failed
            crash = describe_error(exc)
            logger.error("a worker process failed: %s", crash)
        if Path(report_path).is_file():
            reports = _report_from_json(Path(report_path).read_bytes())
    return _finish(plan, reports, options, started, crash or "worker process ended without a report")


def _run_torchrun(options: InferenceOptions, env: launcher.TorchrunEnv, factory: Optional[PredictorFactory], started: float) -> RunSummary:
    use_cuda = launcher.cuda_device_count() > 0 and options.num_gpus != 0
    backend = "nccl" if use_cuda else "gloo"
    device = torch.device("cuda", env.local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    else:
        local_workers = int(os.environ.get("LOCAL_WORLD_SIZE", env.world_size) or env.world_size)
        torch.set_num_threads(default_cpu_threads(local_workers))  # pinned like a spawned worker
    dist.init_process_group(backend=backend, init_method="env://", timeout=launcher.COLLECTIVE_TIMEOUT)
    lock = OutputLock(options.output_mask_dir, "sam2 VOS inference (torchrun)")
    try:
        box: list[object] = [None]
        if env.rank == 0:
            try:  # rank 0 holds the output folder for the whole launch
                lock.acquire()
                remove_stale_partials(options.output_mask_dir)
                box[0] = make_plan(options, env.world_size)
            except Exception as exc:  # every rank must learn that the run cannot start
                box[0] = exc
        dist.broadcast_object_list(box, src=0)
        if isinstance(box[0], Exception):
            raise box[0]
        plan = box[0]
        assert isinstance(plan, RunPlan)
        report = run_worker(env.rank, plan.shards[env.rank], options, device, factory)
        gathered: Optional[list[Optional[WorkerReport]]] = [None] * env.world_size if env.rank == 0 else None
        dist.gather_object(report, gathered, dst=0)
        summary: Optional[RunSummary] = None
        if env.rank == 0:
            assert gathered is not None
            summary = _finish(plan, [r for r in gathered if r is not None], options, started, None)
        code: list[int] = [summary.exit_code if summary is not None else 0]
        dist.broadcast_object_list(code, src=0)
    finally:
        lock.release()
        dist.destroy_process_group()
    if summary is not None:
        return summary
    return RunSummary(results=report.results, seconds=time.perf_counter() - started, primary=False, exit_code_override=code[0])


def run_inference(options: InferenceOptions, predictor_factory: Optional[PredictorFactory] = None) -> RunSummary:
    """Run the whole split described by ``options``; never raises for a bad video (see the summary).

    Before any work: the paths are checked (:meth:`InferenceOptions.check`: outputs apart from
    inputs) and the output folder is locked (:class:`~sam2.utils.output_lock.OutputLock`: a
    second run on the same folder raises :class:`~sam2.utils.output_lock.OutputLockedError`).

    Args:
        options: the tool's settings.
        predictor_factory: builds the predictor in each worker (default: ``build_sam2_video_predictor``
            with the options); must be picklable (a module-level function) for multi-process runs.
    """
    started = time.perf_counter()
    options.check()
    Path(options.output_mask_dir).mkdir(parents=True, exist_ok=True)
    env = launcher.torchrun_env()
    if env is not None and env.world_size > 1:
        return _run_torchrun(options, env, predictor_factory, started)
    return _run_local(options, predictor_factory, started)
