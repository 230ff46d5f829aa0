#!/usr/bin/env python
"""Tracking speed of our SAM2VideoPredictor against the official one, interleaved frame by frame.

Both run the same seeded official-format weights (tests/parity/seeded_ckpt.py) on the same
synthetic clip with mask prompts on frame 0; only ``propagate_in_video`` is timed. Each
implementation (the official one in the oracle python, ours in this python, optionally in
several variants: ``eager``, ``vos`` = ``vos_optimized=True`` / torch.compile, ``bf16``
autocast, ``int8`` dynamic quantisation, ``vos-bf16``, ``vos-freeze`` = compiled with
Inductor's freezing) is a long-lived worker process
(tests/parity/oracle_scripts/video_speed_worker.py) with the same thread count. The
controller asks every worker in turn to track the *next* frame, so all of them see the same
machine load within seconds of each other; this matters on a shared machine where the load
changes by a factor of several within minutes.

    python benchmarks/video_speed.py [--size t] [--image-size 1024] [--frames 8] [--objects 1 3]
        [--variants eager vos] [--repeat 2] [--warmup 0] [--threads 2] [--profile]
        [--json out.json] [--oracle-python PATH]

Reports per variant the fps over the frames of a run (each frame's best time over the
``--repeat`` runs after ``--warmup`` untimed-for-the-result runs) and ours/official. The first
run's seconds are reported too (with ``vos`` it includes compilation). ``--profile`` instead
runs one propagation per worker under ``torch.profiler`` with per-module timers and prints
both profiles side by side. The load average (``os.getloadavg``) is recorded at the start and
the end: absolute fps on a loaded machine mean little, ratios measured interleaved do.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "tests" / "parity" / "oracle_scripts"
sys.path.insert(0, str(SCRIPTS))
sys.path.insert(0, str(ROOT / "tests" / "parity"))

DEFAULT_ORACLE = os.path.expanduser("~/.cache/sam2-oracle/venv/bin/python")
VARIANTS = {
    "eager": [],
    "vos": ["--vos"],
    "bf16": ["--precision", "bf16"],
    "int8": ["--precision", "int8"],
    "vos-bf16": ["--vos", "--precision", "bf16"],
    # compiled with Inductor's freezing (opt-in ``compile_freezing=True``)
    "vos-freeze": ["--vos", "--override", "++model.compile_freezing=true"],
    "vos-nofreeze": ["--vos", "--override", "++model.compile_freezing=false"],
}


def cpu_model() -> str:
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


class Worker:
    """A predictor in its own process, driven line by line (see video_speed_worker.py)."""

    def __init__(self, name: str, python: str, args: List[str], env: Dict[str, str], cwd: str):
        self.name = name
        cmd = [python, str(SCRIPTS / "video_speed_worker.py"), *args]
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, env=env, cwd=cwd, bufsize=1)
        self.ready: Optional[dict] = None  # set by wait_ready()

    def wait_ready(self) -> dict:
        """Block until the worker has loaded (workers start concurrently, so one
        compiling does not hold up the others' loading)."""
        if self.ready is None:
            self.ready = self._expect("READY")
        return self.ready

    def _expect(self, tag: str):
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self.log.seek(0)
                sys.exit(f"worker {self.name} died:\n{self.log.read()[-4000:]}")
            if line.startswith(tag):
                rest = line[len(tag):].strip()
                return json.loads(rest) if rest else None
            if line.startswith("ERROR"):
                sys.exit(f"worker {self.name}: {line.strip()}")

    def send(self, cmd: str) -> None:
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def start_run(self) -> None:
        self.send("run")
        self._expect("STARTED")

    def next_frame(self) -> Optional[float]:
        """Seconds of the next frame, or ``None`` at the end of the video."""
        self.send("next")
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self._expect("FRAME")  # reports the crash
            if line.startswith("END"):
                return None
            if line.startswith("FRAME"):
                return json.loads(line[len("FRAME"):])["seconds"]

    def profile(self) -> dict:
        self.send("profile")
        return self._expect("PROFILE")

    def close(self) -> None:
        try:
            self.send("quit")
            self.proc.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


def start_workers(args, config: str, ckpt: str, video: str, objects: int,
                  overrides: List[str], cwd: str) -> Dict[str, Worker]:
    common = ["--config", config, "--checkpoint", ckpt, "--video", video,
              "--objects", str(objects), "--device", args.device, "--threads", str(args.threads)]
    for o in overrides:
        common += ["--override", o]
    bare = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    ours_env = dict(bare, PYTHONPATH=str(ROOT))
    workers = {"official": Worker("official", args.oracle_python,
                                  ["--impl", "official", *common], bare, cwd)}
    for variant in args.variants:
        workers[variant] = Worker(variant, sys.executable,
                                  ["--impl", "ours", *common, *VARIANTS[variant]], ours_env, cwd)
    for worker in workers.values():
        worker.wait_ready()
    return workers


def timed_runs(workers: Dict[str, Worker], runs: int) -> Dict[str, List[List[float]]]:
    """``{name: [[seconds per frame] per run]}``; workers take turns frame by frame, and the
    order of turns rotates every frame."""
    times: Dict[str, List[List[float]]] = {name: [] for name in workers}
    names = list(workers)
    for _ in range(runs):
        for name in names:
            workers[name].start_run()
            times[name].append([])
        active = list(names)
        turn = 0
        while active:
            order = active[turn % len(active):] + active[:turn % len(active)]
            turn += 1
            for name in order:
                seconds = workers[name].next_frame()
                if seconds is None:
                    active.remove(name)
                else:
                    times[name][-1].append(seconds)
                    print(f"  {name}: frame {len(times[name][-1]) - 1} {seconds:.1f} s",
                          file=sys.stderr, flush=True)
    return times


def summarise(times: Dict[str, List[List[float]]], warmup: int) -> Dict[str, dict]:
    out = {}
    for name, runs in times.items():
        kept = runs[warmup:] or runs
        best = [min(run[i] for run in kept) for i in range(len(kept[0]))]
        out[name] = {"frames": len(best), "fps": len(best) / sum(best),
                     "first_run_seconds": sum(runs[0]),
                     "run_seconds": [sum(run) for run in runs]}
    base = out["official"]["fps"]
    for name in out:
        out[name]["ratio_vs_official"] = out[name]["fps"] / base
    return out


def print_profiles(profiles: Dict[str, dict]) -> None:
    names = list(profiles)
    print("per module (seconds over the whole propagation; nested groups overlap)")
    labels = []
    for p in profiles.values():
        labels += [k for k in p["modules"] if k not in labels]
    print(f"  {'module':38s}" + "".join(f"{n:>12s}" for n in names))
    print(f"  {'TOTAL':38s}" + "".join(f"{profiles[n]['seconds']:12.2f}" for n in names))
    for label in labels:
        row = [profiles[n]["modules"].get(label, {}).get("seconds", float("nan")) for n in names]
        print(f"  {label:38s}" + "".join(f"{v:12.2f}" for v in row))
    for n in names:
        print(f"top operators by self CPU time: {n}")
        for op in profiles[n]["ops"][:25]:
            print(f"  {op['name'][:48]:48s} {op['calls']:7d} calls {op['self_seconds']:9.3f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="t", choices=["t", "s", "b+", "l"])
    ap.add_argument("--image-size", type=int, default=1024)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--objects", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--variants", nargs="+", default=["eager"], choices=sorted(VARIANTS))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2, help="timed runs per worker")
    ap.add_argument("--warmup", type=int, default=0,
                    help="extra first runs left out of the best-of (compilation, allocator)")
    ap.add_argument("--profile", action="store_true",
                    help="profile one propagation per worker instead of timing")
    ap.add_argument("--json", help="write the results here too")
    ap.add_argument("--oracle-python", default=os.environ.get("SAM2_ORACLE_PY", DEFAULT_ORACLE))
    args = ap.parse_args()

    import torch

    import seeded_ckpt
    from video_clip import make_clip

    config = f"configs/sam2.1/sam2.1_hiera_{args.size}.yaml"
    overrides = [] if args.image_size == 1024 else [f"++model.image_size={args.image_size}"]
    report = {"machine": cpu_model(), "cores": os.cpu_count(), "torch": torch.__version__,
              "size": args.size, "image_size": args.image_size, "frames": args.frames,
              "threads": args.threads, "repeat": args.repeat, "warmup": args.warmup,
              "load_at_start": os.getloadavg(), "results": {}}
    print(f"{args.size} at {args.image_size}px, {args.frames} frames, device {args.device}, "
          f"{args.threads} threads; {report['machine']}; load {report['load_at_start']}",
          flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        make_clip(tmp, frames=args.frames)
        video = os.path.join(tmp, "JPEGImages")
        ckpt = os.path.join(tmp, "w.pt")
        torch.save({"model": seeded_ckpt.make_seeded_state_dict(args.size, 0)}, ckpt)
        cwd = os.path.join(tmp, "cwd")  # a folder without a sam2/ subfolder
        os.makedirs(cwd)
        for n in args.objects:
            workers = start_workers(args, config, ckpt, video, n, overrides, cwd)
            try:
                if args.profile:
                    profiles = {name: w.profile() for name, w in workers.items()}
                    report["results"][n] = {"profiles": profiles}
                    print(f"--- {n} object(s)")
                    print_profiles(profiles)
                    continue
                started = time.time()
                times = timed_runs(workers, args.warmup + args.repeat)
                summary = summarise(times, args.warmup)
                for name, w in workers.items():
                    summary[name]["load_seconds"] = w.ready["load_seconds"]
                    summary[name]["compile_seconds"] = w.ready.get("compile_seconds", {})
                report["results"][n] = {"summary": summary, "times": times,
                                        "wall_seconds": time.time() - started,
                                        "load_after": os.getloadavg()}
                official = summary["official"]
                for name, s in summary.items():
                    if name == "official":
                        continue
                    print(f"{n} object(s) [{name}]: ours {s['fps']:.3f} fps, official "
                          f"{official['fps']:.3f} fps, ratio {s['ratio_vs_official']:.2f} "
                          f"(first run {s['first_run_seconds']:.1f} s vs "
                          f"{official['first_run_seconds']:.1f} s; start-up {s['load_seconds']:.1f}"
                          f" s vs {official['load_seconds']:.1f} s, of which compiling "
                          f"{s['compile_seconds'] or '-'}); load {os.getloadavg()}",
                          flush=True)
            finally:
                for w in workers.values():
                    w.close()
    report["load_at_end"] = os.getloadavg()
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
