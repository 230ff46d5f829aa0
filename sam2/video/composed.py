"""Older import path of :class:`~sam2.video.policies.ComposedPolicy` (several memory policies at
once, ``memory_policy: {name: "rcms+samurai", ...}``), which lives with the policy interface in
:mod:`sam2.video.policies`."""
from sam2.video.policies import ComposedPolicy, split_params

__all__ = ["ComposedPolicy", "split_params"]
