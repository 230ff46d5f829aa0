#!/usr/bin/env python
"""Tracking speed of the exported graphs under ONNX Runtime against the official PyTorch
predictor and ours, in one run, on the same frames, interleaved frame by frame.

The weights are the seeded official-format ones (tests/parity/seeded_ckpt.py); the clip is the
parity tests' synthetic clip with mask prompts on frame 0. Every variant is a long-lived
worker process with the same thread count (tests/parity/oracle_scripts/video_speed_worker.py,
driven as in ``benchmarks/video_speed.py``), asked in turn for the *next* frame, so all of
them see the same machine load:

* ``official``: the official ``SAM2VideoPredictor`` (eager), in the oracle python
  (``bash ../shared/oracle/setup.sh`` or ``--oracle-python``; left out, with a note, where
  it is not installed);
* ``eager``: our ``SAM2VideoPredictor`` (eager, float32); ``bf16``: the same under bfloat16
  autocast;
* ``ort-fp32``: ``OnnxVideoTracker`` on float32 graphs with attention as standard operators;
* ``ort-fused``: the same with attention as ONNX Runtime's fused ``MultiHeadAttention``
  (``export_tracker(attention="fused")``);
* ``ort-int8``: ``ort-fused`` with int8 weights in the image encoder
  (``sam2.onnx_export.quantize_graphs``, ONNX Runtime dynamic quantisation).

    python benchmarks/onnx_speed.py [--size t] [--image-size 1024] [--frames 6] [--objects 1 3]
        [--variants official eager bf16 ort-fp32 ort-fused ort-int8] [--repeat 2] [--threads 2]
        [--profile] [--quality-videos 4] [--json out.json] [--oracle-python PATH]

Reports per variant the fps (each frame's best time over ``--repeat`` runs), the ratio to the
official predictor (or to ``eager`` without it), each variant's relative L2 to ``eager``'s mask
logits and J&F against the clip; export and quantisation times and graph sizes; ``lscpu``'s
model and vector flags and the load average. Seeded weights say nothing about what int8 costs
in quality, so ``--quality-videos N`` also tracks N held-out synthetic videos with the trained
demo model's float32 and int8 graphs and reports both J&Ḟ and their mask IoU. ``--profile``
adds ONNX Runtime's share of time per graph and per operator type for each ONNX variant.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import numpy as np

os.environ.setdefault("TQDM_DISABLE", "1")  # the predictors' per-propagation bars
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "parity" / "oracle_scripts"))
sys.path.insert(0, str(ROOT / "tests" / "parity"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from video_speed import DEFAULT_ORACLE, VARIANTS, Worker, timed_runs  # noqa: E402

ONNX_VARIANTS = ("ort-fp32", "ort-fused", "ort-int8")
ALL_VARIANTS = ("official", "eager", "bf16", *ONNX_VARIANTS)


def lscpu() -> Dict[str, str]:
    """``lscpu``'s model name and its vector/matrix flags (avx*, fma, *vnni*, amx*)."""
    info = {"model": "unknown", "flags": ""}
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Model name":
                info["model"] = value.strip()
            elif key.strip() == "Flags":
                info["flags"] = " ".join(f for f in value.split()
                                         if f.startswith(("avx", "amx", "fma")) or "vnni" in f)
    except OSError:
        pass
    return info


def export_variants(predictor, config: str, work: Path, variants) -> Dict[str, dict]:
    """Export the graphs the ONNX variants need; per folder its export seconds and sizes."""
    from sam2.onnx_export import export_tracker, quantize_graphs

    made: Dict[str, dict] = {}
    plan = {"ort-fp32": ("standard", False), "ort-fused": ("fused", False), "ort-int8": ("fused", True)}
    for name in variants:
        if name not in plan:
            continue
        attention, int8 = plan[name]
        start = time.perf_counter()
        export_tracker(predictor, work / name, config_name=config, attention=attention)
        seconds = {"export_s": time.perf_counter() - start}
        if int8:
            start = time.perf_counter()
            quantize_graphs(work / name)
            seconds["quantize_s"] = time.perf_counter() - start
        sizes = {p.name: p.stat().st_size for p in sorted((work / name).glob("*.onnx"))}
        made[name] = {**seconds, "graph_bytes": sizes, "total_mb": sum(sizes.values()) / 1e6}
    return made


