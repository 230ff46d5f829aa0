"""Per-module and per-operator profile of one ``propagate_in_video`` (torch only).

Shared by both sides of benchmarks/video_speed.py (``video_speed_worker.py``): the module
names are the official ones, which the project keeps, so the same groups apply to both.
"""
import re
import time
from typing import Callable, Dict, Iterable, List, Tuple

import torch

# (label, regex on the module's qualified name); a module may count in several groups
MODULE_GROUPS: List[Tuple[str, str]] = [
    ("image_encoder", r"image_encoder"),
    ("image_encoder.trunk", r"image_encoder\.trunk"),
    ("image_encoder.trunk.attention", r"image_encoder\.trunk\.blocks\.\d+\.attn"),
    ("image_encoder.neck", r"image_encoder\.neck"),
    ("memory_attention", r"memory_attention"),
    ("memory_attention.self_attn", r"memory_attention\.layers\.\d+\.self_attn"),
    ("memory_attention.cross_attn", r"memory_attention\.layers\.\d+\.cross_attn_image"),
    ("memory_attention.feed_forward", r"memory_attention\.layers\.\d+\.linear[12]"),
    ("memory_encoder", r"memory_encoder"),
    ("memory_encoder.mask_downsampler", r"memory_encoder\.mask_downsampler"),
    ("memory_encoder.fuser", r"memory_encoder\.fuser"),
    ("sam_prompt_encoder", r"sam_prompt_encoder"),
    ("sam_mask_decoder", r"sam_mask_decoder"),
    ("obj_ptr_proj", r"obj_ptr_proj"),
]


class ModuleTimer:
    """Wall time spent inside groups of submodules (forward hooks, no synchronisation)."""

    def __init__(self, model: torch.nn.Module, groups: Iterable[Tuple[str, str]] = MODULE_GROUPS):
        self.seconds: Dict[str, float] = {}
        self.calls: Dict[str, int] = {}
        self._handles = []
        for label, pattern in groups:
            regex = re.compile(pattern + r"$")
            for name, module in model.named_modules():
                if regex.match(name):
                    self._attach(label, module)

    def _attach(self, label: str, module: torch.nn.Module) -> None:
        starts: List[float] = []

        def pre(_m, _inputs):
            starts.append(time.perf_counter())

        def post(_m, _inputs, _output):
            self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - starts.pop()
            self.calls[label] = self.calls.get(label, 0) + 1

        self._handles.append(module.register_forward_pre_hook(pre))
        self._handles.append(module.register_forward_hook(post))

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def profile_propagation(model: torch.nn.Module, make_frames: Callable[[], Iterable],
                        top: int = 40) -> dict:
    """Run ``make_frames()`` to the end under the profiler and the module timers.

    Returns ``{"seconds", "frames", "modules": {label: {"seconds", "calls"}},
    "ops": [{"name", "calls", "self_seconds"}] (``top`` by self CPU time)}``.
    """
    timer = ModuleTimer(model)
    activities = [torch.profiler.ProfilerActivity.CPU]
    with torch.profiler.profile(activities=activities) as prof:
        start = time.perf_counter()
        frames = sum(1 for _ in make_frames())
        seconds = time.perf_counter() - start
    timer.remove()
    averages = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    ops = [{"name": e.key, "calls": int(e.count), "self_seconds": e.self_cpu_time_total / 1e6}
           for e in averages[:top]]
    modules = {k: {"seconds": timer.seconds[k], "calls": timer.calls[k]} for k in timer.seconds}
    return {"seconds": seconds, "frames": frames, "modules": modules, "ops": ops}
