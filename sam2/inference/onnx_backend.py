"""The ONNX Runtime backend of the inference tools: :class:`sam2.onnx.OnnxVideoTracker` behind
the video predictor's interface as the runner uses it (masks in and out as torch tensors)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Optional, Tuple

import numpy as np
import torch

from sam2.inference.options import InferenceOptions

__all__ = ["OnnxPredictor", "onnx_predictor_factory", "ONNX_EXTRA_HINT"]

ONNX_EXTRA_HINT = 'the ONNX backend needs the onnx extra: pip install "sam2-rcms[onnx]"'


class OnnxPredictor:
    """Adapter: the runner's predictor calls on an ``OnnxVideoTracker`` (CPU)."""

    def __init__(self, tracker: Any) -> None:
        self.tracker = tracker

    def init_state(self, video_path: str, **_: Any) -> Any:
        return self.tracker.init_state(video_path)

    def add_new_mask(self, inference_state: Any, frame_idx: int, obj_id: int, mask: Any):
        mask = mask.cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
        f, ids, masks = self.tracker.add_new_mask(inference_state, frame_idx, obj_id, mask)
        return f, ids, torch.from_numpy(masks)

    def propagate_in_video(self, inference_state: Any, start_frame_idx: Optional[int] = None,
                           max_frame_num_to_track: Optional[int] = None, reverse: bool = False,
                           *, progress: bool = True) -> Iterator[Tuple[int, list, torch.Tensor]]:
        """As the predictor's; ``progress`` is accepted for the runner (the tracker has no bar)."""
        for f, ids, masks in self.tracker.propagate_in_video(
                inference_state, start_frame_idx=start_frame_idx,
                max_frame_num_to_track=max_frame_num_to_track, reverse=reverse):
            yield f, ids, torch.from_numpy(masks)

    def reset_state(self, inference_state: Any) -> None:
        self.tracker.reset_state(inference_state)


def onnx_predictor_factory(onnx_dir: str | Path):
    """A runner ``predictor_factory`` building an :class:`OnnxPredictor` from ``onnx_dir`` with the
    tool's settings (RCMS knobs, memory policy, post-processing; outputs keep overlaps, as the
    runner resolves them)."""
    try:
        from sam2.onnx import OnnxVideoTracker
        import onnxruntime  # noqa: F401
    except ImportError as err:
        raise ImportError(ONNX_EXTRA_HINT) from err

    def factory(options: InferenceOptions, device: torch.device) -> OnnxPredictor:
        rcms = {k: v for k, v in (("num_prev_frames_to_promote", options.num_prev_frames_to_promote),
                                  ("low_quality_threshold", options.low_quality_threshold)) if v is not None}
        tracker = OnnxVideoTracker(onnx_dir, memory_policy=options.memory_policy, rcms=rcms,
                                   apply_postprocessing=options.apply_postprocessing, non_overlap_masks=False)
        return OnnxPredictor(tracker)

    return factory
