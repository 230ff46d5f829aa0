"""Tracking a video: the settings resolved once (:mod:`.settings`), the typed inference state
(:mod:`.state`), the per-frame step (:mod:`.frame_step`), prompt checks (:mod:`.prompts`) and
streaming (:mod:`.stream`). Uses the sources, the memory and the policies; none of them uses it."""
