"""Small building blocks shared by the SAM2 modules (MLP heads, 2-D layer norm, stochastic depth,
an inference-time cache of derived tensors)."""
from __future__ import annotations

import copy
from typing import Callable, Hashable, Iterable, Optional, Tuple, Type

import torch
import torch.nn.functional as F
from torch import nn


class DerivedTensorCache:
    """Keeps one tensor derived from parameters or buffers, for inference.

    :meth:`get` returns ``build()`` unchanged while training or under autograd. In eval mode
    without autograd it reuses the last result while ``extra`` and the source tensors (identity,
    in-place version, dtype and device) are the same, so ``load_state_dict``, ``.to()`` and
    in-place edits all invalidate it. Not a module attribute that is saved or moved.
    """

    def __init__(self) -> None:
        self._entry: Optional[Tuple[tuple, torch.Tensor]] = None

    def get(
        self, owner: nn.Module, sources: Iterable[torch.Tensor], build: Callable[[], torch.Tensor],
        extra: Hashable = None,
    ) -> torch.Tensor:
        if owner.training or torch.is_grad_enabled():
            return build()
        key = (extra, tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in sources))
        if self._entry is None or self._entry[0] != key:
            self._entry = (key, build())
        return self._entry[1]


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
        self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int,
        activation: Type[nn.Module] = nn.ReLU, sigmoid_output: bool = False,
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
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - x.mean(dim=1, keepdim=True)
        var = centred.pow(2).mean(dim=1, keepdim=True)
        normed = centred / torch.sqrt(var + self.eps)
        return normed * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def get_1d_sine_pe(pos_inds: torch.Tensor, dim: int, temperature: float = 10000) -> torch.Tensor:
    """Transformer-style 1-D sine encoding: all ``sin`` channels first, then all ``cos``.

    Args:
        pos_inds: ``[...]`` float positions (e.g. normalised temporal distances).
        dim: output channels (even).
        temperature: frequency base.

    Returns:
        ``[..., dim]`` float32.
    """
    half = dim // 2
    pair = torch.div(torch.arange(half, dtype=torch.float32, device=pos_inds.device), 2, rounding_mode="floor")
    divisor = temperature ** ((2 * pair) / half)
    angles = pos_inds.unsqueeze(-1) / divisor
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def select_closest_cond_frames(frame_idx: int, cond_frame_outputs: dict, max_cond_frame_num: int):
    """Split conditioning frames into those attended to from ``frame_idx`` and the rest.

    With no limit (``max_cond_frame_num == -1``) or few enough frames, every frame is selected
    (same dict, same order). Otherwise the selection is, in this order: the nearest frame before
    ``frame_idx``, the nearest frame at or after it, then the remaining frames by increasing
    temporal distance until ``max_cond_frame_num`` are taken.

    Returns:
        ``(selected, unselected)``: two dicts ``frame_idx -> output``.
    """
    if max_cond_frame_num == -1 or len(cond_frame_outputs) <= max_cond_frame_num:
        return cond_frame_outputs, {}
    if max_cond_frame_num < 2:
        raise ValueError(f"max_cond_frames_in_attn must be -1 or >= 2, got {max_cond_frame_num}")
    before = [t for t in cond_frame_outputs if t < frame_idx]
    after = [t for t in cond_frame_outputs if t >= frame_idx]
    chosen = []
    if before:
        chosen.append(max(before))
    if after:
        chosen.append(min(after))
    others = sorted((t for t in cond_frame_outputs if t not in chosen), key=lambda t: abs(t - frame_idx))
    chosen += others[: max_cond_frame_num - len(chosen)]
    selected = {t: cond_frame_outputs[t] for t in chosen}
    unselected = {t: out for t, out in cond_frame_outputs.items() if t not in selected}
    return selected, unselected
