"""Helpers of the automatic mask generator: prompt grids, crops, mask statistics and encodings.

Every function here is small, pure and independent of the model, so that it can be unit-tested
with answers worked out by hand. The public names are those of the official ``sam2.utils.amg``
module (users import them from notebooks); the implementations are our own.

Conventions used throughout:

* boxes are ``XYXY`` in pixels, ``x1``/``y1`` inclusive for boxes computed from masks
  (:func:`batched_mask_to_box`) and exclusive for crop boxes (:func:`generate_crop_boxes`);
* an *uncompressed RLE* is ``{"size": [H, W], "counts": [n0, n1, ...]}`` over the mask read in
  column-major (Fortran) order, alternating runs of 0 and 1 and always starting with a (possibly
  empty) run of 0 - the format ``pycocotools.mask.frPyObjects`` accepts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Sequence, Tuple, Union

import numpy as np
import torch

__all__ = [
    "MaskCandidates",
    "MaskData",
    "area_from_rle",
    "batch_iterator",
    "batched_mask_to_box",
    "box_nms",
    "box_xyxy_to_xywh",
    "build_all_layer_point_grids",
    "build_point_grid",
    "calculate_stability_score",
    "coco_encode_rle",
    "compact_rles",
    "generate_crop_boxes",
    "is_box_near_crop_edge",
    "mask_to_rle_pytorch",
    "remove_small_regions",
    "require_pycocotools",
    "rle_counts_as_list",
    "rle_to_mask",
    "uncrop_boxes_xyxy",
    "uncrop_masks",
    "uncrop_points",
]

RLE = Dict[str, Any]
PYCOCOTOOLS_HINT = (
    "output_mode='coco_rle' needs the optional dependency pycocotools; install it with "
    "`pip install pycocotools` (or `pip install 'sam2-rcms[coco]'`), or use "
    "output_mode='uncompressed_rle' / 'binary_mask'."
)


# --------------------------------------------------------------------------------------------
# Point grids and crops
# --------------------------------------------------------------------------------------------
def build_point_grid(n_per_side: int) -> np.ndarray:
    """Centres of an ``n x n`` tiling of the unit square.

    Returns:
        ``[n*n, 2]`` float64 (x, y) in ``[0, 1]``; x varies fastest (row-major over y).
    """
    if n_per_side < 1:
        raise ValueError(f"build_point_grid: n_per_side must be >= 1, got {n_per_side}")
    half_cell = 0.5 / n_per_side
    centres = np.linspace(half_cell, 1.0 - half_cell, n_per_side)
    grid_x, grid_y = np.meshgrid(centres, centres, indexing="xy")
    return np.stack((grid_x.reshape(-1), grid_y.reshape(-1)), axis=1)


def build_all_layer_point_grids(
    n_per_side: int, n_layers: int, scale_per_layer: int
) -> List[np.ndarray]:
    """One normalised point grid per crop layer (layer 0 is the whole image).

    Layer ``k`` has ``int(n_per_side / scale_per_layer**k)`` points per side.
    """
    return [
        build_point_grid(int(n_per_side / (scale_per_layer**layer)))
        for layer in range(n_layers + 1)
    ]


def _crop_length(full_len: int, n_crops: int, overlap: int) -> int:
    """Side length of each of ``n_crops`` equal crops covering ``full_len`` with ``overlap``."""
    return int(math.ceil((full_len + overlap * (n_crops - 1)) / n_crops))


def generate_crop_boxes(
    im_size: Tuple[int, ...], n_layers: int, overlap_ratio: float
) -> Tuple[List[List[int]], List[int]]:
    """Crop boxes of every layer: the full image, then ``(2**k)**2`` overlapping crops on layer k.

    Args:
        im_size: ``(H, W)`` of the image.
        n_layers: number of crop layers below the full image.
        overlap_ratio: overlap of neighbouring crops on layer 1, as a fraction of the short side;
            layer k uses ``overlap_ratio * short_side * 2 / 2**k``.

    Returns:
        ``(boxes, layer_of_box)``: boxes ``[x0, y0, x1, y1]`` (x1/y1 exclusive) and their layer.
        Within a layer the boxes go column by column (x0 outer, y0 inner).
    """
    im_h, im_w = int(im_size[0]), int(im_size[1])
    boxes: List[List[int]] = [[0, 0, im_w, im_h]]
    layers: List[int] = [0]
    short_side = min(im_h, im_w)
    for layer in range(1, n_layers + 1):
        per_side = 2**layer
        overlap = int(overlap_ratio * short_side * (2 / per_side))
        width = _crop_length(im_w, per_side, overlap)
        height = _crop_length(im_h, per_side, overlap)
        lefts = [int((width - overlap) * k) for k in range(per_side)]
        tops = [int((height - overlap) * k) for k in range(per_side)]
        for left in lefts:
            for top in tops:
                boxes.append([left, top, min(left + width, im_w), min(top + height, im_h)])
                layers.append(layer)
    return boxes, layers


# --------------------------------------------------------------------------------------------
# Batching
# --------------------------------------------------------------------------------------------
def batch_iterator(batch_size: int, *args: Any) -> Iterator[List[Any]]:
    """Yield aligned slices ``[a[i:i+batch_size] for a in args]`` of equally long sequences."""
    if batch_size < 1:
        raise ValueError(f"batch_iterator: batch_size must be >= 1, got {batch_size}")
    if not args:
        raise ValueError("batch_iterator: give at least one sequence to batch")
    total = len(args[0])
    lengths = [len(a) for a in args]
    if any(n != total for n in lengths):
        raise ValueError(f"batch_iterator: sequences have different lengths {lengths}")
    for start in range(0, total, batch_size):
        yield [a[start : start + batch_size] for a in args]


# --------------------------------------------------------------------------------------------
# Mask statistics
# --------------------------------------------------------------------------------------------
def calculate_stability_score(
    masks: torch.Tensor, mask_threshold: float, threshold_offset: float
) -> torch.Tensor:
    """IoU of the masks binarised at ``threshold +/- offset`` (the high one lies in the low one).

    Args:
        masks: ``[..., H, W]`` float logits.

    Returns:
        ``[...]`` float32; NaN where even the low threshold leaves the mask empty (0 / 0).
    """
    strict = (masks > mask_threshold + threshold_offset).flatten(-2).sum(-1, dtype=torch.int32)
    loose = (masks > mask_threshold - threshold_offset).flatten(-2).sum(-1, dtype=torch.int32)
    return strict.float() / loose.float()


def batched_mask_to_box(masks: torch.Tensor) -> torch.Tensor:
    """Tight boxes around binary masks.

    Args:
        masks: ``[..., H, W]`` bool.

    Returns:
        ``[..., 4]`` int64 ``XYXY`` with inclusive x1/y1; ``[0, 0, 0, 0]`` for an empty mask.
    """
    lead_shape = masks.shape[:-2]
    height, width = masks.shape[-2], masks.shape[-1]
    if masks.numel() == 0:
        return torch.zeros(*lead_shape, 4, dtype=torch.long, device=masks.device)
    flat = masks.reshape(-1, height, width).bool()
    rows_hit = flat.any(dim=2)  # [N, H]
    cols_hit = flat.any(dim=1)  # [N, W]

    def first_and_last(hit: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        size = hit.shape[1]
        as_int = hit.to(torch.uint8)
        first = as_int.argmax(dim=1)
        last = size - 1 - as_int.flip(1).argmax(dim=1)
        return first, last

    top, bottom = first_and_last(rows_hit)
    left, right = first_and_last(cols_hit)
    boxes = torch.stack((left, top, right, bottom), dim=1)
    non_empty = rows_hit.any(dim=1, keepdim=True)
    boxes = torch.where(non_empty, boxes, torch.zeros_like(boxes))
    return boxes.reshape(*lead_shape, 4)


def box_xyxy_to_xywh(box_xyxy: torch.Tensor) -> torch.Tensor:
    """Convert one ``[4]`` (or ``[..., 4]``) XYXY box to XYWH; the input is left untouched."""
    corner = box_xyxy[..., :2]
    size = box_xyxy[..., 2:] - corner
    return torch.cat((corner, size), dim=-1)


def box_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Indices of the boxes kept by non-maximum suppression, highest score first.

    A thin wrapper of torchvision's ``batched_nms`` with a single category.

    Args:
        boxes: ``[N, 4]`` XYXY (any real dtype; compared as float32).
        scores: ``[N]`` float.
    Returns:
        ``[K]`` int64 indices into ``boxes``.
    """
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    # Imported here: torchvision.ops pulls in torch._dynamo, seconds of import time.
    from torchvision.ops import batched_nms

    categories = torch.zeros(boxes.shape[0], dtype=torch.long, device=boxes.device)
    return batched_nms(boxes.float(), scores.float().to(boxes.device), categories, iou_threshold)


