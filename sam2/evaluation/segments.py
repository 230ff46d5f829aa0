"""Disappearance / reappearance segments and per-object aggregates of the MOSEv2 scorer.

Over the evaluated window (frames 1 .. L-2, index ``i`` = frame ``i + 1``) with ``empty[i]``
meaning the GT of the object is empty:

* a **disappearance segment** is a run of empty frames that starts after a non-empty frame
  (a run starting at index 0 does not count) and lasts to the next reappearance or the end;
* a **reappearance segment** is a run of non-empty frames that starts after an empty frame
  (so an object absent at index 0 that shows up later has one) and lasts to the next
  disappearance or the end;
* the **before-disappearance** run ("bd") is the first run of non-empty frames.

Per object: J, F, Ḟ are means over all evaluated frames; the d / r / bd values are
``(mean over segments of mean J, mean over segments of mean Ḟ)`` and None when the object has
no such segment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["ObjectScore", "runs", "disappearance_segments", "reappearance_segments", "first_visible_run", "summarize_object"]


def runs(empty: Sequence[bool]) -> list[tuple[int, int, bool]]:
    """Maximal runs of equal values: ``(start, end, value)`` with ``end`` exclusive."""
    flags = np.asarray(empty, dtype=bool)
    if flags.size == 0:
        return []
    cuts = np.flatnonzero(flags[1:] != flags[:-1]) + 1
    starts = np.concatenate(([0], cuts))
    ends = np.concatenate((cuts, [flags.size]))
    return [(int(s), int(e), bool(flags[s])) for s, e in zip(starts, ends)]


def disappearance_segments(empty: Sequence[bool]) -> list[tuple[int, int]]:
    """Empty runs that start after a visible frame: ``[(start, end), ...]``."""
    return [(s, e) for s, e, is_empty in runs(empty) if is_empty and s > 0]


def reappearance_segments(empty: Sequence[bool]) -> list[tuple[int, int]]:
    """Visible runs that start after an empty frame: ``[(start, end), ...]``."""
    return [(s, e) for s, e, is_empty in runs(empty) if not is_empty and s > 0]


def first_visible_run(empty: Sequence[bool]) -> list[tuple[int, int]]:
    """The first visible run (before the first disappearance), as a 0- or 1-element list."""
    for s, e, is_empty in runs(empty):
        if not is_empty:
            return [(s, e)]
    return []


@dataclass
class ObjectScore:
    """Aggregated scores of one object (fractions in [0, 1]; None = no such segment).

    ``status`` is ``"ok"``, ``"missing_video"`` (no prediction folder: scored 0) or
    ``"no_eval_frames"`` (video of 1-2 frames: scored 0).
    """

    video: str
    obj_id: int
    j: float
    f: float
    f_dot: float
    d_j: float | None = None
    d_f_dot: float | None = None
    r_j: float | None = None
    r_f_dot: float | None = None
    bd_j: float | None = None
    bd_f_dot: float | None = None
    num_frames: int = 0
    num_d_segments: int = 0
    num_r_segments: int = 0
    status: str = "ok"

    @property
    def key(self) -> str:
        """``<video>_<id>``, the reference scorer's key."""
        return f"{self.video}_{self.obj_id}"


def _segment_means(j: np.ndarray, f_dot: np.ndarray, segments: list[tuple[int, int]]) -> tuple[float | None, float | None]:
    if not segments:
        return None, None
    seg_j = [float(j[s:e].mean()) for s, e in segments]
    seg_f = [float(f_dot[s:e].mean()) for s, e in segments]
    return float(np.mean(seg_j)), float(np.mean(seg_f))


def summarize_object(
    video: str,
    obj_id: int,
    j: Sequence[float],
    f: Sequence[float],
    f_dot: Sequence[float],
    empty: Sequence[bool],
) -> ObjectScore:
    """Aggregate per-frame values (over the evaluated window, in frame order) of one object.

    An empty window (video of 1 or 2 frames) scores 0 with status ``"no_eval_frames"``.
    """
    j_arr, f_arr, fd_arr = (np.asarray(v, dtype=np.float64) for v in (j, f, f_dot))
    if not (j_arr.size == f_arr.size == fd_arr.size == len(empty)):
        raise ValueError(f"{video}_{obj_id}: per-frame lists differ in length")
    if j_arr.size == 0:
        return ObjectScore(video, obj_id, 0.0, 0.0, 0.0, status="no_eval_frames")
    d_segs, r_segs = disappearance_segments(empty), reappearance_segments(empty)
    d_j, d_f = _segment_means(j_arr, fd_arr, d_segs)
    r_j, r_f = _segment_means(j_arr, fd_arr, r_segs)
    bd_j, bd_f = _segment_means(j_arr, fd_arr, first_visible_run(empty))
    return ObjectScore(
        video=video,
        obj_id=obj_id,
        j=float(j_arr.mean()),
        f=float(f_arr.mean()),
        f_dot=float(fd_arr.mean()),
        d_j=d_j,
        d_f_dot=d_f,
        r_j=r_j,
        r_f_dot=r_f,
        bd_j=bd_j,
        bd_f_dot=bd_f,
        num_frames=int(j_arr.size),
        num_d_segments=len(d_segs),
        num_r_segments=len(r_segs),
    )
