"""The reader thread + bounded buffer: process-every-frame vs keep-only-the-newest.

The producer is scripted with events (no timers): frame ``i`` is produced only after the test
releases it, and the test learns that frames up to ``i - 1`` were handed to the buffer when
the reader asks the producer for frame ``i``.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

from sam2.video.sources.live_feed import FeedClosedError, FrameFeed
from sam2.video.sources.live_sources import CorruptFrameError, IteratorSource, LiveFrame

WAIT = 30.0  # safety net against a hung thread, never reached when the code is right


class Gate:
    """Frames 0..n-1, each produced only once released; ``requested[i]`` is set when the
    reader asks for frame ``i`` (so frames < i have been offered to the buffer)."""

    def __init__(self, n: int, fail_at: int = -1, fail_with: BaseException = None) -> None:
        self.n = n
        self.released = [threading.Event() for _ in range(n)]
        self.requested = [threading.Event() for _ in range(n + 1)]
        self.fail_at, self.fail_with = fail_at, fail_with

    def release(self, *indices: int) -> None:
        for i in indices:
            self.released[i].set()

    def wait_requested(self, i: int) -> None:
        assert self.requested[i].wait(WAIT), f"the reader never asked for frame {i}"

    def __iter__(self):
        for i in range(self.n):
            self.requested[i].set()
            assert self.released[i].wait(WAIT)
            if i == self.fail_at:
                raise self.fail_with
            yield LiveFrame(i, np.full((2, 2, 3), i, np.uint8), f"{i:05d}", f"frame {i}")
        self.requested[self.n].set()


def test_latest_keeps_only_the_newest_frame():
    gate = Gate(6)
    feed = FrameFeed(gate, policy="latest")
    gate.release(0)
    assert next(feed).index == 0
    # the tracker is busy with frame 0 while frames 1, 2, 3 arrive
    gate.release(1, 2, 3)
    gate.wait_requested(4)
    assert feed.pending() == 1
    assert next(feed).index == 3
    assert feed.dropped == [1, 2]
    # the tracker keeps up: nothing is dropped
    gate.release(4)
    gate.wait_requested(5)
    assert next(feed).index == 4
    gate.release(5)
    assert [f.index for f in feed] == [5]
    assert feed.dropped == [1, 2] and feed.delivered == 4 and feed.high_water == 1


def test_latest_never_drops_the_first_frame():
    gate = Gate(4)
    gate.release(0, 1, 2)
    feed = FrameFeed(gate, policy="latest")
    gate.wait_requested(1)  # frame 0 is buffered and the reader holds frame 1
    assert next(feed).index == 0  # the prompt frame, although newer frames arrived
    gate.wait_requested(3)
    assert next(feed).index == 2 and feed.dropped == [1]
    gate.release(3)
    assert [f.index for f in feed] == [3]


def test_all_processes_every_frame_with_back_pressure():
    gate = Gate(6)
    feed = FrameFeed(gate, policy="all", capacity=2)
    gate.release(0, 1, 2)
    gate.wait_requested(2)  # frames 0 and 1 are buffered; frame 2 is produced next
    assert feed.pending() == 2
    # the buffer is full: the reader waits with frame 2 and does not ask for frame 3
    assert not gate.requested[3].is_set()
    assert next(feed).index == 0
    gate.wait_requested(3)  # taking one frame let frame 2 in
    gate.release(3, 4, 5)
    assert [f.index for f in feed] == [1, 2, 3, 4, 5]
    assert feed.dropped == [] and feed.high_water == 2 and feed.delivered == 6


def test_reader_errors_arrive_after_the_frames_before_them():
    gate = Gate(4, fail_at=2, fail_with=OSError("camera unplugged"))
    gate.release(0, 1, 2, 3)
    feed = FrameFeed(gate, policy="all", capacity=4)
    assert next(feed).index == 0 and next(feed).index == 1
    with pytest.raises(OSError, match="camera unplugged"):
        next(feed)

    gate = Gate(3, fail_at=1, fail_with=KeyboardInterrupt())
    gate.release(0, 1, 2)
    feed = FrameFeed(gate)
    assert next(feed).index == 0
    with pytest.raises(KeyboardInterrupt):
        next(feed)


def test_source_checks_pass_through_the_feed():
    items = [np.zeros((2, 2, 3), np.uint8), "garbage", np.zeros((2, 2, 3), np.uint8)]
    with pytest.raises(CorruptFrameError, match="frame 1 of the frame iterator"):
        list(FrameFeed(IteratorSource(items, on_corrupt="error")))
    source = IteratorSource(items, on_corrupt="skip")
    assert [f.index for f in FrameFeed(source)] == [0, 2]


def test_close_unblocks_a_waiting_reader():
    gate = Gate(5)
    gate.release(0, 1, 2, 3, 4)
    feed = FrameFeed(gate, policy="all", capacity=1)
    gate.wait_requested(1)  # frame 0 buffered, the reader holds frame 1 and waits
    thread = feed._thread
    feed.close()
    thread.join(WAIT)
    assert not thread.is_alive()
    with pytest.raises(FeedClosedError):
        next(feed)


def test_bad_arguments():
    with pytest.raises(ValueError, match="policy"):
        FrameFeed([], policy="newest")
    with pytest.raises(ValueError, match="capacity"):
        FrameFeed([], capacity=0)