# --------------------------------------------------------------------------------------------
# Crops back to the full image
# --------------------------------------------------------------------------------------------
def _crop_offset(crop_box: Sequence[int], repeats: int, like: torch.Tensor) -> torch.Tensor:
    """``[x0, y0] * repeats`` as a tensor on ``like``'s device, broadcastable on the last dim."""
    x0, y0 = int(crop_box[0]), int(crop_box[1])
    return torch.tensor([x0, y0] * repeats, device=like.device)


def uncrop_boxes_xyxy(boxes: torch.Tensor, crop_box: Sequence[int]) -> torch.Tensor:
    """Shift ``[..., 4]`` XYXY boxes from crop to image coordinates."""
    return boxes + _crop_offset(crop_box, 2, boxes)


def uncrop_points(points: torch.Tensor, crop_box: Sequence[int]) -> torch.Tensor:
    """Shift ``[..., 2]`` (x, y) points from crop to image coordinates."""
    return points + _crop_offset(crop_box, 1, points)


def uncrop_masks(
    masks: torch.Tensor, crop_box: Sequence[int], orig_h: int, orig_w: int
) -> torch.Tensor:
    """Zero-pad ``[..., h, w]`` crop masks to the ``[..., orig_h, orig_w]`` image they came from."""
    x0, y0, x1, y1 = (int(v) for v in crop_box)
    if (x0, y0, x1, y1) == (0, 0, orig_w, orig_h):
        return masks
    left, top = x0, y0
    right = orig_w - x0 - masks.shape[-1]
    bottom = orig_h - y0 - masks.shape[-2]
    return torch.nn.functional.pad(masks, (left, right, top, bottom), value=0)


