"""The demo's stages: a held-out synthetic split, inference with RCMS off and on, scores, pictures.

Everything lands in one output folder::

    OUT/data/              the split (JPEGImages/, Annotations/, meta.json)
    OUT/pred_rcms_off/     inference output with RCMS off (N = 0)
    OUT/pred_rcms_on/      inference output with RCMS on (N = 4 by default)
    OUT/rcms_records/      per video, what RCMS did (trigger and promoted frames)
    OUT/scores_rcms_off/   scorer output (metrics.json, scores.txt, metrics_full.json, per_object.csv)
    OUT/scores_rcms_on/
    OUT/scores_table.txt   the printed table
    OUT/demo.gif, OUT/demo_strip.png   one video, ground truth and both runs overlaid

``OUT`` must be new, empty, or a folder the demo wrote before (it holds the marker file
:data:`DEMO_MARKER`): the demo replaces its own sub-folders above on every run, so it refuses a
folder of other files instead of deleting them. ``OUT`` is locked for the run, and may not hold
or lie inside the checkpoint or the config.

The inference and scoring stages call the same importable code as ``tools/vos_inference_ddp.py``
(:func:`sam2.inference.app.run_inference`) and ``tools/score.py``
(:func:`sam2.evaluation.evaluate_split`, :func:`sam2.evaluation.write_reports`).
"""
from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Tuple

from sam2.demo.assets import DEMO_CONFIG, DEMO_TRAINING_SEED, resolve_checkpoint
from sam2.demo.table import ScoreRow, format_table
from sam2.utils.output_lock import OutputLockedError, claim_and_lock
from sam2.utils.safe_paths import UnsafePathError

logger = logging.getLogger(__name__)

RUN_LABELS = {False: "rcms_off", True: "rcms_on"}

DEMO_MARKER = ".sam2-rcms-demo"
"""Marker file of a held-out demo output folder (the demo reuses and replaces only such folders)."""


class DemoError(RuntimeError):
    """A demo stage failed (the message names the stage and what went wrong)."""


@dataclass(frozen=True)
class DemoSettings:
    """Options of a demo run (the ``tools/demo.py`` flags).

    Attributes:
        output_dir: folder receiving everything: new, empty or one the demo wrote before (the
            demo's own sub-folders are replaced).
        checkpoint: model checkpoint; None = the one shipped in ``sam2/checkpoints``.
        config: model config name or path.
        num_videos, num_frames, height, width: size of the held-out split.
        split: ``"synthetic"`` (procedural videos) or ``"photo"`` (photographic videos made
            only from the held-out photographs, :data:`sam2.data.photo_library.VAL_PHOTOS`).
        seed: seed of the held-out split (must differ from the training split's).
        num_prev_frames_to_promote, low_quality_threshold: RCMS settings of the "on" run;
            ``None`` takes :class:`~sam2.video.policies.rcms.RCMSPolicy`'s published defaults.
        num_workers: CPU inference processes (each gets cores / num_workers threads; two
            single-threaded workers are much faster than one two-threaded one on a busy machine).
        show_progress: tqdm bars.
        pictures: write the GIF and the strip.
        device: ``"auto"`` (one CUDA worker when CUDA is available, else CPU workers), ``"cpu"``
            or a CUDA device name.
    """

    output_dir: Path = Path("demo_output")
    checkpoint: Optional[Path] = None
    config: str = DEMO_CONFIG
    num_videos: int = 8
    num_frames: int = 32
    height: int = 180
    width: int = 240
    split: str = "synthetic"
    seed: int = 0
    num_prev_frames_to_promote: Optional[int] = None
    low_quality_threshold: Optional[float] = None
    num_workers: int = 2
    show_progress: bool = True
    pictures: bool = True
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.num_videos < 1:
            raise ValueError(f"num_videos must be >= 1, got {self.num_videos}")
        if self.num_frames < 3:
            raise ValueError(f"num_frames must be >= 3 (the first and last frames are not scored), got {self.num_frames}")
        if self.split not in ("synthetic", "photo"):
            raise ValueError(f"split must be 'synthetic' or 'photo', got {self.split!r}")
        if self.num_prev_frames_to_promote is not None and self.num_prev_frames_to_promote < 1:
            raise ValueError("num_prev_frames_to_promote must be >= 1 for the RCMS-on run")

    def rcms_on_policy(self) -> dict:
        """The ``memory_policy`` spec of the RCMS-on run: ``rcms`` with the N and tau given
        (unset ones take :class:`~sam2.video.policies.rcms.RCMSPolicy`'s published defaults)."""
        params = {"num_prev_frames_to_promote": self.num_prev_frames_to_promote,
                  "low_quality_threshold": self.low_quality_threshold}
        return {"name": "rcms", "params": {k: v for k, v in params.items() if v is not None}}

    def rcms_on_settings(self) -> Tuple[int, float]:
        """``(N, tau)`` of the RCMS-on run."""
        from sam2.video.policies import resolve_policy

        policy = resolve_policy(self.rcms_on_policy())
        return policy.num_prev_frames_to_promote, policy.low_quality_threshold


