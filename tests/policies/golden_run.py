"""Run the project's predictor with a memory policy on a golden file's scenario.

The goldens in ``golden/`` were written by the authors' code (``reference_scripts/``, run in
their own venv); this module replays the same scenario - the demo model (or the seeded
Hiera-T), the synthetic clip, one object prompted by its mask on frame 0 - through
``build_sam2_video_predictor(..., memory_policy=...)`` and returns what the comparisons need.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
GOLDEN = HERE / "golden"
DEMO_CONFIG = "configs/sam2.1/sam2.1_hiera_demo.yaml"
DEMO_CKPT = ROOT / "sam2" / "checkpoints" / "sam2.1_hiera_demo.pt"
for extra in (ROOT / "tests" / "parity", ROOT / "tests" / "parity" / "oracle_scripts"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from video_clip import make_clip  # noqa: E402


def load_golden(name: str) -> Dict[str, Any]:
    """Arrays of ``golden/<name>.npz`` plus ``meta`` (its parsed ``meta_json``)."""
    path = GOLDEN / f"{name}.npz"
    with np.load(path) as data:
        out = {k: data[k] for k in data.files if k != "meta_json"}
        out["meta"] = json.loads(str(data["meta_json"]))
    return out


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def rel_l2(a: np.ndarray, b: np.ndarray) -> float:
    """``||a - b|| / max(||b||, 1e-12)`` in float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))


def run_policy(work: Path, frames: int, obj_id: int, policy, config: str = DEMO_CONFIG,
               checkpoint: Path = DEMO_CKPT, overrides: List[str] = (), video_stride: int = 8
               ) -> Dict[str, Any]:
    """Track ``obj_id`` of the clip with ``policy``; per tracked frame the stored output.

    Returns ``{"frames", "lowres" [T, h, w], "score" [T], "ptr" [T, C], "video" [T, H/s, W/s],
    "records", "state", "predictor", "masks"}`` (frame 0, the prompt, excluded).
    """
    from sam2.build_sam import build_sam2_video_predictor

    masks = make_clip(str(work / "video"), frames=frames)
    predictor = build_sam2_video_predictor(config, str(checkpoint), device="cpu",
                                           apply_postprocessing=False, memory_policy=policy,
                                           hydra_overrides_extra=list(overrides))
    state = predictor.init_state(str(work / "video" / "JPEGImages"))
    predictor.add_new_mask(state, 0, obj_id, masks[f"obj{obj_id}"][0])
    rec: Dict[str, list] = {"frames": [], "lowres": [], "score": [], "ptr": [], "video": []}
    with torch.inference_mode():
        for frame_idx, _, video_res in predictor.propagate_in_video(state):
            if frame_idx == 0:
                continue
            out = state.tracks[obj_id].bank.get(frame_idx)
            rec["frames"].append(frame_idx)
            rec["lowres"].append(out.pred_masks[0, 0].float().cpu().numpy())
            rec["score"].append(float(out.object_score_logits.reshape(-1)[0]))
            rec["ptr"].append(out.obj_ptr[0].float().cpu().numpy())
            rec["video"].append(video_res[0, 0, ::video_stride, ::video_stride].float().cpu().numpy())
    result: Dict[str, Any] = {k: np.asarray(v) for k, v in rec.items()}
    result.update(records=state.policy_records()[obj_id], state=state, predictor=predictor,
                  masks=masks)
    return result


def replay_golden(name: str, work: Path, policy_cls) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Load golden ``name``, check it was made on today's demo checkpoint, and replay its
    scenario through ``policy_cls(**knobs)``; returns ``(golden, run_policy(...) output)``."""
    golden = load_golden(name)
    meta = golden["meta"]
    assert meta["weights_sha256"] == file_sha256(DEMO_CKPT), "demo checkpoint changed: regenerate the goldens"
    ours = run_policy(work, meta["frames"], meta.get("obj_id", 1), policy_cls(**meta["knobs"]))
    return golden, ours