def is_box_near_crop_edge(
    boxes: torch.Tensor,
    crop_box: Sequence[int],
    orig_box: Sequence[int],
    atol: float = 20.0,
) -> torch.Tensor:
    """Which boxes touch an edge of their crop that is not also an edge of the image.

    Args:
        boxes: ``[N, 4]`` XYXY in crop coordinates.
        crop_box / orig_box: XYXY of the crop and of the whole image.
        atol: distance in pixels that counts as touching.

    Returns:
        ``[N]`` bool.
    """
    in_image = uncrop_boxes_xyxy(boxes, crop_box).float()
    crop_edges = torch.as_tensor(crop_box, dtype=torch.float32, device=boxes.device)
    image_edges = torch.as_tensor(orig_box, dtype=torch.float32, device=boxes.device)
    touches_crop = (in_image - crop_edges).abs() <= atol
    touches_image = (in_image - image_edges).abs() <= atol
    return (touches_crop & ~touches_image).any(dim=-1)


# --------------------------------------------------------------------------------------------
# Run-length encoding
# --------------------------------------------------------------------------------------------
def mask_to_rle_pytorch(tensor: torch.Tensor) -> List[RLE]:
    """Uncompressed column-major RLEs of a batch of binary masks.

    Args:
        tensor: ``[N, H, W]`` bool (any device).

    Returns:
        ``N`` dicts ``{"size": [H, W], "counts": [int, ...]}`` (first count: leading zeros).
    """
    return [
        {"size": rle["size"], "counts": rle["counts"].tolist()} for rle in compact_rles(tensor)
    ]


def compact_rles(tensor: torch.Tensor) -> List[RLE]:
    """Like :func:`mask_to_rle_pytorch` but with ``counts`` as an int32 numpy array.

    About 7x smaller than python int lists; the generator keeps its candidates in this form and
    turns the survivors into lists at the end (:func:`rle_counts_as_list`).
    """
    n_masks, height, width = tensor.shape
    if n_masks == 0:
        return []
    column_major = tensor.transpose(1, 2).reshape(n_masks, height * width).bool()
    changes = column_major[:, 1:] != column_major[:, :-1]
    mask_idx, position = changes.nonzero(as_tuple=True)
    # A run boundary sits just after each change; per mask, boundaries are sorted.
    boundaries = (position + 1).to(torch.int64).cpu().numpy()
    per_mask = torch.bincount(mask_idx, minlength=n_masks).cpu().numpy()
    starts_on = column_major[:, 0].cpu().numpy()
    ends = np.cumsum(per_mask)
    encoded: List[RLE] = []
    for i in range(n_masks):
        inner = boundaries[ends[i] - per_mask[i] : ends[i]]
        edges = np.concatenate(([0, 0] if starts_on[i] else [0], inner, [height * width]))
        encoded.append({"size": [height, width], "counts": np.diff(edges).astype(np.int32)})
    return encoded


def rle_counts_as_list(rle: RLE) -> RLE:
    """The RLE with plain python-int ``counts`` (the official, JSON-friendly form)."""
    counts = rle["counts"]
    if isinstance(counts, np.ndarray):
        counts = counts.tolist()
    return {"size": [int(v) for v in rle["size"]], "counts": list(counts)}


