"""Typed settings of an inference run and the records its workers hand back."""
from __future__ import annotations

import argparse
import math
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

from sam2.utils.safe_paths import UnsafePathError, check_output_folder, check_outputs_apart, describe_kind

_Path = Union[str, os.PathLike, None]


def check_run_paths(
    *, output_mask_dir: _Path, base_video_dir: _Path, input_mask_dir: _Path, video_list_file: _Path = None,
    sam2_checkpoint: _Path = None, zip_path: _Path = None, policy_record_dir: _Path = None, score_thresh: float = 0.0,
) -> None:
    """The checks every inference run passes before any work (the flags' names in the messages).

    Outputs (``--output_mask_dir``, ``--zip``, ``--policy_record_dir``) may not be, lie inside or
    hold an input (``--base_video_dir``, ``--input_mask_dir``, ``--video_list_file``,
    ``--sam2_checkpoint``), symlinks resolved; an existing output folder must be a folder; an
    existing ``--zip`` must be a zip file (a previous submission; any other file is kept);
    ``--score_thresh`` must be a finite number.

    Raises:
        UnsafePathError: an overlap or an output that is not a folder.
        ValueError: a non-finite ``score_thresh``.
    """
    if not math.isfinite(float(score_thresh)):
        raise ValueError(f"--score_thresh must be a finite number, got {score_thresh}")
    check_output_folder(output_mask_dir, "--output_mask_dir")
    if policy_record_dir is not None:
        check_output_folder(policy_record_dir, "--policy_record_dir")
    if zip_path is not None:
        kind = describe_kind(zip_path)
        if kind not in ("missing", "a regular file"):
            raise UnsafePathError(f"--zip: {zip_path} is {kind}; give the path of the zip file to write")
        if kind == "a regular file" and not zipfile.is_zipfile(zip_path):
            raise UnsafePathError(f"--zip: {zip_path} exists and is not a zip file; it is not replaced "
                                  "(choose another path)")
    check_outputs_apart(
        {"--output_mask_dir": output_mask_dir, "--zip": zip_path, "--policy_record_dir": policy_record_dir},
        {"--base_video_dir": base_video_dir, "--input_mask_dir": input_mask_dir,
         "--video_list_file": video_list_file, "--sam2_checkpoint": sam2_checkpoint or None},
    )


@dataclass(frozen=True)
class InferenceOptions:
    """Everything a worker needs to run a split; mirrors the command-line flags one to one.

    ``num_prev_frames_to_promote`` / ``low_quality_threshold`` are forwarded to
    ``build_sam2_video_predictor`` unchanged (parameters of the policy's ``rcms`` member, and
    without ``memory_policy`` the older RCMS switch); ``None`` (the default here) leaves them
    to the config and the policy's defaults.
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
    #: memory policy name (``"samurai"``, ``"rcms+dam4sam"``, ...; ``None``: the config's) and
    #: its parameters as sorted ``(key, value)`` pairs
    memory_policy: Optional[str] = None
    policy_opts: tuple = ()
    num_gpus: Optional[int] = 0  # None: every visible GPU
    num_workers: int = 1
    zip_path: Optional[Path] = None
    policy_record_dir: Optional[Path] = None
    seed: int = 0
    show_progress: bool = True
    #: a re-run skips videos whose output folder is complete; False recomputes and replaces them
    #: (the official single-process ``tools/vos_inference.py`` always recomputes)
    skip_complete: bool = True

    #: the flags the official ``tools/vos_inference.py`` defines, shared by both our tools
    OFFICIAL_FLAGS = (
        "score_thresh", "use_all_masks", "per_obj_png_file", "apply_postprocessing",
        "track_object_appearing_later_in_video", "use_vos_optimized_video_predictor",
        "num_prev_frames_to_promote", "low_quality_threshold",
    )

    def check(self) -> None:
        """:func:`check_run_paths` on these options (raises before any work)."""
        check_run_paths(
            output_mask_dir=self.output_mask_dir, base_video_dir=self.base_video_dir,
            input_mask_dir=self.input_mask_dir, video_list_file=self.video_list_file,
            sam2_checkpoint=self.sam2_checkpoint, zip_path=self.zip_path,
            policy_record_dir=self.policy_record_dir, score_thresh=self.score_thresh,
        )

    @classmethod
    def from_args(cls, args: argparse.Namespace, **more) -> "InferenceOptions":
        """Options from a parsed command line of ``tools/vos_inference.py`` or
        ``tools/vos_inference_ddp.py``: the official flags and paths, plus ``more`` (the
        fields only one tool has, or a tool's own reading of an official flag)."""
        video_list = getattr(args, "video_list_file", None)
        return cls(
            sam2_cfg=args.sam2_cfg,
            sam2_checkpoint=args.sam2_checkpoint or None,
            output_mask_dir=Path(args.output_mask_dir),
            base_video_dir=Path(args.base_video_dir),
            input_mask_dir=Path(args.input_mask_dir),
            video_list_file=None if video_list is None else Path(video_list),
            **{**{name: getattr(args, name) for name in cls.OFFICIAL_FLAGS}, **more},
        )


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
