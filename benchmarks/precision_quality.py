#!/usr/bin/env python
"""Mask quality and speed of the opt-in inference precisions on the embedded demo model.

Runs the demo pipeline's inference (``sam2.inference.run_inference``, RCMS off) on a held-out
synthetic split (``sam2.demo.pipeline.make_heldout_split``) once per precision (``fp32``,
``bf16`` autocast, ``int8`` dynamic quantisation of the linear layers; see
``sam2.utils.inference_precision``), scores each with the project's MOSEv2 metrics, and
compares the video-resolution logits of the video with the largest prompt with the fp32
run (relative L2 over the frames where fp32 sees the object).

    python benchmarks/precision_quality.py [--videos 4] [--frames 16] [--precisions fp32 bf16 int8]
        [--threads 2] [--image-size 128|256] [--json out.json]

``--image-size`` picks the shipped model (default 128, the one the recorded numbers were taken
with; 256 is the demo model).

The precisions run one after the other, so their seconds depend on the machine's load at
the time (recorded); the speed ratios that count come from benchmarks/video_speed.py, which
interleaves them frame by frame.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Dict, Iterator, List

import torch

_PRECISION_ENV = "SAM2_BENCH_PRECISION"


class PrecisionPredictor:
    """A video predictor whose calls run under one inference precision (a thin proxy)."""

    def __init__(self, predictor, precision: str, device: torch.device) -> None:
        from sam2.utils.inference_precision import apply_inference_precision

        self._predictor = apply_inference_precision(predictor, precision)
        self._precision = precision
        self._device = device

    def _context(self):
        from sam2.utils.inference_precision import precision_context

        return precision_context(self._precision, self._device)

    def __getattr__(self, name):
        return getattr(self._predictor, name)

    def init_state(self, *args, **kwargs):
        with self._context():
            return self._predictor.init_state(*args, **kwargs)

    def add_new_mask(self, *args, **kwargs):
        with self._context():
            return self._predictor.add_new_mask(*args, **kwargs)

    def propagate_in_video(self, *args, **kwargs) -> Iterator:
        frames = self._predictor.propagate_in_video(*args, **kwargs)
        while True:
            with self._context():
                try:
                    item = next(frames)
                except StopIteration:
                    return
            yield item


def precision_factory(options, device: torch.device):
    """Module-level (picklable) predictor factory for ``run_inference``."""
    from sam2.inference.worker import build_predictor

    return PrecisionPredictor(build_predictor(options, device), os.environ[_PRECISION_ENV], device)


def _largest_prompt_video(data_dir: Path) -> str:
    """The video whose first annotation has the most object pixels (tiny prompts vanish at
    the model's input size and give constant 'absent' logits, which compare trivially)."""
    import numpy as np
    from PIL import Image

    def area(video: str) -> int:
        first = sorted((data_dir / "Annotations" / video).glob("*.png"))[0]
        return int((np.array(Image.open(first)) != 0).sum())

    return max(sorted(p.name for p in (data_dir / "JPEGImages").iterdir()), key=area)


def video_logits(data_dir: Path, video: str, checkpoint: Path, config: str, precision: str) -> List[torch.Tensor]:
    """Video-resolution logits ``[O, 1, H, W]`` of every frame of ``video`` (frame-0 masks)."""
    import numpy as np
    from PIL import Image

    from sam2.build_sam import build_sam2_video_predictor

    label = np.array(Image.open(sorted((data_dir / "Annotations" / video).glob("*.png"))[0]))
    device = torch.device("cpu")
    predictor = PrecisionPredictor(
        build_sam2_video_predictor(config, str(checkpoint), device=device,
                                   apply_postprocessing=False), precision, device)
    state = predictor.init_state(str(data_dir / "JPEGImages" / video))
    for obj_id in sorted(int(v) for v in np.unique(label) if v != 0):
        predictor.add_new_mask(state, 0, obj_id, label == obj_id)
    return [m.float().clone() for _, _, m in predictor.propagate_in_video(state)]


def relative_l2(logits: List[torch.Tensor], reference: List[torch.Tensor]) -> float:
    """Relative L2 over the (frame, object) maps where the reference predicts the object
    (constant 'absent' maps are left out: they would dominate the norm)."""
    diff, norm = 0.0, 0.0
    for a, r in zip(logits, reference):
        for obj in range(r.shape[0]):
            if r[obj].max() > -1000:
                diff += float((a[obj] - r[obj]).pow(2).sum())
                norm += float(r[obj].pow(2).sum())
    return (diff / norm) ** 0.5 if norm > 0 else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "int8"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--image-size", type=int, choices=(128, 256), default=128, help="which shipped model")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.precisions[0] != "fp32":
        args.precisions.insert(0, "fp32")

    from sam2.demo.assets import SHIPPED_MODELS, require_demo_checkpoint
    from sam2.demo.pipeline import DemoSettings, make_heldout_split, run_predictions, score_predictions
    from sam2.inference import app

    torch.set_num_threads(args.threads)
    checkpoint = require_demo_checkpoint(args.image_size)
    config = SHIPPED_MODELS[args.image_size].config
    report: Dict[str, dict] = {"load_at_start": os.getloadavg(), "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        base = DemoSettings(output_dir=Path(tmp), num_videos=args.videos, num_frames=args.frames,
                            num_workers=1, show_progress=False, pictures=False)
        data_dir = make_heldout_split(base)
        reference = None
        video = _largest_prompt_video(data_dir)
        for precision in args.precisions:
            settings = DemoSettings(output_dir=Path(tmp) / precision, num_videos=args.videos,
                                    num_frames=args.frames, num_workers=1, show_progress=False,
                                    pictures=False, config=config)
            os.environ[_PRECISION_ENV] = precision
            original = app.run_inference
            app.run_inference = lambda options, factory=None: original(options, precision_factory)
            try:
                started = time.perf_counter()
                with contextlib.redirect_stdout(None):
                    pred_dir = run_predictions(settings, data_dir, checkpoint, rcms_on=False)
                seconds = time.perf_counter() - started
            finally:
                app.run_inference = original
            metrics, _ = score_predictions(settings, data_dir, pred_dir, rcms_on=False)
            logits = video_logits(data_dir, video, checkpoint, config, precision)
            if reference is None:
                reference = logits
            rel = relative_l2(logits, reference)
            report["runs"][precision] = {"seconds": seconds, "load": os.getloadavg(),
                                         "J&F_new": metrics["J&F_new"], "J": metrics["J"],
                                         "F_new": metrics["F_new"], "logits_rel_l2": rel}
            print(f"{precision}: J&F_new {metrics['J&F_new']:.2f} (J {metrics['J']:.2f}, "
                  f"F_new {metrics['F_new']:.2f}), logits rel L2 vs fp32 {rel:.2e}, "
                  f"{seconds:.1f} s, load {os.getloadavg()}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
