"""Optimizer construction: per-parameter schedules, layer-wise LR decay, gradient clipping.

The ``trainer.optim`` config section describes, for each optimiser option (``lr``,
``weight_decay``, ...), a list of schedule entries. An entry with neither ``param_names`` nor
``module_cls_names`` is the default for that option; the others claim parameters by full-name
fnmatch patterns (``image_encoder.*``, ``*bias*``) or by the class of the module that owns them
(``torch.nn.LayerNorm``). The first specific entry that claims a parameter wins.

Parameters with ``requires_grad=False`` (for instance a frozen image encoder) are never handed to
the optimiser. Parameters sharing the same schedules and multiplier form one param group.
"""
from __future__ import annotations

import fnmatch
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

log = logging.getLogger(__name__)

Schedule = Callable[[float], float]


@dataclass
class ScheduleRule:
    """One schedule of one option, and the parameters it claims (empty = the default)."""

    option: str
    schedule: Schedule
    param_patterns: List[str] = field(default_factory=list)
    module_cls_names: List[str] = field(default_factory=list)

    @property
    def is_default(self) -> bool:
        return not self.param_patterns and not self.module_cls_names


@dataclass
class GroupSpec:
    """How one param group is driven: a schedule per option and an LR multiplier."""

    schedules: Dict[str, Schedule]
    lr_scale: float = 1.0
    names: List[str] = field(default_factory=list)


def _class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _owner_class_names(model: nn.Module) -> Dict[str, str]:
    """Full parameter name -> class path of the module that directly owns it."""
    out: Dict[str, str] = {}
    for mod_name, mod in model.named_modules():
        for p_name, _ in mod.named_parameters(recurse=False):
            full = f"{mod_name}.{p_name}" if mod_name else p_name
            out[full] = _class_path(type(mod))
    return out


def _resolve_class_name(name: str) -> str:
    import hydra.utils

    return _class_path(hydra.utils.get_class(name))


def rules_from_options(options: Dict[str, Sequence[Dict[str, Any]]]) -> List[ScheduleRule]:
    """Turn the (instantiated) ``options`` config into :class:`ScheduleRule` objects."""
    rules: List[ScheduleRule] = []
    for option, entries in options.items():
        for entry in entries:
            if "scheduler" not in entry:
                raise ValueError(f"trainer.optim.options.{option}: every entry needs a 'scheduler'")
            rules.append(
                ScheduleRule(
                    option=str(option),
                    schedule=entry["scheduler"],
                    param_patterns=list(entry.get("param_names") or []),
                    module_cls_names=[_resolve_class_name(c) for c in entry.get("module_cls_names") or []],
                )
            )
        if sum(r.is_default for r in rules if r.option == option) != 1:
            raise ValueError(
                f"trainer.optim.options.{option}: exactly one entry must have no param_names/"
                "module_cls_names (the default schedule)"
            )
    return rules


def _claims(rule: ScheduleRule, name: str, owner_cls: str) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in rule.param_patterns) or owner_cls in rule.module_cls_names


def hiera_layer_id(param_name: str, trunk_prefix: str, num_blocks: int) -> int:
    """Depth index of a trunk parameter for layer-wise decay.

    Patch and positional embeddings are layer 0, ``blocks.<k>`` is layer ``k + 1``, anything
    else in the trunk counts as the top (``num_blocks + 1``).
    """
    rest = param_name[len(trunk_prefix):].lstrip(".")
    if rest.startswith(("patch_embed", "pos_embed")):
        return 0
    parts = rest.split(".")
    if parts[0] == "blocks" and len(parts) > 1 and parts[1].isdigit():
        return int(parts[1]) + 1
    return num_blocks + 1


def layer_decay_param_modifier(
    model: nn.Module,
    names: Sequence[str],
    layer_decay_value: float,
    apply_to: str = "image_encoder.trunk",
    layer_decay_min: Optional[float] = None,
    overrides: Sequence[Dict[str, Any]] = (),
) -> Dict[str, float]:
    """LR multipliers for layer-wise decay on the sub-module ``apply_to``.

    A trunk parameter at depth ``d`` (see :func:`hiera_layer_id`) gets
    ``layer_decay_value ** (num_blocks + 1 - d)``; parameters outside ``apply_to`` get 1.0.
    ``overrides`` entries (``{pattern, value}``) set the multiplier of matching names directly
    (the configs keep ``*pos_embed*`` at 1.0).

    Returns:
        ``{param name: multiplier}`` for every name in ``names``.
    """
    trunk = model.get_submodule(apply_to)
    blocks = getattr(trunk, "blocks", None)
    num_blocks = len(blocks) if blocks is not None else 0
    top = num_blocks + 1
    scales: Dict[str, float] = {}
    for name in names:
        if not name.startswith(apply_to + "."):
            scales[name] = 1.0
            continue
        depth = hiera_layer_id(name, apply_to, num_blocks)
        scale = float(layer_decay_value) ** (top - depth)
        if layer_decay_min is not None:
            scale = max(scale, float(layer_decay_min))
        for ov in overrides:
            if fnmatch.fnmatchcase(name, ov["pattern"]):
                scale = float(ov["value"])
        scales[name] = scale
    return scales


