"""Configs are data: the allowlist of what a config's ``_target_`` may name.

Hydra's ``instantiate`` calls whatever a ``_target_`` names, so a config given to
:func:`sam2.build_sam.build_sam2` or ``training/train.py`` could otherwise run code
(``torch.load`` of a pickle, ``os.system``, ...). Every composed config (command-line and
``hydra_overrides_extra`` overrides included) is checked here before anything is instantiated;
the whole tree is walked, interpolations resolved, and the first offending node is refused with
a :class:`ConfigTargetError` naming its key path and value.

What a ``_target_`` may name:

* model configs (``kind="model"``): a ``torch.nn.Module`` subclass defined in the package
  (``sam2.*``) or in ``torch.nn.*``;
* training configs (``kind="training"``): a class defined in ``sam2.*``, ``training.*``,
  ``torch.nn.*`` or ``torch.optim.*``, or one of the few factory functions the shipped
  training configs use (:data:`TRAINING_FUNCTIONS`).

A dotted path is followed only through modules of those packages (``sam2.x.os.system`` is
refused, and nothing outside them is imported to check a name); names with double underscores
are refused. A ``_partial_`` key is refused in model configs (they never need one); training
configs use it on allowed targets. The training option ``module_cls_names`` (class names
resolved by the optimizer) goes through the same class check.

Opting out: ``allow_any_target=True`` (builders, :func:`sam2.utils.config_compose.compose`),
``--allow-any-target`` (``training/train.py``) or the environment variable
``SAM2_ALLOW_ANY_TARGET=1`` skip the check (a warning is logged): only for configs you trust
as you trust code.
"""
from __future__ import annotations

import importlib
import inspect
import logging
import os
import types
from typing import Any, Iterator, Optional, Tuple

from sam2.utils.config_errors import ConfigTargetError

logger = logging.getLogger(__name__)

ENV_ALLOW_ANY_TARGET = "SAM2_ALLOW_ANY_TARGET"

#: packages whose classes a training config may name (``kind="training"``)
TRAINING_PACKAGES: Tuple[str, ...] = ("sam2", "training", "torch.nn", "torch.optim")
#: packages whose ``nn.Module`` classes a model config may name (``kind="model"``)
MODEL_PACKAGES: Tuple[str, ...] = ("sam2", "torch.nn")
#: functions (not classes) a training config may name, by defining module and name
TRAINING_FUNCTIONS = frozenset({
    "training.optimizer.layer_decay_param_modifier",
    "training.utils.checkpoint_utils.load_checkpoint_and_apply_kernels",
    "training.utils.checkpoint_utils.load_state_dict_into_model",
    "training.utils.data_utils.collate_fn",
    "training.utils.logger.make_tensorboard_logger",
})
#: keys holding class names resolved by the training code (optimizer parameter groups)
_CLASS_NAME_KEYS = ("module_cls_names",)


def _under(name: str, packages: Tuple[str, ...]) -> bool:
    return any(name == pkg or name.startswith(pkg + ".") for pkg in packages)


def allow_any_target_from_env() -> bool:
    """Whether ``SAM2_ALLOW_ANY_TARGET`` opts out of the check (``1``: yes; unset/empty/``0``: no)."""
    value = os.environ.get(ENV_ALLOW_ANY_TARGET, "").strip()
    if value in ("", "0"):
        return False
    if value == "1":
        return True
    raise ConfigTargetError(f"environment variable {ENV_ALLOW_ANY_TARGET} must be 1 or 0, got {value!r}")


def _locate(path: str, packages: Tuple[str, ...], where: str) -> Any:
    """Import and follow ``path`` without leaving ``packages``; refuse with the reason otherwise."""
    parts = path.split(".")
    if not path or any(not p.isidentifier() for p in parts):
        raise ConfigTargetError(f"{where}: not a dotted Python name")
    if any(p.startswith("__") for p in parts):
        raise ConfigTargetError(f"{where}: double-underscore names are not allowed")
    if not _under(path, packages):
        raise ConfigTargetError(
            f"{where}: outside the allowed packages ({', '.join(packages)})")
    obj: Any = None
    for i in range(len(parts), 0, -1):  # the longest importable module prefix inside packages
        module_name = ".".join(parts[:i])
        if not _under(module_name, packages):
            break
        try:
            obj = importlib.import_module(module_name)
        except ImportError:
            continue
        rest = parts[i:]
        break
    if obj is None:
        raise ConfigTargetError(f"{where}: cannot be imported")
    for name in rest:
        try:
            obj = getattr(obj, name)
        except AttributeError:
            raise ConfigTargetError(f"{where}: does not exist") from None
        if isinstance(obj, types.ModuleType) and not _under(obj.__name__, packages):
            raise ConfigTargetError(f"{where}: goes through module {obj.__name__!r}, "
                                    f"outside the allowed packages ({', '.join(packages)})")
    return obj


