"""The ONNX tracker against the PyTorch predictor on the demo model (float32 graphs).

Per yielded frame, the video-resolution mask logits of every object agree within 1e-4
relative L2, and J&Ḟ over a held-out synthetic split agrees to two decimals; with plain
SAM 2.1 and with RCMS (same promotions), mask prompts on any frame, clicks, boxes,
corrections and reverse tracking.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
from PIL import Image

from onnx_helpers import demo_predictor
from sam2.evaluation.measures import frame_score
from sam2.onnx import OnnxVideoTracker

REL_TOL = 1e-4


def _rel(ours, ref) -> float:
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    return float(np.linalg.norm(ours - ref) / max(np.linalg.norm(ref), 1e-12))


def _annotations(split: Path, video: str) -> np.ndarray:
    files = sorted((split / "Annotations" / video).glob("*.png"))
    return np.stack([np.array(Image.open(f)) for f in files])


def _run_split(predictor, tracker, split: Path, rel_tol: float = REL_TOL) -> Dict[str, List]:
    """Prompt every object with its mask on its first visible frame, track, compare per frame
    (relative L2 of the logits at most ``rel_tol``)."""
    worst, scores_pt, scores_ort = 0.0, [], []
    videos = sorted(p.name for p in (split / "JPEGImages").iterdir())
    records = []
    for video in videos:
        ann = _annotations(split, video)
        ids = [int(i) for i in np.unique(ann) if i]
        s_pt = predictor.init_state(str(split / "JPEGImages" / video))
        s_ort = tracker.init_state(str(split / "JPEGImages" / video))
        for obj_id in ids:
            first = int(np.flatnonzero((ann == obj_id).any(axis=(1, 2)))[0])
            _, _, a = predictor.add_new_mask(s_pt, first, obj_id, ann[first] == obj_id)
            _, _, b = tracker.add_new_mask(s_ort, first, obj_id, ann[first] == obj_id)
            worst = max(worst, _rel(b, a.numpy()))
        pairs = zip(predictor.propagate_in_video(s_pt, start_frame_idx=0),
                    tracker.propagate_in_video(s_ort, start_frame_idx=0))
        for (f_pt, ids_pt, m_pt), (f_ort, ids_ort, m_ort) in pairs:
            assert f_pt == f_ort and ids_pt == ids_ort
            m_pt = m_pt.numpy()
            assert m_ort.shape == m_pt.shape and m_ort.dtype == np.float32
            r = _rel(m_ort, m_pt)
            assert r <= rel_tol, f"{video} frame {f_pt}: relative L2 {r:.2e}"
            worst = max(worst, r)
            for o, obj_id in enumerate(ids_pt):
                gt = ann[f_pt] == obj_id
                for pred, out in ((m_pt[o, 0] > 0, scores_pt), (m_ort[o, 0] > 0, scores_ort)):
                    s = frame_score(gt, pred)
                    out.append((s.j + s.f_dot) / 2)
        records.append((s_pt.policy_records(), tracker.policy_records(s_ort)))
    return {"worst": worst, "jf": (float(np.mean(scores_pt)), float(np.mean(scores_ort))), "records": records}


@pytest.mark.parametrize("policy", ["sam2.1", "rcms"])
def test_held_out_split_parity(policy, demo_graphs, held_out_split, demo_model):
    if policy == "sam2.1":
        predictor, rcms = demo_model, None
    else:
        settings = {"num_prev_frames_to_promote": 3, "low_quality_threshold": 0.2}
        predictor, rcms = demo_predictor(memory_dtype="float32", **settings), settings
    # plain SAM 2.1 with fixed-size memory tensors (unused slots masked), RCMS with exact sizes
    tracker = OnnxVideoTracker(demo_graphs, rcms=rcms, intra_op_threads=1, memory_dtype="float32",
                               fixed_slots=policy == "sam2.1")
    assert tracker.policy.name == policy
    got = _run_split(predictor, tracker, held_out_split)
    assert got["worst"] <= REL_TOL
    jf_pt, jf_ort = got["jf"]
    assert round(jf_pt, 2) == round(jf_ort, 2), got["jf"]
    assert jf_pt > 0.3  # the model does track (a broken comparison would not get here)
    for pt, ort in got["records"]:
        assert {k: [r["promoted_frames"] for r in v] for k, v in pt.items()} == \
            {k: [r["promoted_frames"] for r in v] for k, v in ort.items()}
    if policy == "rcms":
        assert any(ev["promoted_frames"] for _, ort in got["records"] for v in ort.values() for ev in v), \
            "RCMS never promoted a frame on this split: the test would not check promotions"


def test_clicks_box_correction_and_reverse(demo_graphs, held_out_split, demo_model):
    tracker = OnnxVideoTracker(demo_graphs, intra_op_threads=1, memory_dtype="float32")
    predictor = demo_model
    video = sorted(p.name for p in (held_out_split / "JPEGImages").iterdir())[0]
    ann = _annotations(held_out_split, video)
    ids = [int(i) for i in np.unique(ann[4]) if i]
    folder = str(held_out_split / "JPEGImages" / video)
    s_pt, s_ort = predictor.init_state(folder), tracker.init_state(folder)

    def both(call, *args, **kwargs):
        _, _, a = getattr(predictor, call)(s_pt, *args, **kwargs)
        _, _, b = getattr(tracker, call)(s_ort, *args, **kwargs)
        assert _rel(b, a.numpy()) <= REL_TOL, call
        return b

    ys, xs = np.nonzero(ann[4] == ids[0])
    click = np.array([[xs.mean(), ys.mean()]], np.float32)
    both("add_new_points_or_box", 4, ids[0], points=click, labels=np.array([1]))
    if len(ids) > 1:
        ys2, xs2 = np.nonzero(ann[4] == ids[1])
        both("add_new_points_or_box", 4, ids[1], box=np.array([xs2.min(), ys2.min(), xs2.max(), ys2.max()]))

    holed = np.zeros(ann.shape[1:], bool)
    holed[20:60, 30:90] = True
    holed[36:44, 56:64] = False  # a hole the post-processing fills in the low-res logits
    filled = both("add_new_mask", 4, 50, holed)
    assert filled.shape[0] == len(s_ort.obj_ids)

    def propagate(**kwargs):
        for (f1, _, a), (f2, _, b) in zip(predictor.propagate_in_video(s_pt, **kwargs),
                                          tracker.propagate_in_video(s_ort, **kwargs)):
            assert f1 == f2 and _rel(b, a.numpy()) <= REL_TOL, f"frame {f1}"

    propagate()
    propagate(reverse=True)
    # a negative click on a tracked frame (a correction reading the memory), then re-propagate
    before = tracker._frame_result(s_ort, 9).copy()
    corrected = both("add_new_points_or_box", 9, ids[0], points=np.array([[2.0, 2.0]]), labels=np.array([0]),
                     clear_old_points=False)
    assert np.abs(corrected - before).max() > 0  # the correction did change the prediction
    propagate(start_frame_idx=9)
    tracker.reset_state(s_ort)
    assert s_ort.obj_ids == []


def test_bfloat16_memories_follow_the_predictor(demo_graphs, held_out_split):
    """With memories stored as bfloat16 on both sides (the predictor's default), the tracker
    rounds them the same way: close logits (a last-bit difference may flip one rounding, so
    not held to 1e-4) and the same J&Ḟ to two decimals."""
    predictor = demo_predictor(memory_dtype="bfloat16")
    tracker = OnnxVideoTracker(demo_graphs, intra_op_threads=1, memory_dtype="bfloat16")
    assert tracker.round_memory
    got = _run_split(predictor, tracker, held_out_split, rel_tol=1e-2)
    assert got["worst"] <= 1e-2
    assert round(got["jf"][0], 2) == round(got["jf"][1], 2), got["jf"]


def test_drop_eviction_bounds_memory_without_changing_results(demo_graphs, tmp_path):
    """``memory_eviction="drop"`` deletes what no later frame reads: the same masks as keeping
    everything, fewer stored entries, and a correction that needs dropped memory is refused."""
    from sam2.data.synthetic import SyntheticConfig, write_synthetic_split

    split = tmp_path / "long"
    write_synthetic_split(split, SyntheticConfig(num_videos=1, num_frames=44, height=64, width=80, seed=7,
                                                 max_objects=2))
    video = sorted((split / "JPEGImages").iterdir())[0]
    ann = _annotations(split, video.name)[0]
    results = {}
    for mode in ("off", "drop"):
        tracker = OnnxVideoTracker(demo_graphs, intra_op_threads=1, memory_eviction=mode)
        state = tracker.init_state(str(video))
        for obj_id in [int(i) for i in np.unique(ann) if i]:
            tracker.add_new_mask(state, 0, obj_id, ann == obj_id)
        results[mode] = [m for _, _, m in tracker.propagate_in_video(state)]
        stored = max(len(o.non_cond) for o in state.objects.values())
        if mode == "drop":
            # kept: frames 1-16 (read by a propagation starting at the prompt on frame 0) and
            # the 16 frames before the last one; frames 17-26 are gone
            assert stored == 33, stored
            with pytest.raises(RuntimeError, match="dropped"):
                tracker.add_new_points_or_box(state, 25, state.obj_ids[0], points=[[5, 5]], labels=[0],
                                              clear_old_points=False)
        else:
            assert stored == 43
    for a, b in zip(results["off"], results["drop"]):
        np.testing.assert_array_equal(a, b)


def test_fused_attention_graphs_match_the_predictor(tmp_path, held_out_split, demo_model):
    """``attention="fused"``: every attention becomes ONNX Runtime's MultiHeadAttention (the
    memory cross-attention with its key-padding mask) and the tracker's logits still match the
    PyTorch predictor within 1e-4, with masked fixed-size memory slots and with exact sizes."""
    import onnx

    from sam2.onnx_export import export_tracker

    export_tracker(demo_model, tmp_path, config_name="demo", attention="fused")
    for name in ("image_encoder", "prompt_decoder", "track_step"):
        proto = onnx.load(str(tmp_path / f"{name}.onnx"))
        ops = [n.op_type for n in proto.graph.node]
        assert "MultiHeadAttention" in ops and "Softmax" not in ops, name
        assert {p.key: p.value for p in proto.metadata_props}["sam2.attention"] == "fused"
    for fixed in (True, False):
        tracker = OnnxVideoTracker(tmp_path, intra_op_threads=1, memory_dtype="float32", fixed_slots=fixed)
        got = _run_split(demo_model, tracker, held_out_split)
        assert got["worst"] <= REL_TOL
        assert round(got["jf"][0], 2) == round(got["jf"][1], 2), got["jf"]
