"""Per-video machinery of :class:`sam2.sam2_video_predictor.SAM2VideoPredictor`, in rooms that
import downwards only (``sources`` and ``memory`` <- ``policies`` <- ``tracking``):

* :mod:`sam2.video.sources` - where frames come from (lazy file reading, live sources, the
  reader thread).
* :mod:`sam2.video.memory` - an object's memory bank and memory hypotheses.
* :mod:`sam2.video.policies` - the memory policy interface, composition, the registry and the
  policies (RCMS, SAMURAI, DAM4SAM, SAM2Long).
* :mod:`sam2.video.tracking` - settings, the inference state, the per-frame step, streaming.

:mod:`sam2.video.settings` and :mod:`sam2.video.stream` are the public import paths of the
settings and of ``open_stream``. Submodules are imported explicitly; importing this package
loads nothing else.
"""
