"""Helpers of the streaming tests (a uniquely named module: several test folders have a
``conftest``, so ``from conftest import ...`` would pick whichever was imported first)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ORACLE_SCRIPTS = Path(__file__).resolve().parents[1] / "parity" / "oracle_scripts"
if str(ORACLE_SCRIPTS) not in sys.path:
    sys.path.insert(0, str(ORACLE_SCRIPTS))

from video_clip import make_clip  # noqa: E402,F401

VIDEO_TESTS = Path(__file__).resolve().parents[1] / "video"
if str(VIDEO_TESTS) not in sys.path:
    sys.path.insert(0, str(VIDEO_TESTS))

from scripted_outputs import script_outputs  # noqa: E402,F401

INSTANT = "configs/sam2.1/sam2.1_hiera_instant.yaml"
# a short read window (3 memories, 4 pointers) so that eviction happens within a few frames
SHORT_WINDOW = ["++model.num_maskmem=3", "++model.max_obj_ptrs_in_encoder=4"]


def build_instant(overrides=SHORT_WINDOW, **kwargs):
    """The instant config with seeded random weights (no checkpoint)."""
    from sam2.build_sam import build_sam2_video_predictor

    torch.manual_seed(0)
    return build_sam2_video_predictor(INSTANT, None, device="cpu",
                                      hydra_overrides_extra=list(overrides), **kwargs)


def read_frames(folder: Path):
    """The clip's frames as ``[H, W, 3]`` uint8 arrays, decoded like the offline source."""
    return [np.array(Image.open(p).convert("RGB")) for p in sorted(folder.glob("*.jpg"))]
