"""The ONNX tracker against the PyTorch predictor with seeded Hiera-T weights at 1024 px
(the parity tests' oracle clip: a mask-prompted object and a clicked one, two frames)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sam2.build_sam import build_sam2_video_predictor
from sam2.onnx import OnnxVideoTracker
from sam2.onnx_export import export_tracker

PARITY = Path(__file__).resolve().parents[1] / "parity"
for p in (PARITY, PARITY / "oracle_scripts"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import seeded_ckpt  # noqa: E402
from video_clip import make_clip  # noqa: E402

REL_TOL = 1e-4


def _rel(ours, ref) -> float:
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    return float(np.linalg.norm(ours - ref) / max(np.linalg.norm(ref), 1e-12))


@pytest.mark.slow
def test_seeded_hiera_t_1024(tmp_path, one_torch_thread):
    ckpt = tmp_path / "t.pt"
    torch.save({"model": seeded_ckpt.make_seeded_state_dict("t", 0)}, ckpt)
    masks = make_clip(str(tmp_path / "clip"), frames=2)
    predictor = build_sam2_video_predictor("configs/sam2.1/sam2.1_hiera_t.yaml", str(ckpt), device="cpu",
                                           memory_dtype="float32")
    assert predictor.image_size == 1024
    export_tracker(predictor, tmp_path / "graphs", config_name="configs/sam2.1/sam2.1_hiera_t.yaml")
    tracker = OnnxVideoTracker(tmp_path / "graphs", intra_op_threads=1)
    video = str(tmp_path / "clip" / "JPEGImages")
    s_pt, s_ort = predictor.init_state(video), tracker.init_state(video)
    _, _, a = predictor.add_new_mask(s_pt, 0, 1, masks["obj1"][0] > 0)
    _, _, b = tracker.add_new_mask(s_ort, 0, 1, masks["obj1"][0] > 0)
    assert _rel(b, a.numpy()) <= REL_TOL
    ys, xs = np.nonzero(masks["obj2"][0] > 0)
    _, _, a = predictor.add_new_points_or_box(s_pt, 0, 2, points=[[xs.mean(), ys.mean()]], labels=[1])
    _, _, b = tracker.add_new_points_or_box(s_ort, 0, 2, points=[[xs.mean(), ys.mean()]], labels=[1])
    assert _rel(b, a.numpy()) <= REL_TOL
    count = 0
    for (f1, _, a), (f2, _, b) in zip(predictor.propagate_in_video(s_pt), tracker.propagate_in_video(s_ort)):
        assert f1 == f2
        r = _rel(b, a.numpy())
        assert r <= REL_TOL, f"frame {f1}: relative L2 {r:.2e}"
        count += 1
    assert count == 2
