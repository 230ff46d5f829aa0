"""Shared fixtures of the video-predictor tests."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ORACLE_SCRIPTS = Path(__file__).resolve().parents[1] / "parity" / "oracle_scripts"
if str(ORACLE_SCRIPTS) not in sys.path:
    sys.path.insert(0, str(ORACLE_SCRIPTS))

from video_clip import make_clip  # noqa: E402


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory):
    """A 6-frame 64x48 clip: (folder of JPEGs, ground-truth masks)."""
    root = tmp_path_factory.mktemp("tiny_clip")
    masks = make_clip(str(root), frames=6, width=64, height=48, seed=1)
    return root / "JPEGImages", masks
