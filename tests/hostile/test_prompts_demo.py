"""The demo's track settings use the library's prompt rules (clicks only on the command line)."""
from __future__ import annotations

from pathlib import Path

import pytest

from sam2.demo.track import TrackSettings
from sam2.utils.prompt_checks import PromptError


def test_fractional_click_label_is_refused_not_truncated() -> None:
    with pytest.raises(PromptError, match=r"^--points: labels must be whole numbers .*got \[0\.5\]$"):
        TrackSettings(video=Path("clip"), points=((3.0, 4.0, 0.5),))


def test_box_corner_label_is_refused_on_the_command_line() -> None:
    with pytest.raises(PromptError, match=r"^--points: labels \[2\] not allowed, got \[2\]; "
                                          r"\(1: positive click, 0: negative click\)$"):
        TrackSettings(video=Path("clip"), points=((3.0, 4.0, 2),))


def test_nan_click_is_refused() -> None:
    with pytest.raises(PromptError, match=r"^--points: points must be finite numbers"):
        TrackSettings(video=Path("clip"), points=((float("nan"), 4.0, 1),))


def test_reversed_box_is_refused() -> None:
    with pytest.raises(PromptError, match=r"^--box: box \[9, 9, 1, 1\] must have x1 > x0 and y1 > y0"):
        TrackSettings(video=Path("clip"), box=(9.0, 9.0, 1.0, 1.0))


@pytest.mark.parametrize("fps, message", [
    (float("nan"), "--fps: fps must be a finite number, got nan"),
    (0.0, "--fps: fps must be > 0, got 0.0"),
])
def test_bad_overlay_rate_is_refused(fps, message) -> None:
    with pytest.raises(ValueError) as err:
        TrackSettings(video=Path("clip"), points=((3.0, 4.0, 1),), fps=fps)
    assert str(err.value) == message
