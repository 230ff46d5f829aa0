"""Segment everything in an image: :class:`SAM2AutomaticMaskGenerator`.

The generator prompts the image predictor with a regular grid of single foreground clicks on the
whole image and, optionally, on layers of overlapping crops; it keeps the candidate masks whose
predicted IoU and stability score pass their thresholds, drops masks cut off by a crop border
and removes duplicates with box NMS (within a crop by predicted IoU, across crops preferring
smaller crops). Masks are thresholded and run-length encoded one point batch at a time, so the
full-resolution logits of all points never exist at once.

All helpers (grids, crops, statistics, encodings) live in :mod:`sam2.utils.amg`.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple, Type

import numpy as np
import torch

from sam2.utils.amg import MaskCandidates, batch_iterator, box_nms, require_pycocotools
from sam2.utils.amg import build_all_layer_point_grids, generate_crop_boxes
from sam2.utils.amg import batched_mask_to_box, calculate_stability_score, is_box_near_crop_edge
from sam2.utils.amg import uncrop_boxes_xyxy, uncrop_masks, uncrop_points
from sam2.utils.amg import area_from_rle, coco_encode_rle, compact_rles, rle_counts_as_list
from sam2.utils.amg import rle_to_mask
from sam2.utils.amg import box_xyxy_to_xywh, remove_small_regions
from sam2.utils.image_checks import check_rgb_image
from sam2.utils.prompt_checks import check_setting

logger = logging.getLogger(__name__)

OUTPUT_MODES = ("binary_mask", "uncompressed_rle", "coco_rle")
CropBox = List[int]


def _box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Areas of ``[N, 4]`` XYXY boxes as float32 ``[N]`` (width * height, no +1)."""
    boxes = boxes.float()
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _image_predictor_class() -> Type[Any]:
    """The predictor class used by the generator (imported lazily; tests may replace it)."""
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    return SAM2ImagePredictor


def _select_point_grids(
    points_per_side: Optional[int],
    point_grids: Optional[Sequence[np.ndarray]],
    crop_n_layers: int,
    downscale: int,
) -> List[np.ndarray]:
    """Normalised ``[P_k, 2]`` point grids per crop layer, from exactly one of the two options."""
    if (points_per_side is None) == (point_grids is None):
        given = "both were given" if points_per_side is not None else "neither was given"
        raise ValueError(
            "SAM2AutomaticMaskGenerator: give exactly one of points_per_side and point_grids "
            f"({given}); to use point_grids pass points_per_side=None."
        )
    if points_per_side is not None:
        check_setting(_OWNER, "points_per_side", points_per_side, low=1, integer=True)
        return build_all_layer_point_grids(int(points_per_side), crop_n_layers, downscale)
    grids = [np.asarray(g, dtype=np.float64) for g in point_grids]  # type: ignore[union-attr]
    for layer, grid in enumerate(grids):
        if grid.ndim != 2 or grid.shape[1] != 2:
            raise ValueError(
                f"SAM2AutomaticMaskGenerator: point_grids[{layer}] must have shape [N, 2] "
                f"(normalised x, y), got {tuple(grid.shape)}"
            )
        if grid.size == 0 or not np.isfinite(grid).all() or grid.min() < 0 or grid.max() > 1:
            shown = "no points" if grid.size == 0 else f"values {grid.min():g}..{grid.max():g}"
            raise ValueError(
                f"SAM2AutomaticMaskGenerator: point_grids[{layer}] must hold at least one normalised "
                f"(x, y) point with finite values in [0, 1], got {shown}"
            )
    if len(grids) < crop_n_layers + 1:
        raise ValueError(
            f"SAM2AutomaticMaskGenerator: point_grids has {len(grids)} grid(s) but "
            f"crop_n_layers={crop_n_layers} needs {crop_n_layers + 1} (one per layer)"
        )
    return grids


