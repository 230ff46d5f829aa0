"""The video predictor's settings, resolved once: :class:`VideoSettings`.

:func:`resolve_video_settings` is the one place where the settings of a video predictor are
decided. It reads, from lowest to highest precedence:

* the model config's blocks (when built from a config): ``memory_policy: {name, params}``,
  ``video_predictor: {memory_dtype, batch_objects}`` and ``rcms: {...}``, an older spelling
  of the ``rcms`` policy's parameters, read here as their alias and nowhere else;
* the explicit arguments (``memory_policy=``, ``memory_dtype=``, ``batch_objects=`` and the
  RCMS parameters ``num_prev_frames_to_promote=``, ``low_quality_threshold=``,
  ``rearm_after_present_frames=``, ``max_promoted_frames=``).

Rules:

* **A named policy is never changed by another argument.** The RCMS arguments are parameters
  of the policy's ``rcms`` member; a policy without one does not use them (a warning names
  them). ``memory_policy="sam2.1", num_prev_frames_to_promote=4`` is plain SAM 2.1.
* **The older RCMS switch**: without a ``memory_policy`` argument, an explicit
  ``num_prev_frames_to_promote > 0`` turns the config's plain SAM 2.1 (or the default) into
  ``rcms``; ``0`` turns the config's ``rcms`` off (RCMS with N = 0 is plain SAM 2.1).
* Each value is validated once, by its owner: the RCMS parameters by
  :class:`~sam2.video.policies.rcms.RCMSPolicy` (whose defaults, N = 4 and tau = 0.6, are the one
  source of RCMS defaults), the policy spec by :func:`~sam2.video.policies.resolve_policy`,
  the dtype by :func:`as_memory_dtype`.
* One INFO log line says every value in force and where it came from.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import torch

from sam2.video.policies import (
    RCMS_SETTINGS as RCMS_PARAMS,
    MemoryPolicy,
    PolicySpec,
    parse_policy_spec,
    resolve_policy,
)

logger = logging.getLogger(__name__)

__all__ = ["VideoSettings", "resolve_video_settings", "as_memory_dtype", "RCMS_PARAMS",
           "config_blocks"]

_DTYPES = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float32": torch.float32,
           "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16}

#: the settings' defaults (used when neither a config nor an argument gives a value)
DEFAULT_MEMORY_DTYPE = torch.bfloat16
DEFAULT_BATCH_OBJECTS = True


def as_memory_dtype(value: Union[str, torch.dtype]) -> torch.dtype:
    """``"bfloat16"`` / ``"float32"`` / ``"float16"`` (or a torch dtype) -> the torch dtype."""
    if isinstance(value, torch.dtype):
        if value not in _DTYPES.values():
            raise ValueError(f"memory_dtype {value!r}: expected one of {', '.join(sorted(_DTYPES))}")
        return value
    key = str(value).replace("torch.", "")
    if key not in _DTYPES:
        raise ValueError(f"memory_dtype {value!r}: expected one of {', '.join(sorted(_DTYPES))}")
    return _DTYPES[key]


@dataclass(frozen=True)
class VideoSettings:
    """What a video predictor runs with (see the module docstring for how it is resolved).

    Attributes:
        memory_policy: the memory policy object (:mod:`sam2.video.policies`).
        memory_dtype: dtype of stored memory features (``torch.bfloat16`` by default, like
            the official predictor).
        batch_objects: run objects whose memories have the same layout through the model
            together.
        sources: where each value came from (``"memory_policy"``, ``"memory_dtype"``,
            ``"batch_objects"`` and the RCMS parameters given), for the log.
    """

    memory_policy: MemoryPolicy
    memory_dtype: torch.dtype = DEFAULT_MEMORY_DTYPE
    batch_objects: bool = DEFAULT_BATCH_OBJECTS
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    def describe(self) -> str:
        """One line: each value and where it came from."""
        src = dict(self.sources)
        parts = [f"memory_policy={self.memory_policy.describe()} ({src.get('memory_policy', 'default')})",
                 f"memory_dtype={str(self.memory_dtype).replace('torch.', '')} "
                 f"({src.get('memory_dtype', 'default')})",
                 f"batch_objects={self.batch_objects} ({src.get('batch_objects', 'default')})"]
        parts += [f"{k} from {v}" for k, v in sorted(src.items()) if k in RCMS_PARAMS]
        return "; ".join(parts)


def config_blocks(cfg: Any) -> Dict[str, Dict[str, Any]]:
    """The settings blocks of a composed model config (``memory_policy``, ``rcms``,
    ``video_predictor``) as plain dicts (absent blocks are left out)."""
    out: Dict[str, Dict[str, Any]] = {}
    if cfg is None:
        return out
    for name in ("memory_policy", "rcms", "video_predictor"):
        block = cfg.get(name) if hasattr(cfg, "get") else None
        if block is None:
            continue
        if not isinstance(block, Mapping):
            try:
                from omegaconf import OmegaConf

                block = OmegaConf.to_container(block, resolve=True)
            except Exception:  # noqa: BLE001 - not an omegaconf node either
                pass
        if not isinstance(block, Mapping):
            raise ValueError(f"config block {name!r} must be a mapping, got {block!r}")
        out[name] = dict(block)
    return out


def _members(name: str) -> Tuple[str, ...]:
    return tuple(n.strip() for n in name.split("+") if n.strip())


def _rcms_in_params(params: Mapping[str, Any], members: Tuple[str, ...]) -> Dict[str, Any]:
    """The RCMS parameters written in a spec's ``params`` (``key`` or ``rcms.key``)."""
    out = {}
    for key, value in params.items():
        bare = key[len("rcms."):] if key.startswith("rcms.") else key
        if bare in RCMS_PARAMS and (key.startswith("rcms.") or "." not in key):
            out[bare] = value
    return out


