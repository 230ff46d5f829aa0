"""The records the video runner and the prompt readers share: the per-video settings
(:class:`RunnerSettings`, a subset of the tool's flags) and the prompts read from a video's
annotations (:class:`VideoPrompts`)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["RunnerSettings", "VideoPrompts"]


@dataclass(frozen=True)
class RunnerSettings:
    """Per-video behaviour (a subset of the tool's flags)."""

    score_thresh: float = 0.0
    use_all_masks: bool = False
    per_obj_png_file: bool = False
    track_object_appearing_later_in_video: bool = False


@dataclass
class VideoPrompts:
    """Prompts read from a video's annotations.

    ``masks[frame_idx][obj_id]`` is a ``[H, W]`` bool array; ``start[obj_id]`` the first prompt frame.
    """

    frame_names: list[str]
    height: int
    width: int
    palette: np.ndarray
    masks: dict[int, dict[int, np.ndarray]] = field(default_factory=dict)
    start: dict[int, int] = field(default_factory=dict)

    @property
    def object_ids(self) -> list[int]:
        return sorted(self.start)
