"""Shared set-up of the policy reference runners (our code; it only *imports* a fork).

Each memory policy of ``sam2/video`` is checked against its authors' own code: a modified
copy of the ``sam2`` package (SAMURAI, SAM2Long, DAM4SAM). That code is never imported by
the project. A reference runner runs as a separate process under the forks' python (see
``tests/policies/README.md``), from a folder without a ``sam2/`` subfolder, and:

1. copies the fork's ``sam2`` package from a checkout of the fork into a temporary folder
   (without any prebuilt ``_C*.so``: the CUDA extension is never used) and puts that folder
   first on ``sys.path``;
2. checks that ``import sam2`` really gives that copy;
3. regenerates the project's synthetic clip (``tests/parity/oracle_scripts/video_clip.py``)
   and seeded checkpoint (``tests/parity/seeded_ckpt.py``) in a temporary folder.

Nothing here is fork code: the runners call the forks' public entry points and record
what they return.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from typing import Dict, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS_POLICIES = os.path.dirname(HERE)
PARITY = os.path.join(os.path.dirname(TESTS_POLICIES), "parity")
sys.path.insert(0, PARITY)
sys.path.insert(0, os.path.join(PARITY, "oracle_scripts"))
sys.dont_write_bytecode = True

import numpy as np  # noqa: E402

import seeded_ckpt  # noqa: E402
from video_clip import make_clip  # noqa: E402

#: where each fork keeps its ``sam2`` package, relative to the repository root
PACKAGE_DIR = {"samurai": "sam2/sam2", "sam2long": "sam2", "dam4sam": "sam2"}


def fork_commit(repo_dir: str) -> str:
    """Commit of a fork checkout (a git work tree, or a ``FORK_COMMIT`` file in an export)."""
    marker = os.path.join(repo_dir, "FORK_COMMIT")
    if os.path.isfile(marker):
        with open(marker) as f:
            return f.read().strip()
    for args in (["git", "-C", repo_dir, "rev-parse", "HEAD"],
                 ["git", "--git-dir", repo_dir, "rev-parse", "HEAD"]):
        try:
            return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()
        except Exception:  # noqa: BLE001 - not a git folder: try the next form
            continue
    return "unknown"


def load_fork(name: str, repo_dir: str):
    """Import the fork ``name`` from a checkout ``repo_dir``; return its ``sam2`` module."""
    if os.path.isdir(os.path.join(os.getcwd(), "sam2")):
        sys.exit("run the reference scripts from a folder without a sam2/ subfolder")
    if "sam2" in sys.modules:
        sys.exit("sam2 was imported before the fork was put on sys.path")
    src = os.path.join(repo_dir, PACKAGE_DIR[name])
    if not os.path.isfile(os.path.join(src, "__init__.py")):
        sys.exit(f"{repo_dir}: no sam2 package at {PACKAGE_DIR[name]} (is it a {name} checkout?)")
    root = tempfile.mkdtemp(prefix=f"fork-{name}-")
    dst = os.path.join(root, "sam2")
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("_C*.so", "__pycache__", "csrc"))
    sys.path.insert(0, root)
    # some forks also import helpers from their repository root (e.g. DAM4SAM's utils/)
    sys.path.insert(1, repo_dir)
    import sam2  # the fork copy

    if os.path.dirname(os.path.abspath(sam2.__file__)) != dst:
        sys.exit(f"import sam2 gave {sam2.__file__}, not the {name} copy in {dst}")
    return sam2


def make_inputs(work: str, frames: int, size: str = "t", seed: int = 0,
                obj_score_bias: float = 0.0, scales: Dict[str, float] | None = None
                ) -> Tuple[str, str, Dict[str, np.ndarray], str]:
    """Clip + seeded checkpoint in ``work``; returns (jpeg dir, ckpt path, gt masks, digest)."""
    masks = make_clip(os.path.join(work, "video"), frames=frames)
    ckpt = os.path.join(work, f"{size}_{seed}.pt")
    digest = seeded_ckpt.write_seeded_checkpoint(size, seed, ckpt, obj_score_bias=obj_score_bias,
                                                 scales=scales)
    return os.path.join(work, "video", "JPEGImages"), ckpt, masks, digest


REPO = os.path.dirname(os.path.dirname(TESTS_POLICIES))
DEMO_CONFIG = os.path.join(REPO, "sam2", "configs", "sam2.1", "sam2.1_hiera_demo.yaml")
DEMO_CKPT = os.path.join(REPO, "sam2", "checkpoints", "sam2.1_hiera_demo.pt")


def _flatten(prefix: str, node, out: list) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _flatten(f"{prefix}.{key}", value, out)
    elif isinstance(node, list):
        out.append(f"++{prefix}=[{','.join(str(v) for v in node)}]")
    elif isinstance(node, bool):
        out.append(f"++{prefix}={str(node).lower()}")
    else:
        out.append(f"++{prefix}={node}")


#: demo-config keys that are inference settings, not architecture
DEMO_INFERENCE_KEYS = ("memory_temporal_stride_for_eval", "non_overlap_masks_for_mem_enc")


def demo_model_overrides(architecture_only: bool = False) -> list:
    """The project's demo model as hydra overrides on top of a fork's Hiera-T SAM 2.1 config.

    The demo config (``sam2/configs/sam2.1/sam2.1_hiera_demo.yaml``) is the stock SAM 2.1
    model at a small scale; every value it sets is applied as ``++model.<key>=<value>``
    (with ``architecture_only``, not its inference settings ``DEMO_INFERENCE_KEYS``, so a
    fork's own values for them stay).
    """
    import yaml

    with open(DEMO_CONFIG) as f:
        cfg = yaml.safe_load(f)
    out: list = []
    model = dict(cfg["model"])
    if architecture_only:
        for key in DEMO_INFERENCE_KEYS:
            model.pop(key, None)
    _flatten("model", model, out)
    return out


def make_qpool_global_blocks_runnable(model, image_size: int) -> list:
    """Let the authors' Hiera run the demo model's global-attention pooling block.

    The demo trunk has a global-attention block at a stage change (a block that also pools
    its queries); the official Hiera code (and so every fork) divides by its window size 0
    there. Global attention over an ``S x S`` input is the same computation as one ``S x S``
    window, so that block gets ``window_size = S`` on the built model (an attribute of the
    model instance; no fork code changes). Returns the indices of the blocks changed.
    """
    trunk = model.image_encoder.trunk
    size = image_size // 4  # patch embedding stride
    changed = []
    for i, blk in enumerate(trunk.blocks):
        if blk.q_stride and blk.window_size == 0:
            blk.window_size = size
            changed.append(i)
        if blk.q_stride:
            size //= blk.q_stride[0]
    return changed


def make_video(work: str, frames: int) -> Tuple[str, Dict[str, np.ndarray]]:
    """The project's synthetic clip in ``work``; returns (jpeg dir, gt masks)."""
    masks = make_clip(os.path.join(work, "video"), frames=frames)
    return os.path.join(work, "video", "JPEGImages"), masks


def file_sha256(path: str) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_npz(path: str, arrays: Dict[str, np.ndarray]) -> None:
    """Write ``arrays`` compressed and atomically."""
    tmp = path + f".tmp{os.getpid()}.npz"
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


class LookupLog(dict):
    """A dict that records every key looked up with ``.get``, in order.

    The reference scripts put it in place of the fork's per-frame output dicts to see which
    stored frames the fork reads as memory and as object pointers.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.gets = []

    def get(self, key, default=None):
        self.gets.append(key)
        return super().get(key, default)
