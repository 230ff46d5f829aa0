#!/usr/bin/env python
"""Peak memory of SAM2VideoPredictor versus video length.

Tracks one object (mask prompt on frame 0) through synthetic videos of N frames at the same
resolution and reports the peak resident memory of each run (and the peak CUDA memory when
running on a GPU). Each N runs in its own child process so the peaks do not mix. The goal:
peak(N=1000) / peak(N=100) <= 1.1.

    python benchmarks/video_memory.py [--frames 100 1000] [--config configs/sam2.1/sam2.1_hiera_instant.yaml]
        [--checkpoint PT] [--device cpu] [--size 64x48] [--no-evict]

Without --checkpoint the model is randomly initialised (seed 0): memory does not depend on
the weights. Prints one line per N and the ratio; nothing is asserted (benchmarks never fail
on numbers).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "parity" / "oracle_scripts"))


def _child(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from sam2.build_sam import build_sam2_video_predictor

    torch.manual_seed(0)
    device = torch.device(args.device)
    predictor = build_sam2_video_predictor(args.config, args.checkpoint, device=device)
    state = predictor.init_state(args.video, memory_eviction=args.memory_eviction)
    first = np.load(os.path.join(os.path.dirname(args.video), "masks.npz"))["obj1"][0]
    predictor.add_new_mask(state, 0, 1, first)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    count = 0
    for _ in predictor.propagate_in_video(state):
        count += 1
    elapsed = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {
        "frames": count,
        "peak_rss_mb": peak_kb / 1024.0,
        "seconds": elapsed,
        "stored_frames": len(state.tracks[1].bank.non_cond) + len(state.tracks[1].bank.cond),
        "offloaded_frames": len(state.tracks[1].bank.offloaded),
        "host_bytes_per_offloaded_frame": _entry_bytes(state.tracks[1].bank, sorted(state.tracks[1].bank.offloaded)[:1]),
        "cuda_peak_mb": (torch.cuda.max_memory_allocated() / 2**20) if device.type == "cuda" else None,
    }
    print("RESULT " + json.dumps(result), flush=True)


def _entry_bytes(bank, frames) -> int:
    """Bytes of the tensors of one stored entry (the shared positional encoding not counted)."""
    import torch

    total = 0
    for t in frames:
        out = bank.get(t)
        for x in (out.pred_masks, out.obj_ptr, out.object_score_logits, out.maskmem_features, out.ious, out.quality):
            if isinstance(x, torch.Tensor):
                total += x.numel() * x.element_size()
    return total


def _make_video(root: Path, frames: int, width: int, height: int) -> Path:
    from video_clip import make_clip

    make_clip(str(root), frames=frames, width=width, height=height, seed=0)
    return root / "JPEGImages"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--config", default="configs/sam2.1/sam2.1_hiera_instant.yaml")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--device", default="cuda" if _has_cuda() else "cpu")
    ap.add_argument("--size", default="64x48", help="video WIDTHxHEIGHT")
    ap.add_argument("--memory-eviction", choices=("offload", "drop", "off"), default="offload",
                    help="what happens to memory behind the read window (default: offload to the host; "
                         "off = the official behaviour)")
    ap.add_argument("--child-video", dest="video", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.video is not None:
        _child(args)
        return
    width, height = (int(v) for v in args.size.lower().split("x"))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.frames:
            video = _make_video(Path(tmp) / f"v{n}", n, width, height)
            cmd = [sys.executable, __file__, "--child-video", str(video), "--config", args.config,
                   "--device", args.device]
            if args.checkpoint:
                cmd += ["--checkpoint", args.checkpoint]
            cmd += ["--memory-eviction", args.memory_eviction]
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(ROOT))
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode != 0 or not line:
                sys.exit(f"run with {n} frames failed:\n{proc.stderr[-3000:]}")
            results[n] = json.loads(line[0][len("RESULT "):])
            r = results[n]
            print(f"N={n:5d}: peak RSS {r['peak_rss_mb']:.1f} MB, stored frames {r['stored_frames']} "
                  f"({r['offloaded_frames']} on the host, {r['host_bytes_per_offloaded_frame']} B each), "
                  f"{r['frames'] / r['seconds']:.1f} fps"
                  + (f", peak CUDA {r['cuda_peak_mb']:.1f} MB" if r["cuda_peak_mb"] else ""), flush=True)
    if len(args.frames) >= 2:
        lo, hi = min(args.frames), max(args.frames)
        ratio = results[hi]["peak_rss_mb"] / results[lo]["peak_rss_mb"]
        print(f"peak RSS ratio N={hi} / N={lo}: {ratio:.3f} (goal <= 1.1)")
        if results[lo]["cuda_peak_mb"]:
            print(f"peak CUDA ratio: {results[hi]['cuda_peak_mb'] / results[lo]['cuda_peak_mb']:.3f}")


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


if __name__ == "__main__":
    main()
