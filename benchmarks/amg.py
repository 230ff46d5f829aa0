#!/usr/bin/env python
"""Benchmark SAM2AutomaticMaskGenerator against the official generator.

Prints seconds per image of ours and of the official generator (same seeded weights, same
image, same settings) and their ratio, then the peak memory of both for a list of
``points_per_side`` values. Every measurement runs in a fresh process (ours: this script with
``--child``; official: tests/parity/oracle_scripts/amg_golden.py --bench under the oracle python,
from a temporary folder without PYTHONPATH), so peaks do not leak between runs.

Examples::

    python benchmarks/amg.py                                   # tiny on CPU
    python benchmarks/amg.py --size b+ --device cuda --image-hw 1024 1024 --speed-points 32
    python benchmarks/amg.py --size l --device cuda --image-hw 1024 1024 --speed-points 32

Weights: the seeded tiny/base+/... weights of the AMG parity test (tests/parity), which give
predicted IoUs near 0.5. Thresholds (``--thresholds``): ``calibrated`` (default; predicted IoU
> 0.505 and stability >= 0.005, so that some candidates survive and go through boxes, NMS and
RLE encoding, as with a trained model), ``official`` (nothing survives with random weights) or
``keep-all`` (every candidate is encoded; memory then grows with the number of points for both
implementations). Peak memory is the resident
high-water mark during ``generate`` (reset just before it on Linux), plus the CUDA peak on GPU.
Goal: speed ratio >= 1.0 and peak memory growing less than linearly with the number
of points.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]
PARITY = REPO / "tests" / "parity"
ORACLE_SCRIPT = PARITY / "oracle_scripts" / "amg_golden.py"
DEFAULT_ORACLE_PY = Path.home() / ".cache" / "sam2-oracle" / "venv" / "bin" / "python"

log = logging.getLogger("benchmarks.amg")


THRESHOLDS = {
    # inside the score range of the seeded random weights: a fraction of candidates survives
    "calibrated": dict(pred_iou_thresh=0.505, stability_score_thresh=0.005),
    "official": {},
    # every candidate is kept until NMS (memory then grows with the number of points)
    "keep-all": dict(pred_iou_thresh=0.0, stability_score_thresh=0.0),
}


def _generator_kwargs(points_per_side: int, thresholds: str) -> Dict[str, Any]:
    kwargs: Dict[str, Any] = {"points_per_side": points_per_side, "output_mode": "uncompressed_rle"}
    kwargs.update(THRESHOLDS[thresholds])
    return kwargs


def _common_args(args: argparse.Namespace, points_per_side: int, repeat: int) -> List[str]:
    return [
        "--size", args.size, "--seed", str(args.seed), "--threads", str(args.threads),
        "--device", args.device, "--image-hw", *map(str, args.image_hw),
        "--generator-kwargs", json.dumps(_generator_kwargs(points_per_side, args.thresholds)),
        "--warmup", str(args.warmup), "--repeat", str(repeat),
    ]


def _parse_result(stdout: str, who: str) -> Dict[str, Any]:
    for line in stdout.splitlines():
        if line.startswith("AMG_BENCH "):
            return json.loads(line[len("AMG_BENCH "):])
    raise RuntimeError(f"{who}: no AMG_BENCH line in its output:\n{stdout[-2000:]}")


def run_ours(args: argparse.Namespace, points_per_side: int, repeat: int) -> Dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child",
           *_common_args(args, points_per_side, repeat)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"our generator failed:\n{done.stderr[-3000:]}")
    return _parse_result(done.stdout, "ours")


def run_official(args: argparse.Namespace, points_per_side: int, repeat: int) -> Dict[str, Any]:
    oracle_py = os.environ.get("SAM2_ORACLE_PY", str(DEFAULT_ORACLE_PY))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cmd = [oracle_py, str(ORACLE_SCRIPT), "--bench", *_common_args(args, points_per_side, repeat)]
    with tempfile.TemporaryDirectory() as cwd:  # no sam2/ subfolder here
        done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"official generator failed:\n{done.stderr[-3000:]}")
    return _parse_result(done.stdout, "official")


def child(args: argparse.Namespace) -> None:
    """Time our generator in this process; print one AMG_BENCH JSON line."""
    sys.path.insert(0, str(PARITY))
    sys.path.insert(0, str(PARITY / "oracle_scripts"))
    import torch

    import amg_golden  # pure helpers only (image, peak-memory probes)
    import seeded_ckpt
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator
    from sam2.build_sam import build_sam2

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = os.path.join(tmp, "seeded.pt")
        torch.save({"model": amg_golden.golden_state_dict(args.size, args.seed)}, ckpt)
        config = seeded_ckpt.CONFIG_PATTERN.format(size=args.size)
        model = build_sam2(config, ckpt, device=device, mode="eval")
    image = amg_golden.synthetic_image(*args.image_hw)
    generator = SAM2AutomaticMaskGenerator(model, **json.loads(args.generator_kwargs))
    result = amg_golden.time_generator(generator, image, device, args.warmup, args.repeat)
    sys.stdout.write("AMG_BENCH " + json.dumps(result) + "\n")


def _best(result: Dict[str, Any]) -> float:
    return min(result["seconds"])


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="t", choices=("t", "s", "b+", "l"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (0: torch default)")
    ap.add_argument("--image-hw", type=int, nargs=2, default=[240, 320])
    ap.add_argument("--speed-points", type=int, default=16, help="points_per_side of the timing")
    ap.add_argument("--memory-points", type=int, nargs="*", default=[32, 64],
                    help="points_per_side values whose peak memory is reported")
    ap.add_argument("--repeat", type=int, default=2, help="timed runs (the best one counts)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--thresholds", choices=sorted(THRESHOLDS), default="calibrated")
    ap.add_argument("--no-official", action="store_true", help="only measure ours")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--generator-kwargs", default="{}", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.child:
        child(args)
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with_official = not args.no_official
    if with_official and not Path(os.environ.get("SAM2_ORACLE_PY", DEFAULT_ORACLE_PY)).exists():
        log.info("oracle python not found (set SAM2_ORACLE_PY); measuring ours only")
        with_official = False

    print(f"SAM2AutomaticMaskGenerator, size {args.size}, device {args.device}, image "
          f"{args.image_hw[0]}x{args.image_hw[1]}, threads {args.threads}, "
          f"{args.thresholds} thresholds")
    ours = run_ours(args, args.speed_points, args.repeat)
    line = f"speed (points_per_side {args.speed_points}): ours {_best(ours):.2f} s/image"
    if with_official:
        official = run_official(args, args.speed_points, args.repeat)
        ratio = _best(official) / _best(ours)
        cpu_ratio = min(official["cpu_seconds"]) / min(ours["cpu_seconds"])
        line += (f", official {_best(official):.2f} s/image, speed ratio official/ours "
                 f"{ratio:.2f}x (CPU time: ours {min(ours['cpu_seconds']):.2f} s, official "
                 f"{min(official['cpu_seconds']):.2f} s, ratio {cpu_ratio:.2f}x; masks: ours "
                 f"{ours['masks']}, official {official['masks']})")
    print(line)

    for pps in args.memory_points:
        mem_args = argparse.Namespace(**{**vars(args), "warmup": 0})
        row = run_ours(mem_args, pps, 1)
        text = f"peak memory (points_per_side {pps}, {pps * pps} points): ours RSS {row['peak_rss_mb']:.0f} MB"
        if "peak_cuda_mb" in row:
            text += f", CUDA {row['peak_cuda_mb']:.0f} MB"
        text += f" [{_best(row):.1f} s]"
        if with_official:
            off = run_official(mem_args, pps, 1)
            text += f"; official RSS {off['peak_rss_mb']:.0f} MB"
            if "peak_cuda_mb" in off:
                text += f", CUDA {off['peak_cuda_mb']:.0f} MB"
            text += f" [{_best(off):.1f} s]"
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
