#!/usr/bin/env python
"""Per-frame latency of streaming (``stream.push``), and which part of the step dominates.

For each setting (model x image size x number of objects) a stream is opened on a synthetic
640x480 camera, the objects are prompted with masks on the first frame, ``--warmup`` frames
are pushed untimed, then ``--frames`` frames are pushed back to back and each ``push`` is
timed (wall clock, including the frame's resize / normalisation and the masks' upsampling to
the frame size). Reported: latency p50 / p95 / p99 (ms), sustained fps (frames / total push
time), the CPU time of a push (p50, and the fps it implies on an unshared core), and the share
of the push time spent in each part: forward hooks on the image encoder, memory attention,
prompt encoder, mask decoder and memory encoder; ``preprocess`` is the frame's resize +
normalisation, ``fill_holes`` the hole filling of the low-res masks, ``upsample`` the masks'
resizing to the frame size (with the one-object-per-pixel constraint when the model applies
it); ``other`` is the rest (memory selection and stacking, the policy hook, eviction, Python
bookkeeping).

    python benchmarks/stream_latency.py [--settings demo@128 t@512 t@1024] [--objects 1 3]
        [--frames 20] [--warmup 3] [--device cpu] [--threads N] [--json OUT.json]

``demo@S`` is the shipped model with an S-px input (``demo@256`` = ``demo``, the demo model
``sam2/checkpoints/sam2.1_hiera_demo_256.pt``; ``demo@128`` = ``sam2.1_hiera_demo.pt``); ``t@S`` is
SAM 2.1 Hiera-t at S px with seeded random weights (timing does not depend on the weights).
Nothing is asserted (benchmarks never fail on numbers).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

PARTS = ("image_encoder", "memory_attention", "sam_prompt_encoder", "sam_mask_decoder",
         "memory_encoder")


def build(setting: str, device: str):
    import torch

    from sam2.build_sam import build_sam2_video_predictor
    from sam2.demo.assets import DEMO_IMAGE_SIZE, SHIPPED_MODELS, require_demo_checkpoint

    size, _, pixels = setting.partition("@")
    if size == "demo":
        image_size = int(pixels) if pixels else DEMO_IMAGE_SIZE
        checkpoint = require_demo_checkpoint(image_size)  # names the sizes that ship
        return build_sam2_video_predictor(SHIPPED_MODELS[image_size].config, str(checkpoint), device=device)
    overrides = [f"++model.image_size={int(pixels)}"] if pixels else []
    torch.manual_seed(0)
    return build_sam2_video_predictor(f"configs/sam2.1/sam2.1_hiera_{size}.yaml", None,
                                      device=device, hydra_overrides_extra=overrides)


class PartTimer:
    """Wall time spent inside each part (forward pre/post hooks), and in pre-processing."""

    def __init__(self, predictor, stream, sync) -> None:
        self.totals: Dict[str, float] = defaultdict(float)
        self._open: Dict[str, float] = {}
        self._sync = sync
        self.handles = []
        for name in PARTS:
            module = getattr(predictor, name)
            self.handles.append(module.register_forward_pre_hook(self._enter(name)))
            self.handles.append(module.register_forward_hook(self._leave(name)))
        # plain functions / methods: the frame's pre-processing, the upsampling of the masks
        # to the frame size, the hole filling of the low-res masks
        slot = stream.state.frames
        slot.set = self._timed("preprocess", slot.set)
        predictor.tracker.to_video_res = self._timed("upsample", predictor.tracker.to_video_res)
        self._patched = []
        for module_name in ("sam2.sam2_video_predictor", "sam2.video.tracking.tracker"):
            module = sys.modules.get(module_name)
            fill = getattr(module, "fill_holes_in_mask_scores", None)
            if fill is not None:
                self._patched.append((module, fill))
                module.fill_holes_in_mask_scores = self._timed("fill_holes", fill)
        self._predictor = predictor

    def _timed(self, name, fn):
        def wrapper(*a, **k):
            start = time.perf_counter()
            result = fn(*a, **k)
            self._sync()
            self.totals[name] += time.perf_counter() - start
            return result
        return wrapper

    def _enter(self, name):
        def hook(module, inputs):
            self._sync()
            self._open[name] = time.perf_counter()
        return hook

    def _leave(self, name):
        def hook(module, inputs, output):
            self._sync()
            self.totals[name] += time.perf_counter() - self._open.pop(name)
        return hook

    def reset(self) -> None:
        self.totals.clear()

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        for module, fill in self._patched:
            module.fill_holes_in_mask_scores = fill
        del self._predictor.tracker.to_video_res


def run_setting(setting: str, objects: int, args) -> dict:
    import numpy as np
    import torch

    from stream_memory import synthetic_frames
    from sam2.video.tracking.stream import open_stream

    predictor = build(setting, args.device)
    cuda = args.device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    frames, side = synthetic_frames(32, 640, 480, seed=1)
    stream = open_stream(predictor, frames[0])
    y0 = (480 - side) // 2
    for obj in range(objects):
        mask = np.zeros((480, 640), bool)
        if obj == 0:
            mask[y0:y0 + side, :side] = True
        else:  # two background patches
            mask[10:90, 100 * obj:100 * obj + 80] = True
        stream.add_mask(obj + 1, mask)
    timer = PartTimer(predictor, stream, sync)
    for t in range(1, args.warmup + 1):
        stream.push(frames[t % len(frames)])
    sync()
    timer.reset()
    latencies: List[float] = []
    cpu_times: List[float] = []
    for t in range(args.warmup + 1, args.warmup + args.frames + 1):
        start, cpu_start = time.perf_counter(), time.process_time()
        stream.push(frames[t % len(frames)])
        sync()
        latencies.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    timer.remove()
    stream.close()
    total = sum(latencies)
    ms = np.array(latencies) * 1000.0
    shares = {name: timer.totals.get(name, 0.0) / total
              for name in ("preprocess", *PARTS, "fill_holes", "upsample")}
    shares["other"] = max(0.0, 1.0 - sum(shares.values()))
    return {
        "setting": setting, "image_size": predictor.image_size, "objects": objects,
        "frames": len(latencies),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "fps": round(len(latencies) / total, 2),
        # CPU time of this process per push: what the push costs on a core of its own (on a
        # shared, loaded machine the wall-clock latency also holds the time spent waiting)
        "cpu_ms_p50": round(float(np.percentile(np.array(cpu_times) * 1000.0, 50)), 1),
        "fps_from_cpu_time": round(len(cpu_times) / sum(cpu_times), 2),
        "shares": {k: round(v, 3) for k, v in shares.items()},
        "dominant": max(shares, key=shares.get),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--settings", nargs="+", default=["demo@128", "t@512", "t@1024"])
    ap.add_argument("--objects", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    machine = {
        "device": args.device, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "load_avg_1min_before": round(os.getloadavg()[0], 2),
        "gpu": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None,
        "torch": torch.__version__,
    }
    print(json.dumps(machine), flush=True)
    print(f"{'setting':<10} {'px':>5} {'obj':>3} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'fps':>7} {'cpu ms':>8}  dominant part (share of push time)", flush=True)
    rows = []
    for setting in args.settings:
        for objects in args.objects:
            row = run_setting(setting, objects, args)
            rows.append(row)
            top = sorted(row["shares"].items(), key=lambda kv: -kv[1])[:3]
            parts = ", ".join(f"{k} {v:.0%}" for k, v in top)
            print(f"{setting:<10} {row['image_size']:>5} {objects:>3} {row['p50_ms']:>8.1f} "
                  f"{row['p95_ms']:>8.1f} {row['p99_ms']:>8.1f} {row['fps']:>7.2f} "
                  f"{row['cpu_ms_p50']:>8.1f}  {parts}",
                  flush=True)
    machine["load_avg_1min_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps({"load_avg_1min_after": machine["load_avg_1min_after"]}))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
