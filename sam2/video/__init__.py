"""Per-video machinery of :class:`sam2.sam2_video_predictor.SAM2VideoPredictor`.

* :mod:`sam2.video.frame_source` - lazy frame reading (bounded cache, optional prefetch).
* :mod:`sam2.video.state` - the typed inference state (``InferenceState``, ``ObjectTrack``).
* :mod:`sam2.video.memory_bank` - per-object memory with eviction of unreadable entries.
* :mod:`sam2.video.policies` - the memory-selection policy interface and plain SAM2.1.
* :mod:`sam2.video.rcms` - RCMS (reliable conditioned memory selection) and MQF quality.

Submodules are imported explicitly; importing this package loads nothing else.
"""
