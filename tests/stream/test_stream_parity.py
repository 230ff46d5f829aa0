"""Pushing a video's frames one by one equals ``propagate_in_video`` forward (to 1e-5)."""
from __future__ import annotations

import pytest
import torch

from stream_helpers import build_instant, script_outputs


def _prompt(target, masks, add):
    """Object 1 by mask, object 2 by two clicks, on the first frame; returns the outputs."""
    first = add("mask", 1, masks["obj1"][0])
    ys, xs = masks["obj2"][0].nonzero()
    clicks = [[float(xs.mean()), float(ys.mean())], [2.0, 2.0]]
    second = add("points", 2, (clicks, [1, 0]))
    return first, second


def _offline(predictor, folder, masks):
    state = predictor.init_state(str(folder))

    def add(kind, obj, what):
        if kind == "mask":
            return predictor.add_new_mask(state, 0, obj, what)[2]
        return predictor.add_new_points_or_box(state, 0, obj, points=what[0], labels=what[1])[2]

    prompts = _prompt(state, masks, add)
    outs = {f: m.clone() for f, _, m in predictor.propagate_in_video(state)}
    return state, prompts, outs


def _streamed(predictor, frames, masks):
    stream = predictor.open_stream(frames[0])

    def add(kind, obj, what):
        if kind == "mask":
            return stream.add_mask(obj, what).logits
        return stream.add_points(obj, what[0], what[1]).logits

    prompts = _prompt(stream, masks, add)
    outs = {}
    for f, frame in enumerate(frames[1:], start=1):
        result = stream.push(frame)
        assert result.frame_idx == f and result.obj_ids == [1, 2]
        outs[f] = result.logits.clone()
    return stream, prompts, outs


@pytest.mark.parametrize("rcms", [False, True], ids=["sam2.1", "rcms"])
def test_push_equals_propagate_in_video(clip12, rcms):
    folder, frames, masks = clip12
    runs = []
    for _ in range(2):
        if rcms:
            # frames 5 and 6 are reliable, the objects disappear on frame 10: RCMS promotes
            # frames 6 and 5
            pred = build_instant(num_prev_frames_to_promote=2, low_quality_threshold=0.3)
            script_outputs(pred, absent={10}, low_quality={1, 2, 3, 4, 7, 8, 9})
        else:
            pred = build_instant()
        runs.append(pred)
    off_state, off_prompts, off = _offline(runs[0], folder, masks)
    stream, on_prompts, on = _streamed(runs[1], frames, masks)

    for a, b in zip(off_prompts, on_prompts):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=0)
    assert sorted(on) == list(range(1, len(frames)))
    for f in on:
        torch.testing.assert_close(on[f], off[f], atol=1e-5, rtol=0, msg=f"frame {f}")
    assert all(torch.equal(on[f], off[f]) for f in on)  # in fact bitwise
    # the memory each object ends with is the same (eviction, promotions)
    for obj in (1, 2):
        a, b = off_state.tracks[obj].bank, stream.state.tracks[obj].bank
        assert sorted(a.cond) == sorted(b.cond)
        # offline, evicted memory is offloaded to the host (for later corrections); a stream,
        # which never revisits a frame, drops it: what stays resident is the same
        assert sorted(set(a.non_cond) - a.offloaded) == sorted(b.non_cond)
        assert not b.offloaded
        assert b.num_evicted == a.num_evicted
        assert a.num_evicted > 0 or rcms  # (promoted frames 5, 6 protect 2..10 from eviction)
    if rcms:
        records = off_state.policy_records()
        assert records[1] and records[1][0]["promoted_frames"] == [6, 5]
        assert stream.state.policy_records() == records
    # sanity: the masks are not trivially empty
    assert (on[3][0] > 0).any()


def test_a_stream_told_its_length_equals_propagate_on_a_short_video(clip12):
    """12 frames, fewer than the 16 object pointers the model reads: the offline predictor
    bounds that window by the video's length, a stream by ``num_frames`` when it is given."""
    from sam2.video.tracking.stream import StreamFrameError, open_stream

    folder, frames, masks = clip12
    _, _, off = _offline(build_instant(["++model.num_maskmem=3"]), folder, masks)

    def streamed(**kwargs):
        stream = open_stream(build_instant(["++model.num_maskmem=3"]), frames[0], **kwargs)
        stream.add_mask(1, masks["obj1"][0])
        ys, xs = masks["obj2"][0].nonzero()
        stream.add_points(2, [[float(xs.mean()), float(ys.mean())], [2.0, 2.0]], [1, 0])
        return stream, {f: stream.push(frame).logits.clone() for f, frame in enumerate(frames[1:], start=1)}

    stream, told = streamed(num_frames=len(frames))
    assert all(torch.equal(told[f], off[f]) for f in off if f > 0)
    with pytest.raises(StreamFrameError, match="opened for 12 frames"):
        stream.push(frames[0])
    _, untold = streamed()
    assert any(not torch.equal(untold[f], off[f]) for f in off if f > 0)  # the window matters here
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="num_frames"):
            open_stream(build_instant(), frames[0], num_frames=bad)
