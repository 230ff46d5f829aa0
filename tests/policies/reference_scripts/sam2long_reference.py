#!/usr/bin/env python
"""Reference run of the authors' SAM2Long code for tests/policies/test_sam2long_reference.py.

Runs under the forks' python only (see tests/policies/README.md), from a folder without a
``sam2/`` subfolder::

    cd /tmp && env -u PYTHONPATH $FORKS_PY /path/to/tests/policies/reference_scripts/sam2long_reference.py \
        --fork-dir /path/to/SAM2Long-checkout --out /path/to/tests/policies/golden/sam2long_square_defaults.npz

The fork's video predictor (its ``configs/sam2.1/sam2.1_hiera_t.yaml``) on the project's demo
model (``sam2/checkpoints/sam2.1_hiera_demo.pt``, the demo config's values as hydra overrides,
as for the SAMURAI and DAM4SAM goldens), on the project's synthetic clip, one object (as the
authors' per-object VOS script does), its mask on frame 0, with SAM2Long's knobs (defaults of
the authors' ``tools/vos_inference.py``: ``num_pathway`` 3, ``iou_thre`` 0.1, ``uncertainty``
2; ``--opt key=value`` overrides them).

The fork's memory-attention modulation hard-codes the token counts of the official models at
1024 px (4096 memory tokens a frame, 4 tokens an object pointer); the temporary copy of the
fork gets the demo model's counts instead (:func:`adapt_token_counts`, see the README).

Recorded (``T`` frames, ``P`` pathways; -1 / NaN where undefined):

* ``final_lowres`` ``[T, h, w]`` and ``final_video`` ``[T, H/8, W/8]``: the logits the fork
  returns at the end (the best pathway's history; frame 0 = the prompt);
* per frame ``t`` and stored slot ``i`` (after the frame): ``acc_score`` ``[T, P]``,
  ``slot_iou``, ``slot_score`` ``[T, P]``, ``parent``
  ``[T, P]`` (the pathway it extends), ``chosen`` ``[T, P]`` (its candidate in that
  pathway's run); frame 1 holds one slot;
* per frame and pathway run ``p``: ``run_ious`` ``[T, P, 3]``, ``run_score`` ``[T, P]``,
  ``run_spatial`` ``[T, P, 6]`` (tracked frames read as spatial memory, oldest first) and
  ``run_pointers`` ``[T, P, 15]`` (tracked frames whose pointers are read, newest first),
  taken from the fork's own lookups in its output store.
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

SCENARIO = {"model": "demo", "frames": 24, "obj_id": 2}
KNOBS = {"num_pathway": 3, "iou_thre": 0.1, "uncertainty": 2.0}


def adapt_token_counts(fork_sam2_dir: str, frame_tokens: int, pointer_tokens: int) -> int:
    """Replace the fork's hard-coded 4096 tokens a memory frame / 4 tokens a pointer in the
    temporary copy's ``modeling/memory_attention.py``; return the number of replacements."""
    path = os.path.join(fork_sam2_dir, "modeling", "memory_attention.py")
    with open(path) as f:
        text = f.read()
    edits = [("*4096)", f"*{frame_tokens})"), (", 4096, -1)", f", {frame_tokens}, -1)"),
             ("num_ptr, 4, -1)", f"num_ptr, {pointer_tokens}, -1)"), ("num_ptr*4)", f"num_ptr*{pointer_tokens})")]
    count = 0
    for old, new in edits:
        n = text.count(old)
        if n != 1:
            sys.exit(f"{path}: expected one {old!r}, found {n} (fork changed?)")
        text = text.replace(old, new)
        count += n
    with open(path, "w") as f:
        f.write(text)
    return count