def resolve_video_settings(
    config: Any = None,
    *,
    where: str = "the model config",
    memory_policy: PolicySpec = None,
    num_prev_frames_to_promote: Optional[int] = None,
    low_quality_threshold: Optional[float] = None,
    rearm_after_present_frames: Optional[int] = None,
    max_promoted_frames: Optional[int] = None,
    memory_dtype: Optional[Union[str, torch.dtype]] = None,
    batch_objects: Optional[bool] = None,
) -> VideoSettings:
    """Resolve the video predictor's settings (see the module docstring for the rules).

    Args:
        config: a composed model config (``omegaconf.DictConfig`` or mapping) whose
            ``memory_policy`` / ``rcms`` / ``video_predictor`` blocks are read, or ``None``.
        where: how to name the config in the log and in errors.
        memory_policy: a registered policy name (``"sam2.1"``, ``"rcms"``, ``"rcms+samurai"``,
            ...), ``{"name": ..., "params": {...}}`` or a :class:`MemoryPolicy` object
            (used as it is).
        num_prev_frames_to_promote, low_quality_threshold, rearm_after_present_frames,
        max_promoted_frames: parameters of the policy's ``rcms`` member.
        memory_dtype: dtype of stored memory features.
        batch_objects: batch objects with the same memory layout.

    Raises:
        ValueError / TypeError: a bad value (the message names it and where it came from).
    """
    blocks = config_blocks(config)
    given = {k: v for k, v in dict(
        num_prev_frames_to_promote=num_prev_frames_to_promote, low_quality_threshold=low_quality_threshold,
        rearm_after_present_frames=rearm_after_present_frames, max_promoted_frames=max_promoted_frames,
    ).items() if v is not None}
    sources: Dict[str, str] = {}

    # -- the policy: the argument, else the config's block, else plain SAM 2.1
    if isinstance(memory_policy, MemoryPolicy):
        policy = memory_policy
        sources["memory_policy"] = "argument (a policy object)"
        if given:
            logger.warning("RCMS arguments %s not used: memory_policy is a policy object (%s)",
                           sorted(given), policy.describe())
    else:
        if memory_policy is not None:
            name, params = parse_policy_spec(memory_policy, "memory_policy")
            sources["memory_policy"] = "argument"
        elif blocks.get("memory_policy"):
            name, params = parse_policy_spec(blocks["memory_policy"], f"{where}: memory_policy")
            sources["memory_policy"] = f"{where} memory_policy"
        elif int(blocks.get("rcms", {}).get("num_prev_frames_to_promote") or 0) > 0:
            name, params = "rcms", {}
            sources["memory_policy"] = f"{where} rcms"
        else:
            name, params = "sam2.1", {}
            sources["memory_policy"] = "default"
        switch = given.get("num_prev_frames_to_promote")
        if memory_policy is None and switch is not None and name == "sam2.1" and switch != 0:
            name, sources["memory_policy"] = "rcms", f"argument num_prev_frames_to_promote={switch}"
        if memory_policy is None and switch == 0 and "rcms" in _members(name):
            sources["memory_policy"] += " with RCMS off (argument num_prev_frames_to_promote=0)"
        members = _members(name)
        # -- the rcms member's parameters: config alias block < the spec's params < arguments
        rcms: Dict[str, Any] = {}
        if "rcms" in members:
            for key, value in blocks.get("rcms", {}).items():
                if key not in RCMS_PARAMS:
                    raise ValueError(f"{where}: rcms.{key} is not an RCMS parameter "
                                     f"(known: {', '.join(RCMS_PARAMS)})")
                if value is not None:
                    rcms[key], sources[key] = value, f"{where} rcms.{key}"
            in_spec = _rcms_in_params(params, members)
            for key, value in in_spec.items():
                if key not in given:
                    rcms.pop(key, None)  # the spec's own value wins (resolve_policy applies it)
                    sources[key] = sources["memory_policy"] + " params"
                elif memory_policy is not None and given[key] != value:
                    raise ValueError(
                        f"{key} is given twice with different values: {given[key]!r} as an argument "
                        f"and {value!r} in the memory_policy argument's params")
                else:  # an argument overrides the config's value
                    for spelled in (key, f"rcms.{key}"):
                        params.pop(spelled, None)
            for key, value in given.items():
                rcms[key], sources[key] = value, "argument"
        elif {k: v for k, v in given.items() if (k, v) != ("num_prev_frames_to_promote", 0)}:
            logger.warning("RCMS arguments %s not used: memory policy %r (%s) has no rcms member",
                           {k: given[k] for k in sorted(given)}, name, sources["memory_policy"])
        policy = resolve_policy({"name": name, "params": params}, rcms)

    # -- storage dtype and batching: the argument, else the config's video_predictor block
    video = blocks.get("video_predictor", {})
    unknown = set(video) - {"memory_dtype", "batch_objects"}
    if unknown:
        raise ValueError(f"{where}: video_predictor has unknown keys {sorted(unknown)} "
                         "(expected memory_dtype, batch_objects)")
    values: Dict[str, Any] = {}
    for key, arg, default in (("memory_dtype", memory_dtype, DEFAULT_MEMORY_DTYPE),
                              ("batch_objects", batch_objects, DEFAULT_BATCH_OBJECTS)):
        if arg is not None:
            values[key], sources[key] = arg, "argument"
        elif video.get(key) is not None:
            values[key], sources[key] = video[key], f"{where} video_predictor.{key}"
        else:
            values[key], sources[key] = default, "default"
    if not isinstance(values["batch_objects"], bool):
        raise ValueError(f"batch_objects must be true or false, got {values['batch_objects']!r} "
                         f"({sources['batch_objects']})")
    try:
        dtype = as_memory_dtype(values["memory_dtype"])
    except ValueError as err:
        raise ValueError(f"{err} ({sources['memory_dtype']})") from None
    settings = VideoSettings(memory_policy=policy, memory_dtype=dtype,
                             batch_objects=values["batch_objects"], sources=sources)
    logger.info("video predictor settings: %s", settings.describe())
    return settings
