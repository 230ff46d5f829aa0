"""Tracking a video: the settings resolved once (:mod:`.settings`), the typed inference state
(:mod:`.state`), the tracker that owns the per-frame step and the policy (:mod:`.tracker`), prompt checks (:mod:`.prompts`) and
streaming (:mod:`.stream`). Uses the sources, the memory and the policies; none of them uses it."""
