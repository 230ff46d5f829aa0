"""Seconds per training step and peak memory for a training config and clip length.

    python benchmarks/train_step.py                                   # instant config, CPU
    python benchmarks/train_step.py -c configs/sam2.1_training/sam2.1_hiera_l_MOSEv2_mss_lvt_16frames_stage2.yaml \
        --num-frames 16 --steps 5                                     # on a GPU: bf16, batch 1

The step is the real one (SAM2Train forward with simulated prompts, MultiStepMultiMasksAndIous,
backward, gradient clipping, AdamW) on a synthetic clip at the config's resolution, from a
random initialisation. Peak memory: resident set size of the process (ru_maxrss) and, on CUDA,
``torch.cuda.max_memory_allocated``.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import platform
import resource
import sys
import time

import torch


def _synthetic_batch(num_frames: int, size: int, device: torch.device):
    from training.utils.data_utils import BatchedVideoDatapoint

    g = torch.Generator().manual_seed(0)
    imgs = torch.randn(num_frames, 1, 3, size, size, generator=g)
    masks = torch.zeros(num_frames, 1, size, size, dtype=torch.bool)
    for t in range(num_frames):  # a square drifting right
        x0 = size // 4 + t * size // (4 * num_frames)
        masks[t, 0, size // 4: size // 2, x0: x0 + size // 4] = True
    index = torch.stack([torch.arange(num_frames), torch.zeros(num_frames, dtype=torch.long)], dim=-1)
    batch = BatchedVideoDatapoint(imgs, index[:, None, :].int(), masks, [(0, 1)], ["bench"])
    return batch.to(device)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", default="configs/sam2.1_training/sam2.1_hiera_instant.yaml")
    p.add_argument("--num-frames", type=int, default=None, help="clip length (default: scratch.num_frames)")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default=None, help="cuda / cpu (default: cuda when available)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (torch.set_num_threads)")
    p.add_argument("--json", default=None, help="also write the result to this JSON file")
    p.add_argument("overrides", nargs="*", help="Hydra overrides key=value")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from hydra.utils import instantiate

    from training.loss_fns import CORE_LOSS_KEY
    from training.trainer import optimizer_from_config
    from training.utils.config import compose_config

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    overrides = list(args.overrides)
    if args.num_frames:
        overrides.append(f"scratch.num_frames={args.num_frames}")
    cfg = compose_config(args.config, overrides)
    cfg.launcher.experiment_log_dir = "/tmp/unused_benchmark_run"
    torch.manual_seed(0)
    model = instantiate(cfg.trainer.model, _recursive_=True).to(device).train()
    loss_fn = instantiate(cfg.trainer.loss)["all"]
    optim = optimizer_from_config(model, cfg.trainer.optim)
    clipper = instantiate(cfg.trainer.optim.gradient_clip)
    amp = cfg.trainer.optim.get("amp") or {}
    use_amp = device.type == "cuda" and bool(amp.get("enabled", False))
    dtype = getattr(torch, str(amp.get("amp_dtype", "bfloat16")))
    frames = int(cfg.scratch.num_frames)
    batch = _synthetic_batch(frames, int(cfg.scratch.resolution), device)

    def step() -> float:
        optim.zero_grad()
        ctx = torch.autocast("cuda", dtype=dtype) if use_amp else contextlib.nullcontext()
        with ctx:
            outs = model(batch)
            loss = loss_fn([o.extras["multistep"] for o in outs], batch.masks)[CORE_LOSS_KEY]
        loss.backward()
        clipper(model)
        optim.step()
        return float(loss.detach())

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    result = {
        "config": args.config,
        "num_frames": frames,
        "resolution": int(cfg.scratch.resolution),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)",
        "precision": str(dtype).replace("torch.", "") if use_amp else "float32",
        "sec_per_step_median": sorted(times)[len(times) // 2],
        "sec_per_step_mean": sum(times) / len(times),
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "peak_cuda_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }
    for k, v in result.items():
        print(f"{k:>22}: {v:.3f}" if isinstance(v, float) else f"{k:>22}: {v}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
