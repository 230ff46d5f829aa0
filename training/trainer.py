"""The training loop: model, optimizer, data, losses, logging, checkpoints and exact resume.

``Trainer`` is built from the ``trainer`` section of a training config (with
``_recursive_=False``: it instantiates its own parts) inside each rank's process, after the
process group is initialised, and driven by :meth:`Trainer.run`.

Checkpoints (``checkpoint.save_dir/checkpoint.pt``) are written atomically at the end of every
epoch, every ``save_every_steps`` steps and when a stop signal arrives; a numbered copy
``checkpoint_<epoch>.pt`` is kept every ``save_freq`` epochs (0: none). A run started on a
folder holding ``checkpoint.pt`` resumes from it: same parameters, optimizer, schedules, RNG
states (per rank) and position in the epoch's batch order, so the result is the one of an
uninterrupted run (bitwise on CPU with ``num_workers: 0``).
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from typing import Any, Dict, List, Optional

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from training.loss_fns import CORE_LOSS_KEY
from training.optimizer import OptimizerWrapper, construct_optimizer
from training.utils import distributed as du
from training.utils.checkpoint_utils import atomic_torch_save, capture_rng_state, restore_rng_state
from training.utils.logger import MetricsSink
from training.utils.signals import StopRequest

log = logging.getLogger(__name__)

_LOGGED_LOSSES = (CORE_LOSS_KEY, "loss_mask", "loss_dice", "loss_iou", "loss_class")


class TooManyBadSamplesError(RuntimeError):
    """More than the allowed fraction of training samples could not be read."""


class TrainingInterrupted(Exception):
    """The run stopped on a signal after saving its checkpoint (resume by re-running)."""


def _to_container(node: Any) -> Any:
    if isinstance(node, DictConfig) or OmegaConf.is_list(node):
        return OmegaConf.to_container(node, resolve=True)
    return node


def optimizer_from_config(model: nn.Module, optim_conf: DictConfig) -> OptimizerWrapper:
    """Build the optimizer of ``model`` from a ``trainer.optim`` config section."""
    options = {
        option: [
            {
                "scheduler": instantiate(entry["scheduler"]),
                "param_names": list(entry.get("param_names") or []),
                "module_cls_names": list(entry.get("module_cls_names") or []),
            }
            for entry in entries
        ]
        for option, entries in optim_conf.options.items()
    }
    modifiers = [instantiate(m) for m in (optim_conf.get("param_group_modifiers") or [])]
    factory = instantiate(optim_conf.optimizer, _partial_=True)
    return construct_optimizer(model, factory, options, modifiers)


class Trainer:
    """Distributed training of ``SAM2Train`` with the MOSEv2 recipe.

    Args mirror the ``trainer`` config section: ``data`` (``train`` loader config), ``model``,
    ``logging`` (``log_dir``, ``log_freq``, ``tensorboard_writer``), ``checkpoint``
    (``save_dir``, ``save_freq``, ``save_every_steps``, ``model_weight_initializer``),
    ``max_epochs``, ``mode`` (``train_only``), ``accelerator`` (``cuda`` falls back to CPU),
    ``seed_value``, ``optim`` (``optimizer``, ``options``, ``param_group_modifiers``,
    ``gradient_clip``, ``amp``), ``loss`` (``{"all": loss}``), ``distributed``
    (``backend``, ``find_unused_parameters``), ``max_bad_sample_fraction`` (0.01) and
    ``min_samples_for_bad_fraction`` (samples seen before the fraction is enforced).
    """

    def __init__(
        self,
        *,
        data: DictConfig,
        model: DictConfig,
        logging: DictConfig,
        checkpoint: DictConfig,
        max_epochs: int,
        optim: DictConfig,
        loss: DictConfig,
        mode: str = "train_only",
        accelerator: str = "cuda",
        seed_value: int = 123,
        distributed: Optional[DictConfig] = None,
        cuda: Optional[DictConfig] = None,
        env: Optional[DictConfig] = None,
        meters: Optional[DictConfig] = None,
        val_epoch_freq: int = 1,
        max_bad_sample_fraction: float = 0.01,
        min_samples_for_bad_fraction: int = 100,
        stop_request: Optional[StopRequest] = None,
    ) -> None:
        if mode not in ("train_only", "train"):
            raise ValueError(f"trainer.mode={mode!r}: only 'train_only' is supported")
        self.data_conf = data
        self.model_conf = model
        self.logging_conf = logging
        self.checkpoint_conf = checkpoint
        self.max_epochs = int(max_epochs)
        self.optim_conf = optim
        self.loss_conf = loss
        self.seed_value = int(seed_value)
        self.distributed_conf = distributed or {}
        self.max_bad_sample_fraction = float(max_bad_sample_fraction)
        self.min_samples_for_bad_fraction = int(min_samples_for_bad_fraction)
        self.stop = stop_request or StopRequest()

        self.rank = du.get_rank()
        self.world_size = du.get_world_size()
        self.device = self._pick_device(accelerator)
        self.epoch = 0
        self.step = 0  # optimizer steps done
        self.batch_in_epoch = 0
        self.attempts_total = 0
        self.failures_total = 0
        self.failed_files: List[str] = []  # this rank's
        self.stop_now = False  # every rank agreed to stop after the current step
        self.steps_per_epoch = 0

        self._setup()

    # ------------------------------------------------------------------ set-up
    def _pick_device(self, accelerator: str) -> torch.device:
        if accelerator == "cuda" and torch.cuda.is_available():
            local = int(os.environ.get("LOCAL_RANK", self.rank % max(torch.cuda.device_count(), 1)))
            torch.cuda.set_device(local)
            return torch.device("cuda", local)
        if accelerator == "cuda" and self.rank == 0:
            log.info("trainer.accelerator=cuda but CUDA is not available: training on CPU in float32")
        return torch.device("cpu")

    def _seed(self) -> None:
        import random

        import numpy as np

        seed = self.seed_value + self.rank
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)

    def _setup(self) -> None:
        # identical initial weights on every rank
        torch.manual_seed(self.seed_value)
        self.model: nn.Module = instantiate(self.model_conf, _recursive_=True)
        self._seed()
        self.save_dir = self.checkpoint_conf.get("save_dir")
        self.ckpt_path = os.path.join(self.save_dir, "checkpoint.pt") if self.save_dir else None
        resuming = bool(self.ckpt_path and os.path.isfile(self.ckpt_path))
        if not resuming:
            self._load_initial_weights()
        self.model.to(self.device)
        self.train_module: nn.Module = self.model
        if self.world_size > 1:
            find_unused = bool(self.distributed_conf.get("find_unused_parameters", True))
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_module = nn.parallel.DistributedDataParallel(
                self.model, device_ids=ids, find_unused_parameters=find_unused
            )
        self.optimizer = self._build_optimizer()
        clip_conf = self.optim_conf.get("gradient_clip")
        self.gradient_clipper = instantiate(clip_conf) if clip_conf is not None else None
        amp = self.optim_conf.get("amp") or {}
        self.amp_enabled = bool(amp.get("enabled", False)) and self.device.type == "cuda"
        self.amp_dtype = getattr(torch, str(amp.get("amp_dtype", "bfloat16")))
        self.scaler = torch.amp.GradScaler(
            "cuda", enabled=self.amp_enabled and self.amp_dtype == torch.float16
        )
        losses = instantiate(self.loss_conf)
        self.loss = losses["all"] if isinstance(losses, dict) or OmegaConf.is_dict(losses) else losses
        self.data = instantiate(self.data_conf.train, _convert_="all")
        self.log_dir = self.logging_conf.get("log_dir")
        self.log_freq = int(self.logging_conf.get("log_freq", 10))
        self.metrics = MetricsSink(self.log_dir, enabled=self.rank == 0)
        self.tb = None
        tb_conf = self.logging_conf.get("tensorboard_writer")
        if self.rank == 0 and tb_conf is not None:
            self.tb = instantiate(tb_conf)
        if resuming:
            self._resume(self.ckpt_path)

    def _load_initial_weights(self) -> None:
        init = self.checkpoint_conf.get("model_weight_initializer")
        if init is None:
            log.info("no model_weight_initializer: training from the seeded random initialisation")
            return
        loader = instantiate(init)
        loader(model=self.model)
        log.info("initial weights loaded (strict=%s)", init.get("strict", True))

    def _build_optimizer(self) -> OptimizerWrapper:
        return optimizer_from_config(self.model, self.optim_conf)

    # ------------------------------------------------------------------ checkpoints
    def _model_rngs(self) -> Dict[str, Any]:
        rng = getattr(self.model, "rng", None)
        return {"model": rng} if rng is not None else {}

    def save_checkpoint(self, numbered: bool = False) -> None:
        """Gather every rank's RNG state and write ``checkpoint.pt`` atomically (rank 0)."""
        rng_states = du.all_gather_objects(capture_rng_state(self._model_rngs()))
        bad = du.all_gather_objects(self.failed_files)
        if self.rank != 0 or not self.ckpt_path:
            du.barrier()
            return
        payload = {
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "schedulers": {"kind": "where", "step": self.step, "total_steps": self.total_steps},
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "epoch": self.epoch,
            "step": self.step,
            "batch_in_epoch": self.batch_in_epoch,
            "world_size": self.world_size,
            "rng": rng_states,
            "bad_samples": {"attempts": self.attempts_total, "failures": self.failures_total,
                            "files": [f for files in bad for f in files]},
        }
        atomic_torch_save(payload, self.ckpt_path)
        if numbered:
            atomic_torch_save(payload, os.path.join(self.save_dir, f"checkpoint_{self.epoch}.pt"))
        log.info("checkpoint saved: %s (epoch %d, step %d)", self.ckpt_path, self.epoch, self.step)
        du.barrier()

    def _read_resume_checkpoint(self, path: str) -> dict:
        """The training checkpoint at ``path``; an unreadable or foreign file is a ``RuntimeError``
        naming the file and what to do (instead of a bare unpickling or key error)."""
        numbered = sorted(f for f in os.listdir(os.path.dirname(path) or ".")
                          if f.startswith("checkpoint_") and f.endswith(".pt"))
        remedy = ("to start over, move it out of the folder; to go back to an earlier epoch, copy one of "
                  f"{', '.join(numbered)} over it" if numbered else "to start over, move it out of the folder")
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - truncated, corrupt or not a checkpoint at all
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise RuntimeError(
                f"cannot resume from {path}: the file is not a readable training checkpoint (truncated or "
                f"corrupt? {type(exc).__name__}: {first}); {remedy}") from exc
        required = ("model", "optimizer", "epoch", "step", "batch_in_epoch")
        missing = [k for k in required if not isinstance(ckpt, dict) or k not in ckpt]
        if missing:
            raise RuntimeError(f"cannot resume from {path}: not a training checkpoint of this trainer "
                               f"(missing {', '.join(map(repr, missing))}); {remedy}")
        return ckpt

    def _resume(self, path: str) -> None:
        ckpt = self._read_resume_checkpoint(path)
        self.model.load_state_dict(ckpt["model"], strict=True)
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt.get("scaler") is not None and self.scaler.is_enabled():
            self.scaler.load_state_dict(ckpt["scaler"])
        self.epoch = int(ckpt["epoch"])
        self.step = int(ckpt["step"])
        self.batch_in_epoch = int(ckpt["batch_in_epoch"])
        bad = ckpt.get("bad_samples") or {}
        self.attempts_total = int(bad.get("attempts", 0))
        self.failures_total = int(bad.get("failures", 0))
        if self.rank == 0:
            self.failed_files = list(bad.get("files", []))
        states = ckpt.get("rng") or []
        if int(ckpt.get("world_size", 1)) == self.world_size and self.rank < len(states):
            restore_rng_state(states[self.rank], self._model_rngs())
        else:
            log.warning(
                "checkpoint was written by %s ranks, this run has %d: RNG states are re-seeded, "
                "the continuation will not be bit-identical", ckpt.get("world_size"), self.world_size,
            )
        log.info("resumed from %s at epoch %d, batch %d (step %d)", path, self.epoch, self.batch_in_epoch, self.step)

    # ------------------------------------------------------------------ loop
    @property
    def total_steps(self) -> int:
        return self.max_epochs * self.steps_per_epoch

    def run(self) -> None:
        """Train until ``max_epochs``; raises :class:`TrainingInterrupted` after a signal-stop."""
        sampler = self.data.batch_sampler(0, self.rank, self.world_size, self.seed_value)
        self.steps_per_epoch = sampler.num_batches()
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"no full batch per rank: {len(self.data.dataset)} samples for {self.world_size} ranks "
                f"x batch {self.data.batch_size}"
            )
        bar = self._progress_bar()
        try:
            while self.epoch < self.max_epochs:
                self._train_epoch(bar)
                if self.stop_now:
                    self.save_checkpoint()
                    raise TrainingInterrupted(
                        f"stopped by {self.stop.signal_name or 'signal'} at epoch {self.epoch}, step {self.step}; "
                        "checkpoint saved, run the same command again to resume"
                    )
                self.epoch += 1
                self.batch_in_epoch = 0
                save_freq = int(self.checkpoint_conf.get("save_freq", 0) or 0)
                self.save_checkpoint(numbered=save_freq > 0 and self.epoch % save_freq == 0)
        finally:
            if bar is not None:
                bar.close()
            self.metrics.close()
            if self.tb is not None:
                self.tb.close()

    def _progress_bar(self):
        if self.rank != 0:
            return None
        from tqdm import tqdm

        return tqdm(total=self.total_steps, initial=self.step, desc="train", dynamic_ncols=True, leave=True)

    def _train_epoch(self, bar) -> None:
        loader = self.data.get_loader(
            self.epoch, self.rank, self.world_size, self.seed_value,
            start_batch=self.batch_in_epoch, use_cuda=self.device.type == "cuda",
        )
        self.train_module.train()
        save_every = int(self.checkpoint_conf.get("save_every_steps", 0) or 0)
        t_data = time.perf_counter()
        for batch in loader:
            data_time = time.perf_counter() - t_data
            record = self._train_step(batch)
            record["data_time"] = data_time
            record["step_time"] = time.perf_counter() - t_data
            self.batch_in_epoch += 1
            self._log(record, bar)
            if self.stop_now:
                return
            if save_every > 0 and self.step % save_every == 0 and self.batch_in_epoch < self.steps_per_epoch:
                self.save_checkpoint()
            t_data = time.perf_counter()

    def _autocast(self):
        if self.amp_enabled:
            return torch.autocast(device_type="cuda", dtype=self.amp_dtype)
        return contextlib.nullcontext()

    def _train_step(self, batch) -> Dict[str, Any]:
        where = self.step / max(self.total_steps, 1)
        shown = self.optimizer.apply_schedules(where)
        batch = batch.to(self.device, non_blocking=True)
        self.optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            outputs = self.train_module(batch)
            preds = [o.extras["multistep"] for o in outputs]
            losses = self.loss(preds, batch.masks)
        core = losses[CORE_LOSS_KEY]
        if not torch.isfinite(core):
            raise FloatingPointError(f"non-finite loss {core.item()} at step {self.step} (videos {batch.video_names})")
        self.scaler.scale(core).backward()
        self.scaler.unscale_(self.optimizer.optimizer)
        grad_norm = self.gradient_clipper(self.model) if self.gradient_clipper is not None else None
        self.scaler.step(self.optimizer.optimizer)
        self.scaler.update()
        self.step += 1

        self.failed_files.extend(batch.failed_files)
        local = [float(losses[k].detach()) if k in losses else 0.0 for k in _LOGGED_LOSSES]
        local += [float(batch.attempts), float(len(batch.failed_files)), 1.0 if self.stop.requested else 0.0]
        summed = du.all_reduce_sum(local, self.device)
        n = len(_LOGGED_LOSSES)
        record: Dict[str, Any] = {k: v / self.world_size for k, v in zip(_LOGGED_LOSSES, summed[:n])}
        self.attempts_total += int(summed[n])
        self.failures_total += int(summed[n + 1])
        self.stop_now = summed[n + 2] > 0
        record.update(
            step=self.step, epoch=self.epoch, lr=shown.get("lr"), lr_min=shown.get("lr_min"),
            grad_norm=float(grad_norm) if grad_norm is not None else None,
            bad_samples=self.failures_total, samples=self.attempts_total,
        )
        self._check_bad_samples()
        return record

    def _check_bad_samples(self) -> None:
        if self.failures_total == 0 or self.attempts_total < self.min_samples_for_bad_fraction:
            return
        if self.failures_total <= self.max_bad_sample_fraction * self.attempts_total:
            return
        files = sorted({f for fs in du.all_gather_objects(self.failed_files) for f in fs})
        raise TooManyBadSamplesError(
            f"{self.failures_total} of {self.attempts_total} training samples could not be read "
            f"(more than {self.max_bad_sample_fraction:.1%}); fix or remove these files: " + ", ".join(files)
        )

    def _log(self, record: Dict[str, Any], bar) -> None:
        if self.rank != 0:
            return
        self.metrics.write(record)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{record[CORE_LOSS_KEY]:.4f}", epoch=self.epoch)
        if self.step % self.log_freq == 0 or self.step == 1:
            log.info(
                "epoch %d step %d/%d loss %.5f lr %.3g grad %.3g bad %d/%d",
                self.epoch, self.step, self.total_steps, record[CORE_LOSS_KEY], record["lr"] or math.nan,
                record["grad_norm"] if record["grad_norm"] is not None else math.nan,
                self.failures_total, self.attempts_total,
            )
            if self.tb is not None:
                scalars = {f"losses/{k}": record[k] for k in _LOGGED_LOSSES}
                scalars.update({"optim/lr": record["lr"], "optim/lr_min": record["lr_min"],
                                "time/data": record["data_time"], "time/step": record["step_time"],
                                "data/bad_samples": self.failures_total})
                if record["grad_norm"] is not None:
                    scalars["optim/grad_norm"] = record["grad_norm"]
                self.tb.log_scalars({k: v for k, v in scalars.items() if v is not None}, self.step)
