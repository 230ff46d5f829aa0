#!/usr/bin/env python
"""Peak memory of ``tools/demo.py --video`` versus video length, beside the library's own.

For each N, a folder of N JPEG frames (``--size``, default 640x480, a moving disc on a textured
background) is tracked twice, each run in its own child process so the peaks do not mix:

* ``demo``: the whole command, ``tools/demo.py --video DIR --points X,Y --output-dir OUT``
  (mask PNGs and the overlay GIF written as it goes);
* ``library``: the same model and video through ``SAM2VideoPredictor.propagate_in_video`` alone.

Prints the peak resident memory of every run, the growth per 100 frames, and the ratio
peak(N_max) / peak(N_min) of both (the goal: the demo as flat as the library, ratio <= 1.1).
Nothing is asserted (benchmarks never fail on numbers).

    python benchmarks/demo_memory.py [--frames 50 200] [--size 640x480] [--overlay gif|mp4]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _make_frames(folder: Path, frames: int, width: int, height: int) -> tuple[int, int]:
    """Write ``frames`` JPEGs; returns the (x, y) of the object on frame 0."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    background = rng.integers(40, 200, size=(height, width, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:height, 0:width]
    folder.mkdir(parents=True)
    radius = max(8, min(width, height) // 8)
    for t in range(frames):
        cx = radius + (t * 3) % max(1, width - 2 * radius)
        cy = height // 2
        frame = background.copy()
        frame[(xx - cx) ** 2 + (yy - cy) ** 2 <= radius ** 2] = (230, 40, 40)
        Image.fromarray(frame).save(folder / f"{t:05d}.jpg", quality=90)
    return radius, height // 2


def _child(mode: str, video: str, out: str, point: str, overlay: str) -> None:
    if mode == "demo":
        sys.path.insert(0, str(ROOT / "tools"))
        import demo

        code = demo.main(["--video", video, "--points", point, "--output-dir", out, "--overlay", overlay,
                          "--no-progress"])
        if code != 0:
            sys.exit(code)
    else:
        import numpy as np
        import torch

        from sam2.build_sam import build_sam2_video_predictor
        from sam2.demo import DEMO_CONFIG
        from sam2.demo.assets import resolve_checkpoint

        predictor = build_sam2_video_predictor(DEMO_CONFIG, str(resolve_checkpoint(None, DEMO_CONFIG)), device="cpu")
        x, y = (float(v) for v in point.split(","))
        state = predictor.init_state(video)
        with torch.inference_mode():
            predictor.add_new_points_or_box(state, 0, 1, points=np.array([[x, y]], np.float32),
                                            labels=np.array([1], np.int32))
            for _ in predictor.propagate_in_video(state):
                pass
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("RESULT " + json.dumps({"peak_rss_mb": peak_mb}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, nargs="+", default=[50, 200])
    ap.add_argument("--size", default="640x480", help="video WIDTHxHEIGHT")
    ap.add_argument("--overlay", choices=("gif", "mp4"), default="gif")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--child", nargs=5, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        _child(*args.child)
        return
    width, height = (int(v) for v in args.size.lower().split("x"))
    results: dict[str, dict[int, float]] = {"demo": {}, "library": {}}
    with tempfile.TemporaryDirectory(prefix="demo_memory_") as tmp:
        for n in args.frames:
            video = Path(tmp) / f"v{n}"
            x, y = _make_frames(video, n, width, height)
            for mode in ("library", "demo"):
                cmd = [sys.executable, __file__, "--child", mode, str(video), str(Path(tmp) / f"out_{mode}_{n}"),
                       f"{x},{y}", args.overlay]
                proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(ROOT))
                line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
                if proc.returncode != 0 or not line:
                    sys.exit(f"{mode} run with {n} frames failed:\n{proc.stderr[-3000:]}")
                results[mode][n] = json.loads(line[0][len("RESULT "):])["peak_rss_mb"]
                print(f"N={n:5d} {mode:7s}: peak RSS {results[mode][n]:.1f} MB", flush=True)
    lo, hi = min(args.frames), max(args.frames)
    summary = {"size": args.size, "overlay": args.overlay, "peaks_mb": results}
    if hi > lo:
        for mode in ("library", "demo"):
            growth = (results[mode][hi] - results[mode][lo]) / (hi - lo) * 100
            ratio = results[mode][hi] / results[mode][lo]
            summary[f"{mode}_mb_per_100_frames"] = growth
            summary[f"{mode}_ratio"] = ratio
            print(f"{mode:7s}: +{growth:.1f} MB per 100 frames, peak ratio N={hi} / N={lo}: {ratio:.3f} (goal <= 1.1)")
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