def rle_to_mask(rle: RLE) -> np.ndarray:
    """Decode an uncompressed RLE to a ``[H, W]`` bool array (C order)."""
    height, width = (int(v) for v in rle["size"])
    counts = np.asarray(rle["counts"], dtype=np.int64)
    if counts.sum() != height * width:
        raise ValueError(
            f"rle_to_mask: counts sum to {int(counts.sum())} but size {height}x{width} "
            f"has {height * width} pixels"
        )
    run_values = (np.arange(counts.shape[0]) % 2).astype(bool)
    column_major = np.repeat(run_values, counts)
    return np.ascontiguousarray(column_major.reshape(width, height).T)


def area_from_rle(rle: RLE) -> int:
    """Number of foreground pixels of an uncompressed RLE (the sum of its odd runs)."""
    return int(np.asarray(rle["counts"][1::2], dtype=np.int64).sum())


def require_pycocotools() -> Any:
    """Import and return ``pycocotools.mask``, or raise ImportError saying how to install it."""
    try:
        from pycocotools import mask as coco_mask  # type: ignore[import-not-found]
    except ImportError as err:
        raise ImportError(PYCOCOTOOLS_HINT) from err
    return coco_mask


def coco_encode_rle(uncompressed_rle: RLE) -> RLE:
    """Compress an uncompressed RLE to COCO's string RLE (JSON-serialisable ``counts``)."""
    coco_mask = require_pycocotools()
    uncompressed_rle = rle_counts_as_list(uncompressed_rle)
    height, width = uncompressed_rle["size"]
    compressed = coco_mask.frPyObjects(uncompressed_rle, height, width)
    counts = compressed["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("utf-8")
    return {"size": list(compressed["size"]), "counts": counts}


# --------------------------------------------------------------------------------------------
# Small regions and holes (no OpenCV: scipy's labelling, 8-connectivity)
# --------------------------------------------------------------------------------------------
def _label_8connected(binary: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Label 8-connected components; returns ``(labels [H, W] int, sizes [n+1])`` (0 = none)."""
    from scipy import ndimage  # local import: scipy is only needed for this post-processing

    labels, n_regions = ndimage.label(binary, structure=np.ones((3, 3), dtype=bool))
    sizes = np.bincount(labels.reshape(-1), minlength=n_regions + 1)
    return labels, sizes


def remove_small_regions(
    mask: np.ndarray, area_thresh: float, mode: str
) -> Tuple[np.ndarray, bool]:
    """Fill small holes or drop small islands of a binary mask.

    Args:
        mask: ``[H, W]`` bool.
        area_thresh: regions with fewer pixels than this are small.
        mode: ``"holes"`` (fill small background components, the outer one included if small)
            or ``"islands"`` (drop small foreground components; when all are small, keep the
            largest).

    Returns:
        ``(new_mask [H, W] bool, changed)``.
    """
    if mode not in ("holes", "islands"):
        raise ValueError(f"remove_small_regions: mode must be 'holes' or 'islands', got {mode!r}")
    mask = np.asarray(mask, dtype=bool)
    target = ~mask if mode == "holes" else mask
    labels, sizes = _label_8connected(target)
    region_sizes = sizes[1:]
    small = np.flatnonzero(region_sizes < area_thresh) + 1
    if small.size == 0:
        return mask, False
    if mode == "holes":
        return mask | np.isin(labels, small), True
    keep = np.setdiff1d(np.arange(1, region_sizes.size + 1), small)
    if keep.size == 0:
        keep = np.array([int(np.argmax(region_sizes)) + 1])
    return np.isin(labels, keep), True


# --------------------------------------------------------------------------------------------
# Typed candidate records
# --------------------------------------------------------------------------------------------
def _empty(shape: Tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    return torch.zeros(shape, dtype=dtype)


@dataclass
class MaskCandidates:
    """Masks proposed by the generator and their statistics; row ``i`` of every field belongs
    to the ``i``-th mask.

    Attributes:
        rles: uncompressed RLEs over the full image.
        boxes: ``[N, 4]`` int64 XYXY (inclusive) in image pixels.
        iou_preds: ``[N]`` float32 predicted IoU.
        stability_score: ``[N]`` float32.
        points: ``[N, 2]`` float32 (x, y) prompt in image pixels.
        crop_boxes: ``[N, 4]`` int64 XYXY of the crop that produced the mask.
    """

    rles: List[RLE] = field(default_factory=list)
    boxes: torch.Tensor = field(default_factory=lambda: _empty((0, 4), torch.long))
    iou_preds: torch.Tensor = field(default_factory=lambda: _empty((0,), torch.float32))
    stability_score: torch.Tensor = field(default_factory=lambda: _empty((0,), torch.float32))
    points: torch.Tensor = field(default_factory=lambda: _empty((0, 2), torch.float32))
    crop_boxes: torch.Tensor = field(default_factory=lambda: _empty((0, 4), torch.long))

    def __len__(self) -> int:
        return len(self.rles)

    def select(self, keep: torch.Tensor) -> "MaskCandidates":
        """Rows given by a bool mask or an index tensor, in that order."""
        keep = keep.cpu()
        index = keep.nonzero().flatten() if keep.dtype == torch.bool else keep.long()
        rows = index.tolist()
        return MaskCandidates(
            rles=[self.rles[r] for r in rows],
            boxes=self.boxes[index.to(self.boxes.device)],
            iou_preds=self.iou_preds[index.to(self.iou_preds.device)],
            stability_score=self.stability_score[index.to(self.stability_score.device)],
            points=self.points[index.to(self.points.device)],
            crop_boxes=self.crop_boxes[index.to(self.crop_boxes.device)],
        )

    def to(self, device: Union[str, torch.device]) -> "MaskCandidates":
        return MaskCandidates(
            rles=self.rles,
            boxes=self.boxes.to(device),
            iou_preds=self.iou_preds.to(device),
            stability_score=self.stability_score.to(device),
            points=self.points.to(device),
            crop_boxes=self.crop_boxes.to(device),
        )

    @staticmethod
    def concat(parts: Sequence["MaskCandidates"]) -> "MaskCandidates":
        """All rows of ``parts`` in order (on the CPU)."""
        parts = [p.to("cpu") for p in parts if len(p) > 0]
        if not parts:
            return MaskCandidates()
        return MaskCandidates(
            rles=[rle for p in parts for rle in p.rles],
            boxes=torch.cat([p.boxes for p in parts]),
            iou_preds=torch.cat([p.iou_preds for p in parts]),
            stability_score=torch.cat([p.stability_score for p in parts]),
            points=torch.cat([p.points for p in parts]),
            crop_boxes=torch.cat([p.crop_boxes for p in parts]),
        )


def _take_rows(value: Any, keep: torch.Tensor) -> Any:
    """Index a tensor, array or list with a bool mask or index tensor."""
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        return value[keep.to(value.device)]
    index = keep.cpu()
    if isinstance(value, np.ndarray):
        return value[index.numpy()]
    if isinstance(value, list):
        rows = index.nonzero().flatten() if index.dtype == torch.bool else index
        return [value[r] for r in rows.tolist()]
    raise TypeError(f"MaskData: cannot index a value of type {type(value).__name__}")


def _join(old: Any, new: Any) -> Any:
    if old is None:
        return new
    if isinstance(new, torch.Tensor):
        return torch.cat((old, new))
    if isinstance(new, np.ndarray):
        return np.concatenate((old, new))
    if isinstance(new, list):
        return list(old) + list(new)
    raise TypeError(f"MaskData: cannot concatenate a value of type {type(new).__name__}")


class MaskData(dict):
    """A string-keyed bag of per-mask columns (compatibility with the official helper module).

    Values are tensors, arrays or lists whose first dimension is the mask index. The generator
    itself uses the typed :class:`MaskCandidates`.
    """

    _ALLOWED = (list, np.ndarray, torch.Tensor)

    def __init__(self, **columns: Any) -> None:
        super().__init__()
        for key, value in columns.items():
            self[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(value, self._ALLOWED):
            raise TypeError(
                f"MaskData[{key!r}]: expected a list, numpy array or torch tensor, "
                f"got {type(value).__name__}"
            )
        super().__setitem__(key, value)

    def filter(self, keep: torch.Tensor) -> None:
        """Keep rows selected by ``keep`` (bool mask or indices) in every column, in place."""
        for key in list(self.keys()):
            dict.__setitem__(self, key, _take_rows(self[key], keep))

    def cat(self, new_stats: "MaskData") -> None:
        """Append the rows of ``new_stats`` to the matching columns, in place."""
        for key, value in new_stats.items():
            dict.__setitem__(self, key, _join(self.get(key), value))

    def to_numpy(self) -> None:
        """Turn every tensor column into a float numpy array, in place."""
        for key, value in list(self.items()):
            if isinstance(value, torch.Tensor):
                dict.__setitem__(self, key, value.detach().float().cpu().numpy())

