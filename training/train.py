"""``python training/train.py -c CONFIG [--use-cluster 0|1] [--num-gpus N] [key=value ...]``

Composes a training config (Hydra, trailing ``key=value`` overrides), stops with a message
naming the key when a placeholder (``???``) is left or a dataset folder / initial checkpoint is
missing, writes the run folder (``config.yaml``, ``config_resolved.yaml``) and starts the
training processes: locally one per GPU with DDP/NCCL (N CPU processes with gloo when CUDA is
absent), or on SLURM through submitit (checkpointable: pre-emption and time-out save and
requeue, the requeued job resumes).

Exit codes: 0 done, 1 training error, 2 bad config or command line, 143 stopped by a signal
after saving (run the same command again to resume).
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

if __name__ == "__main__" and sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    # run as a script: the folder of this file must not shadow top-level packages
    sys.path.pop(0)

import torch
from omegaconf import DictConfig, OmegaConf

from training.utils.config import (
    ConfigError,
    check_placeholders,
    compose_config,
    default_run_dir,
    register_resolvers,
)
from sam2.utils.prompt_checks import check_setting

log = logging.getLogger("training.train")

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_STOPPED = 0, 1, 2, 143


# ------------------------------------------------------------------------------- config
def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="training/train.py",
        description="Train SAM 2.1 (MOSEv2 recipe). Trailing key=value arguments are Hydra overrides.",
    )
    p.add_argument("-c", "--config", required=True, help="training config, e.g. configs/sam2.1_training/X.yaml")
    p.add_argument("--use-cluster", type=int, choices=(0, 1), default=None, help="1: submit to SLURM via submitit")
    p.add_argument("--num-gpus", type=int, default=None, help="processes per node (GPUs, or CPU processes without CUDA)")
    p.add_argument("--num-nodes", type=int, default=None)
    p.add_argument("--partition", default=None)
    p.add_argument("--account", default=None)
    p.add_argument("--qos", default=None)
    p.add_argument("--num-workers", type=int, default=None, help="data-loading workers per process (scratch.num_train_workers)")
    p.add_argument("--allow-any-target", action="store_true",
                   help="let the config name any _target_ (default: only the package's, training's and "
                        "torch's classes; also SAM2_ALLOW_ANY_TARGET=1). Only for configs you trust as code")
    p.add_argument("overrides", nargs="*", help="Hydra overrides key=value")
    args = p.parse_args(argv)
    bad = [o for o in args.overrides if "=" not in o and not o.startswith("~")]
    if bad:
        p.error(f"overrides must look like key=value, got {bad}")
    return args


def build_config(args: argparse.Namespace) -> DictConfig:
    """Compose the config and fold the command-line flags into it."""
    cfg = compose_config(args.config, args.overrides, allow_any_target=args.allow_any_target)
    if args.num_gpus is not None:
        if args.num_gpus < 1:
            raise ConfigError("--num-gpus must be >= 1")
        cfg.launcher.gpus_per_node = args.num_gpus
    if args.num_nodes is not None:
        cfg.launcher.num_nodes = args.num_nodes
    if args.num_workers is not None:
        cfg.scratch.num_train_workers = args.num_workers
    sub = cfg.setdefault("submitit", {})
    for key in ("partition", "account", "qos"):
        if getattr(args, key) is not None:
            sub[key] = getattr(args, key)
    if args.use_cluster is not None:
        sub["use_cluster"] = bool(args.use_cluster)
    if not cfg.launcher.get("experiment_log_dir"):
        cfg.launcher.experiment_log_dir = default_run_dir(args.config)
    cfg.launcher.experiment_log_dir = os.path.abspath(cfg.launcher.experiment_log_dir)
    return cfg


def preflight(cfg: DictConfig, config_name: str) -> None:
    """Fail fast, before any process starts, on placeholders and missing inputs."""
    check_placeholders(cfg, config_name)
    try:
        OmegaConf.to_container(cfg, resolve=True)
    except Exception as exc:  # interpolation errors name the key
        raise ConfigError(f"config {config_name}: cannot resolve: {exc}") from exc
    for key in ("dataset.img_folder", "dataset.gt_folder"):
        value = OmegaConf.select(cfg, key)
        if value is not None and not os.path.isdir(str(value)):
            raise ConfigError(f"{key}: folder not found: {value}")
    file_list = OmegaConf.select(cfg, "dataset.file_list_txt")
    if file_list is not None and not os.path.isfile(str(file_list)):
        raise ConfigError(f"dataset.file_list_txt: file not found: {file_list} (set it to null to use every video)")
    save_dir = OmegaConf.select(cfg, "trainer.checkpoint.save_dir")
    resuming = save_dir is not None and os.path.isfile(os.path.join(str(save_dir), "checkpoint.pt"))
    init_key = "trainer.checkpoint.model_weight_initializer.state_dict.checkpoint_path"
    init_path = OmegaConf.select(cfg, init_key)
    if not resuming and init_path is not None and not os.path.isfile(str(init_path)):
        raise ConfigError(
            f"{init_key}: initial checkpoint not found: {os.path.abspath(str(init_path))} "
            "(for a stage-2 config: run stage 1 first from this directory, or set this key)"
        )
    nodes, gpus = int(cfg.launcher.num_nodes), int(cfg.launcher.gpus_per_node)
    if nodes < 1 or gpus < 1:
        raise ConfigError(f"launcher.num_nodes ({nodes}) and launcher.gpus_per_node ({gpus}) must be >= 1")
    for key, bounds in _SETTING_RANGES.items():
        value = OmegaConf.select(cfg, key)
        if value is not None:
            try:
                check_setting(f"config {config_name}", key, value, **bounds)
            except (TypeError, ValueError) as exc:
                raise ConfigError(str(exc)) from None


#: ranges of the numeric settings checked before a run starts (a clip of 0 frames or 0 epochs
#: would train nothing; a NaN learning rate would train garbage); absent keys are skipped
_SETTING_RANGES: Dict[str, Dict[str, Any]] = {
    "scratch.num_frames": dict(low=1, integer=True),
    "scratch.num_epochs": dict(low=1, integer=True),
    "scratch.phases_per_epoch": dict(low=1, integer=True),
    "scratch.train_batch_size": dict(low=1, integer=True),
    "scratch.max_num_objects": dict(low=1, integer=True),
    "scratch.num_train_workers": dict(low=0, integer=True),
    "scratch.resolution": dict(low=1, integer=True),
    "scratch.base_lr": dict(low=0.0, low_open=True),
    "scratch.vision_lr": dict(low=0.0, low_open=True),
    "dataset.multiplier": dict(low=0.0, low_open=True),
    "trainer.max_epochs": dict(low=1, integer=True),
}


def _atomic_write_text(path: str, text: str) -> None:
    from sam2.utils.atomic_files import atomic_write_bytes

    atomic_write_bytes(path, text.encode("utf-8"))


def write_run_folder(cfg: DictConfig) -> str:
    run_dir = str(cfg.launcher.experiment_log_dir)
    for sub in ("logs", "checkpoints"):
        os.makedirs(os.path.join(run_dir, sub), exist_ok=True)
    _atomic_write_text(os.path.join(run_dir, "config.yaml"), OmegaConf.to_yaml(cfg))
    _atomic_write_text(os.path.join(run_dir, "config_resolved.yaml"), OmegaConf.to_yaml(cfg, resolve=True))
    return run_dir


# ------------------------------------------------------------------------------- workers
def _cpu_threads(local_world_size: int) -> None:
    if torch.cuda.is_available() or "OMP_NUM_THREADS" in os.environ:
        return
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(local_world_size, 1)))


def run_rank(cfg_container: Dict[str, Any], rank: int, world_size: int, local_rank: int,
             local_world_size: int) -> int:
    """Body of one training process (MASTER_ADDR / MASTER_PORT already set). Returns an exit code."""
    from hydra.utils import instantiate

    from training.trainer import TrainingInterrupted
    from training.utils import distributed as du
    from training.utils.logger import setup_text_logging
    from training.utils.signals import StopRequest

    register_resolvers()
    cfg = OmegaConf.create(cfg_container)
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(local_rank))
    setup_text_logging(OmegaConf.select(cfg, "trainer.logging.log_dir"), rank)
    _cpu_threads(local_world_size)
    stop = StopRequest()
    stop.install()
    backend = du.pick_backend(OmegaConf.select(cfg, "trainer.distributed.backend"))
    if world_size > 1:
        du.init_process_group(backend, rank, world_size)
        if rank == 0:
            log.info("%d processes, backend %s%s", world_size, backend,
                     "" if torch.cuda.is_available() else " (no CUDA: CPU processes)")
    try:
        trainer = instantiate(cfg.trainer, _recursive_=False, stop_request=stop)
        trainer.run()
        return EXIT_OK
    except TrainingInterrupted as exc:
        if rank == 0:
            log.warning("%s", exc)
        return EXIT_STOPPED
    finally:
        du.destroy_process_group()


def _spawned(local_rank: int, cfg_container: Dict[str, Any], nprocs: int, port: int) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    code = run_rank(cfg_container, local_rank, nprocs, local_rank, nprocs)
    # a signal-stop exits 0 here: a non-zero code would make the parent terminate the other
    # ranks while rank 0 may still be writing the checkpoint (the parent knows it was stopped)
    if code not in (EXIT_OK, EXIT_STOPPED):
        sys.exit(code)


def launch_local(cfg: DictConfig) -> int:
    """One process per GPU (or ``gpus_per_node`` CPU processes), on this machine."""
    import torch.multiprocessing as mp

    from training.utils.distributed import find_free_port

    nprocs = int(cfg.launcher.gpus_per_node) * int(cfg.launcher.num_nodes)
    if int(cfg.launcher.num_nodes) != 1:
        raise ConfigError("multi-node runs need --use-cluster 1 (SLURM)")
    if torch.cuda.is_available() and nprocs > torch.cuda.device_count():
        raise ConfigError(f"--num-gpus {nprocs} but only {torch.cuda.device_count()} CUDA devices are visible")
    if not torch.cuda.is_available():
        log.info("CUDA is not available: starting %d CPU process(es) with the gloo backend", nprocs)
    container = OmegaConf.to_container(cfg, resolve=False)
    port = find_free_port()
    if nprocs == 1:
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ["MASTER_PORT"] = str(port)
        try:
            return run_rank(container, 0, 1, 0, 1)
        except Exception as exc:  # report, do not dump a traceback on the user
            log.debug("training failed", exc_info=True)
            log.error("training failed: %s: %s", type(exc).__name__, exc)
            return EXIT_FAILED

    ctx = mp.start_processes(_spawned, args=(container, nprocs, port), nprocs=nprocs, join=False,
                             start_method="spawn")
    stopped = {"signal": None}

    def forward(signum, frame):  # noqa: ARG001
        stopped["signal"] = signum
        for proc in ctx.processes:
            if proc.is_alive():
                os.kill(proc.pid, signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGUSR1)}
    try:
        while True:
            try:
                if ctx.join(timeout=1):
                    return EXIT_STOPPED if stopped["signal"] is not None else EXIT_OK
            except mp.ProcessExitedException as exc:
                code = exc.exit_code
                for proc in ctx.processes:
                    proc.join(timeout=60)
                if code == EXIT_STOPPED:
                    return EXIT_STOPPED
                log.error("a training process failed (exit code %s); see the logs in %s",
                          code, OmegaConf.select(cfg, "trainer.logging.log_dir"))
                return EXIT_FAILED
            except mp.ProcessRaisedException as exc:
                log.error("a training process raised:\n%s", exc)
                for proc in ctx.processes:
                    if proc.is_alive():
                        proc.terminate()
                return EXIT_FAILED
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


# ------------------------------------------------------------------------------- SLURM
class SubmititRunner:
    """The callable a SLURM task runs (one task per GPU); requeues itself after a signal-stop."""

    def __init__(self, cfg_container: Dict[str, Any], port: int) -> None:
        self.cfg_container = cfg_container
        self.port = port

    def __call__(self) -> None:
        import submitit

        env = submitit.JobEnvironment()
        dist_env = submitit.helpers.TorchDistributedEnvironment()
        dist_env.export(set_cuda_visible_devices=False, overwrite=True)
        os.environ["MASTER_PORT"] = str(self.port)
        # SLURM pre-emption (SIGTERM), our stop signal (SIGUSR1) and submitit's time-out
        # signal (SIGUSR2) all mean: finish the step, save, requeue
        code = run_rank(self.cfg_container, env.global_rank, env.num_tasks, env.local_rank,
                        env.num_tasks // max(env.num_nodes, 1))
        if code == EXIT_STOPPED and env.global_rank == 0:
            log.warning("requeueing SLURM job %s to resume from the checkpoint", env.job_id)
            subprocess.run(["scontrol", "requeue", str(env.job_id)], check=False)
        if code not in (EXIT_OK, EXIT_STOPPED):
            raise RuntimeError(f"training failed on rank {env.global_rank} (exit code {code})")

    def checkpoint(self, *args: Any, **kwargs: Any):
        """submitit's hook on time-out: requeue the same runner (it resumes from checkpoint.pt)."""
        import submitit

        return submitit.helpers.DelayedSubmission(SubmititRunner(self.cfg_container, self.port))


