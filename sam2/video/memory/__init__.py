"""An object's memory: the per-object bank with eviction of what the read window no longer
needs (:mod:`.memory_bank`) and memory hypotheses (:mod:`.hypotheses`). Below the policies,
which read and change it."""
