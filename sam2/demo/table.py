"""The comparison table printed by the demo (one row per run, MOSEv2 headline metrics)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

# (column title, key in sam2.evaluation.dataset_metrics)
COLUMNS: tuple[tuple[str, str], ...] = (
    ("J&Ḟ", "J&F_new"),
    ("J", "J"),
    ("Ḟ", "F_new"),
    ("J&Ḟ_d", "disappear_J&F_new"),
    ("J&Ḟ_r", "reappear_J&F_new"),
)


@dataclass(frozen=True)
class ScoreRow:
    """One line of the table: a run's label and its dataset metrics (×100, None = not defined)."""

    label: str
    metrics: Mapping[str, Optional[float]]

    def value(self, key: str) -> Optional[float]:
        """The metric ``key``, or None when it is absent or not a finite number."""
        value = self.metrics.get(key)
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return None
        return float(value)


def _cell(value: Optional[float], width: int) -> str:
    return ("n/a" if value is None else f"{value:.2f}").rjust(width)


def format_table(rows: Sequence[ScoreRow], delta: bool = True) -> str:
    """Render ``rows`` as a fixed-width text table (plus a difference line of the last two rows).

    Args:
        rows: runs to show, in order (the demo passes RCMS off, then RCMS on).
        delta: add a ``Δ`` line (last row minus the one before) when there are at least two rows.

    Returns:
        The table, lines joined by ``\\n`` (no trailing newline).
    """
    label_width = max([len("run")] + [len(r.label) for r in rows] + [len("Δ (on - off)")])
    widths = [max(7, len(title)) for title, _ in COLUMNS]
    header = "run".ljust(label_width) + " | " + " | ".join(t.rjust(w) for (t, _), w in zip(COLUMNS, widths))
    rule = "-" * len(header)
    lines = [header, rule]
    for row in rows:
        cells = [_cell(row.value(key), w) for (_, key), w in zip(COLUMNS, widths)]
        lines.append(row.label.ljust(label_width) + " | " + " | ".join(cells))
    if delta and len(rows) >= 2:
        before, after = rows[-2], rows[-1]
        cells = []
        for (_, key), w in zip(COLUMNS, widths):
            a, b = after.value(key), before.value(key)
            cells.append(("n/a" if a is None or b is None else f"{a - b:+.2f}").rjust(w))
        lines.append(rule)
        lines.append("Δ (on - off)".ljust(label_width) + " | " + " | ".join(cells))
    return "\n".join(lines)