def _defined_in(obj: Any) -> str:
    return f"{getattr(obj, '__module__', None) or '?'}.{getattr(obj, '__qualname__', '?')}"


def check_target(path: Any, kind: str, where: str) -> None:
    """Raise :class:`ConfigTargetError` unless ``path`` is an allowed ``_target_`` for ``kind``."""
    if not isinstance(path, str):
        raise ConfigTargetError(f"{where}: must be a dotted class name (a string), got {path!r}")
    packages = MODEL_PACKAGES if kind == "model" else TRAINING_PACKAGES
    obj = _locate(path, packages, f"{where}={path!r}")
    defined = _defined_in(obj)
    if inspect.isclass(obj):
        if not _under(obj.__module__, packages):
            raise ConfigTargetError(
                f"{where}={path!r}: names {defined}, defined outside the allowed packages")
        if kind == "model":
            import torch.nn

            if not issubclass(obj, torch.nn.Module):
                raise ConfigTargetError(
                    f"{where}={path!r}: a model config may only name torch.nn.Module classes")
        return
    if kind == "training" and inspect.isfunction(obj) and defined in TRAINING_FUNCTIONS:
        return
    raise ConfigTargetError(
        f"{where}={path!r}: not an allowed class" + (
            f" (functions allowed in training configs: {', '.join(sorted(TRAINING_FUNCTIONS))})"
            if kind == "training" else ""))


def _children(node: Any, path: str) -> Iterator[Tuple[str, Any]]:
    """``(key path, value)`` of each child of a config node, interpolations resolved."""
    from omegaconf import DictConfig, ListConfig

    if isinstance(node, DictConfig):
        for key in node.keys():
            yield (f"{path}.{key}" if path else str(key)), key
    elif isinstance(node, ListConfig):
        for i in range(len(node)):
            yield f"{path}[{i}]", i
    elif isinstance(node, dict):
        for key in node:
            yield (f"{path}.{key}" if path else str(key)), key
    elif isinstance(node, (list, tuple)):
        for i in range(len(node)):
            yield f"{path}[{i}]", i


def _value(node: Any, key: Any, where: str, must: bool) -> Tuple[bool, Any]:
    """``(ok, value)``: the child, resolved; an unresolvable ``_target_`` is refused."""
    from omegaconf import DictConfig, ListConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if isinstance(node, (DictConfig, ListConfig)):
        if OmegaConf.is_missing(node, key):
            if must:
                raise ConfigTargetError(f"{where}: is a missing value ('???')")
            return False, None
        try:
            return True, node[key]
        except OmegaConfBaseException as exc:
            if must:
                raise ConfigTargetError(f"{where}: cannot be resolved ({exc})") from exc
            return False, None  # instantiating it fails the same way; nothing runs from it
    return True, node[key]


def check_config_targets(cfg: Any, kind: str, source: str, allow_any_target: Optional[bool] = False) -> None:
    """Walk ``cfg`` (an omegaconf config or plain dicts/lists) and refuse a disallowed target.

    Args:
        cfg: the composed config (all overrides applied).
        kind: ``"model"`` or ``"training"`` (see the module docstring).
        source: the config's name, for the messages.
        allow_any_target: True skips the check (logs a warning); False also consults
            ``SAM2_ALLOW_ANY_TARGET``.

    Raises:
        ConfigTargetError: names the config, the key path and the value at fault.
    """
    if kind not in ("model", "training"):
        raise ValueError(f"kind must be 'model' or 'training', got {kind!r}")
    if allow_any_target or allow_any_target_from_env():
        logger.warning("config %s: _target_ allowlist switched off (allow_any_target); the config "
                       "can run any code", source)
        return
    try:
        _walk(cfg, "", kind)
    except ConfigTargetError as exc:
        raise ConfigTargetError(f"config {source}: {exc}") from None


def _walk(node: Any, path: str, kind: str) -> None:
    for child_path, key in _children(node, path):
        name = str(key)
        is_target = name == "_target_"
        ok, value = _value(node, key, child_path, must=is_target)
        if not ok:
            continue
        if is_target:
            check_target(value, kind, child_path)
        elif name == "_partial_" and kind == "model":
            raise ConfigTargetError(f"{child_path}={value!r}: model configs may not use _partial_")
        elif name in _CLASS_NAME_KEYS and kind == "training":
            for i, cls_name in enumerate(value or []):
                obj_where = f"{child_path}[{i}]"
                obj = _locate(str(cls_name), TRAINING_PACKAGES, f"{obj_where}={cls_name!r}")
                if not inspect.isclass(obj):
                    raise ConfigTargetError(f"{obj_where}={cls_name!r}: not a class")
        else:
            _walk(value, child_path, kind)


__all__ = [
    "ConfigTargetError", "ENV_ALLOW_ANY_TARGET", "MODEL_PACKAGES", "TRAINING_FUNCTIONS",
    "TRAINING_PACKAGES", "allow_any_target_from_env", "check_config_targets", "check_target",
]
