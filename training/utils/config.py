"""Loading training configs: Hydra composition, trailing ``key=value`` overrides, placeholders.

A training config is found by package-relative name (``configs/sam2.1_training/X.yaml``, the
form the README uses), by its bare name, or by a path on disk; lookup, composition and Hydra's
global state are handled by :mod:`sam2.utils.config_compose`, shared with the model configs
(composition never leaves Hydra initialised, and a caller's own Hydra app keeps its state).
:class:`ConfigError` is that module's error class.

Placeholders: a value of ``???`` (OmegaConf's "mandatory missing") or one of the legacy
placeholder strings of the baseline configs (``xxx``, ``/path/to/...``) marks a value the
user has to set; :func:`find_placeholders` lists them so the launcher can stop before any
process starts.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterable, List, Sequence

from omegaconf import DictConfig, ListConfig, OmegaConf

from sam2.utils.config_compose import ConfigError, compose
from sam2.utils.config_targets import check_config_targets

_LEGACY_PLACEHOLDERS = ("xxx", "???")
_LEGACY_PREFIXES = ("/path/to/",)


def register_resolvers() -> None:
    """Register the arithmetic resolvers used by the training configs (idempotent)."""

    def _times(*values: Any) -> Any:
        out = 1
        for v in values:
            out = out * v
        return out

    table = {
        "times": _times,
        "divide": lambda a, b: a / b,
        "add": lambda a, b: a + b,
        "subtract": lambda a, b: a - b,
        "pow": lambda a, b: a**b,
        "int": lambda a: int(a),
        "ceil_int": lambda a: int(math.ceil(a)),
        "range": lambda n: list(range(n)),
    }
    for name, fn in table.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


def compose_config(config: str, overrides: Sequence[str] = (), allow_any_target: bool = False) -> DictConfig:
    """Compose a training config with Hydra and apply ``key=value`` overrides.

    The config is found and composed by :func:`sam2.utils.config_compose.compose`, the composer
    of the model configs too (same spellings, same private Hydra context, same errors); then
    the model node is moved under ``trainer.model`` (:func:`nest_model_config`) and the
    overrides are applied to the result, so they address keys as the training config shows
    them (``trainer.model.image_size=...``).

    Args:
        config: config name (``configs/sam2.1_training/X.yaml``, ``X.yaml`` or ``X``) or a path to it.
        overrides: Hydra override strings, e.g. ``dataset.img_folder=/data/x``.
        allow_any_target: skip the ``_target_`` allowlist of
            :mod:`sam2.utils.config_targets`; by default the composed config and again the
            config with the overrides applied are checked before anything is instantiated.

    Returns:
        The composed (unresolved) config.

    Raises:
        sam2.utils.config_compose.UnknownConfigError: no such config (a :class:`ConfigError`;
            the message lists the training configs).
        ConfigError: the config cannot be composed or an override does not apply.
        sam2.utils.config_errors.ConfigTargetError: (a ConfigError) a ``_target_`` outside the allowlist.
    """
    register_resolvers()
    cfg = compose(config, kind="training", allow_any_target=allow_any_target)
    cfg = nest_model_config(cfg)
    apply_overrides(cfg, overrides, os.fspath(config))
    if overrides:
        check_config_targets(cfg, "training", os.fspath(config), allow_any_target)
    return cfg


def nest_model_config(cfg: DictConfig) -> DictConfig:
    """Move the model config's top-level ``model`` node under ``trainer.model``.

    Training configs include a model config (``configs/sam2.1/...``), which lands at the top
    level, and add their training options under ``trainer.model``; the two are merged there
    (training options win) so ``trainer.model.*`` holds the whole model. The model config's
    ``rcms`` block (inference only) is dropped.
    """
    OmegaConf.set_struct(cfg, False)
    if "model" in cfg:
        base = cfg.model
        extra = cfg.trainer.get("model") if "trainer" in cfg else None
        merged = OmegaConf.merge(base, extra) if extra is not None else base
        cfg.trainer.model = merged
        del cfg["model"]
    if "rcms" in cfg:
        del cfg["rcms"]
    return cfg


def apply_overrides(cfg: DictConfig, overrides: Sequence[str], config_name: str) -> None:
    """Apply Hydra command-line overrides (``a.b=1``, ``+a.c=2``, ``++a.d=3``, ``~a.e``)."""
    if not overrides:
        return
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
        OmegaConf.set_struct(cfg, True)
        ConfigLoaderImpl._apply_overrides_to_config(parsed, cfg)
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(f"config {config_name}: bad override: {exc}") from exc
    finally:
        OmegaConf.set_struct(cfg, False)


def _is_placeholder(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    v = value.strip()
    return v in _LEGACY_PLACEHOLDERS or any(v.startswith(p) for p in _LEGACY_PREFIXES)


def _walk(node: Any, prefix: str) -> Iterable[str]:
    if isinstance(node, DictConfig):
        for key in node.keys():
            path = f"{prefix}.{key}" if prefix else str(key)
            if OmegaConf.is_missing(node, key):
                yield path
                continue
            if OmegaConf.is_interpolation(node, key):
                continue  # checked where it points to
            yield from _walk(node._get_node(key), path)
    elif isinstance(node, ListConfig):
        for i in range(len(node)):
            path = f"{prefix}[{i}]"
            if OmegaConf.is_missing(node, i):
                yield path
                continue
            if OmegaConf.is_interpolation(node, i):
                continue
            yield from _walk(node._get_node(i), path)
    else:
        value = node._value() if hasattr(node, "_value") else node
        if _is_placeholder(value):
            yield prefix


def find_placeholders(cfg: DictConfig) -> List[str]:
    """Dotted keys whose value is still a placeholder (``???``, ``xxx``, ``/path/to/...``)."""
    return sorted(set(_walk(cfg, "")))


def check_placeholders(cfg: DictConfig, config_name: str) -> None:
    """Raise :class:`ConfigError` naming every key that still holds a placeholder."""
    missing = find_placeholders(cfg)
    if missing:
        hint = " ".join(f"{k}=..." for k in missing)
        raise ConfigError(
            f"config {config_name}: these keys must be set before training: {', '.join(missing)}. "
            f"Add them to the command line, e.g. `{hint}`"
        )


def select(cfg: DictConfig, key: str, default: Any = None) -> Any:
    """``OmegaConf.select`` that resolves interpolations and returns ``default`` when absent."""
    return OmegaConf.select(cfg, key, default=default, throw_on_missing=False)


def default_run_dir(config: str) -> str:
    """``sam2_logs/<config stem>`` under the current directory (the default run folder)."""
    return os.path.join(os.getcwd(), "sam2_logs", Path(config).stem)
