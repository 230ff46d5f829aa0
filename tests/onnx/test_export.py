"""The exporter: four graphs that pass onnx.checker and describe themselves; clear refusals."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from sam2.onnx import GraphError, OnnxVideoTracker
from sam2.onnx_export import GRAPH_FILES, UnsupportedModelError, check_exportable, export_tracker

EXPECTED_INPUTS = {
    "image_encoder": ["image"],
    "prompt_decoder": ["vision_feat", "feat_s0", "feat_s1", "point_coords", "point_labels", "mask_input",
                       "has_mask_input", "add_no_mem_embed", "presence_threshold"],
    "track_step": ["vision_feat", "feat_s0", "feat_s1", "mem_feats", "mem_tpos", "mem_valid", "obj_ptrs",
                   "ptr_tpos", "ptr_valid", "point_coords", "point_labels", "mask_input", "has_mask_input",
                   "presence_threshold"],
    "memory_encoder": ["vision_feat", "masks", "object_score_logits", "binarize"],
}


def test_graphs_pass_checker_and_carry_metadata(demo_graphs, demo_model):
    ids = set()
    for name, fname in GRAPH_FILES.items():
        proto = onnx.load(str(demo_graphs / fname))
        onnx.checker.check_model(proto)
        meta = {p.key: p.value for p in proto.metadata_props}
        assert meta["sam2.graph"] == name
        inputs = json.loads(meta["sam2.inputs"])
        assert list(inputs) == EXPECTED_INPUTS[name]
        assert list(json.loads(meta["sam2.outputs"]))
        cfg = json.loads(meta["sam2.config"])
        assert cfg["image_size"] == demo_model.image_size == 128
        assert cfg["memory_temporal_stride_for_eval"] == 2 and cfg["num_maskmem"] == 7
        ids.add(meta["sam2.model_id"])
    assert len(ids) == 1
    track_inputs = json.loads({p.key: p.value for p in onnx.load(str(demo_graphs / "track_step.onnx")).metadata_props}["sam2.inputs"])
    assert track_inputs["mem_feats"] == ["B", "M", 32, 8, 8]  # dynamic objects and slots
    assert track_inputs["obj_ptrs"] == ["B", "P", 96]


def test_existing_graphs_are_not_overwritten(demo_graphs, demo_model):
    with pytest.raises(FileExistsError, match="image_encoder.onnx"):
        export_tracker(demo_model, demo_graphs)


def test_unsupported_setting_names_the_part(demo_model):
    demo_model.use_obj_ptrs_in_encoder = False
    try:
        with pytest.raises(UnsupportedModelError, match="memory attention: use_obj_ptrs_in_encoder"):
            check_exportable(demo_model)
    finally:
        demo_model.use_obj_ptrs_in_encoder = True


def test_graphs_of_another_model_are_refused(demo_graphs, demo_model, tmp_path):
    """A folder mixing graphs of two models is refused when the tracker is built, before any frame."""
    import torch

    from onnx_helpers import demo_predictor

    other = demo_predictor()
    with torch.no_grad():
        other.memory_encoder.out_proj.weight.mul_(1.01)
    export_tracker(other, tmp_path)
    (tmp_path / "track_step.onnx").write_bytes((demo_graphs / "track_step.onnx").read_bytes())
    with pytest.raises(GraphError, match="different models"):
        OnnxVideoTracker(tmp_path)
    (tmp_path / "track_step.onnx").write_bytes((demo_graphs / "memory_encoder.onnx").read_bytes())
    with pytest.raises(GraphError, match="holds the 'memory_encoder' graph, expected 'track_step'"):
        OnnxVideoTracker(tmp_path)
    (tmp_path / "track_step.onnx").unlink()
    with pytest.raises(GraphError, match="track_step.onnx: missing"):
        OnnxVideoTracker(tmp_path)


def test_unavailable_policy_is_refused_with_reason(demo_graphs):
    with pytest.raises(ValueError, match="samurai.*Kalman"):
        OnnxVideoTracker(demo_graphs, memory_policy="samurai")


def test_masked_slots_do_not_change_the_result(demo_graphs):
    """Padding memory slots marked invalid leaves the tracking step's outputs unchanged."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(demo_graphs / "track_step.onnx"))
    rng = np.random.default_rng(0)
    f32 = np.float32

    mem = rng.standard_normal((1, 3, 32, 8, 8)).astype(f32)
    ptrs = rng.standard_normal((1, 2, 96)).astype(f32)
    base = {"vision_feat": rng.standard_normal((1, 96, 8, 8)).astype(f32),
            "feat_s0": rng.standard_normal((1, 12, 32, 32)).astype(f32),
            "feat_s1": rng.standard_normal((1, 24, 16, 16)).astype(f32),
            "point_coords": np.zeros((1, 2, 2), f32), "point_labels": -np.ones((1, 2), np.int32),
            "mask_input": np.zeros((1, 1, 32, 32), f32), "has_mask_input": np.zeros(1, bool),
            "presence_threshold": np.zeros((), f32)}
    exact = sess.run(None, {**base, "mem_feats": mem, "mem_tpos": np.array([[0, 5, 6]]),
                            "mem_valid": np.ones((1, 3), bool), "obj_ptrs": ptrs,
                            "ptr_tpos": np.array([[0.0, 1 / 15]], f32), "ptr_valid": np.ones((1, 2), bool)})
    junk = rng.standard_normal((1, 4, 32, 8, 8)).astype(f32) * 50
    padded = sess.run(None, {**base, "mem_feats": np.concatenate([mem, junk], 1),
                             "mem_tpos": np.array([[0, 5, 6, 1, 2, 3, 4]]),
                             "mem_valid": np.array([[True] * 3 + [False] * 4]),
                             "obj_ptrs": np.concatenate([ptrs, rng.standard_normal((1, 5, 96)).astype(f32)], 1),
                             "ptr_tpos": np.array([[0.0, 1 / 15, .2, .3, .4, .5, .6]], f32),
                             "ptr_valid": np.array([[True, True] + [False] * 5])})
    for a, b in zip(exact, padded):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
    # and the memory is read at all: another valid memory changes the masks
    moved = sess.run(None, {**base, "mem_feats": mem * 0.5, "mem_tpos": np.array([[0, 5, 6]]),
                            "mem_valid": np.ones((1, 3), bool), "obj_ptrs": ptrs,
                            "ptr_tpos": np.array([[0.0, 1 / 15]], f32), "ptr_valid": np.ones((1, 2), bool)})
    assert np.abs(moved[0] - exact[0]).max() > 1e-3


def test_rcms_retains_its_promotion_candidates():
    """Eviction keeps the N newest tracked frames RCMS could promote while it is armed."""
    from sam2.onnx.policies import RcmsPolicy
    from sam2.onnx.state import Entry, ObjectState

    def entry(q):
        z = np.zeros((1, 1), np.float32)
        return Entry(pred_masks=z[None, None], obj_ptr=z, object_score_logits=z, ious=z, quality=q)

    policy = RcmsPolicy(2, 0.5)
    obj = ObjectState(obj_id=1)
    for t, q in {0: 0.9, 1: 0.9, 2: 0.7, 3: 0.2, 4: -1.0, 5: 0.6, 6: 0.1}.items():
        obj.non_cond[t] = entry(q)
    state = policy.new_object_state()
    assert policy.frames_to_retain(state, obj) == [5, 2]
    absent = entry(0.9)
    absent.object_score_logits = np.full((1, 1), -3.0, np.float32)
    policy.on_frame(state, obj, 7, absent)  # first absence: promote 5 and 2, then latch
    assert sorted(obj.cond) == [2, 5] and state.latched
    assert policy.frames_to_retain(state, obj) == []
