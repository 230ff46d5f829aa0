#!/usr/bin/env python
"""Compare memory policies on one split: same weights, same data, same scorer.

    python tools/compare_policies.py --split DIR [--config CFG --checkpoint CKPT | --model ID] \
        [--policies sam2.1,rcms,samurai,dam4sam,sam2long,rcms+samurai,rcms+dam4sam] \
        [--policy_opt [POLICY:]KEY=VALUE ...] [--output OUT] [--bootstrap 1000] [--device auto]

``DIR`` is a MOSE-style split (``JPEGImages/``, ``Annotations/``, ``meta.json``). Every policy
runs the inference tool's logic (``tools/vos_inference_ddp.py``: first-frame masks, one
propagation) in its own process, which reports its frames per second and its peak memory
(resident set on CPU, allocated memory on CUDA); the predictions are scored with the MOSEv2
metrics. One table is printed and written to ``OUT/table.md`` (plus ``OUT/results.json`` and
the bar chart ``OUT/chart.png``, which needs matplotlib: ``pip install "sam2-rcms[plot]"``):
J&Ḟ, J&Ḟ_d, J&Ḟ_r with 95 % bootstrap confidence intervals over videos, frames per second
(wall clock) and per CPU-second (the speed ratio uses the latter: it does not depend on what
else the machine runs), and peak memory, relative to plain SAM 2.1 (the first policy when
``sam2.1`` is not among them).

SAM2Long (``sam2long``, knobs e.g. ``--policy_opt sam2long:num_pathway=3``) is scored on its
final outputs, the best pathway's history at the end of each video; its frames per second
include its ``num_pathway`` runs a frame. ``rcms+sam2long`` does not compose (the error says why).

Every policy is named to the builder, so each row runs exactly the policy it names (``sam2.1``
is plain SAM 2.1 whatever the config says). RCMS settings (for ``rcms`` and the ``rcms+...``
compositions only) come from ``--num_prev_frames_to_promote`` / ``--low_quality_threshold``,
by default the published ones (``RCMSPolicy``'s defaults, N = 4 and tau = 0.6).
The model is the embedded demo model unless ``--config`` / ``--checkpoint`` or ``--model``
(an official Hugging Face id) name another. Exit codes: 0 done, 1 a policy failed, 2 bad
arguments, 130 interrupted.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Dict, List, Optional, Sequence, Tuple  # noqa: E402

import numpy as np  # noqa: E402

from sam2.demo.assets import DEFAULT_CHECKPOINT_HELP, DEMO_CONFIG  # noqa: E402
from sam2.utils import cli  # noqa: E402
from sam2.utils.atomic_files import atomic_output  # noqa: E402
from sam2.utils.safe_paths import UnsafePathError, check_output_folder, check_outputs_apart  # noqa: E402

log = logging.getLogger("compare_policies")

DEFAULT_POLICIES = ("sam2.1", "rcms", "samurai", "dam4sam", "sam2long", "rcms+samurai", "rcms+dam4sam")
BASELINE = "sam2.1"
DEFAULT_OUTPUT = "compare_policies_out"
METRICS = (("J&Ḟ", "jf_dot"), ("J&Ḟ_d", "d_jf_dot"), ("J&Ḟ_r", "r_jf_dot"))


@dataclass
class PolicyRun:
    """One policy's numbers (scores ×100; CIs as (low, high); None where undefined)."""

    policy: str
    scores: Dict[str, Optional[float]] = field(default_factory=dict)
    ci: Dict[str, Optional[Tuple[float, float]]] = field(default_factory=dict)
    fps: float = 0.0
    cpu_fps: float = 0.0  # frames per CPU-second of the inference (model building excluded)
    peak_mb: float = 0.0
    frames: int = 0
    seconds: float = 0.0
    error: Optional[str] = None


