"""Image operations of the photographic synthetic videos: random crops of photographs (scale,
rotation, colour jitter), affine camera views, motion blur, sensor noise and JPEG artefacts.

Everything works on float32 ``[H, W, 3]`` arrays in [0, 255] and is deterministic given the
``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from sam2.data.photo_library import Photo

__all__ = ["affine_view", "colour_jitter", "jpeg_roundtrip", "motion_blur", "photo_crop", "sensor_noise"]


def affine_view(
    source: np.ndarray,
    out_size: tuple[int, int],
    centre: tuple[float, float],
    scale: float,
    angle: float,
) -> np.ndarray:
    """Sample ``source`` through a similarity transform (bilinear).

    Args:
        source: ``[H, W, 3]`` float32 or uint8 image.
        out_size: ``(height, width)`` of the result.
        centre: ``(y, x)`` point of ``source`` that lands on the result's centre.
        scale: source pixels per output pixel (> 1 zooms out).
        angle: rotation in radians.

    Returns:
        ``[height, width, 3]`` float32; points outside ``source`` repeat its border.
    """
    h, w = out_size
    cos_a, sin_a = math.cos(angle) * scale, math.sin(angle) * scale
    cy, cx = centre
    # output (x, y) -> source (x', y'): x' = a x + b y + c, y' = d x + e y + f
    a, b, d, e = cos_a, -sin_a, sin_a, cos_a
    c = cx - a * (w / 2) - b * (h / 2)
    f = cy - d * (w / 2) - e * (h / 2)
    pad = np.pad(np.clip(source, 0, 255).astype(np.uint8), ((1, 1), (1, 1), (0, 0)), mode="edge")
    img = Image.fromarray(pad).transform((w, h), Image.Transform.AFFINE, (a, b, c + 1, d, e, f + 1), resample=Image.Resampling.BILINEAR,
                                         fillcolor=None)
    return np.asarray(img, dtype=np.float32)


def colour_jitter(image: np.ndarray, rng: np.random.Generator, strength: float = 1.0, tint_grey: bool = False) -> np.ndarray:
    """Random brightness, contrast, saturation and per-channel gains (a tint when ``tint_grey``)."""
    out = image.astype(np.float32)
    mean = out.mean(axis=(0, 1), keepdims=True)
    grey = out.mean(axis=2, keepdims=True)
    saturation = 1.0 + strength * rng.uniform(-0.4, 0.4)
    out = grey + (out - grey) * saturation
    contrast = 1.0 + strength * rng.uniform(-0.3, 0.3)
    out = mean.mean() + (out - mean.mean()) * contrast
    gains = 1.0 + strength * rng.uniform(-0.12, 0.12, size=3)
    if tint_grey:
        gains = gains * (1.0 + rng.uniform(-0.3, 0.3, size=3))
    out = out * gains.astype(np.float32) + strength * rng.uniform(-25, 25)
    return np.clip(out, 0, 255)


def photo_crop(photo: Photo, rng: np.random.Generator, size: tuple[int, int], min_scale: float, max_scale: float,
               max_angle: float = math.pi) -> np.ndarray:
    """A random crop of ``photo``: ``[size[0], size[1], 3]`` float32, at a random scale (source
    pixels per output pixel, log-uniform in ``[min_scale, max_scale]``), rotation and colour
    jitter (grey photographs may be tinted)."""
    ph, pw = photo.pixels.shape[:2]
    scale = float(math.exp(rng.uniform(math.log(min_scale), math.log(max_scale))))
    angle = float(rng.uniform(-max_angle, max_angle))
    reach = 0.5 * math.hypot(*size) * scale
    cy = rng.uniform(min(reach, ph / 2), max(ph - reach, ph / 2))
    cx = rng.uniform(min(reach, pw / 2), max(pw - reach, pw / 2))
    crop = affine_view(photo.pixels, size, (cy, cx), scale, angle)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return colour_jitter(crop, rng, tint_grey=photo.grey and rng.random() < 0.5)


def motion_blur(image: np.ndarray, velocity: tuple[float, float]) -> np.ndarray:
    """Average ``image`` along the ``(dy, dx)`` displacement (a camera moving during exposure).

    ``image`` is ``[H, W, C]``; a displacement under 1.5 pixels returns it unchanged.
    """
    dy, dx = velocity
    length = math.hypot(dy, dx)
    if length < 1.5:
        return image
    taps = int(min(7, math.ceil(length)))
    h, w = image.shape[:2]
    shifts = [(int(round((k / (taps - 1) - 0.5) * dy)), int(round((k / (taps - 1) - 0.5) * dx))) for k in range(taps)]
    py = max(abs(sy) for sy, _ in shifts)
    px = max(abs(sx) for _, sx in shifts)
    padded = np.pad(image.astype(np.float32), ((py, py), (px, px), (0, 0)), mode="edge")
    out = np.zeros((h, w) + image.shape[2:], dtype=np.float32)
    for sy, sx in shifts:
        out += padded[py + sy : py + sy + h, px + sx : px + sx + w]
    return out / taps


def sensor_noise(image: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Add Gaussian noise of standard deviation ``sigma`` (grey levels)."""
    if sigma <= 0:
        return image
    return np.clip(image + np.float32(sigma) * rng.standard_normal(size=image.shape, dtype=np.float32), 0, 255)


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode to JPEG at ``quality`` and decode (block and ringing artefacts); ``[H, W, 3]`` float32."""
    buffer = io.BytesIO()
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as img:
        return np.asarray(img.convert("RGB"), dtype=np.float32)
