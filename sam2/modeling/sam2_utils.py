"""Small building blocks shared by the SAM2 modules (MLP heads, 2-D layer norm, stochastic depth)."""
from __future__ import annotations

import copy
from typing import Callable, Type

import torch
import torch.nn.functional as F
from torch import nn


def get_activation_fn(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """Map an activation name from a config (``relu``, ``gelu``, ``glu``) to its function."""
    table = {"relu": F.relu, "gelu": F.gelu, "glu": F.glu}
    if name not in table:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(table)}")
    return table[name]


def get_clones(module: nn.Module, n: int) -> nn.ModuleList:
    """``n`` independent deep copies of ``module``."""
    return nn.ModuleList([copy.deepcopy(module) for _ in range(n)])


class DropPath(nn.Module):
    """Stochastic depth: during training, zero whole samples of a residual branch.

    Args:
        drop_prob: probability of dropping a sample's branch.
        scale_by_keep: rescale the kept samples by ``1 / (1 - drop_prob)``.
    """

    def __init__(self, drop_prob: float = 0.0, scale_by_keep: bool = True) -> None:
        super().__init__()
        self.drop_prob = drop_prob
        self.scale_by_keep = scale_by_keep

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_prob == 0.0:
            return x
        keep = 1.0 - self.drop_prob
        mask_shape = (x.shape[0],) + (1,) * (x.dim() - 1)
        mask = x.new_empty(mask_shape).bernoulli_(keep)
        if self.scale_by_keep and keep > 0.0:
            mask = mask / keep
        return x * mask


class MLP(nn.Module):
    """A stack of ``num_layers`` linear layers with an activation between them.

    Parameter names (``layers.<i>.weight``) follow the official checkpoints.

    Args:
        input_dim, hidden_dim, output_dim: widths of the first input, hidden layers and output.
        num_layers: number of linear layers (>= 1).
        activation: activation module class used between layers.
        sigmoid_output: apply a sigmoid to the final output.
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        output_dim: int,
        num_layers: int,
        activation: Type[nn.Module] = nn.ReLU,
        sigmoid_output: bool = False,
    ) -> None:
        super().__init__()
        self.num_layers = num_layers
        widths = [input_dim] + [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(
            nn.Linear(widths[i], widths[i + 1]) for i in range(num_layers)
        )
        self.sigmoid_output = sigmoid_output
        self.act = activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.layers) - 1
        for idx, linear in enumerate(self.layers):
            x = linear(x)
            if idx != last:
                x = self.act(x)
        return torch.sigmoid(x) if self.sigmoid_output else x


class LayerNorm2d(nn.Module):
    """Layer norm over the channel axis of a ``[B, C, H, W]`` tensor (float math, eps inside sqrt)."""

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - x.mean(dim=1, keepdim=True)
        var = centred.pow(2).mean(dim=1, keepdim=True)
        normed = centred / torch.sqrt(var + self.eps)
        return normed * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
