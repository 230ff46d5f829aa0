"""The errors of config lookup, composition and checking (one hierarchy: catch :class:`ConfigError`)."""
from __future__ import annotations


class ConfigError(ValueError):
    """A config that cannot be used as given; the message names the config, key or file at fault."""


class UnknownConfigError(ConfigError):
    """A config name that matches none (or several) of the shipped configs."""


class ConfigTargetError(ConfigError):
    """A config names something it may not instantiate; the message names the key and value."""


__all__ = ["ConfigError", "ConfigTargetError", "UnknownConfigError"]
