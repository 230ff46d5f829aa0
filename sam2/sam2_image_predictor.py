"""Promptable segmentation of still images with a SAM2 model.

The image is encoded once by :meth:`SAM2ImagePredictor.set_image` (or a list of images by
:meth:`set_image_batch`); afterwards any number of prompts (points, boxes, a low-resolution
mask, or combinations) are decoded cheaply by :meth:`predict` / :meth:`predict_batch` (numpy
in, numpy out) or :meth:`_predict` (torch in, torch out; used by the automatic mask generator).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from PIL import Image as PILImage

from sam2.utils.image_checks import check_rgb_image
from sam2.utils.prompt_checks import PromptError  # noqa: F401  (raised by predict; importable from here)
from sam2.utils.prompt_checks import check_boxes, check_mask_logits, check_points, check_setting
from sam2.utils.transforms import SAM2Transforms

logger = logging.getLogger(__name__)

# Low-res logits returned to the caller are clipped to this magnitude.
_LOW_RES_CLIP = 32.0
# Prompt-encoder labels of the two box corners.
_BOX_TOP_LEFT, _BOX_BOTTOM_RIGHT = 2, 3

ArrayLike = Union[np.ndarray, torch.Tensor, Sequence]


@dataclass
class _Prompts:
    """Prompts of one image, converted to model-input coordinates (torch, on the model device).

    coords: ``[B, N, 2]`` float32 or None; labels: ``[B, N]`` int32 or None;
    box_corners: ``[B, 2, 2]`` float32 or None; mask_input: ``[B, 1, h, w]`` float32 or None.
    """

    coords: Optional[torch.Tensor] = None
    labels: Optional[torch.Tensor] = None
    box_corners: Optional[torch.Tensor] = None
    mask_input: Optional[torch.Tensor] = None


class SAM2ImagePredictor:
    """Image predictor around a :class:`~sam2.modeling.sam2_base.SAM2Base` model.

    Args:
        sam_model: the model (``image_size``, ``forward_image``, ``sam_prompt_encoder``,
            ``sam_mask_decoder``, ...).
        mask_threshold: logits above it are foreground when binary masks are returned.
        max_hole_area: fill background holes up to this area (low-res pixels) before
            upsampling; 0 disables.
        max_sprinkle_area: remove foreground specks up to this area; 0 disables.
    """

    def __init__(
        self,
        sam_model: torch.nn.Module,
        mask_threshold: float = 0.0,
        max_hole_area: float = 0.0,
        max_sprinkle_area: float = 0.0,
        **kwargs: Any,
    ) -> None:
        check_setting("SAM2ImagePredictor", "mask_threshold", mask_threshold)
        check_setting("SAM2ImagePredictor", "max_hole_area", max_hole_area, low=0.0)
        check_setting("SAM2ImagePredictor", "max_sprinkle_area", max_sprinkle_area, low=0.0)
        self.model = sam_model
        self.mask_threshold = mask_threshold
        self._transforms = SAM2Transforms(
            int(sam_model.image_size), mask_threshold, max_hole_area=max_hole_area, max_sprinkle_area=max_sprinkle_area
        )
        size = int(self.model.image_size)
        # Spatial sizes of the three feature levels (strides 4, 8, 16).
        self._bb_feat_sizes = [(size // 4, size // 4), (size // 8, size // 8), (size // 16, size // 16)]
        self._features: Optional[Dict[str, Any]] = None
        self._orig_hw: Optional[List[Tuple[int, int]]] = None
        self._is_image_set = False
        self._is_batch = False

    @classmethod
    def from_pretrained(cls, model_id: str, **kwargs: Any) -> "SAM2ImagePredictor":
        """Load an official model by its Hugging Face id, e.g. ``"facebook/sam2.1-hiera-large"``.

        Needs the ``hub`` extra (``pip install "sam2-rcms[hub]"``); the checkpoint is downloaded or
        taken from the local Hugging Face cache. Keywords of this class (``mask_threshold``,
        ``max_hole_area``, ``max_sprinkle_area``) go to the predictor, the others to
        :func:`sam2.build_sam.build_sam2` (``device``, ``apply_postprocessing``, ...).
        An unknown id raises an error listing the known ones.
        """
        from sam2.build_sam import build_sam2, build_sam2_hf
        from sam2.utils.hub import split_kwargs

        build_kwargs, own_kwargs = split_kwargs(kwargs, cls.__init__, build_sam2)
        return cls(build_sam2_hf(model_id, **build_kwargs), **own_kwargs)

    # ------------------------------------------------------------------ state
    @property
    def device(self) -> torch.device:
        dev = getattr(self.model, "device", None)
        if isinstance(dev, torch.device):
            return dev
        return next(self.model.parameters()).device

    def reset_predictor(self) -> None:
        """Forget the current image(s) and their features."""
        self._features = None
        self._orig_hw = None
        self._is_image_set = False
        self._is_batch = False

    def _require_image(self, action: str) -> None:
        if not self._is_image_set or self._features is None:
            raise RuntimeError(f"An image must be set with .set_image(...) or .set_image_batch(...) before {action}.")

    # --------------------------------------------------------------- encoding
    def _encode(self, batch: torch.Tensor) -> Dict[str, Any]:
        """Run the image encoder on ``[B, 3, S, S]`` and return predictor features.

        Returns ``{"image_embed": [B, C, S/16, S/16], "high_res_feats": [[B, C0, S/4, S/4],
        [B, C1, S/8, S/8]]}`` (float32).
        """
        backbone_out = self.model.forward_image(batch)
        vision_feats, _, feat_sizes = self.model._prepare_backbone_features(backbone_out)
        vision_feats = list(vision_feats)
        if self.model.directly_add_no_mem_embed:
            # The lowest-resolution level carries the "no memory" embedding, as on a video's
            # first frame during training.
            vision_feats[-1] = vision_feats[-1] + self.model.no_mem_embed
        bsz = batch.shape[0]
        maps = []
        for seq, (height, width) in zip(vision_feats, feat_sizes):
            # [HW, B, C] -> [B, C, H, W]
            maps.append(seq.permute(1, 2, 0).reshape(bsz, -1, int(height), int(width)))
        return {"image_embed": maps[-1], "high_res_feats": maps[:-1]}

    @torch.no_grad()
    def set_image(self, image: Union[np.ndarray, PILImage.Image]) -> None:
        """Encode one RGB image (``HxWx3`` uint8 numpy array or PIL image in mode RGB)."""
        self.reset_predictor()
        orig_hw = check_rgb_image(image, "set_image")
        batch = self._transforms(image)[None].to(self.device)
        logger.debug("encoding image of size %s", orig_hw)
        self._features = self._encode(batch)
        self._orig_hw = [orig_hw]
        self._is_image_set = True

    @torch.no_grad()
    def set_image_batch(self, image_list: List[np.ndarray]) -> None:
        """Encode a list of RGB images (``HxWx3`` uint8 numpy arrays, sizes may differ)."""
        self.reset_predictor()
        if not isinstance(image_list, (list, tuple)) or len(image_list) == 0:
            raise TypeError("set_image_batch: image_list must be a non-empty list of HxWx3 uint8 numpy arrays")
        sizes = []
        for i, image in enumerate(image_list):
            if not isinstance(image, np.ndarray):
                raise TypeError(f"set_image_batch: image_list[{i}] must be a numpy array, got {type(image).__name__}")
            sizes.append(check_rgb_image(image, f"set_image_batch: image_list[{i}]"))
        batch = self._transforms.forward_batch(list(image_list)).to(self.device)
        self._features = self._encode(batch)
        self._orig_hw = sizes
        self._is_image_set = True
        self._is_batch = True

    def get_image_embedding(self) -> torch.Tensor:
        """Image embedding ``[B, C, S/16, S/16]`` (C=256, S/16=64 for SAM2.1) of the set image(s)."""
        self._require_image("getting the image embedding")
        return self._features["image_embed"]

    # ---------------------------------------------------------------- prompts
    def _convert_prompts(
        self,
        point_coords: Optional[ArrayLike],
        point_labels: Optional[ArrayLike],
        box: Optional[ArrayLike],
        mask_logits: Optional[ArrayLike],
        normalize_coords: bool,
        img_idx: int,
    ) -> _Prompts:
        device = self.device
        orig_hw = self._orig_hw[img_idx]
        where = "predict" if img_idx == -1 else f"predict_batch (image {img_idx})"
        out = _Prompts()
        if point_coords is not None:
            if point_labels is None:
                raise ValueError("point_labels must be supplied if point_coords is supplied.")
            size = (orig_hw[1], orig_hw[0]) if normalize_coords else (1.0, 1.0)
            coords, labels = check_points(point_coords, point_labels, where, size=size, points_name="point_coords",
                                          labels_name="point_labels", device=device)
            coords = self._transforms.transform_coords(coords, normalize=normalize_coords, orig_hw=orig_hw)
            if coords.dim() == 2:
                coords, labels = coords[None], labels[None]
            out.coords, out.labels = coords, labels
        elif point_labels is not None:
            raise ValueError("point_labels given without point_coords.")
        if box is not None:
            boxes = check_boxes(box, where, device=device)
            out.box_corners = self._transforms.transform_boxes(boxes, normalize=normalize_coords, orig_hw=orig_hw)
        if mask_logits is not None:
            masks = check_mask_logits(mask_logits, where, device=device)
            if masks.dim() == 3:
                masks = masks[None]
            expected = self._bb_feat_sizes[0]
            if masks.dim() != 4 or masks.shape[1] != 1 or tuple(masks.shape[-2:]) != expected:
                raise ValueError(
                    f"mask_input must have shape [1, {expected[0]}, {expected[1]}] or "
                    f"[B, 1, {expected[0]}, {expected[1]}], got {tuple(masks.shape)}")
            out.mask_input = masks
        return out

    # ------------------------------------------------------------- prediction
    @staticmethod
    def _merge_box_and_points(
        coords: Optional[torch.Tensor], labels: Optional[torch.Tensor], box_corners: Optional[torch.Tensor]
    ) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
        """Boxes go first, as two corner points labelled 2 and 3, then the clicks."""
        if box_corners is None:
            return None if coords is None else (coords, labels)
        corners = box_corners.reshape(-1, 2, 2)
        corner_labels = torch.tensor(
            [_BOX_TOP_LEFT, _BOX_BOTTOM_RIGHT], dtype=torch.int32, device=corners.device
        ).expand(corners.shape[0], 2)
        if coords is None:
            return corners, corner_labels
        if coords.shape[0] != corners.shape[0]:
            raise ValueError(
                f"box batch size {corners.shape[0]} does not match point batch size {coords.shape[0]}")
        return torch.cat([corners, coords], dim=1), torch.cat([corner_labels, labels.to(torch.int32)], dim=1)

    @torch.no_grad()
    def _predict(
        self, point_coords: Optional[torch.Tensor], point_labels: Optional[torch.Tensor],
        boxes: Optional[torch.Tensor] = None, mask_input: Optional[torch.Tensor] = None,
        multimask_output: bool = True, return_logits: bool = False, img_idx: int = -1,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Decode prompts already in model-input coordinates (torch API).

        Args:
            point_coords: ``[B, N, 2]`` float32 (x, y) in model-input pixels, or None.
            point_labels: ``[B, N]`` int (1 fg, 0 bg, -1 padding), or None.
            boxes: ``[B, 4]`` or ``[B, 2, 2]`` float32 box corners in model-input pixels, or None.
            mask_input: ``[B, 1, S/4, S/4]`` float32 low-res logits, or None.
            multimask_output: three candidate masks instead of one.
            return_logits: return float logits instead of bool masks.
            img_idx: which image of a batch (``set_image_batch``) to use.
        Returns:
            masks ``[B, C, H, W]`` (bool, or float32 logits) at the original image size,
            IoU predictions ``[B, C]`` float32, low-res logits ``[B, C, S/4, S/4]`` float32
            clipped to [-32, 32] (C = 3 if ``multimask_output`` else 1).
        """
        self._require_image("mask prediction")
        points = self._merge_box_and_points(point_coords, point_labels, boxes)
        sparse, dense = self.model.sam_prompt_encoder(points=points, boxes=None, masks=mask_input)
        # Several objects (a batch of prompts) share the one image embedding.
        several_objects = points is not None and points[0].shape[0] > 1
        pick = img_idx % int(self._features["image_embed"].shape[0])  # -1: the last image
        embed = self._features["image_embed"][pick : pick + 1]
        high_res = [level[pick : pick + 1] for level in self._features["high_res_feats"]]
        dense_pe = self.model.sam_prompt_encoder.get_dense_pe()
        decoded = self.model.sam_mask_decoder(
            embed, dense_pe, sparse, dense, multimask_output, several_objects, high_res_features=high_res
        )
        low_res, ious = decoded[0], decoded[1]
        masks = self._transforms.postprocess_masks(low_res, self._orig_hw[img_idx])
        if not return_logits:
            masks = masks > self.mask_threshold
        return masks, ious, low_res.clamp(-_LOW_RES_CLIP, _LOW_RES_CLIP)

    @staticmethod
    def _to_numpy(masks: torch.Tensor, ious: torch.Tensor, low_res: torch.Tensor) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        def conv(t: torch.Tensor) -> np.ndarray:
            return t.squeeze(0).float().detach().cpu().numpy()

        return conv(masks), conv(ious), conv(low_res)

    def predict(
        self, point_coords: Optional[ArrayLike] = None, point_labels: Optional[ArrayLike] = None,
        box: Optional[ArrayLike] = None, mask_input: Optional[ArrayLike] = None,
        multimask_output: bool = True, return_logits: bool = False, normalize_coords: bool = True,
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Segment the image set by :meth:`set_image` from prompts.

        Args:
            point_coords: ``[N, 2]`` (x, y) clicks in image pixels (or [0, 1] if
                ``normalize_coords=False``); ``[B, N, 2]`` for several objects.
            point_labels: ``[N]`` (or ``[B, N]``) labels, 1 foreground, 0 background (and the
                official 2 / 3 box corners, -1 padding).
            box: ``[4]`` (or ``[B, 4]``) box x0, y0, x1, y1 (x1 > x0, y1 > y0).
            mask_input: ``[1, 256, 256]`` low-res logits of a previous call (``[B, 1, 256, 256]``).
            multimask_output: return 3 masks instead of 1.
            return_logits: float logits instead of bool masks.
            normalize_coords: coordinates are in image pixels (True) or already in [0, 1].
        Returns:
            masks ``[C, H, W]`` (bool or float32), IoU predictions ``[C]`` float32, low-res
            logits ``[C, 256, 256]`` float32 (a leading ``B`` when several objects are given).

        Raises:
            PromptError: (a ``ValueError``) a prompt breaking the rules of
                :mod:`sam2.utils.prompt_checks` (NaN / infinite or out-of-image clicks, labels
                outside 1/0/2/3/-1, reversed or zero-area boxes, empty point arrays, NaN mask
                logits); the message names the argument and the value.
        """
        self._require_image("mask prediction")
        prompts = self._convert_prompts(point_coords, point_labels, box, mask_input, normalize_coords, -1)
        out = self._predict(prompts.coords, prompts.labels, prompts.box_corners, prompts.mask_input,
                            multimask_output, return_logits=return_logits)
        return self._to_numpy(*out)

    def predict_batch(
        self,
        point_coords_batch: Optional[List[np.ndarray]] = None,
        point_labels_batch: Optional[List[np.ndarray]] = None,
        box_batch: Optional[List[np.ndarray]] = None,
        mask_input_batch: Optional[List[np.ndarray]] = None,
        multimask_output: bool = True,
        return_logits: bool = False,
        normalize_coords: bool = True,
    ) -> Tuple[List[np.ndarray], List[np.ndarray], List[np.ndarray]]:
        """:meth:`predict` for every image of :meth:`set_image_batch`; per-image prompt lists.

        Returns three lists (masks, IoU predictions, low-res logits) with one entry per image.
        """
        if not self._is_batch:
            raise RuntimeError("predict_batch needs images set with .set_image_batch(...)")
        self._require_image("mask prediction")
        num_images = int(self._features["image_embed"].shape[0])
        for name, seq in (("point_coords_batch", point_coords_batch), ("point_labels_batch", point_labels_batch),
                          ("box_batch", box_batch), ("mask_input_batch", mask_input_batch)):
            if seq is not None and len(seq) != num_images:
                raise ValueError(f"{name} has {len(seq)} entries but {num_images} images are set")

        def pick(seq: Optional[List[Any]], i: int) -> Any:
            return None if seq is None else seq[i]

        results: Tuple[List[np.ndarray], List[np.ndarray], List[np.ndarray]] = ([], [], [])
        for i in range(num_images):
            prompts = self._convert_prompts(pick(point_coords_batch, i), pick(point_labels_batch, i),
                                            pick(box_batch, i), pick(mask_input_batch, i), normalize_coords, i)
            out = self._predict(prompts.coords, prompts.labels, prompts.box_corners, prompts.mask_input,
                                multimask_output, return_logits=return_logits, img_idx=i)
            for acc, value in zip(results, self._to_numpy(*out)):
                acc.append(value)
        return results
