#!/usr/bin/env python
"""Reference run of the authors' SAM2Long code for tests/policies/test_sam2long_reference.py.

Runs under the forks' python only (see tests/policies/README.md), from a folder without a
``sam2/`` subfolder::

    cd /tmp && env -u PYTHONPATH $FORKS_PY /path/to/tests/policies/reference_scripts/sam2long_reference.py \
        --fork-dir /path/to/SAM2Long-checkout --out /path/to/tests/policies/golden/sam2long_square.npz

The fork's video predictor (its ``configs/sam2.1/sam2.1_hiera_t.yaml``) on the seeded
Hiera-T checkpoint (``tests/parity/seeded_ckpt.py``, seed 0, object-score bias
``obj_score_bias``) at the stock 1024 px - the fork's object-aware memory modulation assumes
64 x 64 = 4096 memory tokens a frame and 4 tokens per object pointer, i.e. the official
widths at 1024 px, so the demo model cannot run it - on the project's synthetic clip, one object (as the authors' per-object VOS script does: the
state is reset for each object), its mask on frame 0, with SAM2Long's defaults from that
script: ``num_pathway`` 3, ``iou_thre`` 0.1, ``uncertainty`` 2.

Recorded: ``final_lowres`` ``[T, 32, 32]`` (stride 8) and ``final_video`` ``[T, H/8, W/8]``
the logits the fork returns (the best pathway at the end of the video, frame 0 included);
per tracked frame ``t >= 2`` and pathway slot ``p``: ``acc_score`` ``[T, P]`` cumulative
scores, ``slot_iou`` ``[T, P]``, ``slot_score`` ``[T, P]`` object-score logits,
``slot_lowres`` ``[T, P, 32, 32]``; ``pick`` ``[T, P, T]`` the fork's ``mem_pick_index``
after each frame (pathway -> slot used on every earlier frame; -1 where undefined).
Frame 1 has a single hypothesis (stored as slot 0 of every pathway).
"""
import argparse
import copy
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fork_env  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

#: obj_score_bias 2: object-score logits of the seeded model sit near the uncertainty
#: threshold 2, so both branches of the pathway selection occur
SCENARIO = {"model": "seeded-t", "seed": 0, "obj_score_bias": 2.0, "frames": 8, "obj_id": 2,
            "num_pathway": 3, "iou_thre": 0.1, "uncertainty": 2.0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fork-dir", required=True, help="checkout of Mark12Ding/SAM2Long")
    ap.add_argument("--out", required=True)
    ap.add_argument("--frames", type=int, default=SCENARIO["frames"])
    ap.add_argument("--obj-id", type=int, default=SCENARIO["obj_id"], choices=(1, 2))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    fork_env.load_fork("sam2long", args.fork_dir)
    from sam2.build_sam import build_sam2_video_predictor

    with tempfile.TemporaryDirectory() as work:
        jpegs, ckpt, masks, digest = fork_env.make_inputs(
            work, args.frames, "t", SCENARIO["seed"], obj_score_bias=SCENARIO["obj_score_bias"])
        predictor = build_sam2_video_predictor(
            "configs/sam2.1/sam2.1_hiera_t.yaml", ckpt, device="cpu", apply_postprocessing=False)

        picks = {}
        original = predictor._run_single_frame_inference

        def spy(*a, **k):
            out = original(*a, **k)
            if k.get("frame_idx") is not None and k.get("mask_inputs") is None:
                picks[k["frame_idx"]] = copy.deepcopy(out[2])
            return out

        predictor._run_single_frame_inference = spy
        state = predictor.init_state(jpegs)
        state["num_pathway"] = SCENARIO["num_pathway"]
        state["iou_thre"] = SCENARIO["iou_thre"]
        state["uncertainty"] = SCENARIO["uncertainty"]
        predictor.add_new_mask(state, 0, args.obj_id, masks[f"obj{args.obj_id}"][0])
        obj_ids, logits = predictor.propagate_in_video(state, start_frame_idx=0)

        T, P = args.frames, SCENARIO["num_pathway"]
        store = state["output_dict"]["non_cond_frame_outputs"]
        acc = np.full((T, P), np.nan)
        slot_iou = np.full((T, P), np.nan, np.float32)
        slot_score = np.full((T, P), np.nan, np.float32)
        slot_low = np.zeros((T, P, 32, 32), np.float32)
        pick = np.full((T, P, T), -1, np.int32)
        for t in range(1, T):
            e = store[t]
            n = e["pred_masks"].shape[-1]
            if "acc_score" in e:  # frame start+1 holds one hypothesis but P zero scores
                scores = np.asarray(e["acc_score"], np.float64)
                acc[t, :len(scores)] = scores
            slot_iou[t, :n] = e["ious"].reshape(-1)[:n].float().numpy()
            slot_score[t, :n] = e["object_score_logits"].reshape(-1)[:n].float().numpy()
            for p in range(n):
                slot_low[t, p] = e["pred_masks"][0, 0, ::8, ::8, p].float().numpy()
            if isinstance(picks.get(t), list):
                for p, d in enumerate(picks[t]):
                    for f, s in d.items():
                        pick[t, p, f] = s
        final_low = []
        final_pick = picks[T - 1][0]
        for t in range(T):
            if t == 0:
                low = state["output_dict"]["cond_frame_outputs"][0]["pred_masks"][0, 0]
            else:
                low = store[t]["pred_masks"][0, 0, ..., final_pick[t]]
            final_low.append(low[::8, ::8].float().numpy())
        video = np.stack([m[0, 0, ::8, ::8].float().numpy() for m in logits])
        meta = {"scenario": SCENARIO, "frames": T, "obj_id": args.obj_id,
                "weights_sha256": digest, "fork_commit": fork_env.fork_commit(args.fork_dir),
                "final_pick": {int(k): int(v) for k, v in final_pick.items()},
                "torch": torch.__version__, "argv": sys.argv[1:]}
        arrays = {"final_lowres": np.stack(final_low), "final_video": video, "acc_score": acc,
                  "slot_iou": slot_iou, "slot_score": slot_score, "slot_lowres": slot_low,
                  "pick": pick, "meta_json": np.array(json.dumps(meta))}
        fork_env.save_npz(args.out, arrays)
        print(json.dumps({"out": args.out, "final_pick": meta["final_pick"],
                          "slot_score": np.round(slot_score, 2).tolist(),
                          "acc": np.round(acc, 2).tolist()}))


if __name__ == "__main__":
    main()