_OWNER = "SAM2AutomaticMaskGenerator"
#: name -> range of each numeric setting (see :func:`sam2.utils.prompt_checks.check_setting`)
_SETTING_RANGES: Dict[str, Dict[str, Any]] = {
    "points_per_batch": dict(low=1, integer=True),
    "pred_iou_thresh": dict(low=0.0, high=1.0),
    "stability_score_thresh": dict(low=0.0, high=1.0),
    "stability_score_offset": dict(low=0.0),
    "mask_threshold": dict(),
    "box_nms_thresh": dict(low=0.0, high=1.0),
    "crop_n_layers": dict(low=0, integer=True),
    "crop_nms_thresh": dict(low=0.0, high=1.0),
    "crop_overlap_ratio": dict(low=0.0, high=1.0, high_open=True),
    "crop_n_points_downscale_factor": dict(low=1, integer=True),
    "min_mask_region_area": dict(low=0.0),
}


def _check_settings(given: Dict[str, Any]) -> None:
    """Refuse a numeric setting outside its range (NaN included), naming it and its value."""
    for name, bounds in _SETTING_RANGES.items():
        check_setting(_OWNER, name, given[name], **bounds)


def _check_image(image: Any) -> np.ndarray:
    """The image as an ``[H, W, 3]`` uint8 array (see :func:`sam2.utils.image_checks.check_rgb_image`)."""
    check_rgb_image(image, "generate(image)")
    return np.asarray(image)


