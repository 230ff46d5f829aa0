"""Run the exported SAM 2.1 tracker with ONNX Runtime and NumPy only (no torch).

``OnnxVideoTracker(onnx_dir)`` has the video predictor's calls (``init_state``,
``add_new_points_or_box``, ``add_new_mask``, ``propagate_in_video``, ``reset_state``); the
graphs come from ``tools/export_onnx.py``. Needs the ``onnx`` extra:
``pip install "sam2-rcms[onnx]"``. See ``docs/onnx.md``.
"""
from sam2.onnx.graphs import GraphError, TrackerGraphs
from sam2.onnx.policies import SUPPORTED_POLICIES
from sam2.onnx.state import FrameReadError, TrackerState
from sam2.onnx.tracker import OnnxVideoTracker, PromptError

__all__ = ["GraphError", "FrameReadError", "OnnxVideoTracker", "PromptError", "SUPPORTED_POLICIES",
           "TrackerGraphs", "TrackerState"]
