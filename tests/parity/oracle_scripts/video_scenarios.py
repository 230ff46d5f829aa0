"""Video-predictor parity scenarios, shared by the golden script (official package, oracle
python) and the parity test (our package). Imports only numpy and torch.

A scenario is a list of operations applied through the public predictor API that both
packages share (``init_state``, ``add_new_mask``, ``add_new_points_or_box``,
``propagate_in_video``). :func:`run_scenario` applies them and records, after every prompt
and every yielded frame, compact views of what the predictor holds for each object on that
frame (low-res logits, object score, object pointer) and of the returned video-res logits.
The caller supplies ``read_entry(state, obj_id, frame_idx) -> (pred_masks, score, obj_ptr)``
(or ``None`` when the object has no output on that frame)
because the two packages keep their state differently.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
import torch

#: video-res and low-res logits are stored strided (plus the L2 norm of the full map)
VIDEO_STRIDE = 8
LOWRES_POINTS = 32  # low-res maps are subsampled to LOWRES_POINTS x LOWRES_POINTS

# name -> settings and operations. Prompts are derived from the clip's ground truth.
SCENARIOS: Dict[str, dict] = {
    # mask prompt on frame 0 (obj 1); obj 2 (absent on frames 1-2) prompted only on the
    # last frame with a box and a click
    "t_two_objects_late_box": {
        "size": "t", "image_size": 256, "frames": 4, "overrides": [],
        "ops": [("mask", 0, 1), ("box_click", 3, 2), ("propagate", None, None, False)],
    },
    # a click on the last frame, tracked backwards
    "t_reverse_click": {
        "size": "t", "image_size": 256, "frames": 4, "overrides": [],
        "ops": [("click", 3, 1), ("propagate", 3, None, True)],
    },
    # propagate, correct a middle frame with two clicks, propagate again
    "t_correction": {
        "size": "t", "image_size": 256, "frames": 4,
        "overrides": ["++model.add_all_frames_to_correct_as_cond=true"],
        "ops": [("mask", 0, 1), ("propagate", None, None, False), ("click", 2, 1),
                ("negative_click", 2, 1), ("propagate", None, None, False)],
    },
    # the stock configuration at full resolution
    "t_full_res_mask": {
        "size": "t", "image_size": 1024, "frames": 2, "overrides": [],
        "ops": [("mask", 0, 1), ("propagate", None, None, False)],
    },
    # Corrections after the memory has left the read window. With 4 pointers the window
    # reaches 7 frames (6 recent memories + margin); the 22-frame clip is 3x longer. The
    # stock setting add_all_frames_to_correct_as_cond=false applies.
    # (1) full forward propagation, refinement clicks on a late frame, propagate again
    "t_late_correction": {
        "size": "t", "image_size": 128, "frames": 22, "overrides": ["++model.max_obj_ptrs_in_encoder=4"],
        "ops": [("mask", 0, 1), ("propagate", None, None, False), ("click", 18, 1),
                ("negative_click", 18, 1), ("propagate", None, None, False)],
    },
    # (2) the same in reverse: prompt on the last frame, backwards, correct an early frame
    "t_late_correction_reverse": {
        "size": "t", "image_size": 128, "frames": 22, "overrides": ["++model.max_obj_ptrs_in_encoder=4"],
        "ops": [("click", 21, 1), ("propagate", 21, None, True), ("click", 3, 1),
                ("negative_click", 3, 1), ("propagate", 21, None, True)],
    },
    # (3) a correction followed by propagations limited by max_frame_num_to_track
    "t_correction_limited": {
        "size": "t", "image_size": 128, "frames": 22, "overrides": ["++model.max_obj_ptrs_in_encoder=4"],
        "ops": [("mask", 0, 1), ("propagate", None, None, False), ("click", 15, 1),
                ("propagate", 15, 3, False), ("propagate", 15, 3, True)],
    },
    # base+: mask and box prompts, two objects
    "bplus_mask_and_box": {
        "size": "b+", "image_size": 256, "frames": 3, "overrides": [],
        "ops": [("mask", 0, 1), ("box", 0, 2), ("propagate", None, None, False)],
    },
}


def config_name(size: str) -> str:
    return f"configs/sam2.1/sam2.1_hiera_{size}.yaml"


def hydra_overrides(spec: dict) -> List[str]:
    out = list(spec["overrides"])
    if spec["image_size"] != 1024:
        out.append(f"++model.image_size={spec['image_size']}")
    return out


def _centroid(mask: np.ndarray) -> List[float]:
    ys, xs = np.nonzero(mask)
    return [float(xs.mean()), float(ys.mean())]


def _box(mask: np.ndarray) -> List[float]:
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())]


def _lowres_view(x: torch.Tensor) -> np.ndarray:
    x = x.detach().float().cpu().reshape(x.shape[-2], x.shape[-1])
    step = max(x.shape[-1] // LOWRES_POINTS, 1)
    return x[::step, ::step].numpy().copy()


def run_scenario(
    predictor,
    video_dir: str,
    masks: Dict[str, np.ndarray],
    spec: dict,
    read_entry: Callable[[object, int, int], Tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
) -> List[Dict[str, np.ndarray]]:
    """Apply ``spec["ops"]`` and return one record per prompt / yielded frame.

    Each record: ``kind`` (0 prompt, 1 yielded frame), ``frame``, ``obj_ids`` ``[O]``,
    ``video`` ``[O, H/8, W/8]`` returned logits (strided), and per object ``lowres``
    ``[O, 32, 32]``, ``lowres_norm`` ``[O]`` (L2 norm of the full low-res map), ``score``
    ``[O]``, ``ptr`` ``[O, C]``.
    """
    state = predictor.init_state(video_dir)
    records: List[Dict[str, np.ndarray]] = []

    def record(kind: int, frame: int, obj_ids: Sequence[int], video_res: torch.Tensor) -> None:
        rec = {
            "kind": np.array(kind, np.int32),
            "frame": np.array(frame, np.int32),
            "obj_ids": np.array(list(obj_ids), np.int32),
            "video": video_res.detach().float().cpu()[:, 0, ::VIDEO_STRIDE, ::VIDEO_STRIDE].numpy().copy(),
        }
        low, norms, scores, ptrs, has = [], [], [], [], []
        for obj_id in obj_ids:
            entry = read_entry(state, obj_id, frame)
            has.append(entry is not None)
            if entry is None:  # this object has no output on this frame yet
                low.append(np.zeros((LOWRES_POINTS, LOWRES_POINTS), np.float32))
                norms.append(0.0)
                scores.append(0.0)
                ptrs.append(np.zeros_like(ptrs[0]) if ptrs else np.zeros(1, np.float32))
                continue
            pred, score, ptr = entry
            low.append(_lowres_view(pred))
            norms.append(float(pred.detach().float().norm()))
            scores.append(float(score.detach().float().reshape(-1)[0]))
            ptrs.append(ptr.detach().float().cpu().reshape(-1).numpy().copy())
        width = max(p.shape[0] for p in ptrs)
        ptrs = [p if p.shape[0] == width else np.zeros(width, np.float32) for p in ptrs]
        rec.update(has_entry=np.array(has, bool), lowres=np.stack(low), lowres_norm=np.array(norms, np.float64),
                   score=np.array(scores, np.float64), ptr=np.stack(ptrs))
        records.append(rec)

    for op in spec["ops"]:
        kind = op[0]
        if kind == "propagate":
            _, start, max_frames, reverse = op
            for frame, obj_ids, video_res in predictor.propagate_in_video(
                    state, start_frame_idx=start, max_frame_num_to_track=max_frames,
                    reverse=reverse):
                record(1, frame, obj_ids, video_res)
            continue
        _, frame, obj_id = op
        gt = masks[f"obj{obj_id}"][frame]
        if kind == "mask":
            result = predictor.add_new_mask(state, frame, obj_id, gt)
        elif kind == "click":
            result = predictor.add_new_points_or_box(
                state, frame, obj_id, points=[_centroid(gt)], labels=[1])
        elif kind == "negative_click":
            result = predictor.add_new_points_or_box(
                state, frame, obj_id, points=[[3.0, 3.0]], labels=[0], clear_old_points=False)
        elif kind == "box":
            result = predictor.add_new_points_or_box(state, frame, obj_id, box=_box(gt))
        elif kind == "box_click":
            result = predictor.add_new_points_or_box(
                state, frame, obj_id, points=[_centroid(gt)], labels=[1], box=_box(gt))
        else:
            raise ValueError(f"unknown scenario operation {kind!r}")
        f, obj_ids, video_res = result
        record(0, f, obj_ids, video_res)
    return records


def pack(records: List[Dict[str, np.ndarray]]) -> Dict[str, np.ndarray]:
    """Flatten records into npz arrays ``r{i}_{field}``."""
    out = {"num_records": np.array(len(records), np.int32)}
    for i, rec in enumerate(records):
        for key, value in rec.items():
            out[f"r{i}_{key}"] = value
    return out


def unpack(npz) -> List[Dict[str, np.ndarray]]:
    n = int(npz["num_records"])
    fields = ("kind", "frame", "obj_ids", "has_entry", "video", "lowres", "lowres_norm", "score", "ptr")
    return [{k: npz[f"r{i}_{k}"] for k in fields} for i in range(n)]
