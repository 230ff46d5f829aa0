"""Memory policies: what an object's memory keeps, and which decoder candidate becomes the output.

* :mod:`sam2.video.policies.base` - the contract (``MemoryPolicy``, ``FrameDecision``) and plain SAM 2.1.
* :mod:`sam2.video.policies.composed` - several policies at once (``"rcms+samurai"``).
* :mod:`sam2.video.policies.registry` - policies by name (``make_policy``, ``resolve_policy``).
* :mod:`sam2.video.policies.rcms`, ``samurai``, ``dam4sam``, ``sam2long`` - the policies, each
  imported on first use by name.
"""
from sam2.video.policies.base import FrameDecision, MemoryPolicy, PlainSAM2Policy
from sam2.video.policies.composed import ComposedPolicy, split_params
from sam2.video.policies.registry import (
    RCMS_SETTINGS,
    PolicySpec,
    make_policy,
    parse_policy_spec,
    policy_names,
    register_policy,
    resolve_policy,
)

__all__ = [
    "FrameDecision", "MemoryPolicy", "PlainSAM2Policy", "ComposedPolicy", "split_params",
    "register_policy", "make_policy", "policy_names", "resolve_policy", "parse_policy_spec", "PolicySpec",
    "RCMS_SETTINGS",
]
