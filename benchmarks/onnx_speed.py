#!/usr/bin/env python
"""Tracking speed of the exported graphs (ONNX Runtime, float32 and int8) against our PyTorch
predictor, interleaved frame by frame on the same frames.

The weights are the seeded official-format ones (tests/parity/seeded_ckpt.py); the clip is the
parity tests' synthetic clip with mask prompts on frame 0. For each object count, three
trackers run the same video and are asked in turn for the *next* frame, so they all see the
same machine load:

* ``torch``: ``SAM2VideoPredictor`` (eager, float32 memories);
* ``ort-fp32``: ``OnnxVideoTracker`` on the float32 graphs;
* ``ort-int8``: the same on graphs quantised with ONNX Runtime's dynamic int8 quantisation
  (``onnxruntime.quantization.quantize_dynamic``, weights int8, MatMul/Gemm only).

    python benchmarks/onnx_speed.py [--size t] [--image-size 512] [--frames 6] [--objects 1 3]
        [--repeat 2] [--threads 2] [--json out.json]

Reports per tracker the fps (each frame's best time over ``--repeat`` runs, the first frame
left out), the ratio to ``torch``, for ``ort-int8`` the relative L2 of its logits to the
float32 graphs' (large when a presence decision flips: absent objects get -1024) and the IoU
of its masks with theirs, and every tracker's J&F against the clip's masks; plus export and quantisation times,
graph sizes, ``lscpu``'s model and flags and the load average. The official predictor is
compared with ours in ``benchmarks/video_speed.py`` (multiply the ratios).
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

os.environ.setdefault("TQDM_DISABLE", "1")  # the predictor's per-propagation bar
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "parity" / "oracle_scripts"))
sys.path.insert(0, str(ROOT / "tests" / "parity"))


def lscpu() -> Dict[str, str]:
    info = {"model": "unknown", "flags": ""}
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Model name":
                info["model"] = value.strip()
            elif key.strip() == "Flags":
                flags = value.split()
                info["flags"] = " ".join(f for f in flags if f.startswith(("avx", "amx", "fma", "vnni")) or "vnni" in f)
    except OSError:
        pass
    return info


def quantize(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    dst.mkdir(parents=True, exist_ok=True)
    for graph in sorted(src.glob("*.onnx")):
        quantize_dynamic(str(graph), str(dst / graph.name), weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul", "Gemm"])
        import onnx

        proto = onnx.load(str(dst / graph.name))  # keep the metadata the tracker checks
        src_meta = {p.key: p.value for p in onnx.load(str(graph), load_external_data=False).metadata_props}
        del proto.metadata_props[:]
        for k, v in src_meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = k, v
        onnx.save(proto, str(dst / graph.name))


def jf(masks: Dict[int, np.ndarray], gt: List[np.ndarray]) -> float:
    from sam2.evaluation.measures import frame_score

    scores = []
    for f, m in masks.items():
        for o, g in enumerate(gt):
            s = frame_score(g[f] > 0, m[o, 0] > 0)
            scores.append((s.j + s.f_dot) / 2)
    return float(np.mean(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="t", choices=("t", "s", "b+", "l"))
    parser.add_argument("--image-size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--objects", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=None)
    parser.add_argument("--profile", action="store_true",
                        help="also print ONNX Runtime's time per operator type (float32 graphs)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    import seeded_ckpt
    from video_clip import make_clip

    from sam2.build_sam import build_sam2_video_predictor
    from sam2.onnx import OnnxVideoTracker
    from sam2.onnx_export import export_tracker

    load = [os.getloadavg()[0]]
    work = Path(tempfile.mkdtemp(prefix="onnx_speed_"))
    ckpt = work / "ckpt.pt"
    torch.save({"model": seeded_ckpt.make_seeded_state_dict(args.size, 0)}, ckpt)
    clip = make_clip(str(work / "clip"), frames=args.frames)
    gts = [clip[k] for k in sorted(clip)]
    config = seeded_ckpt.CONFIG_PATTERN.format(size=args.size)
    overrides = [] if args.image_size == 1024 else [f"++model.image_size={args.image_size}"]
    predictor = build_sam2_video_predictor(config, str(ckpt), device="cpu", memory_dtype="float32",
                                           hydra_overrides_extra=overrides)
    start = time.perf_counter()
    export_tracker(predictor, work / "fp32", config_name=config)
    export_s = time.perf_counter() - start
    start = time.perf_counter()
    import logging

    logging.disable(logging.WARNING)  # the quantiser's advice to pre-process, once per graph
    quantize(work / "fp32", work / "int8")
    logging.disable(logging.NOTSET)
    quant_s = time.perf_counter() - start
    sizes = {kind: {p.name: p.stat().st_size for p in sorted((work / kind).glob("*.onnx"))} for kind in ("fp32", "int8")}
    profile = str(work / "profile") if args.profile else None
    trackers = {"ort-fp32": OnnxVideoTracker(work / "fp32", intra_op_threads=args.threads, profile_dir=profile),
                "ort-int8": OnnxVideoTracker(work / "int8", intra_op_threads=args.threads)}
    video = str(work / "clip" / "JPEGImages")
    cpu = lscpu()
    report = {"size": args.size, "image_size": args.image_size, "frames": args.frames, "threads": args.threads,
              "cpu": cpu, "export_s": export_s, "quantize_s": quant_s, "graph_bytes": sizes, "runs": {}}
    print(f"{args.size} at {args.image_size}px, {args.frames} frames, {args.threads} threads; CPU {cpu['model']} "
          f"[{cpu['flags']}]; export {export_s:.1f} s, int8 quantisation {quant_s:.1f} s; "
          f"graphs fp32 {sum(sizes['fp32'].values()) / 1e6:.1f} MB, int8 {sum(sizes['int8'].values()) / 1e6:.1f} MB")
    for objects in args.objects:
        names = ["torch", *trackers]
        times: Dict[str, List[List[float]]] = {n: [] for n in names}
        outputs: Dict[str, Dict[int, np.ndarray]] = {n: {} for n in names}
        for _ in range(args.repeat):
            gens = {}
            for name in names:
                runner = predictor if name == "torch" else trackers[name]
                state = runner.init_state(video)
                for o in range(objects):
                    runner.add_new_mask(state, 0, o + 1, gts[o % len(gts)][0] > 0)
                gens[name] = runner.propagate_in_video(state)
                times[name].append([])
            for _ in range(args.frames):
                for name in names:  # interleaved: every tracker sees the same load
                    t0 = time.perf_counter()
                    frame_idx, _, masks = next(gens[name])
                    times[name][-1].append(time.perf_counter() - t0)
                    outputs[name][frame_idx] = masks.numpy() if hasattr(masks, "numpy") else masks
        best = {n: np.min(np.asarray(t)[:, 1:], axis=0).sum() for n, t in times.items()}
        fps = {n: (args.frames - 1) / best[n] for n in names}
        ref, q = outputs["ort-fp32"], outputs["ort-int8"]
        err = float(np.mean([np.linalg.norm(q[f] - ref[f]) / max(np.linalg.norm(ref[f]), 1e-12) for f in ref]))
        inter = sum(int(((q[f] > 0) & (ref[f] > 0)).sum()) for f in ref)
        union = sum(int(((q[f] > 0) | (ref[f] > 0)).sum()) for f in ref)
        agree = (inter + 1) / (union + 1)
        gt_objects = [gts[o % len(gts)] for o in range(objects)]
        row = {"fps": fps, "ratio_to_torch": {n: fps[n] / fps["torch"] for n in names},
               "int8_logit_rel_l2": err, "int8_mask_iou_to_fp32": agree, "jf": {n: jf(outputs[n], gt_objects) for n in names}}
        report["runs"][str(objects)] = row
        print(f"{objects} object(s): " + "; ".join(
            f"{n} {fps[n]:.2f} fps ({row['ratio_to_torch'][n]:.2f}x, J&F {row['jf'][n]:.3f})" for n in names)
            + f"; int8 vs fp32 graphs: logit relative L2 {err:.3g}, mask IoU {agree:.3f}")
    for name, tracker in trackers.items():
        spent = tracker.graphs.seconds
        total = sum(spent.values()) or 1.0
        report.setdefault("graph_share", {})[name] = {g: t / total for g, t in spent.items()}
        print(f"{name}: time per graph " + ", ".join(f"{g} {100 * t / total:.0f}%" for g, t in spent.items()))
    if args.profile:
        ops = trackers["ort-fp32"].graphs.end_profiling()
        total = sum(ops.values()) or 1.0
        report["fp32_operator_share"] = {k: v / total for k, v in ops.items()}
        print("ort-fp32 operators: " + ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in list(ops.items())[:8]))
    load.append(os.getloadavg()[0])
    report["load_avg"] = load
    print(f"load average {load[0]:.1f} -> {load[1]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
