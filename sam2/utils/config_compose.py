"""Finding and composing the package's Hydra configs: the one composer of model and training configs.

Used by :mod:`sam2.build_sam` (model configs) and :mod:`training.utils.config` (training
configs), so both accept the same spellings, fail the same way and treat Hydra's global state
the same way:

* Importing :mod:`sam2` (or this module) does not initialise Hydra. Each composition runs
  inside a private Hydra context; a Hydra application of the caller (``@hydra.main`` or
  ``hydra.initialize``) is set aside while composing and put back unchanged afterwards, and
  without one no Hydra state is left behind.
* A config is named like ``configs/sam2.1/sam2.1_hiera_b+.yaml``; ``sam2.1/sam2.1_hiera_b+.yaml``,
  ``sam2.1_hiera_b+.yaml`` (when unambiguous among the configs of its kind) and the same without
  ``.yaml`` work too, as does a filesystem path to a YAML file. A file outside the package may
  list the package's configs in its ``defaults`` (e.g. ``- /configs/sam2.1/sam2.1_hiera_t``).
* An unknown name raises :class:`UnknownConfigError`, which names it and lists the available
  configs of the kind asked for; a config Hydra cannot compose raises :class:`ConfigError`
  naming the config.
* Configs are data: every ``_target_`` of the composed config (overrides included) must pass
  :func:`sam2.utils.config_targets.check_config_targets` (an allowlist of the package's and
  torch's classes) before anyone instantiates it, unless ``allow_any_target=True``.

Kinds: ``"model"`` configs are the YAML files under ``configs/`` outside ``*_training`` folders;
``"training"`` configs are those inside ``*_training`` folders. Files or folders whose name
starts with ``_`` are building blocks (bases, trunk fragments) and are never listed.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, List, Optional, Sequence, Union

from sam2.utils.config_errors import ConfigError, UnknownConfigError
from sam2.utils.config_targets import check_config_targets

PathLike = Union[str, "os.PathLike[str]"]

PACKAGE_DIR = Path(__file__).resolve().parents[1]
CONFIG_DIR = PACKAGE_DIR / "configs"
CONFIG_MODULE = "sam2"
HYDRA_VERSION_BASE = "1.2"
KINDS = ("model", "training")


@dataclass(frozen=True)
class ConfigRef:
    """Where Hydra finds a config: the package's config module, or an external folder."""

    name: str  # config name relative to the search root, with ``.yaml``
    external_dir: Optional[Path] = None  # None: inside this package

    def describe(self) -> str:
        return str(self.external_dir / self.name) if self.external_dir else self.name


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def _is_listed(rel_parts: Sequence[str], kind: str) -> bool:
    if any(part.startswith("_") for part in rel_parts):
        return False
    in_training = any(part.endswith("_training") for part in rel_parts[:-1])
    return in_training == (kind == "training")


def list_package_configs(kind: str = "model") -> List[str]:
    """Names of the package's configs of ``kind``, e.g. ``configs/sam2.1/sam2.1_hiera_t.yaml``."""
    _check_kind(kind)
    names = []
    for path in sorted(CONFIG_DIR.rglob("*.yaml")):
        rel = path.relative_to(CONFIG_DIR)
        if _is_listed(rel.parts, kind):
            names.append("configs/" + rel.as_posix())
    return names


def _package_config(candidate: str) -> Optional[str]:
    """``candidate`` as a config name of this package (``configs/...yaml``), if it is one."""
    rel = candidate.lstrip("/")
    for name in (rel, "configs/" + rel):
        if name.startswith("configs/") and (PACKAGE_DIR / name).is_file():
            return name
    return None


def _unknown(config_file: str, detail: str, kind: str) -> UnknownConfigError:
    listing = "\n  ".join(list_package_configs(kind)) or "(none)"
    return UnknownConfigError(f"{detail} {config_file!r}; available {kind} configs:\n  {listing}")