# --------------------------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------------------------
def bootstrap_ci(objects: Sequence, rounds: int, seed: int, level: float = 0.95
                 ) -> Dict[str, Optional[Tuple[float, float]]]:
    """Percentile intervals of J&Ḟ, J&Ḟ_d, J&Ḟ_r (×100) over ``rounds`` bootstrap replicates.

    :func:`sam2.evaluation.bootstrap.bootstrap_interval` draws videos with replacement (all
    objects of a drawn video together); a metric no object qualifies for has no interval.
    """
    from sam2.evaluation.bootstrap import bootstrap_interval

    out: Dict[str, Optional[Tuple[float, float]]] = {name: None for name, _ in METRICS}
    if not objects or rounds <= 0:
        return out
    for name, attr in METRICS:
        try:
            ci = bootstrap_interval(objects, lambda d, a=attr: getattr(d, a), num_samples=rounds,
                                    confidence=level, seed=seed)
        except ValueError:  # the metric is undefined on this split
            continue
        out[name] = (ci.low, ci.high)
    return out


def score_run(split: Path, pred_dir: Path, rounds: int, seed: int) -> Tuple[Dict[str, Optional[float]], dict]:
    """(point scores ×100, CIs) of one prediction folder."""
    from sam2.evaluation import evaluate_split

    result = evaluate_split(split / "meta.json", split / "Annotations", pred_dir, on_warning=log.debug)
    if result.missing_videos:
        raise RuntimeError(f"{pred_dir}: videos missing from the predictions: {', '.join(result.missing_videos)}")
    ds = result.dataset
    scores = {name: (None if getattr(ds, attr) is None else 100.0 * getattr(ds, attr)) for name, attr in METRICS}
    return scores, bootstrap_ci(result.objects, rounds, seed)


# --------------------------------------------------------------------------------------------
# one policy in its own process
# --------------------------------------------------------------------------------------------
def _peak_memory_mb(device: str) -> float:
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 if sys.platform != "darwin" else peak / 2**20


def _cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rcms_args(args: argparse.Namespace, policy: str) -> dict:
    """The RCMS flags given, for a policy with an ``rcms`` member (none for the others)."""
    if "rcms" not in [m.strip() for m in policy.split("+")]:
        return {}
    given = {key: getattr(args, key) for key in ("num_prev_frames_to_promote", "low_quality_threshold")}
    return {k: v for k, v in given.items() if v is not None}


def worker_options(args: argparse.Namespace, opts: dict, device: str) -> "InferenceOptions":
    """The inference options of one policy's child run: the policy always named, the RCMS
    flags only for a policy with an ``rcms`` member."""
    from sam2.inference.options import InferenceOptions

    return InferenceOptions(
        sam2_cfg=args.config, sam2_checkpoint=args.checkpoint, output_mask_dir=Path(args.worker_pred),
        base_video_dir=Path(args.split) / "JPEGImages", input_mask_dir=Path(args.split) / "Annotations",
        memory_policy=args.worker_policy, policy_opts=tuple(sorted(opts.items())),
        num_gpus=1 if device == "cuda" else 0, num_workers=1, show_progress=False,
        **rcms_args(args, args.worker_policy),
    )


def _worker(args: argparse.Namespace) -> int:
    """Run one policy on the split (called in a child process); write a JSON report."""
    from sam2.inference.app import run_inference
    from sam2.inference.worker import build_predictor

    build_cpu = [0.0]

    def timed_build(options, device):  # model building is the same for every policy: not counted
        start = _cpu_seconds()
        predictor = build_predictor(options, device)
        build_cpu[0] += _cpu_seconds() - start
        return predictor

    device = "cuda" if cli.resolve_device(args.device).startswith("cuda") else "cpu"
    opts = json.loads(args.worker_opts)
    options = worker_options(args, opts, device)
    start = _cpu_seconds()
    summary = run_inference(options, timed_build)
    cpu = max(_cpu_seconds() - start - build_cpu[0], 1e-9)
    report = {"frames": summary.frames_processed, "fps": summary.frames_per_second,
              "cpu_fps": summary.frames_processed / cpu,
              "peak_mb": _peak_memory_mb(device), "exit_code": summary.exit_code,
              "failures": summary.failure_lines()}
    Path(args.worker_report).write_text(json.dumps(report))
    return 0 if summary.exit_code == 0 else 1


