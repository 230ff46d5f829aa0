"""Locations of the model shipped with the package (config name, checkpoint file)."""
from __future__ import annotations

from pathlib import Path

#: Config of the shipped demo model, as accepted by ``build_sam2`` / ``build_sam2_video_predictor``.
DEMO_CONFIG = "configs/sam2.1/sam2.1_hiera_demo.yaml"

#: Seed of the synthetic split the demo model was trained on (``tools/make_synthetic_mose.py
#: --seed 1000``); held-out splits must use another seed.
DEMO_TRAINING_SEED = 1000

_CHECKPOINT_NAME = "sam2.1_hiera_demo.pt"


def demo_checkpoint_path() -> Path:
    """Path of ``sam2/checkpoints/sam2.1_hiera_demo.pt`` inside the installed package (may not exist)."""
    return Path(__file__).resolve().parent.parent / "checkpoints" / _CHECKPOINT_NAME


def require_demo_checkpoint() -> Path:
    """Like :func:`demo_checkpoint_path`, but raise ``FileNotFoundError`` naming the path when it is absent."""
    path = demo_checkpoint_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: the shipped demo checkpoint is missing from this installation; reinstall the "
            "package or pass a checkpoint explicitly (--checkpoint)"
        )
    return path
