"""Output files of the scorer (all written atomically).

* ``metrics.json``: the reference scorer's file: ``{"<video>_<id>": {"J&F_new", "J", "F_new",
  "disappear_J&F_new", "reappear_J&F_new", "F", "J&F"}, ..., "total_time": seconds}``; values
  ×100 rounded to 2 decimals, ``null`` where an object has no such segment; indent 4.
* ``scores.txt``: the reference's 8 lines (dataset values ×100 rounded to 2 decimals, then a
  ``Copy-Paste`` line of those rounded values with 1 decimal, order J&Ḟ, J, Ḟ, J&Ḟ_d, J&Ḟ_r, F,
  J&F). A family no object has prints ``nan``, as the reference does.
* ``metrics_full.json``: the same keys unrounded (×100) plus the bd family and segment counts,
  per object under ``"objects"`` and for the dataset under ``"dataset"``, plus
  ``"missing_videos"``, ``"no_eval_frame_videos"``, ``"warnings"``.
* ``per_object.csv``: one row per object.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Sequence

from sam2.utils.atomic_files import atomic_write_bytes
from sam2.evaluation.aggregate import DatasetScore
from sam2.evaluation.segments import ObjectScore

__all__ = ["object_metrics", "dataset_metrics", "scores_text", "write_reports", "CSV_NAME"]

CSV_NAME = "per_object.csv"


def _pct(value: float | None) -> float | None:
    return None if value is None else value * 100


def _pair(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else (a + b) / 2


def object_metrics(obj: ObjectScore, digits: int | None = 2) -> dict[str, float | None]:
    """The reference's per-object entry (×100; rounded to ``digits`` unless None)."""
    values = {
        "J&F_new": _pct((obj.j + obj.f_dot) / 2),
        "J": _pct(obj.j),
        "F_new": _pct(obj.f_dot),
        "disappear_J&F_new": _pct(_pair(obj.d_j, obj.d_f_dot)),
        "reappear_J&F_new": _pct(_pair(obj.r_j, obj.r_f_dot)),
        "F": _pct(obj.f),
        "J&F": _pct((obj.j + obj.f) / 2),
    }
    if digits is None:
        return values
    return {k: (None if v is None else round(v, digits)) for k, v in values.items()}


def dataset_metrics(ds: DatasetScore) -> dict[str, float | None]:
    """Unrounded dataset values ×100, reference keys first, then our extras."""
    return {
        "J&F_new": _pct(ds.jf_dot),
        "J": _pct(ds.j),
        "F_new": _pct(ds.f_dot),
        "disappear_J&F_new": _pct(ds.d_jf_dot),
        "reappear_J&F_new": _pct(ds.r_jf_dot),
        "F": _pct(ds.f),
        "J&F": _pct(ds.jf),
        "before_disappear_J&F_new": _pct(ds.bd_jf_dot),
        "disappear_J": _pct(ds.d_j),
        "disappear_F_new": _pct(ds.d_f_dot),
        "reappear_J": _pct(ds.r_j),
        "reappear_F_new": _pct(ds.r_f_dot),
        "before_disappear_J": _pct(ds.bd_j),
        "before_disappear_F_new": _pct(ds.bd_f_dot),
        "num_objects": ds.num_objects,
        "num_disappear_objects": ds.num_d_objects,
        "num_reappear_objects": ds.num_r_objects,
        "num_before_disappear_objects": ds.num_bd_objects,
    }


_SCORE_ORDER = ("J&F_new", "J", "F_new", "disappear_J&F_new", "reappear_J&F_new", "F", "J&F")


def _rounded(value: float | None) -> float:
    return float("nan") if value is None or (isinstance(value, float) and math.isnan(value)) else round(value, 2)


def scores_text(ds: DatasetScore) -> str:
    """The content of ``scores.txt`` (reference format, 8 lines)."""
    full = dataset_metrics(ds)
    shown = {k: _rounded(full[k]) for k in _SCORE_ORDER}
    lines = [f"{k}: {shown[k]}" for k in _SCORE_ORDER]
    lines.append("Copy-Paste: " + ",".join(f"{shown[k]:.1f}" for k in _SCORE_ORDER))
    return "\n".join(lines) + "\n"


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _object_full(obj: ObjectScore) -> dict:
    entry: dict = dict(object_metrics(obj, digits=None))
    entry.update(
        {
            "before_disappear_J&F_new": _pct(_pair(obj.bd_j, obj.bd_f_dot)),
            "disappear_J": _pct(obj.d_j),
            "disappear_F_new": _pct(obj.d_f_dot),
            "reappear_J": _pct(obj.r_j),
            "reappear_F_new": _pct(obj.r_f_dot),
            "before_disappear_J": _pct(obj.bd_j),
            "before_disappear_F_new": _pct(obj.bd_f_dot),
            "num_eval_frames": obj.num_frames,
            "num_disappear_segments": obj.num_d_segments,
            "num_reappear_segments": obj.num_r_segments,
            "status": obj.status,
        }
    )
    return entry


def write_reports(
    output_dir: str | os.PathLike,
    objects: Sequence[ObjectScore],
    dataset: DatasetScore,
    total_time: float,
    missing_videos: Sequence[str] = (),
    no_eval_frame_videos: Sequence[str] = (),
    warnings: Sequence[str] = (),
) -> dict[str, Path]:
    """Write ``metrics.json``, ``scores.txt``, ``metrics_full.json`` and ``per_object.csv``.

    Returns:
        ``{file kind: path}``.
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "metrics": out / "metrics.json",
        "scores": out / "scores.txt",
        "full": out / "metrics_full.json",
        "csv": out / CSV_NAME,
    }
    reference: dict = {obj.key: object_metrics(obj) for obj in objects}
    reference["total_time"] = total_time
    atomic_write_bytes(paths["metrics"], json.dumps(reference, indent=4).encode("utf-8"))
    atomic_write_bytes(paths["scores"], scores_text(dataset).encode("utf-8"))
    full = {
        "dataset": dataset_metrics(dataset),
        "objects": {obj.key: _object_full(obj) for obj in objects},
        "missing_videos": list(missing_videos),
        "no_eval_frame_videos": list(no_eval_frame_videos),
        "warnings": list(warnings),
        "total_time": total_time,
    }
    atomic_write_bytes(paths["full"], json.dumps(_json_safe(full), indent=2).encode("utf-8"))
    buffer = io.StringIO()
    columns = ["video", "object_id", *(_object_full(objects[0]).keys() if objects else [])]
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for obj in objects:
        row = _object_full(obj)
        writer.writerow([obj.video, obj.obj_id, *("" if row[c] is None else row[c] for c in columns[2:])])
    atomic_write_bytes(paths["csv"], buffer.getvalue().encode("utf-8"))
    return paths
