"""Per-video machinery of :class:`sam2.sam2_video_predictor.SAM2VideoPredictor`.

* :mod:`sam2.video.frame_source` - lazy frame reading (bounded cache, optional prefetch).
* :mod:`sam2.video.state` - the typed inference state (``InferenceState``, ``ObjectTrack``).
* :mod:`sam2.video.memory_bank` - per-object memory with eviction of unreadable entries.
* :mod:`sam2.video.settings` - the predictor's settings (policy, memory dtype, batching),
  resolved once from config blocks and arguments.
* :mod:`sam2.video.policies` - the memory policy interface, plain SAM2.1, composition and the
  registry; :mod:`sam2.video.rcms`, ``samurai``, ``dam4sam``, ``sam2long`` - the policies.
* :mod:`sam2.video.stream` - streaming: ``open_stream`` / ``push`` on live frames.
* :mod:`sam2.video.live_sources` - live frame sources (folder, PyAV file / URL / camera,
  iterables); :mod:`sam2.video.live_feed` - reader thread + drop / queue buffer.

Submodules are imported explicitly; importing this package loads nothing else.
"""
