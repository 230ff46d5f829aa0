"""A reader thread and a small bounded buffer between a live source and the tracker.

Frames of a camera or network stream keep arriving while the tracker works on the previous
one. :class:`FrameFeed` reads the source in a background thread and hands frames to the
tracker (the thread that iterates the feed) through a buffer whose policy says what happens
when the tracker is behind:

* ``"all"`` - **process every frame**: the buffer holds up to ``capacity`` frames; when it
  is full the reader waits (back-pressure), so no frame is lost and latency grows while the
  tracker is slower than the source. For files, folders and generators.
* ``"latest"`` - **keep only the newest**: the buffer holds one frame; a frame that arrives
  while the previous one is still waiting replaces it (the replaced frame is *dropped*,
  counted in :attr:`FrameFeed.dropped`), so the tracker always gets the most recent frame
  and latency stays at one frame. For cameras and live streams. The first frame is never
  dropped (it is the frame the first prompts are drawn on).

The frame being tracked is never interrupted: a frame is only ever dropped from the buffer,
before the tracker took it. Errors of the reader (a corrupt frame with
``on_corrupt="error"``, a frame of the wrong size, the source's own exceptions, even
``KeyboardInterrupt`` raised inside a generator) are re-raised in the tracker's thread
once the frames read before them have been delivered.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Deque, Iterable, Iterator, List, Optional

from sam2.video.sources.live_sources import LiveFrame, LiveSource

logger = logging.getLogger(__name__)

FEED_POLICIES = ("all", "latest")


class FeedClosedError(RuntimeError):
    """The feed was closed while a frame was being read from it."""


class FrameFeed:
    """Background reading of a live source with a drop / queue policy.

    Iterate it (in the tracker's thread) to get :class:`LiveFrame`s in source order.

    Args:
        source: a :class:`LiveSource` (closed with the feed) or any iterable of frames.
        policy: ``"all"`` (process every frame) or ``"latest"`` (keep only the newest).
        capacity: buffer size for ``"all"`` (at least 1); ``"latest"`` always holds one.
        start: start the reader thread now (else on the first ``next``).

    Attributes:
        dropped: indices of frames replaced before the tracker took them (``"latest"``).
        delivered: number of frames handed to the tracker.
        high_water: the most frames the buffer ever held at once.
    """

    def __init__(self, source: Iterable[LiveFrame], policy: str = "all", capacity: int = 4,
                 start: bool = True) -> None:
        if policy not in FEED_POLICIES:
            raise ValueError(f"feed policy must be one of {FEED_POLICIES}, got {policy!r}")
        if int(capacity) < 1:
            raise ValueError(f"feed capacity must be >= 1, got {capacity}")
        self.source = source
        self.policy = policy
        self.capacity = 1 if policy == "latest" else int(capacity)
        self.dropped: List[int] = []
        self.delivered = 0
        self.high_water = 0
        self._buffer: Deque[LiveFrame] = deque()
        self._cond = threading.Condition()
        self._finished = False  # the reader has put its last frame
        self._error: Optional[BaseException] = None
        self._closed = False
        self._thread: Optional[threading.Thread] = None
        if start:
            self.start()

    # -- reader side ----------------------------------------------------------------------
    def start(self) -> None:
        """Start the reader thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._read_loop, name="sam2-live-reader",
                                            daemon=True)
            self._thread.start()

    def _put(self, frame: LiveFrame) -> bool:
        """Offer one frame to the buffer; ``False`` once the feed is closed."""
        with self._cond:
            if self.policy == "all" or self.delivered == 0:
                # "latest" too waits until the tracker took the first frame: the first frame
                # (the one prompts are drawn on) is never dropped
                while len(self._buffer) >= self.capacity and not self._closed:
                    self._cond.wait()
            elif self._buffer:  # "latest": replace the frame the tracker did not take yet
                old = self._buffer.popleft()
                self.dropped.append(old.index)
                logger.debug("dropping frame %d: frame %d arrived before it was tracked",
                             old.index, frame.index)
            if self._closed:
                return False
            self._buffer.append(frame)
            self.high_water = max(self.high_water, len(self._buffer))
            self._cond.notify_all()
            return True

    def _read_loop(self) -> None:
        try:
            for frame in self.source:
                if not self._put(frame):
                    return
        except BaseException as err:  # noqa: BLE001 - handed to the tracker's thread
            with self._cond:
                self._error = err
        finally:
            with self._cond:
                self._finished = True
                self._cond.notify_all()

    # -- tracker side ---------------------------------------------------------------------
    def __iter__(self) -> Iterator[LiveFrame]:
        return self

    def __next__(self) -> LiveFrame:
        self.start()
        with self._cond:
            while not self._buffer and not self._finished and not self._closed:
                self._cond.wait()
            if self._closed:
                raise FeedClosedError("the frame feed is closed")
            if self._buffer:
                frame = self._buffer.popleft()
                self.delivered += 1
                self._cond.notify_all()
                return frame
            if self._error is not None:
                err, self._error = self._error, None
                raise err
            raise StopIteration

    def pending(self) -> int:
        """Frames waiting in the buffer."""
        with self._cond:
            return len(self._buffer)

    def close(self, timeout: float = 5.0) -> None:
        """Stop reading, close the source, drop buffered frames (idempotent)."""
        with self._cond:
            self._closed = True
            self._buffer.clear()
            self._cond.notify_all()
        closer = getattr(self.source, "close", None)
        if isinstance(self.source, LiveSource) or callable(closer):
            try:
                closer()
            except Exception:  # closing must not mask the caller's error
                logger.debug("closing the live source failed", exc_info=True)
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                logger.warning("the frame reader did not stop within %.1f s (a blocked device "
                               "read); it is left to finish in the background", timeout)

    def __enter__(self) -> "FrameFeed":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
