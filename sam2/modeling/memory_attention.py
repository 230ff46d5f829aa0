"""Memory attention: condition the current frame's features on memories of other frames.

Each :class:`MemoryAttentionLayer` runs pre-norm self-attention over the current frame's
tokens, pre-norm cross-attention to the memory tokens (spatial memories followed by object
pointer tokens), and a pre-norm feed-forward block. :class:`MemoryAttention` stacks them and
applies a final layer norm. Public tensors are sequence-first (``[N, B, C]``), like the rest of
``SAM2Base``'s flattened features.
"""
from __future__ import annotations

from typing import List, Optional, Union

import torch
from torch import Tensor, nn

from sam2.modeling.sam.transformer import RoPEAttention
from sam2.modeling.sam2_utils import get_activation_fn, get_clones

__all__ = ["MemoryAttentionLayer", "MemoryAttention"]


class MemoryAttentionLayer(nn.Module):
    """Self-attention + cross-attention to memory + feed-forward, each pre-normed and residual.

    Args:
        activation: feed-forward activation name (``relu``, ``gelu``, ``glu``).
        cross_attention: attention module for current tokens -> memory (``RoPEAttention``).
        d_model: token width.
        dim_feedforward: feed-forward hidden width.
        dropout: dropout after each sub-block and inside the feed-forward block.
        pos_enc_at_attn: add the positional encoding to queries/keys of self-attention.
        pos_enc_at_cross_attn_keys: add the memory positional encoding to cross-attention keys.
        pos_enc_at_cross_attn_queries: add the positional encoding to cross-attention queries.
        self_attention: attention module for current tokens -> current tokens.
    """

    def __init__(
        self, activation: str, cross_attention: nn.Module, d_model: int, dim_feedforward: int,
        dropout: float, pos_enc_at_attn: bool, pos_enc_at_cross_attn_keys: bool,
        pos_enc_at_cross_attn_queries: bool, self_attention: nn.Module,
    ) -> None:
        super().__init__()
        # where positional encodings are added
        self.pos_enc_at_attn = pos_enc_at_attn
        self.pos_enc_at_cross_attn_keys = pos_enc_at_cross_attn_keys
        self.pos_enc_at_cross_attn_queries = pos_enc_at_cross_attn_queries
        self.activation_str, self.activation = activation, get_activation_fn(activation)
        self.d_model, self.dim_feedforward, self.dropout_value = d_model, dim_feedforward, dropout

        # parameters, in checkpoint order
        self.self_attn = self_attention
        self.cross_attn_image = cross_attention
        self.linear1, self.linear2 = nn.Linear(d_model, dim_feedforward), nn.Linear(dim_feedforward, d_model)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))
        # dropout inside the feed-forward block, then after self-attn / cross-attn / feed-forward
        self.dropout, self.dropout1, self.dropout2, self.dropout3 = (nn.Dropout(dropout) for _ in range(4))

    @staticmethod
    def _maybe_add(x: Tensor, pos: Optional[Tensor], enabled: bool) -> Tensor:
        return x + pos if enabled else x

    def _forward_sa(self, tgt: Tensor, query_pos: Optional[Tensor]) -> Tensor:
        normed = self.norm1(tgt)
        qk = self._maybe_add(normed, query_pos, self.pos_enc_at_attn)
        return tgt + self.dropout1(self.self_attn(qk, qk, v=normed))

    def _forward_ca(
        self,
        tgt: Tensor,
        memory: Tensor,
        query_pos: Optional[Tensor],
        pos: Optional[Tensor],
        num_k_exclude_rope: int = 0,
        key_scale: Optional[Tensor] = None,
    ) -> Tensor:
        extra = {}
        if num_k_exclude_rope > 0:
            if not isinstance(self.cross_attn_image, RoPEAttention):
                raise TypeError("num_k_exclude_rope > 0 needs a RoPEAttention cross-attention")
            extra["num_k_exclude_rope"] = num_k_exclude_rope
        normed = self.norm2(tgt)
        keys = self._maybe_add(memory, pos, self.pos_enc_at_cross_attn_keys)
        if key_scale is not None:  # [B, M, C] keys times a factor per memory token
            keys = keys * key_scale.to(keys.dtype).view(1, -1, 1)
        attended = self.cross_attn_image(
            q=self._maybe_add(normed, query_pos, self.pos_enc_at_cross_attn_queries),
            k=keys,
            v=memory,
            **extra,
        )
        return tgt + self.dropout2(attended)

    def _forward_ff(self, tgt: Tensor) -> Tensor:
        hidden = self.dropout(self.activation(self.linear1(self.norm3(tgt))))
        return tgt + self.dropout3(self.linear2(hidden))

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        pos: Optional[Tensor] = None,
        query_pos: Optional[Tensor] = None,
        num_k_exclude_rope: int = 0,
        key_scale: Optional[Tensor] = None,
    ) -> Tensor:
        """Batch-first: ``tgt [B, N, C]``, ``memory [B, M, C_mem]`` (+ encodings) -> ``[B, N, C]``;
        ``key_scale`` ``[M]``: optional factor on each memory token's cross-attention key."""
        tgt = self._forward_sa(tgt, query_pos)
        tgt = self._forward_ca(tgt, memory, query_pos, pos, num_k_exclude_rope, key_scale)
        return self._forward_ff(tgt)