def child_arguments(args: argparse.Namespace, policy: str, opts: dict, pred: Path, report: Path) -> List[str]:
    """The command-line arguments of one policy's child process (after the script path)."""
    cmd = ["--_worker", "--split", str(args.split), "--config", args.config, "--worker_policy", policy,
           "--worker_pred", str(pred), "--worker_report", str(report), "--worker_opts", json.dumps(opts),
           "--device", args.device]
    if args.checkpoint:
        cmd += ["--checkpoint", args.checkpoint]
    for key, value in rcms_args(args, policy).items():
        cmd += [f"--{key}", str(value)]
    return cmd


def run_policy(args: argparse.Namespace, policy: str, opts: dict, work: Path) -> PolicyRun:
    run = PolicyRun(policy=policy)
    pred = work / f"pred_{policy.replace('+', '_')}"
    report = work / f"report_{policy.replace('+', '_')}.json"
    cmd = [sys.executable, os.path.abspath(__file__), *child_arguments(args, policy, opts, pred, report)]
    log.info("policy %s ...", policy)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not report.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        run.error = " | ".join(tail) or f"exit code {proc.returncode}"
        log.error("policy %s failed: %s", policy, run.error)
        return run
    data = json.loads(report.read_text())
    run.fps, run.peak_mb, run.frames = float(data["fps"]), float(data["peak_mb"]), int(data["frames"])
    run.cpu_fps = float(data["cpu_fps"])
    run.scores, run.ci = score_run(Path(args.split), pred, args.bootstrap, args.seed)
    return run


# --------------------------------------------------------------------------------------------
# the table and the chart
# --------------------------------------------------------------------------------------------
def _fmt_score(value: Optional[float], ci: Optional[Tuple[float, float]]) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} [{ci[0]:.1f}, {ci[1]:.1f}]" if ci else f"{value:.1f}"