def _split_reads(gets, frame_idx):
    """Spatial reads end with the first lookup of ``frame_idx - 1``; pointer reads follow."""
    if frame_idx - 1 not in gets:
        return [], []
    cut = gets.index(frame_idx - 1) + 1
    return gets[:cut], gets[cut:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fork-dir", required=True, help="checkout of Mark12Ding/SAM2Long")
    ap.add_argument("--out", required=True)
    ap.add_argument("--frames", type=int, default=SCENARIO["frames"])
    ap.add_argument("--obj-id", type=int, default=SCENARIO["obj_id"], choices=(1, 2))
    ap.add_argument("--opt", action="append", default=[], help="SAM2Long knob, e.g. uncertainty=20")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    knobs = dict(KNOBS)
    for kv in args.opt:
        key, _, value = kv.partition("=")
        if key not in knobs:
            sys.exit(f"--opt {kv!r}: unknown knob (known: {', '.join(knobs)})")
        knobs[key] = type(knobs[key])(value)

    sam2 = fork_env.load_fork("sam2long", args.fork_dir)
    import yaml

    with open(fork_env.DEMO_CONFIG) as f:
        demo = yaml.safe_load(f)["model"]
    side = demo["image_size"] // 16
    frame_tokens = side * side
    pointer_tokens = demo["memory_attention"]["d_model"] // demo["memory_encoder"]["out_dim"]
    adapt_token_counts(os.path.dirname(sam2.__file__), frame_tokens, pointer_tokens)
    from sam2.build_sam import build_sam2_video_predictor

    with tempfile.TemporaryDirectory() as work:
        jpegs, masks = fork_env.make_video(work, args.frames)
        ckpt, digest = fork_env.DEMO_CKPT, fork_env.file_sha256(fork_env.DEMO_CKPT)
        predictor = build_sam2_video_predictor(
            "configs/sam2.1/sam2.1_hiera_t.yaml", ckpt, device="cpu", apply_postprocessing=False,
            hydra_overrides_extra=fork_env.demo_model_overrides())
        fork_env.make_qpool_global_blocks_runnable(predictor, predictor.image_size)

        runs = []  # (frame, pathway run index, outputs, spatial reads, pointer reads)
        original_step = predictor.track_step
        log = fork_env.LookupLog()

        def spy_step(*a, **k):
            log.gets.clear()
            out = original_step(*a, **k)
            frame = k["frame_idx"]
            if k.get("mask_inputs") is None and frame >= 1:
                spatial, pointers = _split_reads(list(log.gets), frame)
                runs.append((frame, out, spatial, pointers))
            return out

        predictor.track_step = spy_step
        picks = {}
        original_run = predictor._run_single_frame_inference

        def spy_run(*a, **k):
            out = original_run(*a, **k)
            if k.get("mask_inputs") is None and k.get("frame_idx", 0) >= 1:
                picks[k["frame_idx"]] = copy.deepcopy(out[2])
            return out

        predictor._run_single_frame_inference = spy_run
        state = predictor.init_state(jpegs)
        for key, value in knobs.items():
            state[key] = value
        state["output_dict"]["non_cond_frame_outputs"] = log
        predictor.add_new_mask(state, 0, args.obj_id, masks[f"obj{args.obj_id}"][0])
        obj_ids, logits = predictor.propagate_in_video(state, start_frame_idx=0)

        T, P = args.frames, knobs["num_pathway"]
        store = dict(log)
        acc = np.full((T, P), np.nan)
        slot_iou = np.full((T, P), np.nan, np.float32)
        slot_score = np.full((T, P), np.nan, np.float32)
        parent = np.full((T, P), -1, np.int32)
        chosen = np.full((T, P), -1, np.int32)
        run_ious = np.full((T, P, 3), np.nan, np.float32)
        run_score = np.full((T, P), np.nan, np.float32)
        run_spatial = np.full((T, P, 6), -1, np.int32)
        run_pointers = np.full((T, P, 15), -1, np.int32)
        per_frame = {}
        for frame, out, spatial, pointers in runs:
            p = len(per_frame.setdefault(frame, []))
            per_frame[frame].append(out)
            run_ious[frame, p, :out["ious"].numel()] = out["ious"].reshape(-1).float().numpy()
            run_score[frame, p] = float(out["object_score_logits"].reshape(-1)[0])
            run_spatial[frame, p, :len(spatial)] = spatial
            run_pointers[frame, p, :len(pointers)] = pointers
        for t in range(1, T):
            e = store[t]
            n = e["pred_masks"].shape[-1]
            acc[t, :n] = np.asarray(e["acc_score"], np.float64)[:n]
            slot_iou[t, :n] = e["ious"].reshape(-1)[:n].float().numpy()
            slot_score[t, :n] = e["object_score_logits"].reshape(-1)[:n].float().numpy()
            for i in range(n):
                if t == 1:
                    continue
                # the pathway slot i extends: its frame -> slot map says which slot of t - 1
                p = picks[t][i][t - 1]
                out = per_frame[t][p]
                hits = [j for j in range(out["pred_masks"].shape[1])
                        if torch.equal(out["pred_masks"][0, j], e["pred_masks"][0, 0, ..., i])
                        and torch.equal(out["ious"][0, j], e["ious"].reshape(-1)[i])]
                if len(hits) != 1:
                    sys.exit(f"frame {t} slot {i}: {len(hits)} candidates of pathway {p} match its mask and IoU")
                parent[t, i], chosen[t, i] = p, hits[0]
        final = picks[T - 1][0]  # the fork returns pathway 0's history
        final_pick = [-1] + [int(final[t]) for t in range(1, T)]
        final_low = [state["output_dict"]["cond_frame_outputs"][0]["pred_masks"][0, 0].float().numpy()]
        final_low += [store[t]["pred_masks"][0, 0, ..., final[t]].float().numpy() for t in range(1, T)]
        video = np.stack([m[0, 0, ::8, ::8].float().numpy() for m in logits])
        meta = {"scenario": SCENARIO, "knobs": knobs, "frames": T, "obj_id": args.obj_id,
                "opts": args.opt, "weights_sha256": digest,
                "fork_commit": fork_env.fork_commit(args.fork_dir),
                "token_counts": {"frame": frame_tokens, "pointer": pointer_tokens},
                "torch": torch.__version__, "argv": sys.argv[1:]}
        arrays = {"final_lowres": np.stack(final_low), "final_video": video,
                  "final_pick": np.asarray(final_pick, np.int32), "acc_score": acc,
                  "slot_iou": slot_iou, "slot_score": slot_score,
                  "parent": parent, "chosen": chosen, "run_ious": run_ious, "run_score": run_score,
                  "run_spatial": run_spatial, "run_pointers": run_pointers,
                  "meta_json": np.array(json.dumps(meta))}
        fork_env.save_npz(args.out, arrays)
        print(json.dumps({"out": args.out, "final_pick": final_pick,
                          "parent": parent[2:].tolist(), "chosen": chosen[2:].tolist(),
                          "run_score": np.round(run_score, 2).tolist(),
                          "acc": np.round(acc, 2).tolist()}))


if __name__ == "__main__":
    main()
