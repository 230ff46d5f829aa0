"""Colour palette for indexed ("P" mode) annotation PNGs.

The Pascal VOC colour map is derived bit by bit from the index (no literal table): bit ``3k``,
``3k+1`` and ``3k+2`` of index ``i`` set bit ``7-k`` of red, green and blue respectively.
Index 0 is black (background), 1 is dark red, 2 dark green, ...
"""

from __future__ import annotations

import numpy as np

__all__ = ["voc_palette", "palette_to_flat", "flat_to_palette", "overlay_ids"]


def voc_palette(num_colors: int = 256) -> np.ndarray:
    """Return the Pascal VOC colour map.

    Args:
        num_colors: number of palette entries (1..256).

    Returns:
        ``[num_colors, 3]`` uint8 array, row ``i`` the RGB colour of index ``i``.
    """
    if not 1 <= num_colors <= 256:
        raise ValueError(f"num_colors must be in 1..256, got {num_colors}")
    index = np.arange(num_colors, dtype=np.int64)
    colours = np.zeros((num_colors, 3), dtype=np.int64)
    remaining = index.copy()
    for level in range(8):
        shift = 7 - level
        for channel in range(3):
            colours[:, channel] |= ((remaining >> channel) & 1) << shift
        remaining >>= 3
    return colours.astype(np.uint8)


def palette_to_flat(palette: np.ndarray) -> list[int]:
    """Flatten a ``[N, 3]`` uint8 palette into the 768-long list PIL's ``putpalette`` wants.

    Entries past ``N`` are padded with black.
    """
    arr = np.asarray(palette, dtype=np.uint8)
    if arr.ndim != 2 or arr.shape[1] != 3 or arr.shape[0] > 256:
        raise ValueError(f"palette must have shape [N<=256, 3], got {arr.shape}")
    flat = np.zeros((256, 3), dtype=np.uint8)
    flat[: arr.shape[0]] = arr
    return flat.reshape(-1).tolist()


def flat_to_palette(flat: list[int] | bytes | None) -> np.ndarray:
    """Turn PIL's flat palette (``getpalette()``) into a ``[256, 3]`` uint8 array.

    ``None`` (image without palette) gives the VOC palette.
    """
    if flat is None:
        return voc_palette()
    arr = np.zeros(768, dtype=np.uint8)
    values = np.frombuffer(bytes(flat), dtype=np.uint8) if isinstance(flat, bytes) else np.asarray(flat, dtype=np.uint8)
    arr[: min(768, values.size)] = values[:768]
    return arr.reshape(256, 3)


def overlay_ids(rgb: np.ndarray, ids: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """Tint each object of ``ids`` with its palette colour and draw its outline.

    Args:
        rgb: ``[H, W, 3]`` uint8 frame.
        ids: ``[H, W]`` integer object ids (0 = background).
        alpha: weight of the colour inside objects.

    Returns:
        ``[H, W, 3]`` uint8 picture.
    """
    if ids.shape != rgb.shape[:2]:
        raise ValueError(f"mask of shape {ids.shape} does not match the frame {rgb.shape[:2]}")
    colors = voc_palette(256).astype(np.float32)
    out = rgb.astype(np.float32)
    inside = ids > 0
    tint = colors[ids.clip(0, 255)]
    out[inside] = (1.0 - alpha) * out[inside] + alpha * tint[inside]
    # outline: object pixels with a 4-neighbour of another id, drawn in the full colour
    padded = np.pad(ids, 1, mode="edge")
    differs = (
        (padded[1:-1, :-2] != ids) | (padded[1:-1, 2:] != ids) | (padded[:-2, 1:-1] != ids) | (padded[2:, 1:-1] != ids)
    )
    edge = inside & differs
    out[edge] = tint[edge]
    return out.clip(0, 255).astype(np.uint8)