class SAM2AutomaticMaskGenerator:
    """Generate masks for everything in an image with a SAM 2 model.

    Args (the official names and defaults):
        model: a ``SAM2Base`` model (e.g. from :func:`sam2.build_sam.build_sam2`).
        points_per_side: points per side of the prompt grid on the full image (``n*n``
            points); ``None`` when ``point_grids`` is given instead.
        points_per_batch: points decoded together; bounds the memory of one step.
        pred_iou_thresh: keep masks whose predicted IoU is above this (0 keeps all).
        stability_score_thresh: keep masks whose stability score is at least this (0 keeps all).
        stability_score_offset: logit offset of the two thresholds of the stability score.
        mask_threshold: logit threshold that makes a mask binary.
        box_nms_thresh: box IoU above which the lower-scored of two masks of a crop is dropped.
        crop_n_layers: extra layers of crops; layer k has ``(2**k)**2`` crops.
        crop_nms_thresh: box IoU of the NMS across crops (masks of smaller crops win).
        crop_overlap_ratio: overlap of neighbouring layer-1 crops as a fraction of the short
            image side (scaled down on later layers).
        crop_n_points_downscale_factor: layer k uses ``points_per_side / factor**k`` points.
        point_grids: explicit normalised ``[N_k, 2]`` grids, one per layer (instead of
            ``points_per_side``).
        min_mask_region_area: > 0 fills holes and removes specks of at most this area, on the
            predictor's low-resolution logits (as the official SAM 2 generator does); see also
            :meth:`postprocess_small_regions` for the full-resolution variant.
        output_mode: ``"binary_mask"`` (``[H, W]`` bool arrays), ``"uncompressed_rle"`` or
            ``"coco_rle"`` (needs pycocotools).
        use_m2m: refine every candidate once more with its own low-res logits as mask prompt.
        multimask_output: three candidates per point instead of one.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        points_per_side: Optional[int] = 32, points_per_batch: int = 64,
        pred_iou_thresh: float = 0.8, stability_score_thresh: float = 0.95,
        stability_score_offset: float = 1.0, mask_threshold: float = 0.0,
        box_nms_thresh: float = 0.7, crop_n_layers: int = 0, crop_nms_thresh: float = 0.7,
        crop_overlap_ratio: float = 512 / 1500, crop_n_points_downscale_factor: int = 1,
        point_grids: Optional[List[np.ndarray]] = None, min_mask_region_area: int = 0,
        output_mode: str = "binary_mask", use_m2m: bool = False, multimask_output: bool = True,
        **kwargs: Any,
    ) -> None:
        _check_settings(locals())
        if output_mode not in OUTPUT_MODES:
            raise ValueError(
                f"SAM2AutomaticMaskGenerator: unknown output_mode {output_mode!r}; "
                f"choose one of {', '.join(OUTPUT_MODES)}"
            )
        if output_mode == "coco_rle":
            require_pycocotools()
        # torchvision.ops (NMS) is slow to import; pay for it here rather than in generate().
        import torchvision.ops  # noqa: F401
        self.point_grids = _select_point_grids(
            points_per_side, point_grids, crop_n_layers, crop_n_points_downscale_factor
        )
        if kwargs:
            logger.debug("SAM2AutomaticMaskGenerator: ignoring extra arguments %s", sorted(kwargs))
        self.predictor = _image_predictor_class()(
            model,
            max_hole_area=min_mask_region_area,
            max_sprinkle_area=min_mask_region_area,
        )
        # Prompting.
        self.points_per_batch = int(points_per_batch)
        self.multimask_output = bool(multimask_output)
        self.use_m2m = bool(use_m2m)
        # Quality filters and de-duplication.
        self.mask_threshold = float(mask_threshold)
        self.pred_iou_thresh = float(pred_iou_thresh)
        self.stability_score_offset = float(stability_score_offset)
        self.stability_score_thresh = float(stability_score_thresh)
        self.box_nms_thresh = float(box_nms_thresh)
        # Crop layers.
        self.crop_n_layers = int(crop_n_layers)
        self.crop_overlap_ratio = float(crop_overlap_ratio)
        self.crop_n_points_downscale_factor = int(crop_n_points_downscale_factor)
        self.crop_nms_thresh = float(crop_nms_thresh)
        # Output.
        self.min_mask_region_area = min_mask_region_area
        self.output_mode = str(output_mode)

    @classmethod
    def from_pretrained(cls, model_id: str, **kwargs: Any) -> "SAM2AutomaticMaskGenerator":
        """Load an official model by its Hugging Face id (e.g. ``"facebook/sam2.1-hiera-large"``)
        and wrap it in a generator.

        Needs the ``hub`` extra (``pip install "sam2-rcms[hub]"``). The generator's own keywords
        (``points_per_side``, ``pred_iou_thresh``, ...) configure the generator; the others go to
        :func:`sam2.build_sam.build_sam2` (``device``, ``apply_postprocessing``, ...).
        """
        from sam2.build_sam import build_sam2, build_sam2_hf
        from sam2.utils.hub import split_kwargs

        build_kwargs, own_kwargs = split_kwargs(kwargs, cls.__init__, build_sam2)
        return cls(build_sam2_hf(model_id, **build_kwargs), **own_kwargs)

    # ----------------------------------------------------------------------------- public API
    @torch.no_grad()
    def generate(self, image: np.ndarray) -> List[Dict[str, Any]]:
        """Masks of everything in ``image``.

        Args:
            image: ``[H, W, 3]`` uint8 RGB.

        Returns:
            One dict per mask, in the official order, with keys ``segmentation`` (``[H, W]``
            bool array, or an RLE dict, per ``output_mode``), ``area`` (int), ``bbox`` (XYWH,
            floats), ``predicted_iou``, ``point_coords`` (``[[x, y]]``), ``stability_score``
            and ``crop_box`` (XYWH of the crop that produced the mask).
        """
        image = _check_image(image)
        candidates = self._generate_masks(image)
        return self._records(candidates)

    # ------------------------------------------------------------------------- main loop
    def _generate_masks(self, image: np.ndarray) -> MaskCandidates:
        """Candidates of all crops, deduplicated across crops; tensors on the CPU."""
        orig_hw = (int(image.shape[0]), int(image.shape[1]))
        crop_boxes, layers = generate_crop_boxes(orig_hw, self.crop_n_layers, self.crop_overlap_ratio)
        per_crop = [
            self._process_crop(image, box, layer, orig_hw) for box, layer in zip(crop_boxes, layers)
        ]
        found = MaskCandidates.concat(per_crop)
        if len(crop_boxes) > 1 and len(found) > 0:
            smaller_is_better = 1.0 / _box_area(found.crop_boxes)
            found = found.select(box_nms(found.boxes, smaller_is_better, self.crop_nms_thresh))
        return found

    def _process_crop(
        self,
        image: np.ndarray,
        crop_box: CropBox,
        crop_layer_idx: int,
        orig_size: Tuple[int, int],
    ) -> MaskCandidates:
        """Candidates of one crop, deduplicated within it, in image coordinates."""
        x0, y0, x1, y1 = crop_box
        crop = image[y0:y1, x0:x1, :]
        crop_hw = (int(crop.shape[0]), int(crop.shape[1]))
        self.predictor.set_image(crop)
        grid = self.point_grids[crop_layer_idx]
        points = grid * np.array([[crop_hw[1], crop_hw[0]]], dtype=np.float64)
        batches = [
            self._process_batch(chunk, crop_hw, crop_box, orig_size, normalize=True)
            for (chunk,) in batch_iterator(self.points_per_batch, points)
        ]
        self.predictor.reset_predictor()
        found = MaskCandidates.concat(batches)
        if len(found) == 0:
            return found
        found = found.select(box_nms(found.boxes, found.iou_preds, self.box_nms_thresh))
        found.boxes = uncrop_boxes_xyxy(found.boxes, crop_box)
        found.points = uncrop_points(found.points, crop_box)
        found.crop_boxes = torch.tensor([list(crop_box)], dtype=torch.long).repeat(len(found), 1)
        return found

    def _process_batch(
        self,
        points: np.ndarray,
        im_size: Tuple[int, int],
        crop_box: CropBox,
        orig_size: Tuple[int, int],
        normalize: bool = False,
    ) -> MaskCandidates:
        """Decode one batch of ``[B, 2]`` crop-pixel points and keep the good candidates.

        Boxes and points of the result are in crop coordinates; RLEs cover the whole image.
        """
        orig_h, orig_w = orig_size
        device = self.predictor.device
        crop_points = torch.as_tensor(points, dtype=torch.float32, device=device)
        model_points = self.predictor._transforms.transform_coords(
            crop_points, normalize=normalize, orig_hw=im_size
        )
        labels = torch.ones(model_points.shape[0], 1, dtype=torch.int, device=device)
        logits, iou_preds, low_res = self.predictor._predict(
            model_points[:, None, :],
            labels,
            multimask_output=self.multimask_output,
            return_logits=True,
        )
        per_point = logits.shape[1]
        logits = logits.flatten(0, 1)
        iou_preds = iou_preds.flatten(0, 1)
        point_of_mask = crop_points.repeat_interleave(per_point, dim=0)
        if self.use_m2m:
            del logits  # replaced by the refined logits; do not hold both batches at once
            logits, iou_preds = self.refine_with_m2m(
                model_points.repeat_interleave(per_point, dim=0),
                torch.ones(point_of_mask.shape[0], dtype=torch.int, device=device),
                low_res.flatten(0, 1),
                self.points_per_batch,
            )
            logits, iou_preds = logits.squeeze(1), iou_preds.squeeze(1)
        del low_res

        # Quality filters: predicted IoU first, then the stability of the survivors.
        if self.pred_iou_thresh > 0.0:
            good = (iou_preds > self.pred_iou_thresh).nonzero().flatten()
            logits, iou_preds, point_of_mask = logits[good], iou_preds[good], point_of_mask[good]
        stability = calculate_stability_score(
            logits, self.mask_threshold, self.stability_score_offset
        )
        if self.stability_score_thresh > 0.0:
            stable = (stability >= self.stability_score_thresh).nonzero().flatten()
            logits, iou_preds = logits[stable], iou_preds[stable]
            point_of_mask, stability = point_of_mask[stable], stability[stable]

        binary = logits > self.mask_threshold
        del logits
        boxes = batched_mask_to_box(binary)
        inside = ~is_box_near_crop_edge(boxes, crop_box, [0, 0, orig_w, orig_h])
        if not bool(inside.all()):
            kept = inside.nonzero().flatten()
            binary, boxes, iou_preds = binary[kept], boxes[kept], iou_preds[kept]
            point_of_mask, stability = point_of_mask[kept], stability[kept]
        rles = compact_rles(uncrop_masks(binary, crop_box, orig_h, orig_w))
        return MaskCandidates(
            rles=rles,
            boxes=boxes.cpu(),
            iou_preds=iou_preds.float().cpu(),
            stability_score=stability.float().cpu(),
            points=point_of_mask.cpu(),
            crop_boxes=torch.zeros(len(rles), 4, dtype=torch.long),
        )

    def refine_with_m2m(
        self,
        points: torch.Tensor,
        point_labels: torch.Tensor,
        low_res_masks: torch.Tensor,
        points_per_batch: int,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Decode each candidate again with its own low-res logits as mask prompt.

        Args:
            points: ``[N, 2]`` float32 in model-input pixels; point_labels: ``[N]`` int.
            low_res_masks: ``[N, h, w]`` float32 low-res logits of the candidates.
        Returns:
            logits ``[N, 1, H, W]`` float32 at the image (crop) size and IoU ``[N, 1]``.
        """
        step = int(points_per_batch)
        outputs = [
            self.predictor._predict(
                points[start : start + step, None, :],
                point_labels[start : start + step, None],
                mask_input=low_res_masks[start : start + step, None],
                multimask_output=False,
                return_logits=True,
            )
            for start in range(0, points.shape[0], step)
        ]
        logits = torch.cat([out[0] for out in outputs])
        return logits, torch.cat([out[1] for out in outputs])

    # ------------------------------------------------------------------------ outputs
    def _segmentations(self, rles: List[Dict[str, Any]]) -> List[Any]:
        if self.output_mode == "binary_mask":
            return [rle_to_mask(rle) for rle in rles]
        if self.output_mode == "coco_rle":
            return [coco_encode_rle(rle) for rle in rles]
        return [rle_counts_as_list(rle) for rle in rles]

    def _records(self, found: MaskCandidates) -> List[Dict[str, Any]]:
        segmentations = self._segmentations(found.rles)
        bboxes = box_xyxy_to_xywh(found.boxes.float()).tolist()
        crops = box_xyxy_to_xywh(found.crop_boxes.float()).tolist()
        points = found.points.float().tolist()
        ious = found.iou_preds.float().tolist()
        stability = found.stability_score.float().tolist()
        return [
            {
                "segmentation": segmentations[i],
                "area": area_from_rle(found.rles[i]),
                "bbox": bboxes[i],
                "predicted_iou": ious[i],
                "point_coords": [points[i]],
                "stability_score": stability[i],
                "crop_box": crops[i],
            }
            for i in range(len(found))
        ]

    # --------------------------------------------------------------- optional post-processing
    @staticmethod
    def postprocess_small_regions(
        mask_data: MaskCandidates, min_area: int, nms_thresh: float
    ) -> MaskCandidates:
        """Fill holes and drop islands smaller than ``min_area`` at full resolution, then redo
        box NMS preferring masks that did not change. Returns the surviving candidates."""
        if len(mask_data) == 0:
            return mask_data
        cleaned: List[torch.Tensor] = []
        untouched: List[float] = []
        for rle in mask_data.rles:
            mask, filled = remove_small_regions(rle_to_mask(rle), min_area, mode="holes")
            mask, trimmed = remove_small_regions(mask, min_area, mode="islands")
            cleaned.append(torch.from_numpy(mask))
            untouched.append(0.0 if (filled or trimmed) else 1.0)
        masks = torch.stack(cleaned)
        boxes = batched_mask_to_box(masks)
        keep = box_nms(boxes, torch.tensor(untouched), nms_thresh)
        rles = list(mask_data.rles)
        new_boxes = mask_data.boxes.clone()
        for idx in keep.tolist():
            if untouched[idx] == 0.0:
                rles[idx] = compact_rles(masks[idx : idx + 1])[0]
                new_boxes[idx] = boxes[idx].to(new_boxes.dtype)
        updated = MaskCandidates(
            rles=rles,
            boxes=new_boxes,
            iou_preds=mask_data.iou_preds,
            stability_score=mask_data.stability_score,
            points=mask_data.points,
            crop_boxes=mask_data.crop_boxes,
        )
        return updated.select(keep)
