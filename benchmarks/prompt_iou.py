#!/usr/bin/env python
"""How well a model answers one click and one box on held-out synthetic frames.

For each object of the first frame of held-out synthetic videos (a seed the shipped models were
not trained on), with at least ``--min-area`` pixels:

* click: one positive click at the object's most interior pixel (the maximum of the Euclidean
  distance transform of its mask);
* box: the object's bounding box ``(x_min, y_min, x_max, y_max)`` in pixels (inclusive).

Each prompt goes through ``SAM2ImagePredictor.predict`` (the click with ``multimask_output=True``
and the candidate of highest predicted IoU, as the official notebooks do; the box with one mask)
and through the video predictor's ``add_new_points_or_box`` on frame 0 (frames written as PNG, so
both predictors see the same pixels). Both are built as ``build_sam2`` builds them by default,
with SAM 2 post-processing on (hole filling, and the stability fallback that swaps an unstable
single mask for the best of the multimask candidates); ``--no-postprocessing`` turns it off, as
``tools/demo.py`` runs. The table gives the mean IoU of the predicted mask with the object's
mask, the share of objects above IoU 0.5, and the mean predicted IoU.

    python benchmarks/prompt_iou.py                        # the demo model (256 px)
    python benchmarks/prompt_iou.py --image-size 128       # the 128-px shipped model
    python benchmarks/prompt_iou.py --model facebook/sam2.1-hiera-tiny   # an official model
    python benchmarks/prompt_iou.py --videos 16 --seed 0 --json prompt_iou.json
    python benchmarks/prompt_iou.py --videos 16 --no-postprocessing   # as tools/demo.py runs
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from sam2.data import SyntheticConfig, generate_video
from sam2.demo.assets import DEMO_TRAINING_SEED, SHIPPED_MODELS, choose_model
from sam2.utils import cli


@dataclass
class PromptCase:
    """One object of one frame: its mask ``[H, W]`` bool, the click ``(x, y)`` and the box."""

    video: int
    obj_id: int
    mask: np.ndarray
    click: tuple
    box: tuple


@dataclass
class Scores:
    """IoUs (and predicted IoUs) of one predictor and one kind of prompt."""

    ious: List[float] = field(default_factory=list)
    predicted: List[float] = field(default_factory=list)

    def row(self) -> Dict[str, float]:
        ious = np.asarray(self.ious)
        return {"objects": len(ious), "mean_iou": float(ious.mean()) if len(ious) else float("nan"),
                "share_above_0.5": float((ious > 0.5).mean()) if len(ious) else float("nan"),
                "mean_predicted_iou": float(np.mean(self.predicted)) if self.predicted else float("nan")}


def interior_point(mask: np.ndarray) -> tuple:
    """``(x, y)`` of the pixel of ``mask`` farthest from its border (distance transform maximum)."""
    distance = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return int(x), int(y)


def bounding_box(mask: np.ndarray) -> tuple:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def make_cases(videos: int, seed: int, min_area: int, height: int, width: int) -> tuple:
    """``(frames [V] of [H, W, 3] uint8, cases)``: the first frame of each held-out video."""
    if seed == DEMO_TRAINING_SEED:
        raise cli.ToolError(f"--seed {seed}: the shipped models were trained on this seed; pick another",
                            cli.EXIT_USAGE)
    config = SyntheticConfig(num_videos=videos, num_frames=3, height=height, width=width, seed=seed)
    frames, cases = [], []
    for v in range(videos):
        video = generate_video(config, v)
        frames.append(video.frames[0])
        ids = video.annotations[0]
        for obj_id in sorted(int(i) for i in np.unique(ids) if i):
            mask = ids == obj_id
            if mask.sum() >= min_area:
                cases.append(PromptCase(v, obj_id, mask, interior_point(mask), bounding_box(mask)))
    return frames, cases


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def run_image_predictor(model, frames: Sequence[np.ndarray], cases: Sequence[PromptCase]) -> Dict[str, Scores]:
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    predictor = SAM2ImagePredictor(model)
    out = {"click": Scores(), "box": Scores()}
    current = None
    for case in cases:
        if current != case.video:
            predictor.set_image(frames[case.video])
            current = case.video
        masks, scores, _ = predictor.predict(point_coords=np.array([case.click], dtype=np.float32),
                                             point_labels=np.array([1]), multimask_output=True)
        best = int(np.argmax(scores))
        out["click"].ious.append(iou(masks[best] > 0, case.mask))
        out["click"].predicted.append(float(scores[best]))
        masks, scores, _ = predictor.predict(box=np.array(case.box, dtype=np.float32), multimask_output=False)
        out["box"].ious.append(iou(masks[0] > 0, case.mask))
        out["box"].predicted.append(float(scores[0]))
    return out


def run_video_predictor(predictor, frames: Sequence[np.ndarray], cases: Sequence[PromptCase]) -> Dict[str, Scores]:
    out = {"click": Scores(), "box": Scores()}
    with tempfile.TemporaryDirectory(prefix="prompt_iou_") as tmp:
        for v, frame in enumerate(frames):
            folder = Path(tmp) / f"{v:03d}"
            folder.mkdir()
            Image.fromarray(frame).save(folder / "00000.png")
        for kind in ("click", "box"):
            state, current = None, None
            for case in cases:
                if current != case.video:
                    state = predictor.init_state(str(Path(tmp) / f"{case.video:03d}"))
                    current = case.video
                if kind == "click":
                    prompt = {"points": np.array([case.click], dtype=np.float32), "labels": np.array([1])}
                else:
                    prompt = {"box": np.array(case.box, dtype=np.float32)}
                with torch.inference_mode():
                    _, obj_ids, masks = predictor.add_new_points_or_box(state, 0, case.obj_id, **prompt)
                row = list(obj_ids).index(case.obj_id)
                out[kind].ious.append(iou((masks[row, 0] > 0).cpu().numpy(), case.mask))
    return out


def format_table(results: Dict[str, Dict[str, Scores]]) -> str:
    lines = ["| predictor | prompt | objects | mean IoU | IoU > 0.5 | mean predicted IoU |",
             "|---|---|---|---|---|---|"]
    for predictor, by_kind in results.items():
        for kind, scores in by_kind.items():
            r = scores.row()
            predicted = "-" if np.isnan(r["mean_predicted_iou"]) else f"{r['mean_predicted_iou']:.2f}"
            lines.append(f"| {predictor} | {kind} | {r['objects']} | {r['mean_iou']:.3f} | "
                         f"{100 * r['share_above_0.5']:.0f} % | {predicted} |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image-size", type=int, choices=sorted(SHIPPED_MODELS), default=256,
                   help="which shipped model, by input size (default: 256, the demo model)")
    cli.add_model_flags(p, config_default="the --image-size model's config",
                        checkpoint_default="the shipped checkpoint of the config")
    cli.add_device_flag(p)
    p.add_argument("--videos", type=int, default=4, help="held-out videos; one frame each (default: 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of the held-out videos (default: 0; training used 1000)")
    p.add_argument("--height", type=int, default=180, help="frame height (default: 180, as in training)")
    p.add_argument("--width", type=int, default=240, help="frame width (default: 240, as in training)")
    p.add_argument("--min-area", type=int, default=64, help="smallest object measured, in pixels (default: 64)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    p.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    p.add_argument("--no-postprocessing", action="store_true",
                   help="build both predictors with apply_postprocessing=False (hole filling and the "
                        "stability fallback off, as tools/demo.py runs by default); default: on, as "
                        "build_sam2 builds them")
    args = p.parse_args(argv)
    if args.videos < 1:
        p.error(f"--videos {args.videos}: must be >= 1")
    torch.set_num_threads(max(1, args.threads))
    try:
        choice = choose_model(args.model, args.config, args.checkpoint, SHIPPED_MODELS[args.image_size].config)
    except ValueError as exc:
        raise cli.ToolError(str(exc), cli.EXIT_USAGE) from None
    device = cli.resolve_device(args.device)

    from sam2.build_sam import build_sam2, build_sam2_video_predictor

    start = time.perf_counter()
    frames, cases = make_cases(args.videos, args.seed, args.min_area, args.height, args.width)
    if not cases:
        raise cli.ToolError("no object large enough in these frames; lower --min-area or add --videos")
    post = not args.no_postprocessing
    results = {
        "SAM2ImagePredictor": run_image_predictor(
            build_sam2(choice.config, str(choice.checkpoint), device=device, apply_postprocessing=post), frames, cases),
        "add_new_points_or_box": run_video_predictor(
            build_sam2_video_predictor(choice.config, str(choice.checkpoint), device=device,
                                       apply_postprocessing=post), frames, cases),
    }
    seconds = time.perf_counter() - start
    print(f"model: {choice.model_id or choice.checkpoint} ({choice.config}); {len(cases)} objects on "
          f"{args.videos} held-out frames (seed {args.seed}, {args.height}x{args.width}); "
          f"post-processing {'on' if post else 'off'}; {seconds:.1f} s")
    print(format_table(results))
    if args.json is not None:
        payload = {"model": str(choice.model_id or choice.checkpoint), "config": choice.config,
                   "videos": args.videos, "seed": args.seed, "objects": len(cases), "postprocessing": post,
                   "seconds": round(seconds, 1),
                   "results": {p: {k: s.row() for k, s in by.items()} for p, by in results.items()}}
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_main(main))
