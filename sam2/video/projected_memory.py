"""Memory attention with each stored memory projected once (inference cache of the video predictor).

Every tracked frame attends to up to ``num_maskmem`` stored memory maps per object. The plain
path (:meth:`SAM2Base._prepare_memory_conditioned_features`) re-projects all of them in every
memory-attention layer on every frame, although only the newest one is new. This module
keeps, per object and stored frame, what each layer's cross-attention needs:

* rotated keys ``rotate(k_proj(memory + spatial_pos))`` and values ``v_proj(memory)``
  (:class:`ProjectedFrame`, in a :class:`ProjectedMemoryCache` owned by the object's
  :class:`~sam2.video.memory_bank.MemoryBank`, so entries leave with their memory);
* per video, the rotated key contribution of each temporal slot encoding
  ``rotate(W_k @ maskmem_tpos_enc[s])`` (:class:`TemporalKeyOffsets`, in the state).

Because ``k_proj`` is affine and the rotary encoding linear, the sum of the two equals the
keys the plain path computes from ``memory + spatial_pos + temporal_pos`` (up to float
rounding, ~1e-7 relative). Object-pointer tokens change every frame and are projected on the
fly. :func:`attend_with_projected_memory` runs memory attention for ``B`` objects that read
the same frame layout, sharing the first self-attention (the current frame's features are
the same for every object).

The cache assumes the model weights do not change while a video's state is in use (as do the
cached image features); ``reset_state`` / ``init_state`` start afresh.

The path is opt-in (``SAM2VideoPredictor.project_memory_once = True``): on CPU (t, 512 px,
1 and 3 objects) it measured no faster than the plain path - the recomputed 64 -> 256
projections are cheap next to the attention itself, and assembling the cached 256-d keys
and values each frame costs about as much - while it holds 8 float32 maps of 256 channels
per stored frame and object (~32x the bfloat16 memory features).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import torch

from sam2.modeling.memory_attention import MemoryAttention
from sam2.modeling.sam.transformer import RoPEAttention
from sam2.modeling.sam2_base import MemoryFrameRef, MemorySelection
from sam2.modeling.track_types import TrackMemory

__all__ = [
    "ProjectedFrame",
    "ProjectedMemoryCache",
    "TemporalKeyOffsets",
    "ObjectBatchMemory",
    "readable_spatial",
    "supports_projected_memory",
    "project_frame",
    "attend_with_projected_memory",
]


@dataclass
class ProjectedFrame:
    """One object's stored memory of one frame, projected for every memory-attention layer.

    Attributes:
        source: the stored ``maskmem_features`` it was computed from (identity-checked, so a
            re-tracked or corrected frame is projected again).
        keys: per layer ``[1, heads, h*w, head_dim]`` float32 rotated keys (no temporal term).
        values: per layer ``[1, heads, h*w, head_dim]`` float32 values.
    """

    source: torch.Tensor
    keys: List[torch.Tensor]
    values: List[torch.Tensor]

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.keys, *self.values))


class ProjectedMemoryCache:
    """Per-object map ``frame index -> ProjectedFrame`` (owned by the object's memory bank)."""

    def __init__(self) -> None:
        self._frames: Dict[int, ProjectedFrame] = {}

    def lookup(self, frame_idx: int, source: torch.Tensor) -> Optional[ProjectedFrame]:
        """The entry of ``frame_idx`` if it was computed from exactly ``source``."""
        entry = self._frames.get(frame_idx)
        return entry if entry is not None and entry.source is source else None

    def store(self, frame_idx: int, entry: ProjectedFrame) -> None:
        self._frames[frame_idx] = entry

    def get_or_project(self, ref: MemoryFrameRef, attention: MemoryAttention,
                       device: torch.device) -> ProjectedFrame:
        """The projection of the memory ``ref`` points at, computed and stored if missing."""
        feats, pos_list = ref.output.maskmem_features, ref.output.maskmem_pos_enc
        if feats is None or not pos_list:
            raise ValueError(f"frame {ref.frame_idx} has no encoded memory to project")
        entry = self.lookup(ref.frame_idx, feats)
        if entry is None:
            entry = project_frame(attention, feats, pos_list[-1], device)
            self.store(ref.frame_idx, entry)
        return entry

    def discard(self, frame_idx: int) -> None:
        self._frames.pop(frame_idx, None)

    def clear(self) -> None:
        self._frames.clear()

    def retain(self, frames: Iterable[int]) -> None:
        """Drop every entry except those of ``frames`` (what the current frame read; the
        next frame reads the same ones plus the newest)."""
        keep = set(frames)
        for frame_idx in [t for t in self._frames if t not in keep]:
            del self._frames[frame_idx]

    def frames(self) -> List[int]:
        return sorted(self._frames)

    def __len__(self) -> int:
        return len(self._frames)

    def nbytes(self) -> int:
        return sum(e.nbytes() for e in self._frames.values())


class TemporalKeyOffsets:
    """Per video: each layer's rotated key offsets of the ``num_maskmem`` temporal encodings.

    ``table(layer)`` is ``[num_maskmem, heads, h*w, head_dim]`` (``None`` when that layer adds
    no encoding to its keys); built on first use for a given map size and device.
    """

    def __init__(self) -> None:
        self._tables: Dict[Tuple[int, torch.device], List[Optional[torch.Tensor]]] = {}

    def tables(self, attention: MemoryAttention, tpos_enc: torch.Tensor, num_tokens: int,
               device: torch.device) -> List[Optional[torch.Tensor]]:
        """``tpos_enc``: the model's ``maskmem_tpos_enc`` ``[num_maskmem, 1, 1, C_mem]``."""
        key = (num_tokens, device)
        found = self._tables.get(key)
        if found is None:
            vectors = tpos_enc.reshape(tpos_enc.shape[0], -1).to(device=device, dtype=torch.float32)
            found = [layer.temporal_key_offsets(vectors, num_tokens) for layer in attention.layers]
            self._tables[key] = found
        return found

    def clear(self) -> None:
        self._tables.clear()


@dataclass
class ObjectBatchMemory(TrackMemory):
    """The memories of ``B`` objects tracked together on one frame, read through their
    projection caches (passed to ``track_step`` as its ``memory``).

    Its own ``cond`` / ``non_cond`` stay empty, so code that does not know this type fails
    loudly instead of reading nothing.

    Attributes:
        objects: each object's memory.
        caches: each object's projection cache.
        selections: what each object reads on this frame (``SAM2Base._select_memory``); all
            with the same temporal slots and pointer distances.
        temporal_offsets: the video's temporal key offsets.
    """

    objects: List[TrackMemory] = field(default_factory=list)
    caches: List[ProjectedMemoryCache] = field(default_factory=list)
    selections: List[MemorySelection] = field(default_factory=list)
    temporal_offsets: TemporalKeyOffsets = field(default_factory=TemporalKeyOffsets)


def readable_spatial(selection: MemorySelection) -> List[MemoryFrameRef]:
    """The spatial memories of ``selection`` that have an encoded memory (others are skipped,
    as the plain path does)."""
    return [ref for ref in selection.spatial
            if ref.output.maskmem_features is not None and ref.output.maskmem_pos_enc]


def supports_projected_memory(attention: MemoryAttention) -> bool:
    """Whether ``attention``'s layers have RoPE cross-attention (what the cache relies on)."""
    layers = getattr(attention, "layers", None)
    return bool(layers) and all(
        isinstance(getattr(layer, "cross_attn_image", None), RoPEAttention)
        and hasattr(layer, "forward_projected")
        for layer in layers
    )


def project_frame(attention: MemoryAttention, features: torch.Tensor,
                  spatial_pos: torch.Tensor, device: torch.device) -> ProjectedFrame:
    """Project one stored memory for every layer (computed in float32 on ``device``).

    Args:
        features: ``[1, C_mem, h, w]`` stored memory (any float dtype, any device).
        spatial_pos: ``[1, C_mem, h, w]`` its spatial encoding.
    """
    tokens = features.to(device=device, dtype=torch.float32).flatten(2).transpose(1, 2)
    pos = spatial_pos.to(device=device, dtype=torch.float32).flatten(2).transpose(1, 2)
    keys, values = [], []
    for layer in attention.layers:
        k, v = layer.project_memory_map(tokens, pos)
        keys.append(k)
        values.append(v)
    return ProjectedFrame(source=features, keys=keys, values=values)


def _stack_maps(per_object: Sequence[Sequence[torch.Tensor]],
                offsets: Optional[torch.Tensor]) -> torch.Tensor:
    """``per_object[b][f]`` ``[1, H, N, d]`` -> ``[B, H, F*N, d]``, adding ``offsets``
    ``[F, H, N, d]`` (the temporal terms of the F frames) when given."""
    b, f = len(per_object), len(per_object[0])
    flat = torch.cat([m for maps in per_object for m in maps], dim=0)  # [B*F, H, N, d]
    stacked = flat.view(b, f, *flat.shape[1:])
    if offsets is not None:
        stacked = stacked + offsets
    h, n, d = stacked.shape[2:]
    return stacked.transpose(1, 2).reshape(b, h, f * n, d)


def attend_with_projected_memory(
    attention: MemoryAttention,
    curr: torch.Tensor,
    curr_pos: torch.Tensor,
    frames: Sequence[Sequence[ProjectedFrame]],
    t_pos: Sequence[int],
    offset_tables: Sequence[Optional[torch.Tensor]],
    pointer_tokens: Optional[torch.Tensor],
    pointer_pos: Optional[torch.Tensor],
) -> torch.Tensor:
    """Memory attention of ``B`` objects reading the same frame layout.

    Args:
        attention: the model's memory attention.
        curr, curr_pos: ``[h*w, 1, C]`` current-frame tokens and encoding (shared).
        frames: ``frames[b][f]``: object ``b``'s projected memory of the ``f``-th attended frame.
        t_pos: temporal slot of each attended frame (same for every object).
        offset_tables: per layer, :class:`TemporalKeyOffsets` table (or ``None``).
        pointer_tokens, pointer_pos: ``[P, B, C_mem]`` object-pointer tokens and encodings
            (or ``None``).

    Returns:
        ``[h*w, B, C]`` memory-conditioned tokens.
    """
    batch = len(frames)
    if batch == 0:
        raise ValueError("attend_with_projected_memory: no object given")
    num_frames = len(t_pos)
    if any(len(f) != num_frames for f in frames):
        raise ValueError("attend_with_projected_memory: objects read different numbers of frames")
    if num_frames == 0 and pointer_tokens is None:
        raise ValueError("no memory to attend to: conditioning frames lack encoded memories and pointers")
    slots = torch.tensor(list(t_pos), dtype=torch.long)
    ptr_bf = ptr_pos_bf = None
    if pointer_tokens is not None:
        ptr_bf = pointer_tokens.transpose(0, 1)  # [B, P, C_mem]
        ptr_pos_bf = None if pointer_pos is None else pointer_pos.transpose(0, 1)
    keys: List[torch.Tensor] = []
    values: List[torch.Tensor] = []
    for index, layer in enumerate(attention.layers):
        k_parts: List[torch.Tensor] = []
        v_parts: List[torch.Tensor] = []
        if num_frames:
            table = offset_tables[index]
            offsets = None
            if table is not None:
                # slot s uses the encoding of row num_maskmem - s - 1
                offsets = table.index_select(0, (table.shape[0] - 1 - slots).to(table.device))
            k_parts.append(_stack_maps([[fr.keys[index] for fr in obj] for obj in frames], offsets))
            v_parts.append(_stack_maps([[fr.values[index] for fr in obj] for obj in frames], None))
        if ptr_bf is not None:
            k_ptr, v_ptr = layer.project_pointer_tokens(ptr_bf, ptr_pos_bf)
            k_parts.append(k_ptr)
            v_parts.append(v_ptr)
        keys.append(k_parts[0] if len(k_parts) == 1 else torch.cat(k_parts, dim=2))
        values.append(v_parts[0] if len(v_parts) == 1 else torch.cat(v_parts, dim=2))
    return attention.forward_projected(curr, curr_pos, keys, values)