def build_param_groups(
    model: nn.Module,
    rules: Sequence[ScheduleRule],
    lr_modifiers: Sequence[Callable[..., Dict[str, float]]] = (),
) -> Tuple[List[Dict[str, Any]], List[GroupSpec]]:
    """Group the trainable parameters of ``model`` by (schedules, LR multiplier).

    Returns:
        ``(param_groups, specs)``: torch param-group dicts (``params`` only; values are set by
        :meth:`OptimizerWrapper.apply_schedules`) and the matching :class:`GroupSpec` list.
    """
    owners = _owner_class_names(model)
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    names = [n for n, _ in trainable]
    scale = {n: 1.0 for n in names}
    for modifier in lr_modifiers:
        for n, s in modifier(model=model, names=names).items():
            scale[n] *= s
    options = sorted({r.option for r in rules})
    groups: Dict[Tuple, GroupSpec] = {}
    params: Dict[Tuple, List[nn.Parameter]] = {}
    for name, p in trainable:
        chosen: Dict[str, Schedule] = {}
        key_parts: List[Any] = []
        for option in options:
            candidates = [r for r in rules if r.option == option]
            specific = [r for r in candidates if not r.is_default and _claims(r, name, owners.get(name, ""))]
            rule = specific[0] if specific else next(r for r in candidates if r.is_default)
            chosen[option] = rule.schedule
            key_parts.append(id(rule))
        key = (tuple(key_parts), scale[name])
        if key not in groups:
            groups[key] = GroupSpec(schedules=chosen, lr_scale=scale[name])
            params[key] = []
        groups[key].names.append(name)
        params[key].append(p)
    keys = list(groups)  # insertion order follows model.named_parameters(): deterministic
    return [{"params": params[k]} for k in keys], [groups[k] for k in keys]


class OptimizerWrapper:
    """A torch optimizer plus the per-group schedules that set its options each step."""

    def __init__(self, optimizer: torch.optim.Optimizer, specs: List[GroupSpec]) -> None:
        if len(optimizer.param_groups) != len(specs):
            raise ValueError("one GroupSpec per optimizer param group is required")
        self.optimizer = optimizer
        self.specs = specs

    def apply_schedules(self, where: float) -> Dict[str, float]:
        """Set every group's options for progress ``where``.

        Returns:
            ``{option: largest value over groups, option + "_min": smallest}``.
        """
        shown: Dict[str, float] = {}
        for group, spec in zip(self.optimizer.param_groups, self.specs):
            for option, schedule in spec.schedules.items():
                value = schedule(where) * (spec.lr_scale if option == "lr" else 1.0)
                group[option] = value
                shown[option] = max(shown.get(option, value), value)
                shown[f"{option}_min"] = min(shown.get(f"{option}_min", value), value)
        return shown

    def step(self) -> None:
        self.optimizer.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> Dict[str, Any]:
        return self.optimizer.state_dict()

    def load_state_dict(self, sd: Dict[str, Any]) -> None:
        self.optimizer.load_state_dict(sd)


def construct_optimizer(
    model: nn.Module,
    optimizer_factory: Callable[..., torch.optim.Optimizer],
    options: Dict[str, Sequence[Dict[str, Any]]],
    lr_modifiers: Sequence[Callable[..., Dict[str, float]]] = (),
) -> OptimizerWrapper:
    """Build the optimizer over the trainable parameters of ``model``.

    Args:
        optimizer_factory: callable taking the param groups (``hydra`` partial of AdamW, ...).
        options: ``{option: [{"scheduler": callable, "param_names": [...], "module_cls_names": [...]}]}``.
        lr_modifiers: partials of :func:`layer_decay_param_modifier` and the like.
    """
    rules = rules_from_options(options)
    groups, specs = build_param_groups(model, rules, lr_modifiers)
    if not groups:
        raise ValueError("the model has no trainable parameter to optimise")
    opt = optimizer_factory(groups)
    wrapper = OptimizerWrapper(opt, specs)
    wrapper.apply_schedules(0.0)
    log.info(
        "optimizer %s: %d param groups, %d trainable tensors",
        type(opt).__name__, len(groups), sum(len(g["params"]) for g in groups),
    )
    return wrapper


class GradientClipper:
    """Clip the global gradient norm of the trainable parameters; returns the norm before clipping."""

    def __init__(self, max_norm: Optional[float] = 1.0, norm_type: float = 2) -> None:
        self.max_norm = None if max_norm is None else float(max_norm)
        self.norm_type = float(norm_type)

    def __call__(self, model: nn.Module) -> Optional[torch.Tensor]:
        params = [p for p in model.parameters() if p.grad is not None]
        if self.max_norm is None or not params:
            return None
        return torch.nn.utils.clip_grad_norm_(params, max_norm=self.max_norm, norm_type=self.norm_type)
