"""The one check of RCMS's parameters, shared by the PyTorch policy
(:class:`sam2.video.policies.rcms.RCMSPolicy`) and the ONNX tracker's (NumPy only, no torch)."""
from __future__ import annotations

from typing import Optional, Tuple


def check_rcms_params(num_prev_frames_to_promote: int, low_quality_threshold: float,
                      rearm_after_present_frames: Optional[int] = None,
                      max_promoted_frames: Optional[int] = None,
                      ) -> Tuple[int, float, Optional[int], Optional[int]]:
    """``(N, tau, rearm, cap)`` checked and normalised (``N`` an int, ``tau`` a float).

    Raises:
        ValueError: ``N`` not a non-negative integer (booleans included), ``rearm < 1`` or
            ``cap < 0``; the message names the parameter and the value.
    """
    n = int(num_prev_frames_to_promote) if not isinstance(num_prev_frames_to_promote, bool) else -1
    if n != num_prev_frames_to_promote or n < 0:
        raise ValueError(
            f"num_prev_frames_to_promote must be a non-negative integer, got {num_prev_frames_to_promote!r}")
    if rearm_after_present_frames is not None and rearm_after_present_frames < 1:
        raise ValueError("rearm_after_present_frames must be >= 1 (or None)")
    if max_promoted_frames is not None and max_promoted_frames < 0:
        raise ValueError("max_promoted_frames must be >= 0 (or None)")
    return n, float(low_quality_threshold), rearm_after_present_frames, max_promoted_frames
