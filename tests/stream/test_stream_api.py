"""The streaming API: prompts on the current frame only, new objects and corrections mid-stream,
bad frames, closing, and that frames are not kept."""
from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
import torch
from PIL import Image

from stream_helpers import build_instant
from sam2.video.sources.live_sources import LiveFrame
from sam2.video.tracking.stream import (
    StreamClosedError, StreamFrameError, StreamMasks, StreamPromptError, VideoStream, open_stream,
)


@pytest.fixture(scope="module")
def predictor():
    return build_instant()


def test_prompts_only_on_the_current_frame(predictor, clip12):
    _, frames, masks = clip12
    stream = open_stream(predictor, frames[0])
    stream.add_mask(1, masks["obj1"][0], frame_idx=0)
    stream.push(frames[1])
    stream.push(frames[2])
    with pytest.raises(StreamPromptError, match=r"frame 1 is in the past: .*current frame \(2\)"):
        stream.add_points(1, [[10, 10]], [1], frame_idx=1)
    with pytest.raises(StreamPromptError, match=r"frame 5 is not pushed yet"):
        stream.add_mask(2, masks["obj2"][5], frame_idx=5)
    assert stream.obj_ids == [1]


def test_new_object_mid_stream_and_correction(predictor, clip12):
    _, frames, masks = clip12
    stream = open_stream(predictor, Image.fromarray(frames[0]))  # PIL first frame
    out = stream.add_mask(1, masks["obj1"][0])
    assert (out.frame_idx, out.obj_ids, tuple(out.logits.shape)) == (0, [1], (1, 1, 48, 64))
    for f in (1, 2, 3):
        out = stream.push(frames[f])
    assert out.obj_ids == [1]
    # a second object appears on frame 3: it starts here, both come back at once
    out = stream.add_box(2, [30, 5, 50, 25])
    assert out.frame_idx == 3 and out.obj_ids == [1, 2]
    assert out.mask_of(2).any()
    out = stream.push(frames[4])
    assert out.obj_ids == [1, 2] and out.logits.shape == (2, 1, 48, 64)
    assert sorted(stream.state.tracks[2].bank.cond) == [3]
    # a correction of object 1 on the current frame (4) changes its mask there and becomes
    # a tracked (non-conditioning) memory of frame 4, like an offline correction
    before = out.logits[0].clone()
    fixed = stream.add_mask(1, masks["obj1"][4])
    assert not torch.equal(fixed.logits[0], before)
    # (a mask prompt's output is the prompt itself, up to resizing)
    assert (fixed.mask_of(1) != torch.from_numpy(masks["obj1"][4])).float().mean() < 0.05
    stored_before = stream.state.tracks[1].bank.non_cond[4].maskmem_features.clone()
    stream.push(frames[5])
    bank = stream.state.tracks[1].bank
    assert 4 not in bank.cond and 4 in bank.non_cond
    assert not torch.equal(bank.non_cond[4].maskmem_features, stored_before)


def test_push_without_objects_and_unpacking(predictor, clip12):
    _, frames, masks = clip12
    stream = open_stream(predictor, torch.from_numpy(frames[0]).permute(2, 0, 1))  # CHW tensor
    f, ids, logits = stream.push(frames[1])
    assert (f, ids, tuple(logits.shape)) == (1, [], (0, 1, 48, 64))
    out = stream.add_mask(7, masks["obj1"][1])
    assert out.frame_idx == 1 and out.obj_ids == [7]
    out = stream.push(frames[2])
    assert isinstance(out, StreamMasks) and out.obj_ids == [7] and out.masks.shape == (1, 48, 64)
    with pytest.raises(KeyError, match="unknown object id 3"):
        out.mask_of(3)
    stream.add_mask(8, masks["obj2"][2])
    out = stream.push(frames[3])
    assert out.obj_ids == [7, 8]
    assert stream.remove_object(7) == [8]  # object 7 was prompted on frame 1, now past
    assert stream.push(frames[4]).obj_ids == [8]
    with pytest.raises(KeyError, match="unknown object id 7"):
        stream.remove_object(7)
    assert stream.remove_object(8) == []
    assert stream.push(frames[5]).obj_ids == []


def test_bad_frames_name_the_frame_and_leave_the_stream_usable(predictor, clip12):
    _, frames, masks = clip12
    stream = open_stream(predictor, frames[0])
    stream.add_mask(1, masks["obj1"][0])
    stream.push(frames[1])
    expected = r"frame 2 of the stream is 32x48 but the stream's first frame is 64x48"
    with pytest.raises(StreamFrameError, match=expected):
        stream.push(frames[2][:, :32])
    live = LiveFrame(9, frames[2][:40], "00009", "frame 9 (cam/00009.png)")
    with pytest.raises(StreamFrameError, match=r"frame 2 of the stream \(frame 9 \(cam/00009.png\)\)"):
        stream.push(live)
    with pytest.raises(StreamFrameError, match="frame 2 of the stream: expected an image"):
        stream.push("not a frame")
    assert stream.frame_idx == 1
    assert stream.push(frames[2]).frame_idx == 2
    with pytest.raises(StreamFrameError, match="first frame"):
        open_stream(predictor, np.zeros((4, 4), np.int64))


