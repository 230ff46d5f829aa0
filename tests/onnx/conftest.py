"""Fixtures of the ONNX tests: the demo model, its graphs exported into a temporary folder,
and a small held-out synthetic split (nothing exported or generated is committed)."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx_helpers import DEMO_CONFIG, HELD_OUT, demo_predictor  # noqa: E402
from sam2.data.synthetic import write_synthetic_split  # noqa: E402
from sam2.onnx_export import export_tracker  # noqa: E402


@pytest.fixture(scope="session")
def demo_model():
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
