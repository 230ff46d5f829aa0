"""Memory policies by name.

:func:`make_policy` builds a policy from its registered name and parameters; the model config's
``memory_policy: {name, params}`` block and ``build_sam2_video_predictor(memory_policy=...)``
go through it. Registered here: ``"sam2.1"`` (:class:`PlainSAM2Policy`, the default),
``"rcms"`` (:class:`sam2.video.policies.rcms.RCMSPolicy`), ``"samurai"``
(:class:`sam2.video.policies.samurai.SamuraiPolicy`), ``"dam4sam"``
(:class:`sam2.video.policies.dam4sam.Dam4SamPolicy`) and ``"sam2long"``
(:class:`sam2.video.policies.sam2long.Sam2LongPolicy`); names joined by ``+`` compose
(:class:`ComposedPolicy`: members called in order at the hook, so a later member sees the
earlier ones' decisions; at most one may plan memory reads, at most one may move the
presence threshold, a policy with memory hypotheses composes with nothing; parameters of a
member are ``"<member>.<param>"``, or ``"<param>"`` when only one member has it). Add one with
:func:`register_policy`.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

from sam2.video.policies.base import MemoryPolicy, PlainSAM2Policy
from sam2.video.policies.composed import ComposedPolicy, split_params

__all__ = [
    "register_policy", "make_policy", "policy_names", "resolve_policy", "parse_policy_spec", "PolicySpec",
    "RCMS_SETTINGS",
]


#: name -> policy class, or "module:Class" imported on first use
_REGISTRY: Dict[str, Union[str, Callable[..., MemoryPolicy]]] = {
    "sam2.1": PlainSAM2Policy,
    "rcms": "sam2.video.policies.rcms:RCMSPolicy",
    "samurai": "sam2.video.policies.samurai:SamuraiPolicy",
    "dam4sam": "sam2.video.policies.dam4sam:Dam4SamPolicy",
    "sam2long": "sam2.video.policies.sam2long:Sam2LongPolicy",
}

#: what ``memory_policy=`` accepts: a name, ``{"name": ..., "params": {...}}``, or a policy
PolicySpec = Union[None, str, Mapping[str, Any], MemoryPolicy]


def register_policy(name: str, factory: Union[str, Callable[..., MemoryPolicy]]) -> None:
    """Register a policy class (or ``"module:Class"``) under ``name``."""
    _REGISTRY[name] = factory


def policy_names() -> List[str]:
    return sorted(_REGISTRY)


def _factory(name: str) -> Callable[..., MemoryPolicy]:
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown memory policy {name!r}; known policies: {', '.join(policy_names())}"
        ) from None
    if isinstance(factory, str):
        module, _, attr = factory.partition(":")
        factory = getattr(importlib.import_module(module), attr)
        _REGISTRY[name] = factory
    return factory


def make_policy(name: str, params: Optional[Mapping[str, Any]] = None) -> MemoryPolicy:
    """Build the registered policy ``name`` with keyword ``params``; errors name the policy."""
    factory = _factory(name)
    try:
        return factory(**dict(params or {}))
    except TypeError as err:
        raise TypeError(f"memory policy {name!r}: bad parameters {dict(params or {})}: {err}") from err


#: the ``"rcms"`` policy's parameters (also accepted as arguments of their own by the builder
#: and the predictor, and in the older ``rcms:`` block of a config; see
#: :mod:`sam2.video.tracking.settings`)
RCMS_SETTINGS = (
    "num_prev_frames_to_promote", "low_quality_threshold", "rearm_after_present_frames",
    "max_promoted_frames",
)


def parse_policy_spec(spec: Union[str, Mapping[str, Any]], what: str = "memory_policy"
                      ) -> Tuple[str, Dict[str, Any]]:
    """``"name"`` or ``{"name": ..., "params": {...}}`` -> ``(name, params)``; errors name ``what``."""
    if isinstance(spec, str):
        return spec, {}
    if not isinstance(spec, Mapping):
        raise TypeError(f"{what} must be a name, a mapping or a MemoryPolicy, got {type(spec).__name__}")
    if "name" not in spec:
        raise ValueError(f"{what} {dict(spec)!r} has no 'name'; known: {', '.join(policy_names())}")
    unknown = set(spec) - {"name", "params"}
    if unknown:
        raise ValueError(f"{what}: unknown keys {sorted(unknown)} (expected 'name' and 'params')")
    return str(spec["name"]), dict(spec.get("params") or {})


def resolve_policy(spec: PolicySpec, rcms: Optional[Mapping[str, Any]] = None) -> MemoryPolicy:
    """The policy named by ``spec``.

    Args:
        spec: a policy instance (returned as is), a registered name, or
            ``{"name": ..., "params": {...}}``; ``None`` means ``"sam2.1"``.
        rcms: defaults of the ``"rcms"`` member's parameters (:data:`RCMS_SETTINGS`; unused
            when the policy has no ``rcms`` member); ``params`` given in ``spec`` win over them,
            :class:`~sam2.video.policies.rcms.RCMSPolicy`'s own defaults fill the rest.

    The name is never changed: ``"sam2.1"`` is plain SAM 2.1 whatever ``rcms`` holds. RCMS with
    ``num_prev_frames_to_promote = 0`` is plain SAM 2.1 (bit for bit), so it resolves to
    :class:`PlainSAM2Policy` (and drops out of a composition).
    """
    if isinstance(spec, MemoryPolicy):
        return spec
    name, params = ("sam2.1", {}) if spec is None else parse_policy_spec(spec)
    if "+" in name:
        return _compose(name, params, rcms)
    if name == "rcms":
        merged = {k: v for k, v in dict(rcms or {}).items() if k in RCMS_SETTINGS}
        merged.update(params)
        policy = make_policy("rcms", merged)
        return PlainSAM2Policy() if getattr(policy, "num_prev_frames_to_promote", 1) == 0 else policy
    return make_policy(name, params)


def _accepted_params(name: str) -> List[str]:
    import inspect

    factory = _factory(name)
    target = factory.__init__ if isinstance(factory, type) else factory
    return [p for p in inspect.signature(target).parameters if p != "self"]


def _compose(name: str, params: Mapping[str, Any], rcms: Optional[Mapping[str, Any]]) -> MemoryPolicy:
    """``"a+b"``: the members resolved one by one (RCMS with its settings), then composed."""
    names = [n.strip() for n in name.split("+") if n.strip()]
    for n in names:
        _factory(n)  # unknown names fail here, naming the known policies
    per_member = split_params(names, params, {n: _accepted_params(n) for n in names})
    members = [resolve_policy({"name": n, "params": per_member[n]}, rcms) for n in names]
    members = [m for m in members if not isinstance(m, PlainSAM2Policy)]  # RCMS with N = 0 is a no-op
    if len(members) == 1:
        return members[0]
    return ComposedPolicy(members)
