"""An exported RCMS predictor carries its RCMS parameters to the ONNX tracker."""
from __future__ import annotations

from onnx_helpers import DEMO_CONFIG, demo_predictor
from sam2.onnx import OnnxVideoTracker
from sam2.onnx_export import export_tracker


def test_rcms_parameters_travel_in_the_metadata(tmp_path):
    predictor = demo_predictor(memory_dtype="float32", memory_policy={
        "name": "rcms", "params": {"num_prev_frames_to_promote": 3, "low_quality_threshold": 0.2}})
    export_tracker(predictor, tmp_path, config_name=DEMO_CONFIG)
    policy = OnnxVideoTracker(tmp_path, intra_op_threads=1).policy
    assert policy.name == "rcms"
    assert (policy.num_prev_frames_to_promote, policy.low_quality_threshold) == (3, 0.2)
    plain = OnnxVideoTracker(tmp_path, intra_op_threads=1, memory_policy="sam2.1").policy
    assert plain.name == "sam2.1"