@dataclass
class DemoResult:
    """What a demo run produced.

    Attributes:
        rows: table rows (RCMS off, RCMS on) with the dataset metrics (×100).
        table: the rendered table.
        output_dir: the output folder.
        video: the video shown in the pictures (None when pictures are off).
        gif, strip: picture paths (None when pictures are off).
        seconds: wall time per stage.
        evaluations: per run (False = RCMS off, True = on), the scorer's
            :class:`sam2.evaluation.EvaluationResult` (per-object scores, for bootstrap intervals).
    """

    rows: list[ScoreRow]
    table: str
    output_dir: Path
    video: Optional[str] = None
    gif: Optional[Path] = None
    strip: Optional[Path] = None
    seconds: dict[str, float] = field(default_factory=dict)
    evaluations: dict = field(default_factory=dict)

    def metrics(self, rcms_on: bool) -> dict:
        """Dataset metrics of one run."""
        return dict(self.rows[1 if rcms_on else 0].metrics)


def make_heldout_split(settings: DemoSettings) -> Path:
    """Write the held-out synthetic split into ``OUT/data`` (replacing a previous one)."""
    from sam2.data import SyntheticConfig, write_synthetic_split

    if settings.seed == DEMO_TRAINING_SEED:
        logger.warning("seed %d is the demo model's training seed: this split is not held out", settings.seed)
    config = SyntheticConfig(
        num_videos=settings.num_videos,
        num_frames=settings.num_frames,
        height=settings.height,
        width=settings.width,
        seed=settings.seed,
        photographic=1.0 if settings.split == "photo" else 0.0,
        photo_split="val",
    )
    root = Path(settings.output_dir) / "data"
    return write_synthetic_split(root, config, overwrite=True, progress=settings.show_progress)


def _inference_device_args(device: str) -> dict:
    import torch

    if device == "auto":
        return {"num_gpus": 1} if torch.cuda.is_available() else {"num_gpus": 0}
    return {"num_gpus": 1} if device.startswith("cuda") else {"num_gpus": 0}


def run_predictions(settings: DemoSettings, data_dir: Path, checkpoint: Path, rcms_on: bool) -> Path:
    """Run the inference tool's logic on the split; returns the prediction folder.

    Raises:
        DemoError: when any video failed (the inference summary's failures are listed).
    """
    from sam2.inference.app import run_inference
    from sam2.inference.options import InferenceOptions

    out = Path(settings.output_dir)
    pred_dir = out / f"pred_{RUN_LABELS[rcms_on]}"
    record_dir = out / "rcms_records"
    for stale in [pred_dir] + ([record_dir] if rcms_on else []):
        if stale.exists():  # never reuse predictions of another checkpoint
            shutil.rmtree(stale)
    spec = settings.rcms_on_policy() if rcms_on else {"name": "sam2.1"}
    options = InferenceOptions(
        sam2_cfg=settings.config,
        sam2_checkpoint=str(checkpoint),
        output_mask_dir=pred_dir,
        base_video_dir=data_dir / "JPEGImages",
        input_mask_dir=data_dir / "Annotations",
        memory_policy=spec["name"],
        policy_opts=tuple(sorted(spec.get("params", {}).items())),
        num_workers=settings.num_workers,
        policy_record_dir=record_dir if rcms_on else None,
        show_progress=settings.show_progress,
        **_inference_device_args(settings.device),
    )
    logger.info("inference with RCMS %s -> %s", "on" if rcms_on else "off", pred_dir)
    summary = run_inference(options)
    logger.info("%s", summary.final_line())
    if summary.exit_code != 0:
        details = "; ".join(summary.failure_lines()) or "see the log above"
        raise DemoError(f"inference with RCMS {'on' if rcms_on else 'off'} failed: {details}")
    return pred_dir


def score_predictions(settings: DemoSettings, data_dir: Path, pred_dir: Path, rcms_on: bool):
    """Score a prediction folder like ``tools/score.py`` and write its reports.

    Returns:
        ``(dataset metrics ×100, EvaluationResult)``.
    """
    from sam2.evaluation import dataset_metrics, evaluate_split, write_reports

    out_dir = Path(settings.output_dir) / f"scores_{RUN_LABELS[rcms_on]}"
    warnings: list[str] = []
    result = evaluate_split(
        data_dir / "meta.json", data_dir / "Annotations", pred_dir,
        progress=settings.show_progress, on_warning=warnings.append,
    )
    if result.missing_videos:
        raise DemoError(f"scoring {pred_dir}: videos missing from the predictions: {', '.join(result.missing_videos)}")
    write_reports(
        out_dir, result.objects, result.dataset, result.total_time,
        missing_videos=result.missing_videos, no_eval_frame_videos=result.no_eval_frame_videos, warnings=warnings,
    )
    return dataset_metrics(result.dataset), result


