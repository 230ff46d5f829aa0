"""Shared fixtures of the official-client tests: the shipped demo model and a small synthetic clip.

The shipped 128-px model (``configs/sam2.1/sam2.1_hiera_demo.yaml``, trained by this project; the
demo model is its 256-px continuation) is small enough to run every client's full sequence of calls on the CPU in seconds.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ORACLE_SCRIPTS = Path(__file__).resolve().parents[1] / "parity" / "oracle_scripts"
if str(ORACLE_SCRIPTS) not in sys.path:
    sys.path.insert(0, str(ORACLE_SCRIPTS))

from video_clip import make_clip  # noqa: E402

CLIP_FRAMES, CLIP_W, CLIP_H = 8, 96, 72


@pytest.fixture(scope="session")
def demo_paths() -> tuple[str, str]:
    from sam2.demo.assets import SHIPPED_MODELS, require_demo_checkpoint

    return SHIPPED_MODELS[128].config, str(require_demo_checkpoint(128))


@pytest.fixture(scope="session")
def video_predictor(demo_paths):
    """The video predictor as the official clients build it (default post-processing)."""
    from sam2.build_sam import build_sam2_video_predictor

    config, checkpoint = demo_paths
    return build_sam2_video_predictor(config, checkpoint, device="cpu")


@pytest.fixture(scope="session")
def image_model(demo_paths):
    from sam2.build_sam import build_sam2

    config, checkpoint = demo_paths
    return build_sam2(config, checkpoint, device="cpu")


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> tuple[Path, dict]:
    """``(folder of JPEGs 00000.jpg..., {"obj1", "obj2": [T, H, W] bool})``: a striped disk
    moving right and a checkered square leaving and re-entering the frame."""
    root = tmp_path_factory.mktemp("client_clip")
    masks = make_clip(str(root), frames=CLIP_FRAMES, width=CLIP_W, height=CLIP_H, seed=3)
    return root / "JPEGImages", masks


@pytest.fixture(autouse=True)
def _quiet_cuda_autocast_warning():
    """Client scripts wrap CPU runs in ``torch.autocast("cuda")``; torch warns that it is off."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*CUDA is not available.*")
        warnings.filterwarnings("ignore", message=".*autocast.*")
        yield
