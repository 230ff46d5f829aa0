"""Where frames come from: lazy reading of a video on disk (:mod:`.frame_source`), live sources
(folder, PyAV file / URL / camera, iterables; :mod:`.live_sources`) and the reader thread with its
drop / queue buffer (:mod:`.live_feed`). Nothing here knows the model or the memory."""
