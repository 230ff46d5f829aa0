"""Shared fixtures of the training tests: one CPU thread (the machine is shared; multi-threaded
kernels on a loaded 2-core box are slower than one thread) and a tiny synthetic split."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):  # tests/conftest.py
    yield


@pytest.fixture(scope="session")
def synthetic_split(tmp_path_factory) -> Path:
    """4 videos x 6 frames of 64x80 MOSE-style synthetic data (MOSEv2 layout)."""
    from sam2.data.synthetic import SyntheticConfig, write_synthetic_split

    root = tmp_path_factory.mktemp("train_data") / "split"
    write_synthetic_split(root, SyntheticConfig(num_videos=4, num_frames=6, height=64, width=80, seed=3))
    return root
