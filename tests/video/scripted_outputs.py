"""Scripted model outputs for tests of the video predictor and the stream: the random model's
tracked outputs are replaced by chosen ones so that memory policies such as RCMS fire."""
from __future__ import annotations

import torch


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
