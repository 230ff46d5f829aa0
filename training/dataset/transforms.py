"""Clip transforms for VOS training, applied identically to every frame of a clip when
``consistent_transform`` is true (geometry always is, so masks stay aligned).

Each transform is called as ``t(clip, rng)`` where ``clip`` is a :class:`Clip` (PIL images and
per-frame ``[O, H, W]`` bool masks, or tensors after :class:`ToTensorAPI`) and ``rng`` is the
clip's own ``random.Random``: a clip's augmentation depends only on that generator, not on
global state, which keeps data identical across worker counts and across resumes.

Class names and keyword arguments follow the SAM2 training configs.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Union

import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.transforms import InterpolationMode

from sam2.utils.constants import IMAGENET_MEAN, IMAGENET_STD

Frame = Union[Image.Image, torch.Tensor]


@dataclass
class Clip:
    """Frames of a clip and their object masks (``masks[t]``: ``[O, H, W]`` bool)."""

    frames: List[Frame]
    masks: List[torch.Tensor]

    def size(self) -> tuple:
        """``(H, W)`` of the frames."""
        f = self.frames[0]
        if isinstance(f, Image.Image):
            return f.height, f.width
        return int(f.shape[-2]), int(f.shape[-1])


def _first_frame_visible(clip: Clip) -> torch.Tensor:
    return clip.masks[0].flatten(1).any(dim=1)


class ComposeAPI:
    """Apply ``transforms`` in order."""

    def __init__(self, transforms: Sequence[Callable[[Clip, random.Random], Clip]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, clip: Clip, rng: random.Random) -> Clip:
        for t in self.transforms:
            clip = t(clip, rng)
        return clip


class RandomHorizontalFlip:
    """Mirror the clip with probability ``p`` (whole clip, or per frame if not consistent)."""

    def __init__(self, consistent_transform: bool = True, p: float = 0.5) -> None:
        self.consistent_transform = consistent_transform
        self.p = p

    def __call__(self, clip: Clip, rng: random.Random) -> Clip:
        if self.consistent_transform:
            flips = [rng.random() < self.p] * len(clip.frames)
        else:
            flips = [rng.random() < self.p for _ in clip.frames]
        frames = [TF.hflip(f) if fl else f for f, fl in zip(clip.frames, flips)]
        masks = [m.flip(-1) if fl else m for m, fl in zip(clip.masks, flips)]
        return Clip(frames, masks)


_INTERP = {"bilinear": InterpolationMode.BILINEAR, "nearest": InterpolationMode.NEAREST,
           "bicubic": InterpolationMode.BICUBIC}


class RandomAffine:
    """Random rotation (``±degrees``) and x-shear (``±shear``), optional translate/scale.

    If the objects visible on the first frame would all leave it, the clip is kept unchanged
    (tried ``num_tentatives`` times).
    """

    def __init__(
        self,
        degrees: float,
        consistent_transform: bool = True,
        shear: Optional[float] = None,
        image_interpolation: str = "bicubic",
        translate: Optional[Sequence[float]] = None,
        scale: Optional[Sequence[float]] = None,
        num_tentatives: int = 1,
        image_mean: Sequence[int] = (123, 116, 103),
    ) -> None:
        if not consistent_transform:
            raise ValueError("RandomAffine supports consistent_transform=True only (masks must stay aligned)")
        self.degrees = float(degrees)
        self.scale = scale
        self.translate = translate
        self.shear = float(shear) if shear else 0.0
        self.fill = list(image_mean)
        if image_interpolation not in _INTERP:
            raise ValueError(f"RandomAffine: unknown image_interpolation {image_interpolation!r}")
        self.interp = _INTERP[image_interpolation]
        self.num_tentatives = max(1, int(num_tentatives))

    def _params(self, rng: random.Random, size: tuple) -> tuple:
        h, w = size
        angle = rng.uniform(-self.degrees, self.degrees)
        tx = ty = 0
        if self.translate is not None:
            tx = round(rng.uniform(-self.translate[0], self.translate[0]) * w)
            ty = round(rng.uniform(-self.translate[1], self.translate[1]) * h)
        scale = rng.uniform(self.scale[0], self.scale[1]) if self.scale is not None else 1.0
        shear = rng.uniform(-self.shear, self.shear) if self.shear else 0.0
        return angle, [tx, ty], scale, [shear, 0.0]

    def __call__(self, clip: Clip, rng: random.Random) -> Clip:
        visible_before = _first_frame_visible(clip)
        for _ in range(self.num_tentatives):
            angle, trans, scale, shear = self._params(rng, clip.size())
            masks = [
                TF.affine(m.to(torch.uint8), angle, trans, scale, shear,
                          interpolation=InterpolationMode.NEAREST).bool()
                for m in clip.masks
            ]
            if not visible_before.any() or (masks[0].flatten(1).any(dim=1) & visible_before).any():
                frames = []
                for f in clip.frames:
                    fill = self.fill if isinstance(f, Image.Image) else 0.0
                    frames.append(TF.affine(f, angle, trans, scale, shear, interpolation=self.interp, fill=fill))
                return Clip(frames, masks)
        return clip


class RandomCropAPI:
    """With probability ``probability``, crop one random square of a size drawn from ``sizes``
    (the same window on every frame), zero-padding frames smaller than the square.

    The crop is retried (``num_tentatives``) until an object of the first frame stays visible,
    otherwise the clip is kept whole.
    """

    def __init__(
        self,
        sizes: Sequence[int] = (640, 768, 896),
        probability: float = 0.1,
        consistent_transform: bool = True,
        pad_if_needed: bool = True,
        num_tentatives: int = 3,
    ) -> None:
        if not consistent_transform:
            raise ValueError("RandomCropAPI supports consistent_transform=True only")
        self.sizes = [int(s) for s in sizes]
        self.probability = float(probability)
        self.pad_if_needed = pad_if_needed
        self.num_tentatives = max(1, int(num_tentatives))

    def __call__(self, clip: Clip, rng: random.Random) -> Clip:
        if rng.random() >= self.probability:
            return clip
        side = rng.choice(self.sizes)
        h, w = clip.size()
        if not self.pad_if_needed and (h < side or w < side):
            return clip
        visible_before = _first_frame_visible(clip)
        for _ in range(self.num_tentatives):
            top = rng.randint(0, max(h - side, 0))
            left = rng.randint(0, max(w - side, 0))
            masks = [_crop_mask(m, top, left, side) for m in clip.masks]
            if not visible_before.any() or (masks[0].flatten(1).any(dim=1) & visible_before).any():
                # TF.crop pads with zeros where the window leaves the frame
                frames = [TF.crop(f, top, left, side, side) for f in clip.frames]
                return Clip(frames, masks)
        return clip


def _crop_mask(mask: torch.Tensor, top: int, left: int, side: int) -> torch.Tensor:
    out = torch.zeros(mask.shape[0], side, side, dtype=torch.bool)
    piece = mask[:, top: top + side, left: left + side]
    out[:, : piece.shape[1], : piece.shape[2]] = piece
    return out


class RandomResizeAPI:
    """Resize every frame to a size from ``sizes`` (square when ``square``; otherwise the
    shorter side, capped by ``max_size``). Masks use nearest-neighbour sampling."""

    def __init__(
        self,
        sizes: Union[int, Sequence[int]],
        consistent_transform: bool = True,
        max_size: Optional[int] = None,
        square: bool = False,
    ) -> None:
        if not consistent_transform:
            raise ValueError("RandomResizeAPI supports consistent_transform=True only")
        self.sizes = [int(sizes)] if isinstance(sizes, int) else [int(s) for s in sizes]
        self.max_size = max_size
        self.square = square

    def _target(self, size: tuple, side: int) -> List[int]:
        if self.square:
            return [side, side]
        h, w = size
        short, long = min(h, w), max(h, w)
        if self.max_size is not None and long * side / short > self.max_size:
            side = int(round(self.max_size * short / long))
        return [side, int(round(w * side / h))] if h <= w else [int(round(h * side / w)), side]

    def __call__(self, clip: Clip, rng: random.Random) -> Clip:
        side = rng.choice(self.sizes)
        hw = self._target(clip.size(), side)
        frames = [TF.resize(f, hw, interpolation=InterpolationMode.BILINEAR, antialias=True) for f in clip.frames]
        masks = [
            TF.resize(m.to(torch.uint8), hw, interpolation=InterpolationMode.NEAREST).bool()
            for m in clip.masks
        ]
        return Clip(frames, masks)


class ColorJitter:
    """Brightness / contrast / saturation / hue jitter in random order; one draw for the
    whole clip when ``consistent_transform``, else one per frame."""

    def __init__(
        self,
        consistent_transform: bool,
        *,
        brightness: float = 0.0,
        saturation: float = 0.0,
        contrast: float = 0.0,
        hue: Optional[float] = None,
    ) -> None:
        self.consistent_transform = consistent_transform
        self.brightness = float(brightness or 0.0)
        self.contrast = float(contrast or 0.0)
        self.saturation = float(saturation or 0.0)
        self.hue = float(hue or 0.0)

    def _draw(self, rng: random.Random) -> List[Callable[[Frame], Frame]]:
        ops: List[Callable[[Frame], Frame]] = []
        if self.brightness:
            b = rng.uniform(max(0.0, 1 - self.brightness), 1 + self.brightness)
            ops.append(lambda f, b=b: TF.adjust_brightness(f, b))
        if self.contrast:
            c = rng.uniform(max(0.0, 1 - self.contrast), 1 + self.contrast)
            ops.append(lambda f, c=c: TF.adjust_contrast(f, c))
        if self.saturation:
            s = rng.uniform(max(0.0, 1 - self.saturation), 1 + self.saturation)
            ops.append(lambda f, s=s: TF.adjust_saturation(f, s))
        if self.hue:
            h = rng.uniform(-self.hue, self.hue)
            ops.append(lambda f, h=h: TF.adjust_hue(f, h))
        rng.shuffle(ops)
        return ops

    def __call__(self, clip: Clip, rng: random.Random) -> Clip:
        shared = self._draw(rng) if self.consistent_transform else None
        frames = []
        for f in clip.frames:
            for op in shared if shared is not None else self._draw(rng):
                f = op(f)
            frames.append(f)
        return Clip(frames, clip.masks)


class RandomGrayscale:
    """Turn frames grey (kept 3-channel) with probability ``p``."""

    def __init__(self, consistent_transform: bool, p: float = 0.5) -> None:
        self.consistent_transform = consistent_transform
        self.p = float(p)

    def __call__(self, clip: Clip, rng: random.Random) -> Clip:
        if self.consistent_transform:
            grey = [rng.random() < self.p] * len(clip.frames)
        else:
            grey = [rng.random() < self.p for _ in clip.frames]
        frames = [TF.rgb_to_grayscale(f, num_output_channels=3) if g else f for f, g in zip(clip.frames, grey)]
        return Clip(frames, clip.masks)


class ToTensorAPI:
    """PIL frames -> ``[3, H, W]`` float32 in ``[0, 1]``."""

    def __call__(self, clip: Clip, rng: random.Random) -> Clip:
        return Clip([TF.to_tensor(f) if isinstance(f, Image.Image) else f for f in clip.frames], clip.masks)


class NormalizeAPI:
    """``(x - mean) / std`` per channel on tensor frames (default: the ImageNet statistics of
    :mod:`sam2.utils.constants`, as at inference)."""

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        self.mean = list(mean)
        self.std = list(std)

    def __call__(self, clip: Clip, rng: random.Random) -> Clip:
        for f in clip.frames:
            if not isinstance(f, torch.Tensor):
                raise TypeError("NormalizeAPI needs tensor frames: put ToTensorAPI before it")
        return Clip([TF.normalize(f, self.mean, self.std) for f in clip.frames], clip.masks)