def submitit_parameters(cfg: DictConfig) -> Dict[str, Any]:
    """Keyword arguments for ``submitit.AutoExecutor.update_parameters`` from the config."""
    sub = cfg.get("submitit") or {}
    gpus = int(cfg.launcher.gpus_per_node)
    params: Dict[str, Any] = dict(
        nodes=int(cfg.launcher.num_nodes),
        tasks_per_node=gpus,
        gpus_per_node=gpus,
        cpus_per_task=int(sub.get("cpus_per_task") or 10),
        timeout_min=int(float(sub.get("timeout_hour") or 24) * 60),
        name=sub.get("name") or os.path.basename(str(cfg.launcher.experiment_log_dir)),
        slurm_signal_delay_s=120,
    )
    for key in ("partition", "account", "qos"):
        if sub.get(key):
            params[f"slurm_{key}"] = sub[key]
    return params


def launch_cluster(cfg: DictConfig) -> int:
    import random

    try:
        import submitit
    except ImportError:
        raise ConfigError("--use-cluster 1 needs submitit: pip install submitit") from None
    from training.train import SubmititRunner as Runner  # picklable by module path

    executor = submitit.AutoExecutor(folder=os.path.join(str(cfg.launcher.experiment_log_dir), "submitit_logs"))
    executor.update_parameters(**submitit_parameters(cfg))
    lo, hi = list((cfg.get("submitit") or {}).get("port_range") or [10000, 65000])
    runner = Runner(OmegaConf.to_container(cfg, resolve=False), random.randint(int(lo), int(hi)))
    job = executor.submit(runner)
    log.info("submitted SLURM job %s; logs in %s", job.job_id, executor.folder)
    return EXIT_OK


# ------------------------------------------------------------------------------- main
def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        cfg = build_config(args)
        preflight(cfg, args.config)
        run_dir = write_run_folder(cfg)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    log.info("run folder: %s", run_dir)
    use_cluster = bool((cfg.get("submitit") or {}).get("use_cluster", False))
    try:
        return launch_cluster(cfg) if use_cluster else launch_local(cfg)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
