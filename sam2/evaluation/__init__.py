"""MOSEv2 evaluation: J, F, Ḟ, disappearance/reappearance segments, dataset aggregation, reports.

Main entry points: :func:`evaluate_split` (score a prediction folder) and :func:`write_reports`
(``metrics.json``, ``scores.txt``, ``metrics_full.json``, ``per_object.csv``). The command line
front is ``tools/score.py``.
"""

from sam2.evaluation.aggregate import DatasetScore, aggregate_objects
from sam2.evaluation.boundary import boundary_f, boundary_map, dilate, disk_kernel, frame_radii, standard_radius
from sam2.evaluation.evaluator import EvaluationResult, evaluate_split, resolve_pred_dir
from sam2.evaluation.measures import FrameScore, frame_score, jaccard
from sam2.evaluation.report import dataset_metrics, object_metrics, scores_text, write_reports
from sam2.evaluation.segments import (
    ObjectScore,
    disappearance_segments,
    first_visible_run,
    reappearance_segments,
    summarize_object,
)

__all__ = [
    "DatasetScore",
    "EvaluationResult",
    "FrameScore",
    "ObjectScore",
    "aggregate_objects",
    "boundary_f",
    "boundary_map",
    "dataset_metrics",
    "dilate",
    "disappearance_segments",
    "disk_kernel",
    "evaluate_split",
    "first_visible_run",
    "frame_radii",
    "frame_score",
    "jaccard",
    "object_metrics",
    "reappearance_segments",
    "resolve_pred_dir",
    "scores_text",
    "standard_radius",
    "summarize_object",
    "write_reports",
]
