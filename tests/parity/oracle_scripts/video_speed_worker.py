#!/usr/bin/env python
"""One side of benchmarks/video_speed.py: a video predictor that tracks one frame per command.

Runs under the oracle python (``--impl official``: the installed official sam2) or the
project's python (``--impl ours``: the project on ``PYTHONPATH``; ``--impl onnx``: the
project's ``OnnxVideoTracker`` on the graphs in ``--onnx-dir``); both packages are named
``sam2``, so this file only ever imports the one its interpreter provides.

Protocol (stdin / stdout, one line each):

* after loading the model, the video and frame 0's features: ``READY {json}`` with the load time;
* ``run``: forget all objects, add the mask prompts on frame 0 (not timed) and start
  ``propagate_in_video``; answers ``STARTED``;
* ``next``: track one frame; answers ``FRAME {"frame": i, "seconds": s}`` or ``END``;
* ``profile``: one whole propagation under ``torch.profiler`` with per-module timers; answers
  ``PROFILE {json}`` (see ``speed_profile_tools``);
* ``dump PATH``: write the mask logits of the latest run (``frame -> [O, 1, H, W]`` float32)
  to the ``.npz`` file ``PATH``; answers ``DUMPED``;
* ``quit``.

The controller alternates ``next`` between two workers, so both see the same machine load
frame by frame.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True

import numpy as np  # noqa: E402
import torch  # noqa: E402

from speed_profile_tools import profile_propagation  # noqa: E402
from video_speed_prompts import prompt_masks  # noqa: E402


def build(args):
    if args.impl == "onnx":
        from sam2.onnx import OnnxVideoTracker

        return OnnxVideoTracker(args.onnx_dir, intra_op_threads=args.threads or None)
    import sam2

    on_site = "site-packages" in sam2.__file__
    if (args.impl == "official") != on_site:
        sys.exit(f"--impl {args.impl} but `import sam2` gave {sam2.__file__}")
    from sam2.build_sam import build_sam2_video_predictor

    kwargs = {}
    overrides = list(args.override)
    if args.impl == "ours" and args.vos:
        kwargs["vos_optimized"] = True
    predictor = build_sam2_video_predictor(args.config, args.checkpoint, device=args.device,
                                           apply_postprocessing=False,
                                           hydra_overrides_extra=overrides, **kwargs)
    if args.impl == "official":
        inner = predictor.memory_attention.forward

        def forward(*a, **k):  # CPU fp32: bf16 memory without pointers (see video_golden.py)
            if k.get("memory") is not None and k["memory"].dtype != torch.float32:
                k["memory"] = k["memory"].float()
            return inner(*a, **k)

        predictor.memory_attention.forward = forward
    elif args.precision != "fp32":
        from sam2.utils.inference_precision import apply_inference_precision

        apply_inference_precision(predictor, args.precision)
    return predictor


def autocast_context(args):
    if args.precision == "bf16":
        return torch.autocast(device_type=torch.device(args.device).type, dtype=torch.bfloat16)
    return torch.autocast(device_type="cpu", enabled=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--impl", choices=["official", "ours", "onnx"], required=True)
    ap.add_argument("--onnx-dir", help="--impl onnx: the exported graphs")
    ap.add_argument("--config", required=True)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--video", required=True)
    ap.add_argument("--objects", type=int, default=1)
    ap.add_argument("--override", action="append", default=[])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--vos", action="store_true", help="ours: vos_optimized=True (torch.compile)")
    ap.add_argument("--precision", choices=["fp32", "bf16", "int8"], default="fp32",
                    help="ours only: bf16 autocast or dynamic int8 linear layers")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    predictor = build(args)
    masks = prompt_masks(np.load(os.path.join(os.path.dirname(args.video), "masks.npz")),
                         args.objects)
    compile_seconds = {}
    if args.impl == "ours" and args.vos:
        # compile (or load from Inductor's cache) for the tracked batch size up front, timed
        # apart from loading; init_state then only warms up the one-object shapes
        for n in sorted({1, args.objects}):
            compile_seconds[n] = predictor.warm_up(n)
    with torch.inference_mode():
        state = predictor.init_state(args.video)
    print("READY " + json.dumps({"load_seconds": time.perf_counter() - start,
                                 "compile_seconds": compile_seconds,
                                 "torch": torch.__version__,
                                 "threads": torch.get_num_threads()}), flush=True)

    frames = None
    logits = {}

    def prompt():
        predictor.reset_state(state)
        for obj_id, mask in enumerate(masks, start=1):
            predictor.add_new_mask(state, 0, obj_id, mask)

    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "quit":
            break
        with torch.inference_mode(), autocast_context(args):
            if cmd == "run":
                prompt()
                logits = {}
                frames = predictor.propagate_in_video(state)
                print("STARTED", flush=True)
            elif cmd == "next":
                sync()
                t0 = time.perf_counter()
                try:
                    idx, _, frame_logits = next(frames)
                except StopIteration:
                    print("END", flush=True)
                    continue
                sync()
                logits[str(int(idx))] = np.asarray(
                    frame_logits.float().cpu() if hasattr(frame_logits, "cpu") else frame_logits, dtype=np.float32)
                print("FRAME " + json.dumps({"frame": int(idx),
                                             "seconds": time.perf_counter() - t0}), flush=True)
            elif cmd.startswith("dump "):
                np.savez(cmd[len("dump "):], **logits)
                print("DUMPED", flush=True)
            elif cmd == "profile":
                prompt()
                report = profile_propagation(predictor, lambda: predictor.propagate_in_video(state))
                print("PROFILE " + json.dumps(report), flush=True)
            else:
                print(f"ERROR unknown command {cmd!r}", flush=True)


if __name__ == "__main__":
    main()
