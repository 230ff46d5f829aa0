"""The official video-predictor notebook's sequence of calls, on the shipped demo model.

Order of the notebook: list the JPEG frames, ``init_state(video_path=...)``, ``reset_state``,
one click, the same object again with two clicks, ``propagate_in_video`` into a
``{frame: {obj_id: mask > 0}}`` dict, a negative refinement click on a late frame, propagation
again; then a box, a box with a click; then several objects. The notebook runs it inside
``torch.inference_mode()`` and ``torch.autocast("cuda", dtype=torch.bfloat16)`` (inactive on CPU).
"""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch


def centre_of(mask: np.ndarray) -> list:
    ys, xs = np.nonzero(mask)
    return [float(xs.mean()), float(ys.mean())]


def _segments(predictor, state, logits_of: dict | None = None) -> dict:
    out = {}
    for frame_idx, obj_ids, logits in predictor.propagate_in_video(state):
        assert isinstance(logits, torch.Tensor) and logits.dtype == torch.float32
        out[frame_idx] = {oid: (logits[i] > 0.0).cpu().numpy() for i, oid in enumerate(obj_ids)}
        if logits_of is not None:
            logits_of[frame_idx] = logits.clone()
    return out


@pytest.fixture()
def notebook_state(video_predictor, clip):
    video_dir, _ = clip
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        state = video_predictor.init_state(video_path=str(video_dir))
        video_predictor.reset_state(state)
    return state


def test_frame_listing_and_state_keys(video_predictor, clip, notebook_state) -> None:
    video_dir, masks = clip
    frame_names = [p for p in os.listdir(video_dir) if os.path.splitext(p)[-1] in (".jpg", ".jpeg", ".JPG", ".JPEG")]
    frame_names.sort(key=lambda p: int(os.path.splitext(p)[0]))
    state = notebook_state
    assert state["num_frames"] == len(frame_names) == masks["obj1"].shape[0]
    assert (state["video_height"], state["video_width"]) == masks["obj1"].shape[1:]
    assert state["obj_ids"] == []
    assert "video_height" in state and "images" not in state and state.get("images", 3) == 3
    with pytest.raises(KeyError, match="'images'.*video_height"):
        state["images"]  # unsupported official key: the error names it and lists the supported ones


def test_clicks_propagation_refinement(video_predictor, clip, notebook_state) -> None:
    _, masks = clip
    state, predictor = notebook_state, video_predictor
    num_frames, height, width = masks["obj1"].shape
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        # one positive click on the disk
        points = np.array([centre_of(masks["obj1"][0])], dtype=np.float32)
        labels = np.array([1], np.int32)
        _, out_obj_ids, out_mask_logits = predictor.add_new_points_or_box(
            inference_state=state, frame_idx=0, obj_id=1, points=points, labels=labels)
        assert out_obj_ids == [1]
        assert out_mask_logits.shape == (1, 1, height, width) and out_mask_logits.dtype == torch.float32
        shown = (out_mask_logits[0] > 0.0).cpu().numpy()
        assert shown.shape == (1, height, width) and shown.dtype == bool
        assert state["obj_ids"] == [1]

        # the notebook's second call: both clicks again (clear_old_points=True replaces the first)
        points = np.array([centre_of(masks["obj1"][0]), [5.0, 5.0]], dtype=np.float32)
        labels = np.array([1, 0], np.int32)
        _, ids2, logits2 = predictor.add_new_points_or_box(
            inference_state=state, frame_idx=0, obj_id=1, points=points, labels=labels)
        assert ids2 == [1] and not torch.equal(logits2, out_mask_logits)

        first_logits: dict = {}
        first = _segments(predictor, state, first_logits)
        assert sorted(first) == list(range(num_frames))
        for per_obj in first.values():
            assert list(per_obj) == [1] and per_obj[1].shape == (1, height, width)
        # the prompted frame keeps the output the user saw
        assert np.array_equal(first[0][1], (logits2[0] > 0.0).cpu().numpy())

        # a negative refinement click on a late frame, then propagation again
        late = num_frames - 2
        _, ids3, refined = predictor.add_new_points_or_box(
            inference_state=state, frame_idx=late, obj_id=1,
            points=np.array([centre_of(masks["obj1"][late])], dtype=np.float32), labels=np.array([0], np.int32))
        assert ids3 == [1] and refined.shape == (1, 1, height, width)
        assert not torch.equal(refined, first_logits[late])  # the click changed the prediction
        second = _segments(predictor, state)
        assert sorted(second) == list(range(num_frames))
        for frame_idx in range(late):  # memory before the corrected frame is unchanged: same masks
            assert np.array_equal(second[frame_idx][1], first[frame_idx][1]), frame_idx


def test_box_then_box_and_click(video_predictor, clip, notebook_state) -> None:
    _, masks = clip
    state, predictor = notebook_state, video_predictor
    ys, xs = np.nonzero(masks["obj1"][0])
    box = np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.float32)
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        _, ids, box_only = predictor.add_new_points_or_box(inference_state=state, frame_idx=0, obj_id=4, box=box)
        assert ids == [4] and box_only.shape[:2] == (1, 1)
        _, ids, box_click = predictor.add_new_points_or_box(
            inference_state=state, frame_idx=0, obj_id=4, points=np.array([[box[0] + 1, box[1] + 1]], np.float32),
            labels=np.array([0], np.int32), box=box)
        assert ids == [4] and not torch.equal(box_click, box_only)
        segments = _segments(predictor, state)
        assert sorted(segments) == list(range(masks["obj1"].shape[0]))
        with pytest.raises(ValueError, match="box.*clear_old_points"):
            predictor.add_new_points_or_box(state, 0, 4, box=box, clear_old_points=False)


def test_several_objects(video_predictor, clip, notebook_state) -> None:
    _, masks = clip
    state, predictor = notebook_state, video_predictor
    height, width = masks["obj1"].shape[1:]
    prompts = {}
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        prompts[2] = np.array([centre_of(masks["obj1"][0])], np.float32), np.array([1], np.int32)
        _, ids, logits = predictor.add_new_points_or_box(
            inference_state=state, frame_idx=0, obj_id=2, points=prompts[2][0], labels=prompts[2][1])
        assert ids == [2] and logits.shape == (1, 1, height, width)
        prompts[3] = np.array([centre_of(masks["obj2"][0])], np.float32), np.array([1], np.int32)
        _, ids, logits = predictor.add_new_points_or_box(
            inference_state=state, frame_idx=0, obj_id=3, points=prompts[3][0], labels=prompts[3][1])
        assert ids == [2, 3] and logits.shape == (2, 1, height, width)
        for i, out_obj_id in enumerate(ids):  # the notebook draws prompts[out_obj_id] next to mask i
            assert out_obj_id in prompts and (logits[i] > 0.0).cpu().numpy().shape == (1, height, width)
        segments = _segments(predictor, state)
        assert all(list(per_obj) == [2, 3] for per_obj in segments.values())
        predictor.reset_state(state)
        assert state["obj_ids"] == []
        with pytest.raises(RuntimeError, match="no object"):
            next(iter(predictor.propagate_in_video(state)))
