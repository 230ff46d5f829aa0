"""Parameter schedules as functions of training progress ``where`` in ``[0, 1)``.

Stand-ins for the fvcore schedulers the SAM2 training configs name (fvcore is not a
dependency): same class names and keyword arguments.
"""
from __future__ import annotations

import math


class ConstantParamScheduler:
    """Always ``value``."""

    def __init__(self, value: float) -> None:
        self.value = float(value)

    def __call__(self, where: float) -> float:
        return self.value


class CosineParamScheduler:
    """Half-cosine from ``start_value`` (``where = 0``) to ``end_value`` (``where = 1``)."""

    def __init__(self, start_value: float, end_value: float) -> None:
        self.start_value = float(start_value)
        self.end_value = float(end_value)

    def __call__(self, where: float) -> float:
        w = min(max(float(where), 0.0), 1.0)
        return self.end_value + 0.5 * (self.start_value - self.end_value) * (1.0 + math.cos(math.pi * w))
