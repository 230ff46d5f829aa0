"""Fixtures of the ONNX tests: the demo model, its graphs exported into a temporary folder,
and a small held-out synthetic split (nothing exported or generated is committed)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from sam2.build_sam import build_sam2_video_predictor  # noqa: E402
from sam2.data.synthetic import SyntheticConfig, write_synthetic_split  # noqa: E402
from sam2.onnx_export import export_tracker  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = "configs/sam2.1/sam2.1_hiera_demo.yaml"
DEMO_CKPT = REPO / "sam2" / "checkpoints" / "sam2.1_hiera_demo.pt"
#: a split the demo model was not trained or tuned on (its own seed)
HELD_OUT = SyntheticConfig(num_videos=3, num_frames=14, height=96, width=128, seed=30_017,
                           max_objects=3, event_prob=0.9)


def demo_predictor(**kwargs):
    return build_sam2_video_predictor(DEMO_CONFIG, str(DEMO_CKPT), device="cpu", **kwargs)


@pytest.fixture(scope="session")
def demo_model():
    torch.set_num_threads(1)
    return demo_predictor(memory_dtype="float32")  # parity is checked in float32


@pytest.fixture(scope="session")
def demo_graphs(tmp_path_factory, demo_model) -> Path:
    out = tmp_path_factory.mktemp("onnx_demo")
    export_tracker(demo_model, out, config_name=DEMO_CONFIG)
    return out


@pytest.fixture(scope="session")
def held_out_split(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("onnx_split") / "split"
    write_synthetic_split(root, HELD_OUT)
    return root