def choose_video(records_dir: Path, off_result, on_result) -> str:
    """The video to draw: one where RCMS promoted frames, preferring the largest J&Ḟ gain.

    Args:
        records_dir: ``OUT/rcms_records``.
        off_result, on_result: :class:`sam2.evaluation.EvaluationResult` of both runs.
    """
    from sam2.demo.visualize import read_policy_marks

    def per_video(result) -> dict[str, float]:
        sums: dict[str, list[float]] = {}
        for obj in result.objects:
            sums.setdefault(obj.video, []).append((obj.j + obj.f_dot) / 2)
        return {v: sum(s) / len(s) for v, s in sums.items()}

    off, on = per_video(off_result), per_video(on_result)
    best: Optional[tuple] = None
    for video in sorted(on):
        promoted = read_policy_marks(records_dir / f"{video}.json").num_promoted
        key = (promoted > 0, round(on[video] - off.get(video, 0.0), 6), promoted, video)
        if best is None or key > best:
            best = key
    if best is None:
        raise DemoError("no scored video to draw")
    return best[-1]


def run_demo(settings: DemoSettings) -> DemoResult:
    """Run every stage and return the table (the caller prints it).

    Raises:
        FileNotFoundError: the checkpoint is missing.
        DemoError: a stage failed.
    """
    try:
        checkpoint = resolve_checkpoint(settings.checkpoint, settings.config)
    except ValueError as exc:
        raise DemoError(str(exc)) from None
    out = Path(settings.output_dir)
    config_file = Path(settings.config) if Path(settings.config).is_file() else None
    try:
        lock = claim_and_lock(out, "--output-dir", {"--checkpoint": checkpoint, "--config": config_file},
                              DEMO_MARKER, "tools/demo.py")
    except (UnsafePathError, OutputLockedError) as exc:
        raise DemoError(str(exc)) from None
    try:
        return _run_stages(settings, checkpoint, out)
    finally:
        lock.release()


def _run_stages(settings: DemoSettings, checkpoint: Path, out: Path) -> DemoResult:
    seconds: dict[str, float] = {}

    started = time.perf_counter()
    data_dir = make_heldout_split(settings)
    seconds["split"] = time.perf_counter() - started

    metrics: dict[bool, dict] = {}
    results: dict[bool, object] = {}
    for rcms_on in (False, True):
        label = RUN_LABELS[rcms_on]
        started = time.perf_counter()
        pred_dir = run_predictions(settings, data_dir, checkpoint, rcms_on)
        seconds[f"inference_{label}"] = time.perf_counter() - started
        started = time.perf_counter()
        metrics[rcms_on], results[rcms_on] = score_predictions(settings, data_dir, pred_dir, rcms_on)
        seconds[f"scoring_{label}"] = time.perf_counter() - started

    rows = [
        ScoreRow("RCMS off", metrics[False]),
        ScoreRow(f"RCMS on (N={settings.rcms_on_settings()[0]})", metrics[True]),
    ]
    table = format_table(rows)
    _write_text(out / "scores_table.txt", table + "\n")
    result = DemoResult(rows=rows, table=table, output_dir=out, seconds=seconds, evaluations=dict(results))

    if settings.pictures:
        from sam2.demo.visualize import VideoSources, read_policy_marks, write_video_pictures

        started = time.perf_counter()
        video = choose_video(out / "rcms_records", results[False], results[True])
        sources = VideoSources(
            frames=data_dir / "JPEGImages" / video,
            annotations=data_dir / "Annotations" / video,
            predictions={"RCMS off": out / "pred_rcms_off" / video, "RCMS on": out / "pred_rcms_on" / video},
            rcms_panel="RCMS on",
        )
        marks = read_policy_marks(out / "rcms_records" / f"{video}.json")
        result.gif, result.strip = write_video_pictures(
            sources, marks, out / "demo.gif", out / "demo_strip.png",
            title=f"{video}: ground truth | RCMS off | RCMS on", progress=settings.show_progress,
        )
        result.video = video
        seconds["pictures"] = time.perf_counter() - started
    return result


def _write_text(path: Path, text: str) -> None:
    from sam2.utils.atomic_files import atomic_write_bytes

    atomic_write_bytes(path, text.encode("utf-8"))