def best_fps(runs: List[List[float]]) -> float:
    """Frames per second from each frame's best time over the runs (seconds per frame per run)."""
    best = np.min(np.asarray(runs), axis=0)
    return len(best) / float(best.sum())


def frame_jf(logits: Dict[str, np.ndarray], gts: List[np.ndarray]) -> float:
    """Mean (J + Ḟ) / 2 of the ``[O, 1, H, W]`` logits per frame against ``gts[o] [T, H, W]``."""
    from sam2.evaluation.measures import frame_score

    scores = []
    for f, m in logits.items():
        for o, gt in enumerate(gts):
            s = frame_score(gt[int(f)] > 0, m[o, 0] > 0)
            scores.append((s.j + s.f_dot) / 2)
    return float(np.mean(scores))


def agreement(a: Dict[str, np.ndarray], b: Dict[str, np.ndarray]) -> Dict[str, float]:
    """Mean relative L2 of ``a``'s logits to ``b``'s per frame, and the IoU of their masks."""
    rel = [np.linalg.norm(a[f] - b[f]) / max(np.linalg.norm(b[f]), 1e-12) for f in b]
    inter = sum(int(((a[f] > 0) & (b[f] > 0)).sum()) for f in b)
    union = sum(int(((a[f] > 0) | (b[f] > 0)).sum()) for f in b)
    return {"logit_rel_l2": float(np.mean(rel)), "mask_iou": (inter + 1) / (union + 1)}


def demo_int8_quality(work: Path, videos: int, threads: int) -> dict:
    """J&Ḟ of the trained demo model's float32 and int8 graphs (fused attention) on ``videos``
    held-out synthetic videos, and their mask IoU."""
    from PIL import Image

    from sam2.build_sam import build_sam2_video_predictor
    from sam2.data.synthetic import SyntheticConfig, write_synthetic_split
    from sam2.evaluation.measures import frame_score
    from sam2.onnx import OnnxVideoTracker
    from sam2.onnx_export import export_tracker, quantize_graphs

    config = "configs/sam2.1/sam2.1_hiera_demo_256.yaml"
    ckpt = ROOT / "sam2" / "checkpoints" / "sam2.1_hiera_demo_256.pt"
    predictor = build_sam2_video_predictor(config, str(ckpt), device="cpu", memory_dtype="float32")
    for name in ("demo-fp32", "demo-int8"):
        export_tracker(predictor, work / name, config_name=config, attention="fused")
    quantize_graphs(work / "demo-int8")
    split = work / "demo-split"
    write_synthetic_split(split, SyntheticConfig(num_videos=videos, num_frames=16, height=180, width=240,
                                                 seed=30_017, max_objects=3, event_prob=0.9))
    out: Dict[str, dict] = {}
    logits: Dict[str, Dict[str, np.ndarray]] = {}
    for name in ("demo-fp32", "demo-int8"):
        tracker = OnnxVideoTracker(work / name, intra_op_threads=threads)
        scores, logits[name] = [], {}
        for video in sorted(p.name for p in (split / "JPEGImages").iterdir()):
            ann = np.stack([np.array(Image.open(f)) for f in sorted((split / "Annotations" / video).glob("*.png"))])
            state = tracker.init_state(str(split / "JPEGImages" / video))
            for obj in [int(i) for i in np.unique(ann) if i]:
                first = int(np.flatnonzero((ann == obj).any(axis=(1, 2)))[0])
                tracker.add_new_mask(state, first, obj, ann[first] == obj)
            for f, ids, m in tracker.propagate_in_video(state, start_frame_idx=0):
                logits[name][f"{video}/{f}"] = m
                for k, obj in enumerate(ids):
                    s = frame_score(ann[f] == obj, m[k, 0] > 0)
                    scores.append((s.j + s.f_dot) / 2)
        out[name] = {"jf": 100 * float(np.mean(scores))}
    out["int8_vs_fp32"] = agreement(logits["demo-int8"], logits["demo-fp32"])
    return out


