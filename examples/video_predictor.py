#!/usr/bin/env python
"""SAM2VideoPredictor with the shipped demo model and RCMS on: track two objects through a video.

    python examples/video_predictor.py [--seed 3] [--num-frames 32]
    python examples/video_predictor.py --model facebook/sam2.1-hiera-tiny   # an official model (hub extra)

The largest object of frame 0 is prompted with one click, the second largest with its frame-0
mask. Writes ``video_predictor.png`` (a strip: ground truth above, tracking below) and prints, per object,
the mean IoU with the ground truth and what RCMS promoted.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_common_flags, chosen_model, output_dir, inner_point, save_row, synthetic_clip  # noqa: E402

from sam2.utils import cli  # noqa: E402
from sam2.build_sam import build_sam2_video_predictor  # noqa: E402
from sam2.data.palette import overlay_ids  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--num-frames", type=int, default=32)
    p.add_argument("--strip-frames", type=int, default=6)
    add_common_flags(p)
    cli.add_progress_flag(p)
    args = p.parse_args(argv)

    config, checkpoint, device = chosen_model(args)
    predictor = build_sam2_video_predictor(config, checkpoint, device=device, num_prev_frames_to_promote=4)
    frames, annotations = synthetic_clip(args.seed, num_frames=args.num_frames)
    # the two largest objects of frame 0: the small demo model cannot see objects of a few pixels
    ids, areas = np.unique(annotations[0], return_counts=True)
    present = [int(v) for v, _ in sorted(zip(ids, areas), key=lambda p: -p[1]) if v]
    if not present:
        raise SystemExit("no object on frame 0 of this video; try another --seed")

    predicted = np.zeros_like(annotations)
    with tempfile.TemporaryDirectory() as folder, torch.inference_mode():
        for t, frame in enumerate(frames):  # the predictor reads a folder of JPEG frames
            Image.fromarray(frame).save(Path(folder) / f"{t:05d}.jpg", quality=95)
        state = predictor.init_state(video_path=folder)
        first = present[0]
        predictor.add_new_points_or_box(state, frame_idx=0, obj_id=first,
                                        points=np.array([inner_point(annotations[0] == first)]), labels=np.array([1]))
        for obj_id in present[1:2]:
            predictor.add_new_mask(state, frame_idx=0, obj_id=obj_id, mask=annotations[0] == obj_id)
        for t, obj_ids, logits in predictor.propagate_in_video(state, progress=not args.no_progress):
            scores = logits[:, 0].float().cpu().numpy()
            winner = scores.argmax(axis=0)
            ids = np.asarray(obj_ids)[winner]
            predicted[t] = np.where(scores.max(axis=0) > 0, ids, 0)
        records = state.policy_records()
        tracked = list(state.obj_ids)

    for obj_id in tracked:
        gt, pr = annotations == obj_id, predicted == obj_id
        inter = np.logical_and(gt, pr).sum(axis=(1, 2))
        union = np.logical_or(gt, pr).sum(axis=(1, 2))
        ious = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
        events = records.get(obj_id, [])
        rcms = "; ".join(f"lost at frame {e['trigger_frame']}, promoted {e['promoted_frames']}" for e in events) or "no promotion"
        print(f"object {obj_id}: mean IoU {ious.mean():.3f} over {len(frames)} frames; RCMS: {rcms}")

    picks = np.linspace(0, len(frames) - 1, num=min(args.strip_frames, len(frames))).round().astype(int)
    keep = np.isin(annotations, tracked)
    gt_row = np.concatenate([overlay_ids(frames[t], np.where(keep[t], annotations[t], 0).astype(np.int64)) for t in picks], axis=1)
    pred_row = np.concatenate([overlay_ids(frames[t], predicted[t].astype(np.int64)) for t in picks], axis=1)
    path = save_row([np.concatenate([gt_row, pred_row], axis=0)],
                    [f"frames {', '.join(str(t) for t in picks)}: ground truth (top), tracking (bottom)"],
                    output_dir(args) / "video_predictor.png")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_main(main))
