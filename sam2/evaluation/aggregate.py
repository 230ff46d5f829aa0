"""Dataset-level MOSEv2 numbers: means over objects (not videos).

``J``, ``F``, ``Ḟ`` = means of the per-object values over all objects (objects of missing
videos and of 1-2 frame videos count, with 0). ``J&Ḟ = (J + Ḟ)/2``, ``J&F = (J + F)/2``.
``J&Ḟ_d`` / ``J&Ḟ_r`` / ``J&Ḟ_bd`` = ``(mean d-J + mean d-Ḟ)/2`` over the objects that have
such a segment (None when no object has one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from sam2.evaluation.segments import ObjectScore

__all__ = ["DatasetScore", "aggregate_objects"]


@dataclass(frozen=True)
class DatasetScore:
    """Dataset means (fractions in [0, 1]; None where no object qualifies)."""

    j: float
    f: float
    f_dot: float
    d_j: float | None
    d_f_dot: float | None
    r_j: float | None
    r_f_dot: float | None
    bd_j: float | None
    bd_f_dot: float | None
    num_objects: int
    num_d_objects: int
    num_r_objects: int
    num_bd_objects: int

    @property
    def jf_dot(self) -> float:
        """J&Ḟ, the primary metric."""
        return (self.j + self.f_dot) / 2

    @property
    def jf(self) -> float:
        """J&F with the DAVIS-style radius."""
        return (self.j + self.f) / 2

    @staticmethod
    def _pair(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else (a + b) / 2

    @property
    def d_jf_dot(self) -> float | None:
        """J&Ḟ_d."""
        return self._pair(self.d_j, self.d_f_dot)

    @property
    def r_jf_dot(self) -> float | None:
        """J&Ḟ_r."""
        return self._pair(self.r_j, self.r_f_dot)

    @property
    def bd_jf_dot(self) -> float | None:
        """J&Ḟ_bd (first visible run, before the first disappearance)."""
        return self._pair(self.bd_j, self.bd_f_dot)


def _mean_or_none(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def aggregate_objects(objects: Sequence[ObjectScore]) -> DatasetScore:
    """Means over ``objects`` (see module docstring). An empty list gives NaN for J/F/Ḟ."""
    nan = float("nan")
    d = [o for o in objects if o.d_j is not None and o.d_f_dot is not None]
    r = [o for o in objects if o.r_j is not None and o.r_f_dot is not None]
    bd = [o for o in objects if o.bd_j is not None and o.bd_f_dot is not None]
    return DatasetScore(
        j=float(np.mean([o.j for o in objects])) if objects else nan,
        f=float(np.mean([o.f for o in objects])) if objects else nan,
        f_dot=float(np.mean([o.f_dot for o in objects])) if objects else nan,
        d_j=_mean_or_none([o.d_j for o in d]),
        d_f_dot=_mean_or_none([o.d_f_dot for o in d]),
        r_j=_mean_or_none([o.r_j for o in r]),
        r_f_dot=_mean_or_none([o.r_f_dot for o in r]),
        bd_j=_mean_or_none([o.bd_j for o in bd]),
        bd_f_dot=_mean_or_none([o.bd_f_dot for o in bd]),
        num_objects=len(objects),
        num_d_objects=len(d),
        num_r_objects=len(r),
        num_bd_objects=len(bd),
    )
