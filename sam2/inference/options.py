"""Typed settings of an inference run and the records its workers hand back."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional


@dataclass(frozen=True)
class InferenceOptions:
    """Everything a worker needs to run a split; mirrors the command-line flags one to one.

    ``num_prev_frames_to_promote`` / ``low_quality_threshold`` are forwarded to
    ``build_sam2_video_predictor`` unchanged; ``None`` (the default here) means "take the
    config's ``rcms:`` block". The command line has its own defaults (the published baseline's).
    """

    sam2_cfg: str
    sam2_checkpoint: Optional[str]
    output_mask_dir: Path
    base_video_dir: Path
    input_mask_dir: Path
    video_list_file: Optional[Path] = None
    score_thresh: float = 0.0
    use_all_masks: bool = False
    per_obj_png_file: bool = False
    apply_postprocessing: bool = False
    track_object_appearing_later_in_video: bool = False
    use_vos_optimized_video_predictor: bool = False
    num_prev_frames_to_promote: Optional[int] = None
    low_quality_threshold: Optional[float] = None
    num_gpus: Optional[int] = 0  # None: every visible GPU
    num_workers: int = 1
    zip_path: Optional[Path] = None
    rcms_record_dir: Optional[Path] = None
    seed: int = 0
    show_progress: bool = True
    #: a re-run skips videos whose output folder is complete; False recomputes and replaces them
    #: (the official single-process ``tools/vos_inference.py`` always recomputes)
    skip_complete: bool = True


@dataclass
class VideoResult:
    """Outcome of one video: done (written and renamed into place), skipped (already complete) or failed."""

    name: str
    status: str  # "done" | "skipped" | "failed"
    num_frames: int = 0
    seconds: float = 0.0
    error: Optional[str] = None
    rank: int = 0

    @property
    def failed(self) -> bool:
        return self.status == "failed"


@dataclass
class WorkerReport:
    """All results of one worker, in processing order."""

    rank: int
    results: list[VideoResult] = field(default_factory=list)
    fatal_error: Optional[str] = None  # the worker could not start (e.g. the model failed to build)
