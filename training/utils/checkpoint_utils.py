"""Checkpoint files: atomic writes, RNG state capture/restore, initial-weight loading.

A training checkpoint (``checkpoints/checkpoint.pt``) is a dict::

    {"model": state_dict,            # loadable by sam2.build_sam.build_sam2 (strict)
     "optimizer": ..., "schedulers": {...}, "scaler": ... or None,
     "epoch": int, "step": int, "batch_in_epoch": int,
     "world_size": int, "rng": [per-rank RNG record], "bad_samples": {...}}

Every value is made of tensors, numbers, strings, lists and dicts, so the file also loads with
``torch.load(..., weights_only=True)``.
"""
from __future__ import annotations

import logging
import os
import random
import tempfile
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import nn

from sam2.utils.atomic_files import apply_new_file_mode

log = logging.getLogger(__name__)


def atomic_torch_save(obj: Any, path: str) -> None:
    """Write ``obj`` with ``torch.save`` to a temp file in the same folder, then rename (the file
    gets the mode the umask gives new files)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp_", suffix=".pt", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        apply_new_file_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


# ----------------------------------------------------------------------------- RNG states
def _numpy_state_to_plain(state: tuple) -> Dict[str, Any]:
    name, keys, pos, has_gauss, cached = state
    return {
        "name": name,
        "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached": float(cached),
    }


def _numpy_state_from_plain(d: Dict[str, Any]) -> tuple:
    keys = d["keys"].numpy().astype(np.uint32)
    return (d["name"], keys, d["pos"], d["has_gauss"], d["cached"])


def _python_state_to_plain(state: tuple) -> List[Any]:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _python_state_from_plain(d: Sequence[Any]) -> tuple:
    return (d[0], tuple(d[1]), d[2])


def capture_rng_state(extra_generators: Optional[Dict[str, np.random.Generator]] = None) -> Dict[str, Any]:
    """RNG states of this process: python, numpy (global and named generators), torch, CUDA."""
    record: Dict[str, Any] = {
        "python": _python_state_to_plain(random.getstate()),
        "numpy": _numpy_state_to_plain(np.random.get_state()),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generators": {},
    }
    for name, gen in (extra_generators or {}).items():
        record["generators"][name] = _bitgen_state_to_plain(gen.bit_generator.state)
    return record


def _bitgen_state_to_plain(state: Dict[str, Any]) -> Dict[str, Any]:
    # PCG64 states are nested dicts of python ints, kept as decimal strings (ints > 2**63)
    def conv(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            return {"__int__": str(int(v))}
        return v

    return conv(state)


def _bitgen_state_from_plain(d: Dict[str, Any]) -> Dict[str, Any]:
    def conv(v: Any) -> Any:
        if isinstance(v, dict):
            if set(v) == {"__int__"}:
                return int(v["__int__"])
            return {k: conv(x) for k, x in v.items()}
        return v

    return conv(d)


def restore_rng_state(
    record: Dict[str, Any], extra_generators: Optional[Dict[str, np.random.Generator]] = None
) -> None:
    """Inverse of :func:`capture_rng_state`."""
    random.setstate(_python_state_from_plain(record["python"]))
    np.random.set_state(_numpy_state_from_plain(record["numpy"]))
    torch.set_rng_state(record["torch"])
    if record.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(record["cuda"])
    for name, gen in (extra_generators or {}).items():
        if name in record.get("generators", {}):
            gen.bit_generator.state = _bitgen_state_from_plain(record["generators"][name])


# ----------------------------------------------------------------------- initial weights
def load_checkpoint_and_apply_kernels(
    checkpoint_path: str,
    checkpoint_kernels: Optional[List[Any]] = None,
    ckpt_state_dict_keys: Sequence[str] = ("model",),
    map_location: str = "cpu",
) -> Dict[str, torch.Tensor]:
    """Read a state dict from ``checkpoint_path`` (descending into ``ckpt_state_dict_keys``).

    Raises:
        FileNotFoundError / ValueError naming the file when it is missing or not a checkpoint.
    """
    if not os.path.isfile(checkpoint_path):
        raise FileNotFoundError(f"initial checkpoint not found: {checkpoint_path}")
    try:
        obj = torch.load(checkpoint_path, map_location=map_location, weights_only=True)
    except Exception as exc:  # pickle/zip errors: not a checkpoint
        raise ValueError(f"{checkpoint_path} is not a readable PyTorch checkpoint: {exc}") from exc
    for key in ckpt_state_dict_keys:
        if not isinstance(obj, dict) or key not in obj:
            raise ValueError(f"checkpoint {checkpoint_path} has no key {key!r}")
        obj = obj[key]
    for kernel in checkpoint_kernels or []:
        obj = kernel(state_dict=obj)
    return obj


def load_state_dict_into_model(
    state_dict: Dict[str, torch.Tensor],
    model: nn.Module,
    strict: bool = True,
    ignore_missing_keys: Optional[List[str]] = None,
    ignore_unexpected_keys: Optional[List[str]] = None,
    checkpoint_kernels: Optional[List[Any]] = None,
) -> nn.Module:
    """Load ``state_dict`` into ``model``; under ``strict`` any missing/unexpected key (beyond the
    fnmatch patterns to ignore) or shape mismatch raises a ``RuntimeError`` listing them.
    """
    import fnmatch

    for kernel in checkpoint_kernels or []:
        state_dict = kernel(state_dict=state_dict)
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]

    def keep(keys: List[str], patterns: Optional[List[str]]) -> List[str]:
        pats = list(patterns or [])
        return [k for k in keys if not any(fnmatch.fnmatch(k, p) for p in pats)]

    missing = keep(missing, ignore_missing_keys)
    unexpected = keep(unexpected, ignore_unexpected_keys)
    bad_shape = [
        k for k, v in state_dict.items() if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    shapes = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in bad_shape
    ]
    if strict and (missing or unexpected or shapes):
        raise RuntimeError(
            "initial weights do not match the model: "
            f"missing keys {missing}; unexpected keys {unexpected}; shape mismatches {shapes}"
        )
    loadable = {k: v for k, v in state_dict.items() if k in own and k not in bad_shape}
    model.load_state_dict(loadable, strict=False)
    return model