def test_memory_dtype_and_offload(predictor, clip12):
    _, frames, masks = clip12
    stream = predictor.open_stream(frames[0], memory_dtype="float32", offload_state_to_cpu=True)
    stream.add_mask(1, masks["obj1"][0])
    stream.push(frames[1])
    bank = stream.state.tracks[1].bank
    assert bank.cond[0].maskmem_features.dtype == torch.float32
    assert bank.non_cond[1].maskmem_features.dtype == torch.float32
    default = predictor.open_stream(frames[0])
    default.add_mask(1, masks["obj1"][0])
    default.push(frames[1])
    assert default.state.tracks[1].bank.non_cond[1].maskmem_features.dtype == predictor.memory_dtype
    with pytest.raises(ValueError, match="memory_dtype 'int8'"):
        predictor.open_stream(frames[0], memory_dtype="int8")


def test_closed_stream_refuses_everything(predictor, clip12):
    _, frames, masks = clip12
    with open_stream(predictor, frames[0]) as stream:
        stream.add_mask(1, masks["obj1"][0])
        stream.push(frames[1])
        state = stream.state
    assert stream.closed and not state.tracks and len(state.features) == 0
    assert state.frames.held() == []
    for call in (lambda: stream.push(frames[2]), lambda: stream.add_mask(1, masks["obj1"][1]),
                 lambda: stream.frame_idx):
        with pytest.raises(StreamClosedError, match="closed after frame 1"):
            call()
    stream.close()  # idempotent
    assert "closed" in repr(stream)


def test_frames_are_not_kept_and_memory_is_bounded(predictor):
    """Over 40 pushed frames: pushed images are released, one frame's image and features are
    held, each object's memory stays within the read window, bookkeeping does not grow."""
    rng = np.random.RandomState(0)
    first = torch.from_numpy(rng.randint(0, 255, (24, 32, 3), dtype=np.uint8))
    stream = VideoStream(predictor, first)
    mask = np.zeros((24, 32), bool)
    mask[6:16, 8:20] = True
    stream.add_mask(1, mask)
    stream.add_points(2, [[5, 5]], [1])
    refs = []
    sizes = []
    for t in range(1, 41):
        frame = torch.from_numpy(rng.randint(0, 255, (24, 32, 3), dtype=np.uint8))
        refs.append(weakref.ref(frame))
        stream.push(frame)
        del frame
        assert stream.held_frames() == [t]
        tracks = stream.state.tracks.values()
        sizes.append([(len(tr.bank.non_cond), len(tr.bank.cond), len(tr.tracked),
                       len(tr.point_inputs) + len(tr.mask_inputs)) for tr in tracks])
    gc.collect()
    assert all(r() is None for r in refs), "a pushed frame is still referenced"
    reach = next(iter(stream.state.tracks.values())).bank.window.reach
    for per_frame in sizes[10:]:
        for non_cond, cond, tracked, prompts in per_frame:
            # the read window of the current frame, plus the frames next to the prompt that
            # the bank keeps for a backward pass from it
            assert non_cond <= 2 * reach + 1 and cond == 1
            assert tracked <= reach + 2 + non_cond + cond and prompts <= 1
    assert sizes[-1] == sizes[20]  # steady state: nothing grows with the frame count


#: per-frame bookkeeping of each policy: (member name, attribute holding a dict keyed by frame)
_PER_FRAME = {"rcms": "host_quality", "samurai": "frames", "dam4sam": "present"}


def _per_frame_dicts(policy, policy_state):
    from sam2.video.policies.composed import ComposedPolicy

    names = [m.name for m in policy.members] if isinstance(policy, ComposedPolicy) else [policy.name]
    out = {}
    for name in names:
        state = policy.member_state(policy_state, name) if len(names) > 1 else policy_state
        out[name] = getattr(state, _PER_FRAME[name])
    return out


@pytest.mark.parametrize("policy", ["rcms", "samurai", "dam4sam", "rcms+samurai", "rcms+dam4sam"])
def test_policy_bookkeeping_stays_bounded(policy):
    """Policies keep per-frame records (RCMS host qualities while armed, SAMURAI scores,
    DAM4SAM presence flags); the stream makes every policy, composed ones included, forget the
    frames that left the object's memory, so the records do not pile up with the frame count."""
    from stream_helpers import script_outputs

    pred = script_outputs(build_instant(memory_policy=policy, num_prev_frames_to_promote=2,
                                        low_quality_threshold=0.3))
    rng = np.random.RandomState(1)
    stream = pred.open_stream(rng.randint(0, 255, (24, 32, 3), dtype=np.uint8))
    mask = np.zeros((24, 32), bool)
    mask[6:16, 8:20] = True
    stream.add_mask(1, mask)
    counts = []
    for _ in range(40):
        stream.push(rng.randint(0, 255, (24, 32, 3), dtype=np.uint8))
        track = stream.state.tracks[1]
        dicts = _per_frame_dicts(pred.memory_policy, track.policy_state)
        if "rcms" in dicts:
            rcms_state = (pred.memory_policy.member_state(track.policy_state, "rcms")
                          if "+" in policy else track.policy_state)
            assert not rcms_state.latched  # the scripted object never disappears
        readable = set(track.bank.non_cond) | set(track.bank.cond) | set(
            range(stream.frame_idx - track.bank.window.reach - 1, stream.frame_idx + 1))
        for name, d in dicts.items():
            assert set(d) <= readable, (name, sorted(set(d) - readable))
        counts.append(sum(len(d) for d in dicts.values()))
    assert counts[-1] == counts[20] and 0 < counts[-1] < 40
