"""Fixtures of the streaming tests; helpers live in ``stream_helpers``."""
from __future__ import annotations

import pytest

from stream_helpers import make_clip, read_frames  # noqa: F401


@pytest.fixture(scope="session")
def clip12(tmp_path_factory):
    """A 12-frame 64x48 clip: (JPEG folder, frames as arrays, ground-truth masks)."""
    root = tmp_path_factory.mktemp("stream_clip")
    masks = make_clip(str(root), frames=12, width=64, height=48, seed=5)
    folder = root / "JPEGImages"
    return folder, read_frames(folder), masks


