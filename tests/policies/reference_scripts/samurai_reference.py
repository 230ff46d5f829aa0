#!/usr/bin/env python
"""Reference run of the authors' SAMURAI code for tests/policies/test_samurai_reference.py.

Runs under the forks' python only (see tests/policies/README.md), from a folder without a
``sam2/`` subfolder::

    cd /tmp && env -u PYTHONPATH $FORKS_PY /path/to/tests/policies/reference_scripts/samurai_reference.py \
        --fork-dir /path/to/samurai-checkout --out /path/to/tests/policies/golden/samurai_t.npz

It builds the fork's video predictor from its ``configs/samurai/sam2.1_hiera_t.yaml`` (the
SAMURAI knobs set there, optionally overridden with ``--opt key=value``) on the project's
demo model (``sam2/checkpoints/sam2.1_hiera_demo.pt`` with the demo config's
values as overrides), prompts object 1 of the synthetic clip with its mask on frame 0 and propagates.
Recorded per tracked frame (the fork's own values, read from its state):

* ``lowres`` ``[T, h, w]`` the stored low-res mask logits, ``score`` ``[T]`` the object-score
  logit, ``ptr`` ``[T, C]`` the object pointer;
* ``ious`` ``[T, 3]`` the decoder's predicted IoUs, ``chosen`` ``[T]`` the candidate the fork
  output (found by matching its mask against the candidates);
* ``best_iou`` / ``kf_score`` ``[T]`` what SAMURAI stores for memory admission (NaN: none);
* ``kf_mean`` ``[T, 8]`` the Kalman state after the frame, ``stable`` ``[T]`` its counter;
* ``memory_frames`` ``[T, 6]`` the non-conditioning frames memory attention read (-1 pad),
  taken from the order in which the fork looked them up in its output store.
"""
import argparse
import json
import math
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fork_env  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

#: the project's demo model (trained, so candidate masks are object-shaped and differ) on the
#: project's synthetic clip; 30 frames so that SAMURAI's default 15 stable frames are reached
SCENARIO = {"model": "demo", "frames": 30, "obj_id": 1}


def _memory_frames(gets, frame_idx):
    """Memory frames = the lookups up to the first one of ``frame_idx - 1`` (see docstring)."""
    out = []
    for k in gets:
        out.append(k)
        if k == frame_idx - 1:
            return out
    return []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fork-dir", required=True, help="checkout of yangchris11/samurai")
    ap.add_argument("--out", required=True)
    ap.add_argument("--frames", type=int, default=SCENARIO["frames"])
    ap.add_argument("--opt", action="append", default=[],
                    help="SAMURAI knob override, e.g. stable_frames_threshold=3 (repeatable)")
    ap.add_argument("--obj-id", type=int, default=SCENARIO["obj_id"], choices=(1, 2),
                    help="1: the striped disk; 2: the square that leaves the frame and returns")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    fork_env.load_fork("samurai", args.fork_dir)
    from sam2.build_sam import build_sam2_video_predictor

    overrides = fork_env.demo_model_overrides() + [f"++model.{kv}" for kv in args.opt]
    with tempfile.TemporaryDirectory() as work:
        jpegs, masks = fork_env.make_video(work, args.frames)
        ckpt, digest = fork_env.DEMO_CKPT, fork_env.file_sha256(fork_env.DEMO_CKPT)
        predictor = build_sam2_video_predictor(
            "configs/samurai/sam2.1_hiera_t.yaml", ckpt, device="cpu",
            apply_postprocessing=False, hydra_overrides_extra=overrides)
        fork_env.make_qpool_global_blocks_runnable(predictor, predictor.image_size)
        assert predictor.samurai_mode, "the SAMURAI config did not switch samurai_mode on"

        heads = []
        original_heads = predictor._forward_sam_heads

        def spy_heads(*a, **k):
            out = original_heads(*a, **k)
            heads.append(out)
            return out

        predictor._forward_sam_heads = spy_heads
        state = predictor.init_state(jpegs)
        log = fork_env.LookupLog()
        state["output_dict"]["non_cond_frame_outputs"] = log
        obj_id = args.obj_id
        predictor.add_new_mask(state, 0, obj_id, masks[f"obj{obj_id}"][0])

        rec = {k: [] for k in ("frame", "lowres", "score", "ptr", "ious", "chosen", "best_iou",
                               "kf_score", "kf_mean", "stable", "memory_frames", "video")}
        for frame_idx, obj_ids, video_res in predictor.propagate_in_video(state):
            if frame_idx == 0:
                log.gets.clear()
                heads.clear()
                continue
            out = state["output_dict"]["non_cond_frame_outputs"][frame_idx]
            assert len(heads) == 1, f"frame {frame_idx}: {len(heads)} decoder calls"
            low_multi, _, ious, low_chosen = heads[0][:4]
            match = [int(torch.equal(low_multi[0, j], low_chosen[0, 0])) for j in range(low_multi.shape[1])]
            assert sum(match) >= 1, f"frame {frame_idx}: output mask is none of the candidates"
            mem = [t for t in _memory_frames(log.gets, frame_idx) if t in log]
            rec["frame"].append(frame_idx)
            rec["lowres"].append(out["pred_masks"][0, 0].float().numpy())
            rec["score"].append(float(out["object_score_logits"].reshape(-1)[0]))
            rec["ptr"].append(out["obj_ptr"][0].float().numpy())
            rec["ious"].append(ious[0].float().numpy())
            rec["chosen"].append(match.index(1))
            rec["best_iou"].append(float(out["best_iou_score"].reshape(-1)[0]))
            kf = out["kf_score"]
            rec["kf_score"].append(math.nan if kf is None else float(kf.reshape(-1)[0]))
            rec["kf_mean"].append(np.asarray(predictor.kf_mean, np.float64).copy())
            rec["stable"].append(int(predictor.stable_frames))
            rec["memory_frames"].append(mem + [-1] * (6 - len(mem)))
            rec["video"].append(video_res[0, 0, ::8, ::8].float().numpy())
            log.gets.clear()
            heads.clear()

        knobs = {k: getattr(predictor, k) for k in (
            "stable_frames_threshold", "stable_ious_threshold", "min_obj_score_logits",
            "kf_score_weight", "memory_bank_iou_threshold", "memory_bank_obj_score_threshold",
            "memory_bank_kf_score_threshold")}
        meta = {"scenario": SCENARIO, "frames": args.frames, "obj_id": obj_id, "opts": args.opt, "knobs": knobs,
                "weights_sha256": digest, "fork_commit": fork_env.fork_commit(args.fork_dir),
                "torch": torch.__version__, "argv": sys.argv[1:]}
        arrays = {k: np.asarray(v) for k, v in rec.items()}
        arrays["lowres"] = arrays["lowres"].astype(np.float32)
        arrays["meta_json"] = np.array(json.dumps(meta))
        fork_env.save_npz(args.out, arrays)
        print(json.dumps({"out": args.out, "chosen": rec["chosen"], "stable": rec["stable"],
                          "best_iou": [round(x, 3) for x in rec["best_iou"]],
                          "score": [round(x, 3) for x in rec["score"]],
                          "memory_frames": rec["memory_frames"]}, indent=None))


if __name__ == "__main__":
    main()
