#!/usr/bin/env python
"""Deterministic, seeded SAM2.1 checkpoints for parity tests.

The official random init cannot be reproduced without the official package, so parity tests
use weights drawn by this small standalone function instead. The same file runs under the
project's python and under the oracle python (it imports only torch and the standard
library), so the oracle and the project see bit-identical weights without any checkpoint
being committed.

Every key of the state-dict manifest ``sam2.1_hiera_<size>.state_dict.json`` (in file
order) gets a tensor of its shape drawn from a ``torch.Generator`` seeded with an integer
derived from ``sha256(f"{seed}/{key}")``, so a tensor does not depend on the other keys.
Only ``torch.rand`` (uniform in [0, 1)) is used; it is scaled per kind of parameter:

* matrices / conv kernels: ``U(-1, 1) / sqrt(fan_in)`` (the PyTorch default range),
* 1-D ``.bias``: ``U(-1, 1) * 0.02``,
* 1-D ``.weight`` (LayerNorm / LayerNorm2d): ``1 + U(-1, 1) * 0.1``,
* token / embedding tables (``nn.Embedding``, official init N(0, 1)): ``U(-sqrt 3, sqrt 3)``,
* the random Fourier matrix of the prompt encoder: ``U(-sqrt 3, sqrt 3)`` (unit variance),
* layer-scale ``gamma`` of the memory fuser: ``0.1 + U(-1, 1) * 0.05`` (official 1e-6
  would switch the fuser off),
* Hiera positional embeddings: ``U(-1, 1) * 0.1``,
* the small learned embeddings of ``SAM2Base`` (``no_mem_embed``, ``maskmem_tpos_enc``, ...):
  ``U(-1, 1) * 0.05`` (official trunc-normal std 0.02).

CLI::

    python tests/parity/seeded_ckpt.py --size t --seed 0 --out X.pt [--manifest PATH]
        [--obj-score-bias B] [--scale SUBSTR=FACTOR ...]

Python::

    from seeded_ckpt import make_seeded_state_dict   # with tests/parity on sys.path
    sd = make_seeded_state_dict("t", 0)             # {key: float32 tensor}

Manifest lookup for a size: explicit ``reference_dir`` argument, else ``$SAM2_REFERENCE_DIR``,
then the copies bundled in ``tests/parity/manifests/`` (all four sizes; nothing outside the
checkout is read unless asked for).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import torch

SIZES = ("t", "s", "b+", "l")
MANIFEST_PATTERN = "sam2.1_hiera_{size}.state_dict.json"
CONFIG_PATTERN = "configs/sam2.1/sam2.1_hiera_{size}.yaml"

# Version of the drawing recipe below; bump it when any scale changes (goldens must then
# be regenerated, see tests/parity/README.md).
RECIPE_VERSION = 1

_HERE = Path(__file__).resolve().parent
_BUNDLED_MANIFESTS = _HERE / "manifests"

_EMBEDDING_TABLES = (
    "point_embeddings",
    "not_a_point_embed",
    "no_mask_embed",
    "iou_token",
    "mask_tokens",
    "obj_score_token",
)
_BASE_EMBEDDINGS = (
    "maskmem_tpos_enc",
    "no_mem_embed",
    "no_mem_pos_enc",
    "no_obj_ptr",
    "no_obj_embed_spatial",
)


_OBJ_SCORE_HEAD = "sam_mask_decoder.pred_obj_score_head."


def find_manifest(size: str, reference_dir: Optional[Union[str, Path]] = None) -> Path:
    """Return the path of the state-dict manifest for model ``size`` (one of ``SIZES``)."""
    if size not in SIZES:
        raise ValueError(f"unknown model size {size!r}; expected one of {SIZES}")
    name = MANIFEST_PATTERN.format(size=size)
    candidates: List[Path] = []
    if reference_dir is not None:
        candidates.append(Path(reference_dir))
    elif os.environ.get("SAM2_REFERENCE_DIR"):
        candidates.append(Path(os.environ["SAM2_REFERENCE_DIR"]))
    candidates.append(_BUNDLED_MANIFESTS)
    for folder in candidates:
        path = folder / name
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"state-dict manifest {name} not found in any of: "
        + ", ".join(str(c) for c in candidates)
    )


def load_manifest(path: Union[str, Path]) -> List[Tuple[str, Tuple[int, ...], str]]:
    """Read a manifest JSON and return ``[(key, shape, dtype_name), ...]`` in file order."""
    path = Path(path)
    try:
        with open(path, "r", encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read state-dict manifest {path}: {exc}") from exc
    entries = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"state-dict manifest {path} has no 'entries' list")
    out = []
    for i, ent in enumerate(entries):
        try:
            out.append((str(ent["key"]), tuple(int(s) for s in ent["shape"]), str(ent["dtype"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"state-dict manifest {path}: bad entry #{i}: {ent!r}") from exc
    return out


def _key_seed(seed: int, key: str) -> int:
    digest = hashlib.sha256(f"sam2-rcms/{RECIPE_VERSION}/{seed}/{key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def _symmetric(shape: Tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    """Uniform noise in [-1, 1) of ``shape``, float32."""
    return torch.rand(shape, generator=gen, dtype=torch.float32) * 2.0 - 1.0


def _draw(key: str, shape: Tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    leaf = key.rsplit(".", 1)[-1]
    parts = key.split(".")
    noise = _symmetric(shape, gen)
    if key in _BASE_EMBEDDINGS:
        return noise * 0.05
    if leaf in ("pos_embed", "pos_embed_window"):
        return noise * 0.1
    if leaf == "positional_encoding_gaussian_matrix":
        return noise * math.sqrt(3.0)
    if leaf == "gamma":
        return 0.1 + noise * 0.05
    if any(p in _EMBEDDING_TABLES for p in parts) and leaf == "weight":
        return noise * math.sqrt(3.0)
    if len(shape) <= 1:
        if leaf == "weight":
            return 1.0 + noise * 0.1
        return noise * 0.02
    fan_in = 1
    for s in shape[1:]:
        fan_in *= s
    return noise / math.sqrt(max(fan_in, 1))


def make_seeded_state_dict(
    size_or_manifest: Union[str, Path],
    seed: int,
    reference_dir: Optional[Union[str, Path]] = None,
    obj_score_bias: float = 0.0,
    scales: Optional[Dict[str, float]] = None,
) -> Dict[str, torch.Tensor]:
    """Deterministic state dict for a SAM2.1 model.

    Args:
        size_or_manifest: a size in ``SIZES`` ("t", "s", "b+", "l") or the path of a
            ``*.state_dict.json`` manifest.
        seed: global seed (any int).
        reference_dir: folder holding the manifests (default: see module docstring).
        obj_score_bias: added to the bias of the last layer of
            ``sam_mask_decoder.pred_obj_score_head`` (shifts object-score logits).
        scales: ``{substring: factor}``; every tensor whose key contains the substring is
            multiplied by the factor (applied in the given order).
    Returns:
        ``{key: tensor}`` in manifest order, contiguous float32 CPU tensors.
    """
    spec = str(size_or_manifest)
    if spec in SIZES:
        path = find_manifest(spec, reference_dir)
    else:
        path = Path(spec)
        if not path.is_file():
            raise FileNotFoundError(f"{spec!r} is neither a model size {SIZES} nor a manifest file")
    state: Dict[str, torch.Tensor] = {}
    for key, shape, dtype in load_manifest(path):
        if dtype != "float32":
            raise ValueError(f"{path}: key {key} has dtype {dtype}; only float32 is supported")
        gen = torch.Generator(device="cpu")
        gen.manual_seed(_key_seed(int(seed), key))
        state[key] = _draw(key, shape, gen).contiguous()
    if obj_score_bias:
        heads = sorted(k for k in state if k.startswith(_OBJ_SCORE_HEAD) and k.endswith(".bias"))
        if not heads:
            raise KeyError(f"{path}: no {_OBJ_SCORE_HEAD}*.bias key for obj_score_bias")
        state[heads[-1]] = state[heads[-1]] + float(obj_score_bias)
    for sub, factor in (scales or {}).items():
        hits = [k for k in state if sub in k]
        if not hits:
            raise KeyError(f"{path}: scale {sub!r}={factor}: no key contains {sub!r}")
        for k in hits:
            state[k] = state[k] * float(factor)
    return state


def state_dict_digest(state: Dict[str, torch.Tensor]) -> str:
    """sha256 over keys and raw tensor bytes (same recipe as the oracle's make_random_ckpt)."""
    h = hashlib.sha256()
    for key, value in state.items():
        h.update(key.encode("utf-8"))
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def write_seeded_checkpoint(
    size_or_manifest: Union[str, Path],
    seed: int,
    out: Union[str, Path],
    reference_dir: Optional[Union[str, Path]] = None,
    obj_score_bias: float = 0.0,
    scales: Optional[Dict[str, float]] = None,
) -> str:
    """Write ``{"model": state_dict}`` atomically to ``out``; return the digest."""
    state = make_seeded_state_dict(size_or_manifest, seed, reference_dir, obj_score_bias, scales)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    torch.save({"model": state}, str(tmp))
    os.replace(tmp, out)
    return state_dict_digest(state)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="Write a deterministic seeded SAM2.1 checkpoint.")
    ap.add_argument("--size", choices=SIZES, help="model size (manifest looked up by size)")
    ap.add_argument("--manifest", help="explicit *.state_dict.json path (overrides --size lookup)")
    ap.add_argument("--reference-dir", help="folder holding the manifests")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="output .pt path")
    ap.add_argument("--obj-score-bias", type=float, default=0.0,
                    help="add to the last bias of sam_mask_decoder.pred_obj_score_head")
    ap.add_argument("--scale", action="append", default=[], metavar="SUBSTR=FACTOR",
                    help="multiply every tensor whose key contains SUBSTR (repeatable)")
    args = ap.parse_args(argv)
    if args.manifest is None and args.size is None:
        ap.error("give --size or --manifest")
    scales: Dict[str, float] = {}
    for spec_text in args.scale:
        sub, sep, factor = spec_text.rpartition("=")
        if not sep or not sub:
            ap.error(f"--scale {spec_text!r}: expected SUBSTR=FACTOR")
        scales[sub] = float(factor)
    spec = args.manifest if args.manifest is not None else args.size
    digest = write_seeded_checkpoint(spec, args.seed, args.out, args.reference_dir, args.obj_score_bias, scales)
    sys.stdout.write(f"wrote {args.out} sha256(tensors)={digest}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