def onnx_profile(folder: Path, video: str, prompts: List[np.ndarray], threads: int, work: Path) -> dict:
    """One propagation of an ``OnnxVideoTracker`` with ONNX Runtime's profiler: time share per
    graph and per operator type."""
    from sam2.onnx import OnnxVideoTracker

    tracker = OnnxVideoTracker(folder, intra_op_threads=threads, profile_dir=str(work / f"profile-{folder.name}"))
    state = tracker.init_state(video)
    for obj, mask in enumerate(prompts, start=1):
        tracker.add_new_mask(state, 0, obj, mask)
    for _ in tracker.propagate_in_video(state):
        pass
    spent = tracker.graphs.seconds
    ops = tracker.graphs.end_profiling()
    total_g, total_o = sum(spent.values()) or 1.0, sum(ops.values()) or 1.0
    return {"graphs": {g: t / total_g for g, t in spent.items()},
            "operators": {k: v / total_o for k, v in ops.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="t", choices=("t", "s", "b+", "l"))
    parser.add_argument("--image-size", type=int, default=1024)
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--objects", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--variants", nargs="+", default=list(ALL_VARIANTS), choices=ALL_VARIANTS)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--profile", action="store_true",
                        help="also report ONNX Runtime's time per graph and per operator type")
    parser.add_argument("--quality-videos", type=int, default=4,
                        help="held-out synthetic videos for the demo model's int8 quality (0: skip)")
    parser.add_argument("--json", default=None)
    parser.add_argument("--oracle-python", default=os.environ.get("SAM2_ORACLE_PY", DEFAULT_ORACLE))
    args = parser.parse_args()
    for flag in ("frames", "repeat", "threads"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} must be at least 1 (got {getattr(args, flag)})")

    import torch

    torch.set_num_threads(args.threads)
    import seeded_ckpt
    from video_clip import make_clip
    from video_speed_prompts import prompt_masks

    from sam2.build_sam import build_sam2_video_predictor

    variants = list(dict.fromkeys(args.variants))
    if "official" in variants and not Path(args.oracle_python).exists():
        print(f"official predictor left out: no oracle python at {args.oracle_python} "
              "(bash ../shared/oracle/setup.sh, or --oracle-python)", flush=True)
        variants.remove("official")
    if not variants:
        parser.error("--variants: nothing left to run")
    base = "official" if "official" in variants else variants[0]
    cpu = lscpu()
    load = [os.getloadavg()[0]]
    report = {"size": args.size, "image_size": args.image_size, "frames": args.frames, "threads": args.threads,
              "repeat": args.repeat, "cpu": cpu, "torch": torch.__version__, "baseline": base, "runs": {}}
    with tempfile.TemporaryDirectory(prefix="onnx_speed_") as tmp:
        work = Path(tmp)
        ckpt = work / "ckpt.pt"
        torch.save({"model": seeded_ckpt.make_seeded_state_dict(args.size, 0)}, ckpt)
        clip = make_clip(str(work / "clip"), frames=args.frames)
        video = str(work / "clip" / "JPEGImages")
        config = seeded_ckpt.CONFIG_PATTERN.format(size=args.size)
        overrides = [] if args.image_size == 1024 else [f"++model.image_size={args.image_size}"]
        # the same settings as the workers' predictors: no post-processing, the default
        # (bfloat16) memories, which the ONNX tracker then rounds the same way
        predictor = build_sam2_video_predictor(config, str(ckpt), device="cpu", apply_postprocessing=False,
                                               hydra_overrides_extra=overrides)
        report["exports"] = export_variants(predictor, config, work, variants)
        del predictor
        import onnxruntime

        report["onnxruntime"] = onnxruntime.__version__
        print(f"{args.size} at {args.image_size}px, {args.frames} frames, {args.threads} threads; CPU {cpu['model']} "
              f"[{cpu['flags']}]; torch {torch.__version__}, onnxruntime {onnxruntime.__version__}", flush=True)
        for name, e in report["exports"].items():
            print(f"  {name}: export {e['export_s']:.1f} s" + (f", int8 {e['quantize_s']:.1f} s" if "quantize_s" in e else "")
                  + f", graphs {e['total_mb']:.1f} MB", flush=True)
        cwd = work / "cwd"  # a folder without a sam2/ subfolder
        cwd.mkdir()
        bare = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        ours_env = dict(bare, PYTHONPATH=str(ROOT))
        for objects in args.objects:
            common = ["--config", config, "--checkpoint", str(ckpt), "--video", video, "--objects", str(objects),
                      "--threads", str(args.threads), *[a for o in overrides for a in ("--override", o)]]
            workers: Dict[str, Worker] = {}
            try:
                for name in variants:
                    if name == "official":
                        workers[name] = Worker(name, args.oracle_python, ["--impl", "official", *common], bare, str(cwd))
                    elif name in ONNX_VARIANTS:
                        workers[name] = Worker(name, sys.executable, ["--impl", "onnx", "--onnx-dir", str(work / name),
                                                                      *common], ours_env, str(cwd))
                    else:
                        workers[name] = Worker(name, sys.executable, ["--impl", "ours", *common, *VARIANTS[name]],
                                               ours_env, str(cwd))
                for w in workers.values():
                    w.wait_ready()
                times = timed_runs(workers, args.repeat)
                fps = {n: best_fps(t) for n, t in times.items()}
                logits = {}
                for name, w in workers.items():
                    path = work / f"logits-{name}-{objects}.npz"
                    w.send(f"dump {path}")
                    w._expect("DUMPED")
                    with np.load(path) as data:
                        logits[name] = {k: data[k] for k in data.files}
            finally:
                for w in workers.values():
                    w.close()
            gts = [m.astype(np.uint8) for m in prompt_masks_video(clip, objects, prompt_masks)]
            row = {}
            for name in variants:
                row[name] = {"fps": fps[name], "ratio": fps[name] / fps[base],
                             "jf": frame_jf(logits[name], gts)}
                if "eager" in logits and name != "eager":
                    row[name]["vs_eager"] = agreement(logits[name], logits["eager"])
            if "ort-int8" in logits and "ort-fused" in logits:
                row["ort-int8"]["vs_ort_fused"] = agreement(logits["ort-int8"], logits["ort-fused"])
            report["runs"][str(objects)] = row
            print(f"{objects} object(s), ratios to {base}:", flush=True)
            for name, r in row.items():
                extra = ""
                if "vs_eager" in r:
                    extra = f", logits vs eager rel L2 {r['vs_eager']['logit_rel_l2']:.2g}, mask IoU {r['vs_eager']['mask_iou']:.3f}"
                print(f"  {name:10s} {r['fps']:.3f} fps  {r['ratio']:.2f}x  J&F {r['jf']:.3f}{extra}", flush=True)
        if args.profile:
            first = prompt_masks({"obj1": clip["obj1"], "obj2": clip["obj2"]}, 1)
            for name in variants:
                if name in ONNX_VARIANTS:
                    prof = onnx_profile(work / name, video, first, args.threads, work)
                    report.setdefault("profile", {})[name] = prof
                    print(f"{name}: per graph " + ", ".join(f"{g} {100 * v:.0f}%" for g, v in prof["graphs"].items())
                          + "; operators " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in list(prof["operators"].items())[:8]),
                          flush=True)
        if args.quality_videos > 0 and "ort-int8" in variants:
            report["demo_int8_quality"] = q = demo_int8_quality(work, args.quality_videos, args.threads)
            print(f"demo model, {args.quality_videos} held-out synthetic videos: J&Ḟ float32 {q['demo-fp32']['jf']:.2f}, "
                  f"int8 encoder {q['demo-int8']['jf']:.2f}; mask IoU int8 vs float32 "
                  f"{q['int8_vs_fp32']['mask_iou']:.3f}", flush=True)
    load.append(os.getloadavg()[0])
    report["load_avg"] = load
    print(f"load average {load[0]:.1f} -> {load[1]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


def prompt_masks_video(clip: Dict[str, np.ndarray], objects: int, prompt_masks) -> List[np.ndarray]:
    """Per prompted object its ``[T, H, W]`` ground truth: the clip's disk and square; the extra
    rectangles (prompted on frame 0 only) count as static."""
    first = prompt_masks({"obj1": clip["obj1"], "obj2": clip["obj2"]}, objects)
    tracks = [clip["obj1"], clip["obj2"]]
    return [tracks[k] if k < 2 else np.repeat(first[k][None], len(clip["obj1"]), axis=0) for k in range(objects)]


if __name__ == "__main__":
    main()
