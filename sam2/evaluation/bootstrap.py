"""Bootstrap confidence intervals of the dataset metrics.

Objects of one video share its scene, camera and model failures, so the resampling unit is the
**video** (a cluster bootstrap): each replicate draws as many videos as the split has, with
replacement, and recomputes the metric from all objects of the drawn videos with
:func:`sam2.evaluation.aggregate_objects`. The interval is the percentile interval of the
replicates. :func:`paired_bootstrap_difference` draws the same videos for two runs on one split
(RCMS on minus off), so their shared difficulty cancels.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from sam2.evaluation.aggregate import DatasetScore, aggregate_objects
from sam2.evaluation.segments import ObjectScore

__all__ = ["BootstrapInterval", "METRICS", "bootstrap_interval", "paired_bootstrap_difference"]

#: Metric name -> value in [0, 1] (or None) of a :class:`DatasetScore`.
METRICS: dict[str, Callable[[DatasetScore], Optional[float]]] = {
    "J&F_new": lambda d: d.jf_dot,
    "J": lambda d: d.j,
    "F_new": lambda d: d.f_dot,
    "disappear_J&F_new": lambda d: d.d_jf_dot,
    "reappear_J&F_new": lambda d: d.r_jf_dot,
}


@dataclass(frozen=True)
class BootstrapInterval:
    """A point estimate and its percentile interval, ×100 like the reports.

    ``num_samples`` counts the replicates where the metric was defined (a replicate without
    any object that has, say, a reappearance is skipped).
    """

    estimate: float
    low: float
    high: float
    confidence: float
    num_samples: int

    def __str__(self) -> str:
        return f"{self.estimate:.2f} [{self.low:.2f}, {self.high:.2f}]"

    @property
    def excludes_zero(self) -> bool:
        """True when the whole interval lies on one side of 0 (for differences)."""
        return self.low > 0 or self.high < 0


def _by_video(objects: Sequence[ObjectScore]) -> "OrderedDict[str, list[ObjectScore]]":
    groups: "OrderedDict[str, list[ObjectScore]]" = OrderedDict()
    for obj in objects:
        groups.setdefault(obj.video, []).append(obj)
    return groups


def _metric_fn(metric: str | Callable[[DatasetScore], Optional[float]]) -> Callable[[DatasetScore], Optional[float]]:
    if callable(metric):
        return metric
    if metric not in METRICS:
        raise KeyError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    return METRICS[metric]


def _interval(estimate: float, samples: list[float], confidence: float) -> BootstrapInterval:
    if not samples:
        raise ValueError("the metric is undefined on every bootstrap replicate")
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(np.asarray(samples), [tail, 1.0 - tail])
    return BootstrapInterval(100.0 * estimate, 100.0 * float(low), 100.0 * float(high), confidence, len(samples))


def bootstrap_interval(
    objects: Sequence[ObjectScore],
    metric: str | Callable[[DatasetScore], Optional[float]] = "J&F_new",
    num_samples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapInterval:
    """Percentile interval of ``metric`` over video-level bootstrap replicates of ``objects``.

    Args:
        objects: per-object scores of one run (``EvaluationResult.objects``).
        metric: a key of :data:`METRICS` or a function of :class:`DatasetScore`.
        num_samples: bootstrap replicates.
        confidence: interval coverage, e.g. 0.95.
        seed: seed of the resampling.

    Raises:
        ValueError: no objects, or the metric is undefined on the whole split.
    """
    fn = _metric_fn(metric)
    groups = list(_by_video(objects).values())
    if not groups:
        raise ValueError("no objects to bootstrap")
    estimate = fn(aggregate_objects(list(objects)))
    if estimate is None:
        raise ValueError("the metric is undefined on this split (no object qualifies)")
    rng = np.random.default_rng(seed)
    samples: list[float] = []
    for _ in range(num_samples):
        draw = rng.integers(0, len(groups), size=len(groups))
        value = fn(aggregate_objects([o for i in draw for o in groups[i]]))
        if value is not None:
            samples.append(value)
    return _interval(estimate, samples, confidence)


def paired_bootstrap_difference(
    base: Sequence[ObjectScore],
    other: Sequence[ObjectScore],
    metric: str | Callable[[DatasetScore], Optional[float]] = "J&F_new",
    num_samples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapInterval:
    """Interval of ``metric(other) - metric(base)`` for two runs on the same split, drawing the
    same videos for both in every replicate.

    Raises:
        ValueError: the two runs do not cover the same videos, or the metric is undefined.
    """
    fn = _metric_fn(metric)
    a, b = _by_video(base), _by_video(other)
    if set(a) != set(b):
        only = sorted(set(a) ^ set(b))
        raise ValueError(f"the runs cover different videos (e.g. {', '.join(only[:5])})")
    names = list(a)
    va, vb = fn(aggregate_objects(list(base))), fn(aggregate_objects(list(other)))
    if va is None or vb is None:
        raise ValueError("the metric is undefined on this split (no object qualifies)")
    rng = np.random.default_rng(seed)
    samples: list[float] = []
    for _ in range(num_samples):
        draw = rng.integers(0, len(names), size=len(names))
        sa = fn(aggregate_objects([o for i in draw for o in a[names[i]]]))
        sb = fn(aggregate_objects([o for i in draw for o in b[names[i]]]))
        if sa is not None and sb is not None:
            samples.append(sb - sa)
    return _interval(vb - va, samples, confidence)
