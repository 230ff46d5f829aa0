"""The official web demo's server predictor (``demo/backend/server/inference/predictor.py``): its
sequence of predictor calls during one session, on the shipped demo model.

A session: ``init_state(path, offload_video_to_cpu=...)``; clicks sent as relative coordinates
(``normalize_coords=False``, lists, ``clear_old_points`` from the client); a mask prompt as a bool
tensor; propagation forward then backward from the frame the user is on, which the user may
cancel (the generator is closed early); clearing one object's prompts on a frame; removing an
object; the session statistics read ``state["num_frames"]`` and ``state["obj_ids"]``; "clear all"
is ``reset_state``. Masks go to the client as ``(video_res_masks > 0)[:, 0]``.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch


def centre_of(mask: np.ndarray) -> list:
    ys, xs = np.nonzero(mask)
    return [float(xs.mean()), float(ys.mean())]


def _binary(masks: torch.Tensor) -> np.ndarray:
    return (masks > 0.0)[:, 0].cpu().numpy()


def _new_session(predictor, video_dir):
    with torch.inference_mode():
        return predictor.init_state(str(video_dir), offload_video_to_cpu=False)


def test_relative_clicks_mean_the_same_as_pixel_clicks(video_predictor, clip) -> None:
    video_dir, masks = clip
    height, width = masks["obj1"].shape[1:]
    a, b = centre_of(masks["obj1"][2]), [4.0, 4.0]
    rel = lambda p: [p[0] / width, p[1] / height]  # noqa: E731 - the web client's coordinates
    results = []
    for normalize, first, second in ((False, rel(a), rel(b)), (True, a, b)):
        state = _new_session(video_predictor, video_dir)
        video_predictor.add_new_points_or_box(inference_state=state, frame_idx=2, obj_id=1, points=[first],
                                              labels=[1], clear_old_points=True, normalize_coords=normalize)
        # the next click of the same object adds to the first one
        _, _, added = video_predictor.add_new_points_or_box(
            inference_state=state, frame_idx=2, obj_id=1, points=[second], labels=[0], clear_old_points=False,
            normalize_coords=normalize)
        results.append(added)
    torch.testing.assert_close(results[0], results[1], atol=1e-4, rtol=0)
    # clear_old_points=False after A == both clicks at once after A (the earlier logits are fed back alike)
    state = _new_session(video_predictor, video_dir)
    video_predictor.add_new_points_or_box(state, 2, 1, points=[a], labels=[1])
    _, _, both = video_predictor.add_new_points_or_box(state, 2, 1, points=[a, b], labels=[1, 0])
    torch.testing.assert_close(both, results[1], atol=1e-5, rtol=0)


def test_session(video_predictor, clip) -> None:
    video_dir, masks = clip
    num_frames, height, width = masks["obj1"].shape
    predictor = video_predictor
    state = _new_session(predictor, video_dir)
    start = 1  # both objects are visible there
    frame_idx, object_ids, video_res = predictor.add_new_points_or_box(
        inference_state=state, frame_idx=start, obj_id=1,
        points=[[c / s for c, s in zip(centre_of(masks["obj1"][start]), (width, height))]], labels=[1],
        clear_old_points=True, normalize_coords=False)
    assert (frame_idx, object_ids) == (start, [1]) and _binary(video_res).shape == (1, height, width)
    clicked = video_res.clone()

    frame_idx, obj_ids, video_res = predictor.add_new_mask(
        inference_state=state, frame_idx=start, obj_id=2, mask=torch.tensor(masks["obj2"][start] > 0))
    assert obj_ids == [1, 2] and video_res.shape == (2, 1, height, width)
    torch.testing.assert_close(video_res[:1], clicked)  # the other object's output is unchanged
    shown = _binary(video_res)[1]
    overlap = (shown & masks["obj2"][start]).sum() / (shown | masks["obj2"][start]).sum()
    assert overlap > 0.9  # a mask prompt is shown as (almost) the mask itself

    # propagation "both": forward then backward from the user's frame
    forward = [f for f, ids, m in predictor.propagate_in_video(
        inference_state=state, start_frame_idx=start, max_frame_num_to_track=None, reverse=False)]
    backward = [f for f, ids, m in predictor.propagate_in_video(
        inference_state=state, start_frame_idx=start, max_frame_num_to_track=None, reverse=True)]
    assert forward == list(range(start, num_frames)) and backward == list(range(start, -1, -1))
    stats = f"{state['num_frames']} frames, {len(state['obj_ids'])} objects"
    assert stats == f"{num_frames} frames, 2 objects"

    # the user cancels a propagation after two frames; the session stays usable
    running = predictor.propagate_in_video(inference_state=state, start_frame_idx=start, reverse=False)
    assert [next(running)[0], next(running)[0]] == [start, start + 1]
    running.close()
    predictor.add_new_points_or_box(state, start + 3, 1, points=[[0.1, 0.1]], labels=[0], normalize_coords=False)

    # clear object 1's prompts on the frame it was first clicked: its earlier output stays shown
    frame_idx, obj_ids, cleared = predictor.clear_all_prompts_in_frame(state, start, 1)
    assert (frame_idx, obj_ids) == (start, [1, 2]) and cleared.shape == (2, 1, height, width)
    np.testing.assert_array_equal(_binary(cleared)[0], _binary(clicked)[0])
    with pytest.raises(KeyError, match="99"):  # an object the session never had is named
        predictor.clear_all_prompts_in_frame(state, start, 99)

    # remove object 2: the frames it was prompted on are sent again, without it
    new_obj_ids, updated_frames = predictor.remove_object(state, 2)
    assert new_obj_ids == [1] and [f for f, _ in updated_frames] == [start]
    assert updated_frames[0][1].shape == (1, 1, height, width)
    assert predictor.remove_object(state, 2) == ([1], [])  # not strict: nothing to do
    with pytest.raises(RuntimeError, match=r"2.*\[1\]"):
        predictor.remove_object(state, 2, strict=True)

    # "clear all points in video"
    predictor.reset_state(state)
    assert state["obj_ids"] == [] and state["num_frames"] == num_frames
