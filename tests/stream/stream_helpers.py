"""Helpers of the streaming tests (a uniquely named module: several test folders have a
``conftest``, so ``from conftest import ...`` would pick whichever was imported first)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ORACLE_SCRIPTS = Path(__file__).resolve().parents[1] / "parity" / "oracle_scripts"
if str(ORACLE_SCRIPTS) not in sys.path:
    sys.path.insert(0, str(ORACLE_SCRIPTS))

from video_clip import make_clip  # noqa: E402

INSTANT = "configs/sam2.1/sam2.1_hiera_instant.yaml"
# a short read window (3 memories, 4 pointers) so that eviction happens within a few frames
SHORT_WINDOW = ["++model.num_maskmem=3", "++model.max_obj_ptrs_in_encoder=4"]


def build_instant(overrides=SHORT_WINDOW, **kwargs):
    """The instant config with seeded random weights (no checkpoint)."""
    from sam2.build_sam import build_sam2_video_predictor

    torch.manual_seed(0)
    return build_sam2_video_predictor(INSTANT, None, device="cpu",
                                      hydra_overrides_extra=list(overrides), **kwargs)


def read_frames(folder: Path):
    """The clip's frames as ``[H, W, 3]`` uint8 arrays, decoded like the offline source."""
    return [np.array(Image.open(p).convert("RGB")) for p in sorted(folder.glob("*.jpg"))]


def script_outputs(predictor, absent=(), low_quality=()):
    """Make the random model's tracked outputs scripted (present with a confident blob, absent
    on ``absent``, low predicted IoU on ``low_quality``) so that RCMS fires. Offline and
    streaming runs go through the same ``track_step``, so both see the same script."""
    inner = type(predictor).track_step.__get__(predictor)

    def scripted(**kw):
        out = inner(**kw)
        if kw["mask_inputs"] is not None or kw["point_inputs"] is not None:
            return out
        frame = kw["frame_idx"]
        if frame in absent:
            out.object_score_logits = torch.full_like(out.object_score_logits, -5.0)
            out.pred_masks = torch.full_like(out.pred_masks, -1024.0)
        else:
            out.object_score_logits = torch.full_like(out.object_score_logits, 5.0)
            masks = out.pred_masks.clone()
            masks[..., 4:12, 4:12] = 6.0
            out.pred_masks = masks
        out.ious = torch.full_like(out.ious, 0.05 if frame in low_quality else 0.95)
        return out

    predictor.track_step = scripted
    return predictor
