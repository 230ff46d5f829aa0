"""Input/output transforms of the SAM2 image predictor.

* images (HWC uint8 numpy or PIL) -> ``[3, S, S]`` float32 model input: scale to [0, 1],
  bilinear resize to ``S x S`` (antialiased, aspect ratio not kept; the same arithmetic as
  torchvision's ``Resize`` on a float tensor), ImageNet mean/std normalisation;
* prompt coordinates from image pixels (or [0, 1]) to model-input pixels;
* low-resolution mask logits -> logits at the original image size, with optional removal of
  small holes / sprinkles.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image as PILImage

from sam2.utils.constants import IMAGENET_MEAN, IMAGENET_STD
from sam2.utils.misc import get_connected_components

ImageLike = Union[np.ndarray, PILImage.Image]


def image_to_float_tensor(image: ImageLike) -> torch.Tensor:
    """HWC uint8 numpy array or PIL image -> ``[C, H, W]`` float32 tensor in [0, 1].

    Float numpy arrays are taken as already scaled (no division), like torchvision's
    ``ToTensor``.
    """
    if isinstance(image, PILImage.Image):
        array = np.array(image)
    elif isinstance(image, np.ndarray):
        array = image
    else:
        raise TypeError(f"image must be a numpy array or a PIL image, got {type(image).__name__}")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3:
        raise ValueError(f"image must be HxWxC, got shape {array.shape}")
    chw = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).contiguous()
    if chw.dtype == torch.uint8:
        return chw.to(torch.float32).div(255)
    return chw.to(torch.float32)


class SAM2Transforms(nn.Module):
    """Pre- and post-processing of the image predictor.

    Args:
        resolution: model input size ``S`` (``model.image_size``).
        mask_threshold: logit threshold separating foreground from background.
        max_hole_area: fill background components of at most this many pixels (0: off).
        max_sprinkle_area: remove foreground components of at most this many pixels (0: off).
    """

    def __init__(self, resolution: int, mask_threshold: float,
                 max_hole_area: float = 0.0, max_sprinkle_area: float = 0.0) -> None:
        super().__init__()
        self.resolution = int(resolution)
        self.mask_threshold = float(mask_threshold)
        self.max_hole_area = max_hole_area
        self.max_sprinkle_area = max_sprinkle_area
        self.mean = list(IMAGENET_MEAN)
        self.std = list(IMAGENET_STD)

    # ------------------------------------------------------------------ images
    def resize_and_normalize(self, image: torch.Tensor) -> torch.Tensor:
        """``[C, H, W]`` or ``[B, C, H, W]`` float in [0, 1] -> same rank at ``S x S``, normalised."""
        squeeze = image.dim() == 3
        batch = image[None] if squeeze else image
        batch = F.interpolate(
            batch,
            size=(self.resolution, self.resolution),
            mode="bilinear",
            align_corners=False,
            antialias=True,
        )
        mean = torch.tensor(self.mean, dtype=batch.dtype, device=batch.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=batch.dtype, device=batch.device).view(1, -1, 1, 1)
        batch = (batch - mean) / std
        return batch[0] if squeeze else batch

    def __call__(self, image: ImageLike) -> torch.Tensor:  # type: ignore[override]
        """One image -> ``[3, S, S]`` float32 model input."""
        return self.resize_and_normalize(image_to_float_tensor(image))

    def forward_batch(self, images: Sequence[ImageLike]) -> torch.Tensor:
        """A list of images (any sizes) -> ``[B, 3, S, S]`` float32."""
        return torch.stack([self(img) for img in images], dim=0)

    # ------------------------------------------------------------- prompts
    def transform_coords(
        self,
        coords: torch.Tensor,
        normalize: bool = False,
        orig_hw: Optional[Tuple[int, int]] = None,
    ) -> torch.Tensor:
        """Points ``[..., 2]`` (x, y) -> model-input pixels.

        With ``normalize=True`` the points are in pixels of an image of size ``orig_hw``
        (H, W); otherwise they are already in [0, 1].
        """
        if normalize:
            if orig_hw is None:
                raise ValueError("transform_coords: orig_hw is required when normalize=True")
            height, width = orig_hw
            coords = torch.stack((coords[..., 0] / width, coords[..., 1] / height), dim=-1)
        return coords * self.resolution

    def transform_boxes(
        self,
        boxes: torch.Tensor,
        normalize: bool = False,
        orig_hw: Optional[Tuple[int, int]] = None,
    ) -> torch.Tensor:
        """Boxes ``[B, 4]`` (x0, y0, x1, y1) -> corner points ``[B, 2, 2]`` in model-input pixels."""
        return self.transform_coords(boxes.reshape(-1, 2, 2), normalize, orig_hw)

    # ----------------------------------------------------------------- masks
    def _small_components(self, masks: torch.Tensor, foreground: bool, max_area: float) -> torch.Tensor:
        """Bool ``[B, C, h, w]``: pixels of small fg (or bg) 8-connected components."""
        flat = masks.flatten(0, 1).unsqueeze(1)
        region = flat > self.mask_threshold if foreground else flat <= self.mask_threshold
        labels, areas = get_connected_components(region)
        return ((labels > 0) & (areas <= max_area)).reshape(masks.shape)

    def postprocess_masks(self, masks: torch.Tensor, orig_hw: Tuple[int, int]) -> torch.Tensor:
        """Low-res logits ``[B, C, h, w]`` -> float32 logits ``[B, C, H, W]`` at ``orig_hw``.

        Small background holes (area <= ``max_hole_area``) are set to ``threshold + 10`` and
        small foreground sprinkles (area <= ``max_sprinkle_area``) to ``threshold - 10``,
        both found on the input logits, before the bilinear upsampling.
        """
        masks = masks.float()
        holes = self._small_components(masks, False, self.max_hole_area) if self.max_hole_area > 0 else None
        sprinkles = (
            self._small_components(masks, True, self.max_sprinkle_area) if self.max_sprinkle_area > 0 else None
        )
        if holes is not None:
            masks = masks.masked_fill(holes, self.mask_threshold + 10.0)
        if sprinkles is not None:
            masks = masks.masked_fill(sprinkles, self.mask_threshold - 10.0)
        height, width = int(orig_hw[0]), int(orig_hw[1])
        return F.interpolate(masks, (height, width), mode="bilinear", align_corners=False)


def orig_hw_of(image: ImageLike) -> Tuple[int, int]:
    """(H, W) of a numpy HWC image or a PIL image."""
    if isinstance(image, PILImage.Image):
        width, height = image.size
        return int(height), int(width)
    return int(image.shape[0]), int(image.shape[1])


__all__: List[str] = ["SAM2Transforms", "image_to_float_tensor", "orig_hw_of", "IMAGENET_MEAN", "IMAGENET_STD"]
