"""A deterministic stand-in for ``SAM2VideoPredictor`` (same public calls), for fast runner tests.

An object's logits on frame ``t`` are its latest prompt mask (at or before ``t``) rolled right by
``t - prompt_frame`` pixels: ``+4 + 0.1 * obj_id`` inside, ``-4`` outside. Every frame is decoded
from disk, so a corrupted JPEG raises just like with the real predictor.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np
import torch

from sam2.data.mose_layout import list_video_frames, read_rgb


@dataclass
class FakeState:
    frames: list[Path]
    prompts: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)


class FakeVideoPredictor:
    def __init__(self) -> None:
        self.states: list[FakeState] = []

    def init_state(self, video_path: str, **kwargs: Any) -> FakeState:
        state = FakeState(list_video_frames(video_path))
        self.states.append(state)
        return state

    def add_new_mask(self, state: FakeState, frame_idx: int, obj_id: int, mask: Any) -> None:
        state.calls.append(f"mask:{frame_idx}:{obj_id}")
        state.prompts[(int(frame_idx), int(obj_id))] = np.asarray(mask, dtype=bool)

    def reset_state(self, state: FakeState) -> None:
        state.calls.append("reset")
        state.prompts.clear()

    def propagate_in_video(
        self, state: FakeState, start_frame_idx: Optional[int] = None, max_frame_num_to_track: Optional[int] = None,
        reverse: bool = False, *, progress: bool = True,
    ) -> Iterator[tuple[int, list[int], torch.Tensor]]:
        assert not reverse
        obj_ids = sorted({o for _, o in state.prompts})
        start = min(f for f, _ in state.prompts) if start_frame_idx is None else start_frame_idx
        state.calls.append(f"propagate:{start}")
        for t in range(start, len(state.frames)):
            height, width = read_rgb(state.frames[t]).shape[:2]
            out = torch.full((len(obj_ids), 1, height, width), -4.0)
            for i, obj_id in enumerate(obj_ids):
                frames = [f for f, o in state.prompts if o == obj_id and f <= t]
                if not frames:
                    continue
                src = max(frames)
                mask = np.roll(state.prompts[(src, obj_id)], t - src, axis=1)
                out[i, 0][torch.from_numpy(mask)] = 4.0 + 0.1 * obj_id
            yield t, obj_ids, out


def make_fake_predictor(options: Any, device: torch.device) -> FakeVideoPredictor:
    """Picklable predictor factory for ``run_inference`` / ``run_worker``."""
    return FakeVideoPredictor()
