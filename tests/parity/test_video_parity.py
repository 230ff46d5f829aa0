"""Parity of SAM2VideoPredictor with the official predictor (goldens in golden/video_*.npz).

The goldens come from the official sam2==1.1.0 through
``oracle_scripts/video_golden.py`` (command in tests/parity/README.md, "Video predictor").
Here the same clip and the same seeded checkpoint are regenerated in a temporary folder and
the same scenario (``oracle_scripts/video_scenarios.py``) is run through our predictor.
Per prompt / yielded frame and per object we compare the low-res logits held in the state
(before any non-overlap step), object-score logits and object pointers at relative L2
<= 1e-4, and the returned video-resolution logits.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

PARITY = Path(__file__).resolve().parent
for p in (PARITY, PARITY / "oracle_scripts"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import seeded_ckpt  # noqa: E402
import video_scenarios as vs  # noqa: E402
from video_clip import make_clip  # noqa: E402

from sam2.build_sam import build_sam2_video_predictor  # noqa: E402

GOLDEN = PARITY / "golden"
REL_TOL = 1e-4
NAMES = sorted(vs.SCENARIOS)
# the 1024-px scenarios are slow: `pytest -m "not slow"` leaves them out
PARAMS = [pytest.param(n, marks=pytest.mark.slow) if vs.SCENARIOS[n]["image_size"] == 1024 else n for n in NAMES]


def _rel_l2(ours: np.ndarray, ref: np.ndarray) -> float:
    ours = np.asarray(ours, np.float64)
    ref = np.asarray(ref, np.float64)
    return float(np.linalg.norm(ours - ref) / max(np.linalg.norm(ref), 1e-12))


def _read_entry(state, obj_id, frame_idx):
    track = state.track(obj_id)
    out = track.pending.cond.get(frame_idx) or track.pending.non_cond.get(frame_idx)
    if out is None:
        out = track.bank.get(frame_idx)
    if out is None:
        return None
    return out.pred_masks, out.object_score_logits, out.obj_ptr


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("video_parity")


def _clip(workdir: Path, frames: int):
    root = workdir / f"clip{frames}"
    if not (root / "masks.npz").exists():
        make_clip(str(root), frames=frames)
    return root / "JPEGImages", dict(np.load(root / "masks.npz"))


def _ckpt(workdir: Path, size: str, expected_digest: str) -> Path:
    path = workdir / f"{size}.pt"
    if not path.exists():
        weights = seeded_ckpt.make_seeded_state_dict(size, 0)
        assert seeded_ckpt.state_dict_digest(weights) == expected_digest, (
            "the seeded weights changed since the goldens were made: regenerate them")
        torch.save({"model": weights}, path)
    return path


@pytest.mark.parametrize("name", PARAMS)
def test_video_parity(name, workdir):
    golden_path = GOLDEN / f"video_{name}.npz"
    assert golden_path.exists(), f"missing golden {golden_path}; see tests/parity/README.md"
    golden = np.load(golden_path)
    spec = json.loads(str(golden["spec_json"]))
    assert spec == json.loads(json.dumps(vs.SCENARIOS[name])), "scenario changed: regenerate goldens"
    expected = vs.unpack(golden)

    video_dir, masks = _clip(workdir, spec["frames"])
    predictor = build_sam2_video_predictor(
        vs.config_name(spec["size"]), str(_ckpt(workdir, spec["size"], str(golden["weights_sha256"]))),
        device="cpu",
        apply_postprocessing=False, hydra_overrides_extra=vs.hydra_overrides(spec))
    got = vs.run_scenario(predictor, str(video_dir), masks, spec, _read_entry)

    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected)):
        where = f"{name} record {i} (kind {int(e['kind'])}, frame {int(e['frame'])})"
        assert int(g["frame"]) == int(e["frame"]), where
        assert g["obj_ids"].tolist() == e["obj_ids"].tolist(), where
        assert g["has_entry"].tolist() == e["has_entry"].tolist(), where
        for o, obj_id in enumerate(e["obj_ids"].tolist()):
            at = f"{where}, object {obj_id}"
            assert _rel_l2(g["lowres"][o], e["lowres"][o]) <= REL_TOL, at
            assert _rel_l2(g["lowres_norm"][o], e["lowres_norm"][o]) <= REL_TOL, at
            assert _rel_l2(g["ptr"][o], e["ptr"][o]) <= REL_TOL, at
            assert abs(g["score"][o] - e["score"][o]) <= REL_TOL * max(1.0, abs(e["score"][o])), at
            assert _rel_l2(g["video"][o], e["video"][o]) <= REL_TOL, at