class MemoryAttention(nn.Module):
    """A stack of ``num_layers`` copies of ``layer`` followed by a layer norm.

    Args:
        d_model: token width.
        pos_enc_at_input: add ``0.1 * curr_pos`` to the current tokens before the first layer.
        layer: the layer to clone.
        num_layers: number of layers.
        batch_first: whether the layers take batch-first tensors (inputs/outputs of
            :meth:`forward` are always sequence-first).
    """

    def __init__(
        self, d_model: int, pos_enc_at_input: bool, layer: nn.Module, num_layers: int,
        batch_first: bool = True,
    ) -> None:
        super().__init__()
        self.batch_first = batch_first
        self.pos_enc_at_input = pos_enc_at_input
        self.d_model, self.num_layers = d_model, num_layers
        self.layers = get_clones(layer, num_layers)
        self.norm = nn.LayerNorm(d_model)

    def forward(
        self,
        curr: Union[Tensor, List[Tensor]],
        memory: Tensor,
        curr_pos: Optional[Union[Tensor, List[Tensor]]] = None,
        memory_pos: Optional[Tensor] = None,
        num_obj_ptr_tokens: int = 0,
        key_scale: Optional[Tensor] = None,
    ) -> Tensor:
        """Condition current tokens on memory.

        Args:
            curr: ``[HW, B, C]`` current-frame tokens (or a one-element list of it).
            memory: ``[M, B, C_mem]`` memory tokens; the last ``num_obj_ptr_tokens`` are object
                pointers (not rotated by RoPE).
            curr_pos: ``[HW, B, C]`` positional encoding of ``curr`` (or a one-element list).
            memory_pos: ``[M, B, C_mem]`` positional encoding of ``memory``.
            num_obj_ptr_tokens: number of trailing object-pointer tokens in ``memory``.
            key_scale: ``[M]`` float32 factor on each memory token's cross-attention key (its
                memory plus positional encoding), e.g. SAM2Long's modulation; ``None``: none.

        Returns:
            ``[HW, B, C]`` conditioned tokens, in the dtype of the layers' outputs.
        """
        if isinstance(curr, (list, tuple)):
            if not isinstance(curr_pos, (list, tuple)) or len(curr) != 1 or len(curr_pos) != 1:
                raise ValueError("MemoryAttention: list inputs must be one-element lists for curr and curr_pos")
            curr, curr_pos = curr[0], curr_pos[0]
        if curr.shape[1] != memory.shape[1]:
            raise ValueError(
                f"MemoryAttention: batch size of curr ({curr.shape[1]}) and memory ({memory.shape[1]}) differ"
            )

        x = curr
        if self.pos_enc_at_input and curr_pos is not None:
            x = x + 0.1 * curr_pos

        def to_layer_layout(t: Optional[Tensor]) -> Optional[Tensor]:
            return t.transpose(0, 1) if (self.batch_first and t is not None) else t

        x, query_pos = to_layer_layout(x), to_layer_layout(curr_pos)
        memory, memory_pos = to_layer_layout(memory), to_layer_layout(memory_pos)
        for layer in self.layers:
            extra = {"num_k_exclude_rope": num_obj_ptr_tokens} if isinstance(layer.cross_attn_image, RoPEAttention) else {}
            if key_scale is not None:
                if not self.batch_first:
                    raise ValueError("MemoryAttention: key_scale needs batch-first layers")
                extra["key_scale"] = key_scale
            x = layer(tgt=x, memory=memory, pos=memory_pos, query_pos=query_pos, **extra)
        out = self.norm(x)
        return out.transpose(0, 1) if self.batch_first else out
