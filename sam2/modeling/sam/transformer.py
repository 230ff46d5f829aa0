"""Attention blocks of the SAM mask decoder and of memory attention.

* :class:`Attention` - multi-head attention whose internal width can be reduced
  (``downsample_rate``) and whose keys/values may come from another width (``kv_in_dim``).
* :class:`RoPEAttention` - the same with axial rotary position encoding on queries and keys.
* :class:`TwoWayTransformer` / :class:`TwoWayAttentionBlock` - the decoder's token <-> image
  transformer: prompt tokens attend to the image and the image attends back to the tokens.

Tensors are batch-first: tokens ``[B, N, C]``.
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Tuple, Type

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sam2.modeling.position_encoding import axial_rope_angles, rotate_complex, rotate_pairs_real
from sam2.modeling.sam2_utils import MLP

__all__ = ["Attention", "RoPEAttention", "TwoWayAttentionBlock", "TwoWayTransformer"]


class Attention(nn.Module):
    """Multi-head scaled dot-product attention with optional width reduction.

    Args:
        embedding_dim: width of queries and of the output.
        num_heads: number of heads (must divide ``embedding_dim // downsample_rate``).
        downsample_rate: internal width is ``embedding_dim // downsample_rate``.
        dropout: attention dropout probability (training only).
        kv_in_dim: width of keys/values inputs (defaults to ``embedding_dim``).
    """

    def __init__(
        self, embedding_dim: int, num_heads: int, downsample_rate: int = 1,
        dropout: float = 0.0, kv_in_dim: Optional[int] = None,
    ) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        self.kv_in_dim = embedding_dim if kv_in_dim is None else kv_in_dim
        self.internal_dim = embedding_dim // downsample_rate
        self.num_heads = num_heads
        if self.internal_dim % num_heads != 0:
            raise ValueError(
                f"{type(self).__name__}: num_heads={num_heads} must divide the internal width "
                f"{self.internal_dim} (embedding_dim={embedding_dim}, downsample_rate={downsample_rate})"
            )
        self.q_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.k_proj = nn.Linear(self.kv_in_dim, self.internal_dim)
        self.v_proj = nn.Linear(self.kv_in_dim, self.internal_dim)
        self.out_proj = nn.Linear(self.internal_dim, embedding_dim)
        self.dropout_p = dropout

    def _split(self, x: Tensor) -> Tensor:
        """``[B, N, H * d] -> [B, H, N, d]``."""
        return x.unflatten(-1, (self.num_heads, -1)).transpose(1, 2)

    @staticmethod
    def _merge(x: Tensor) -> Tensor:
        """``[B, H, N, d] -> [B, N, H * d]``."""
        return x.transpose(1, 2).flatten(2)

    def _project(self, q: Tensor, k: Tensor, v: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        return self._split(self.q_proj(q)), self._split(self.k_proj(k)), self._split(self.v_proj(v))

    def _attend(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        p = self.dropout_p if self.training else 0.0
        return self.out_proj(self._merge(F.scaled_dot_product_attention(q, k, v, dropout_p=p)))

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """Queries ``[B, Nq, embedding_dim]``, keys/values ``[B, Nk, kv_in_dim]`` -> ``[B, Nq, embedding_dim]``."""
        return self._attend(*self._project(q, k, v))


class RoPEAttention(Attention):
    """:class:`Attention` with axial rotary encoding of queries and keys.

    Queries are the tokens of a ``feat_sizes`` map (row-major). With ``rope_k_repeat`` the keys
    may hold several such maps one after the other (memories of several frames), each rotated
    like the queries. The last ``num_k_exclude_rope`` keys (object pointers) are not rotated.

    Args:
        rope_theta: frequency base.
        rope_k_repeat: allow keys to be a whole multiple of the query map.
        feat_sizes: ``(W, H)`` of the query map the tables are built for; other square sizes
            are handled by building tables on the fly.
        *args, **kwargs: forwarded to :class:`Attention`.
    """

    def __init__(
        self, *args, rope_theta: float = 10000.0, rope_k_repeat: bool = False,
        feat_sizes: Tuple[int, int] = (64, 64), **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.rope_theta = rope_theta
        self.rope_k_repeat = rope_k_repeat
        self.head_dim = self.internal_dim // self.num_heads
        self.feat_sizes = (int(feat_sizes[0]), int(feat_sizes[1]))
        cos, sin = self._tables_for(*self.feat_sizes, torch.device("cpu"))
        # derived constants: non-persistent, always float32 (rebuilt if cast)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        # (tokens, repeats, device) -> complex64 [tokens * repeats, head_dim / 2] rotations;
        # constants of the geometry (no parameters involved), never saved
        self._rotations: Dict[Tuple[int, int, torch.device], Tensor] = {}

    def _tables_for(self, width: int, height: int, device: torch.device) -> Tuple[Tensor, Tensor]:
        angles = axial_rope_angles(self.head_dim, width, height, self.rope_theta).to(device)
        return angles.cos(), angles.sin()

    def _rotation(self, num_tokens: int, device: torch.device, repeats: int = 1) -> Tensor:
        """Complex rotations of a map of ``num_tokens`` tokens, tiled ``repeats`` times."""
        key = (num_tokens, repeats, device)
        table = self._rotations.get(key)
        if table is None:
            if repeats > 1:
                table = self._rotation(num_tokens, device).repeat(repeats, 1)
            else:
                width, height = self.feat_sizes
                if width * height != num_tokens:
                    side = math.isqrt(num_tokens)
                    if side * side != num_tokens:
                        raise ValueError(
                            f"RoPEAttention: {num_tokens} query tokens do not form a square map and "
                            f"differ from the configured feat_sizes table ({width * height} tokens)"
                        )
                    cos, sin = self._tables_for(side, side, device)
                elif self.rope_cos.dtype == torch.float32:
                    cos, sin = self.rope_cos, self.rope_sin  # the configured map's tables
                else:  # the module was cast to a lower precision: rebuild in float32
                    cos, sin = self._tables_for(width, height, device)
                table = torch.complex(cos, sin).to(device)
            self._rotations[key] = table
        return table

    def _rotate(self, x: Tensor, num_tokens: int, repeats: int = 1) -> Tensor:
        """Rotate ``x`` ``[B, heads, num_tokens * repeats, head_dim]`` by the map's RoPE table.

        Eager runs multiply by the cached complex table; while a graph is being traced (ONNX
        export), which has no complex numbers, the same rotation is written with real cos/sin
        tables (:func:`~sam2.modeling.position_encoding.rotate_pairs_real`).
        """
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            width, height = self.feat_sizes
            if width * height == num_tokens and self.rope_cos.dtype == torch.float32:
                cos, sin = self.rope_cos, self.rope_sin
            else:
                side = math.isqrt(num_tokens)
                cos, sin = self._tables_for(side, side, x.device)
            if repeats > 1:
                cos, sin = cos.repeat(repeats, 1), sin.repeat(repeats, 1)
            return rotate_pairs_real(x, cos, sin)
        return rotate_complex(x, self._rotation(num_tokens, x.device, repeats))

    def forward(self, q: Tensor, k: Tensor, v: Tensor, num_k_exclude_rope: int = 0) -> Tensor:
        """Queries ``[B, Nq, C]``; keys/values ``[B, Nk, kv_in_dim]`` -> ``[B, Nq, C]``.

        ``Nk - num_k_exclude_rope`` must equal ``Nq`` (or a multiple of it with ``rope_k_repeat``).
        """
        q, k, v = self._project(q, k, v)
        n_q = q.shape[-2]
        q = self._rotate(q, n_q)

        n_rot = k.shape[-2] - num_k_exclude_rope
        if n_rot > 0:
            if n_rot != n_q and (not self.rope_k_repeat or n_rot % n_q != 0):
                raise ValueError(
                    f"RoPEAttention: {n_rot} rotated keys for {n_q} queries "
                    f"(rope_k_repeat={self.rope_k_repeat})"
                )
            rotated = self._rotate(k[:, :, :n_rot], n_q, n_rot // n_q)
            k = torch.cat((rotated, k[:, :, n_rot:]), dim=2) if num_k_exclude_rope > 0 else rotated
        return self._attend(q, k, v)


class TwoWayAttentionBlock(nn.Module):
    """One decoder layer: token self-attention, token->image attention, token MLP,
    image->token attention, each followed by a residual add and a layer norm.

    Args:
        embedding_dim: token and image width.
        num_heads: attention heads.
        mlp_dim: hidden width of the token MLP.
        activation: MLP activation class.
        attention_downsample_rate: width reduction of the two cross attentions.
        skip_first_layer_pe: in self-attention, use the tokens without their positional
            encoding and without a residual connection (first layer).
    """

    def __init__(
        self, embedding_dim: int, num_heads: int, mlp_dim: int = 2048,
        activation: Type[nn.Module] = nn.ReLU, attention_downsample_rate: int = 2,
        skip_first_layer_pe: bool = False,
    ) -> None:
        super().__init__()
        self.skip_first_layer_pe = skip_first_layer_pe

        def norm() -> nn.LayerNorm:
            return nn.LayerNorm(embedding_dim)

        def cross() -> Attention:
            return Attention(embedding_dim, num_heads, downsample_rate=attention_downsample_rate)

        # registration order = checkpoint key order
        self.self_attn, self.norm1 = Attention(embedding_dim, num_heads), norm()
        self.cross_attn_token_to_image, self.norm2 = cross(), norm()
        self.mlp = MLP(embedding_dim, mlp_dim, embedding_dim, num_layers=2, activation=activation)
        self.norm3, self.norm4 = norm(), norm()
        self.cross_attn_image_to_token = cross()

    def forward(self, queries: Tensor, keys: Tensor, query_pe: Tensor, key_pe: Tensor) -> Tuple[Tensor, Tensor]:
        """Tokens ``[B, Nt, C]`` and image ``[B, HW, C]`` (+ their encodings) -> updated pair."""
        if self.skip_first_layer_pe:
            tokens = self.self_attn(q=queries, k=queries, v=queries)
        else:
            with_pe = queries + query_pe
            tokens = queries + self.self_attn(q=with_pe, k=with_pe, v=queries)
        tokens = self.norm1(tokens)

        keys_with_pe = keys + key_pe
        tokens = self.norm2(tokens + self.cross_attn_token_to_image(q=tokens + query_pe, k=keys_with_pe, v=keys))
        tokens = self.norm3(tokens + self.mlp(tokens))

        image_update = self.cross_attn_image_to_token(q=keys_with_pe, k=tokens + query_pe, v=tokens)
        image = self.norm4(keys + image_update)
        return tokens, image


class TwoWayTransformer(nn.Module):
    """Stack of :class:`TwoWayAttentionBlock` plus a final token->image attention.

    Args:
        depth: number of blocks.
        embedding_dim: channel width of tokens and image.
        num_heads: attention heads.
        mlp_dim: hidden width of the token MLPs.
        activation: MLP activation class.
        attention_downsample_rate: width reduction of the cross attentions.
    """

    def __init__(
        self, depth: int, embedding_dim: int, num_heads: int, mlp_dim: int,
        activation: Type[nn.Module] = nn.ReLU, attention_downsample_rate: int = 2,
    ) -> None:
        super().__init__()
        self.depth = depth
        self.embedding_dim = embedding_dim
        self.num_heads = num_heads
        self.mlp_dim = mlp_dim
        shared = dict(mlp_dim=mlp_dim, activation=activation, attention_downsample_rate=attention_downsample_rate)
        # only the first block skips the positional encoding in its self-attention
        self.layers = nn.ModuleList(
            TwoWayAttentionBlock(embedding_dim, num_heads, skip_first_layer_pe=index == 0, **shared) for index in range(depth)
        )
        self.final_attn_token_to_image = Attention(
            embedding_dim, num_heads, downsample_rate=attention_downsample_rate
        )
        self.norm_final_attn = nn.LayerNorm(embedding_dim)

    def forward(self, image_embedding: Tensor, image_pe: Tensor, point_embedding: Tensor) -> Tuple[Tensor, Tensor]:
        """Run the decoder transformer.

        Args:
            image_embedding: ``[B, C, h, w]`` image features.
            image_pe: ``[B, C, h, w]`` their positional encoding.
            point_embedding: ``[B, Nt, C]`` output + prompt tokens (also used as their encoding).

        Returns:
            tokens ``[B, Nt, C]`` and image ``[B, h * w, C]``.
        """
        image = image_embedding.flatten(2).transpose(1, 2)
        image_pos = image_pe.flatten(2).transpose(1, 2)
        tokens = point_embedding
        for block in self.layers:
            tokens, image = block(queries=tokens, keys=image, query_pe=point_embedding, key_pe=image_pos)
        final = self.final_attn_token_to_image(q=tokens + point_embedding, k=image + image_pos, v=image)
        return self.norm_final_attn(tokens + final), image
