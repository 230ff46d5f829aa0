"""Param groups, layer-wise LR decay, weight-decay exemptions, schedules, clipping."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from training.optimizer import GradientClipper, construct_optimizer, layer_decay_param_modifier
from training.utils.schedulers import ConstantParamScheduler, CosineParamScheduler


class _Trunk(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch_embed = nn.Linear(2, 2)
        self.pos_embed = nn.Parameter(torch.zeros(2))
        self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2)) for _ in range(2)])


class _Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = _Trunk()
        self.neck = nn.Linear(2, 2)


class _Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.image_encoder = _Encoder()
        self.head = nn.Linear(2, 2)
        self.frozen = nn.Linear(2, 2)
        self.frozen.requires_grad_(False)


def _options(base=1.0, vision=0.5):
    return {
        "lr": [
            {"scheduler": CosineParamScheduler(base, base / 10)},
            {"scheduler": CosineParamScheduler(vision, vision / 10), "param_names": ["image_encoder.*"]},
        ],
        "weight_decay": [
            {"scheduler": ConstantParamScheduler(0.1)},
            {"scheduler": ConstantParamScheduler(0.0), "param_names": ["*bias*"],
             "module_cls_names": ["torch.nn.LayerNorm"]},
        ],
    }


def _per_param(opt, model):
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)]: (g["lr"], g["weight_decay"]) for g in opt.optimizer.param_groups for p in g["params"]}


def test_layer_decay_vision_lr_and_weight_decay_exemptions():
    model = _Model()
    decay = lambda model, names: layer_decay_param_modifier(  # noqa: E731
        model, names, 0.9, apply_to="image_encoder.trunk", overrides=[{"pattern": "*pos_embed*", "value": 1.0}]
    )
    opt = construct_optimizer(model, lambda groups: torch.optim.AdamW(groups), _options(), [decay])
    got = _per_param(opt, model)
    assert "frozen.weight" not in got and "frozen.bias" not in got
    top = 3  # 2 blocks + 1
    assert got["head.weight"] == (pytest.approx(1.0), 0.1)
    assert got["head.bias"] == (pytest.approx(1.0), 0.0)
    assert got["image_encoder.neck.weight"] == (pytest.approx(0.5), 0.1)
    assert got["image_encoder.trunk.pos_embed"][0] == pytest.approx(0.5)  # override 1.0
    assert got["image_encoder.trunk.patch_embed.weight"][0] == pytest.approx(0.5 * 0.9 ** top)
    assert got["image_encoder.trunk.blocks.0.0.weight"] == (pytest.approx(0.5 * 0.9 ** (top - 1)), 0.1)
    assert got["image_encoder.trunk.blocks.1.0.weight"][0] == pytest.approx(0.5 * 0.9 ** (top - 2))
    assert got["image_encoder.trunk.blocks.1.1.weight"] == (pytest.approx(0.5 * 0.9), 0.0)  # LayerNorm


def test_cosine_schedule_ends_at_a_tenth():
    model = _Model()
    opt = construct_optimizer(model, lambda g: torch.optim.AdamW(g), _options(2.0, 0.6))
    opt.apply_schedules(0.5)
    got = _per_param(opt, model)
    assert got["head.weight"][0] == pytest.approx(0.2 + 0.5 * 1.8 * (1 + math.cos(math.pi * 0.5)))
    opt.apply_schedules(1.0)
    got = _per_param(opt, model)
    assert got["head.weight"][0] == pytest.approx(0.2)
    assert got["image_encoder.neck.weight"][0] == pytest.approx(0.06)


def test_two_default_entries_is_an_error():
    opts = _options()
    opts["lr"].append({"scheduler": ConstantParamScheduler(1.0)})
    with pytest.raises(ValueError, match="exactly one"):
        construct_optimizer(_Model(), lambda g: torch.optim.AdamW(g), opts)


def test_gradient_clipper_caps_the_global_norm():
    model = nn.Linear(3, 1)
    for p in model.parameters():
        p.grad = torch.full_like(p, 10.0)
    norm = GradientClipper(max_norm=0.1)(model)
    assert norm.item() == pytest.approx(20.0)
    total = torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters()))
    assert total.item() == pytest.approx(0.1, rel=1e-4)
