"""Helpers of the ONNX tests (a uniquely named module: several test folders have a
``conftest``, so ``from conftest import ...`` would pick whichever was imported first)."""
from __future__ import annotations

from pathlib import Path

from sam2.build_sam import build_sam2_video_predictor
from sam2.data.synthetic import SyntheticConfig

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = "configs/sam2.1/sam2.1_hiera_demo.yaml"
DEMO_CKPT = REPO / "sam2" / "checkpoints" / "sam2.1_hiera_demo.pt"
#: a split the demo model was not trained or tuned on (its own seed)
HELD_OUT = SyntheticConfig(num_videos=3, num_frames=14, height=96, width=128, seed=30_017,
                           max_objects=3, event_prob=0.9)


def demo_predictor(**kwargs):
    """The shipped demo model as a CPU video predictor (``kwargs`` as ``build_sam2_video_predictor``)."""
    return build_sam2_video_predictor(DEMO_CONFIG, str(DEMO_CKPT), device="cpu", **kwargs)
