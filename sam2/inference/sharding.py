"""Split a list of videos over workers so that every worker gets about the same number of frames."""
from __future__ import annotations

import heapq
from typing import Mapping, Sequence


def balance_by_frames(frame_counts: Mapping[str, int], num_workers: int) -> list[list[str]]:
    """Assign videos to workers, largest first, each to the currently least-loaded worker.

    Args:
        frame_counts: video name -> number of frames (the work of that video).
        num_workers: number of workers (>= 1).

    Returns:
        ``num_workers`` lists of video names. Each list keeps the processing order (largest video
        first). The result is deterministic: ties in size are broken by name, ties in load by the
        lower worker index.
    """
    if num_workers < 1:
        raise ValueError(f"num_workers must be >= 1, got {num_workers}")
    for name, count in frame_counts.items():
        if count < 0:
            raise ValueError(f"video {name!r} has a negative frame count ({count})")
    order: Sequence[str] = sorted(frame_counts, key=lambda name: (-frame_counts[name], name))
    # heap of (load, worker index): the least loaded worker with the lowest index pops first
    loads: list[tuple[int, int]] = [(0, rank) for rank in range(num_workers)]
    heapq.heapify(loads)
    shards: list[list[str]] = [[] for _ in range(num_workers)]
    for name in order:
        load, rank = heapq.heappop(loads)
        shards[rank].append(name)
        heapq.heappush(loads, (load + frame_counts[name], rank))
    return shards