def resolve_config(config_file: PathLike, kind: str = "model") -> ConfigRef:
    """Find the config a user means; raise :class:`UnknownConfigError` listing the choices."""
    _check_kind(kind)
    text = os.fspath(config_file).strip()
    if not text:
        raise _unknown(text, "empty config name", kind)
    spellings = [text] if text.endswith((".yaml", ".yml")) else [text + ".yaml", text]
    for spelling in spellings:
        name = _package_config(spelling)
        if name is not None:
            return ConfigRef(name=name)
    if "/" not in text and os.sep not in text:
        hits = [n for n in list_package_configs(kind) if n.rsplit("/", 1)[-1] in spellings]
        if len(hits) == 1:
            return ConfigRef(name=hits[0])
        if len(hits) > 1:
            raise UnknownConfigError(f"ambiguous config name {text!r}: matches {hits}; give the folder too")
    for spelling in spellings:
        path = Path(spelling).expanduser()
        if path.is_file():
            path = path.resolve()
            try:
                return ConfigRef(name="configs/" + path.relative_to(CONFIG_DIR.resolve()).as_posix())
            except ValueError:
                return ConfigRef(name=path.name, external_dir=path.parent)
    raise _unknown(text, "unknown config", kind)


@contextlib.contextmanager
def private_hydra(ref: ConfigRef) -> Iterator[None]:
    """Initialise Hydra for ``ref`` and afterwards restore whatever Hydra state existed.

    A caller's own Hydra application keeps its GlobalHydra instance and version base: they
    are set aside while composing and put back.
    """
    from hydra import initialize_config_dir, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.singleton import Singleton
    from hydra.version import VersionBase

    saved_global = Singleton._instances.pop(GlobalHydra, None)
    saved_version = VersionBase.instance().version_base
    try:
        if ref.external_dir is None:
            ctx = initialize_config_module(CONFIG_MODULE, version_base=HYDRA_VERSION_BASE)
        else:
            ctx = initialize_config_dir(str(ref.external_dir), version_base=HYDRA_VERSION_BASE)
        with ctx:
            yield
    finally:
        Singleton._instances.pop(GlobalHydra, None)
        if saved_global is not None:
            Singleton._instances[GlobalHydra] = saved_global
        VersionBase.instance().version_base = saved_version


def compose(config_file: PathLike, overrides: Sequence[str] = (), kind: str = "model",
            allow_any_target: bool = False) -> Any:
    """Compose a config (``omegaconf.DictConfig``, interpolations left unresolved).

    Args:
        config_file: config name or YAML path (see the module docstring).
        overrides: Hydra overrides applied during composition, e.g. ``["++model.num_maskmem=5"]``.
        kind: ``"model"`` or ``"training"``: which configs a bare name is looked up among and
            an unknown name's error lists.
        allow_any_target: skip the ``_target_`` allowlist (only for configs trusted as code).

    Raises:
        UnknownConfigError: no such config (the message lists the available ones).
        ConfigError: Hydra cannot compose it (a missing default, a bad override, ...).
        sam2.utils.config_errors.ConfigTargetError: (a ConfigError) a ``_target_`` outside the allowlist.
    """
    from hydra import compose as hydra_compose
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    ref = resolve_config(config_file, kind)
    extra = list(overrides)
    if ref.external_dir is not None:
        extra.append(f"hydra.searchpath=[pkg://{CONFIG_MODULE}]")
    try:
        with private_hydra(ref):
            cfg = hydra_compose(config_name=ref.name, overrides=extra)
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(f"cannot compose config {ref.describe()}: {exc}") from exc
    check_config_targets(cfg, kind, ref.describe(), allow_any_target)
    return cfg


__all__ = [
    "ConfigError", "ConfigRef", "UnknownConfigError", "compose", "list_package_configs",
    "private_hydra", "resolve_config", "CONFIG_DIR", "PACKAGE_DIR",
]