def format_table(runs: Sequence[PolicyRun]) -> str:
    """Markdown table; fps and memory relative to the baseline run (plain SAM 2.1)."""
    ok = [r for r in runs if r.error is None]
    base = next((r for r in ok if r.policy == BASELINE), ok[0] if ok else None)
    ref = base.policy if base else "-"
    head = ["policy", *[f"{name} [95% CI]" for name, _ in METRICS], "fps (wall)", "frames / CPU-s",
            f"speed vs {ref}", "peak MB", f"memory vs {ref}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in runs:
        if r.error is not None:
            lines.append("| " + " | ".join([r.policy, f"failed: {r.error}"] + [""] * (len(head) - 2)) + " |")
            continue
        rel_fps = f"{r.cpu_fps / base.cpu_fps:.2f}x" if base and base.cpu_fps > 0 else "-"
        rel_mem = f"{r.peak_mb / base.peak_mb:.2f}x" if base and base.peak_mb > 0 else "-"
        cells = [r.policy, *[_fmt_score(r.scores.get(name), r.ci.get(name)) for name, _ in METRICS],
                 f"{r.fps:.2f}", f"{r.cpu_fps:.2f}", rel_fps, f"{r.peak_mb:.0f}", rel_mem]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_chart(runs: Sequence[PolicyRun], path: Path) -> None:
    """Grouped bars of J&Ḟ, J&Ḟ_d, J&Ḟ_r with their CIs (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise RuntimeError('the bar chart needs matplotlib: pip install "sam2-rcms[plot]" (or pass --no_chart)') from err
    ok = [r for r in runs if r.error is None]
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(ok) + 2), 4))
    width = 0.8 / len(METRICS)
    for k, (name, _) in enumerate(METRICS):
        xs = [i + (k - 1) * width for i in range(len(ok))]
        vals = [r.scores.get(name) or 0.0 for r in ok]
        lo = [v - (r.ci[name][0] if r.ci.get(name) else v) for v, r in zip(vals, ok)]
        hi = [(r.ci[name][1] if r.ci.get(name) else v) - v for v, r in zip(vals, ok)]
        ax.bar(xs, vals, width, yerr=[lo, hi], capsize=3, label=name)
    ax.set_xticks(range(len(ok)))
    ax.set_xticklabels([r.policy for r in ok], rotation=20)
    ax.set_ylabel("score (95% bootstrap CI)")
    ax.legend()
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def _atomic_write(path: Path, text: str) -> None:
    with atomic_output(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--split", required=True, help="split folder with JPEGImages/, Annotations/, meta.json")
    cli.add_model_flags(p, config_default=DEMO_CONFIG, checkpoint_default=DEFAULT_CHECKPOINT_HELP)
    cli.add_device_flag(p)
    p.add_argument("--policies", default=",".join(DEFAULT_POLICIES), help="comma-separated policy names")
    p.add_argument("--policy_opt", action="append", default=[], metavar=cli.POLICY_OPT_METAVAR,
                   help="a parameter of one compared policy (repeatable), e.g. sam2long:num_pathway=3")
    p.add_argument("--num_prev_frames_to_promote", type=int, default=None,
                   help="RCMS N of the policies with an rcms member (default: the published one)")
    p.add_argument("--low_quality_threshold", type=float, default=None,
                   help="RCMS tau of the policies with an rcms member (default: the published one)")
    cli.add_output_flag(p, default=DEFAULT_OUTPUT)
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (0: no CIs)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--no_chart", action="store_true", help="skip the bar chart")
    # internal: one policy in a child process
    p.add_argument("--_worker", action="store_true", help=argparse.SUPPRESS)
    for hidden in ("worker_policy", "worker_pred", "worker_report", "worker_opts"):
        p.add_argument(f"--{hidden}", default=None, help=argparse.SUPPRESS)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args._worker:
        return _worker(args)
    split = Path(args.split)
    for need in ("JPEGImages", "Annotations", "meta.json"):
        if not (split / need).exists():
            parser.error(f"--split {split}: no {need} (expected a MOSE-style split folder)")
    from sam2.demo.assets import choose_model

    try:  # the workers get the chosen config and checkpoint
        choice = choose_model(args.model, args.config, args.checkpoint)
    except ValueError as err:
        parser.error(str(err))
    except (OSError, ImportError, RuntimeError) as err:
        raise cli.ToolError(str(err)) from None
    args.config, args.checkpoint, args.model = choice.config, str(choice.checkpoint), None
    cli.resolve_device(args.device)
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    if not policies:
        parser.error("--policies: no policy named")
    repeated = sorted({p for p in policies if policies.count(p) > 1})
    if repeated:  # each policy's run is keyed by its name (rows, output folders)
        parser.error(f"--policies: {', '.join(repeated)} named more than once")
    try:
        opts = cli.parse_policy_opts(args.policy_opt, policies)
    except ValueError as err:
        parser.error(str(err))
    from sam2.video.policies import resolve_policy

    if args.num_prev_frames_to_promote is not None and args.num_prev_frames_to_promote < 1:
        parser.error("--num_prev_frames_to_promote must be >= 1 (RCMS is one of the compared policies)")
    for policy in policies:
        try:  # fail early: unknown names, bad parameters, policies that do not compose
            resolve_policy({"name": policy, "params": opts[policy]}, rcms_args(args, policy))
        except (ValueError, TypeError) as err:
            parser.error(f"--policies {policy}: {err}")
    if not args.no_chart:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            parser.error('the bar chart needs matplotlib: pip install "sam2-rcms[plot]" (or pass --no_chart)')
    out = Path(args.output or DEFAULT_OUTPUT)
    try:  # the table and chart must not land in (or around) the split or the model files
        check_output_folder(out, "--output")
        check_outputs_apart({"--output": out}, {"--split": split, "--checkpoint": args.checkpoint or None})
    except UnsafePathError as err:
        parser.error(str(err))
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="compare_policies_") as work:
        runs = [run_policy(args, policy, opts[policy], Path(work)) for policy in policies]
    table = format_table(runs)
    print(table)
    _atomic_write(out / "table.md", table)
    _atomic_write(out / "results.json", json.dumps({"split": str(split), "config": args.config,
                                                     "checkpoint": args.checkpoint,
                                                     "runs": [asdict(r) for r in runs]}, indent=2))
    if not args.no_chart:
        write_chart(runs, out / "chart.png")
    failed = [r.policy for r in runs if r.error]
    if failed:
        log.error("failed: %s", ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_main(main))
