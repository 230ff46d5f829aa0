#!/usr/bin/env python
"""Golden outputs of the OFFICIAL SAM2VideoPredictor for tests/parity/test_video_parity.py.

Runs ONLY under the oracle python (official sam2==1.1.0), as a separate process, from a
folder without a ``sam2/`` subfolder and without PYTHONPATH:

    cd /tmp && env -u PYTHONPATH /root/.cache/sam2-oracle/venv/bin/python \
        /work/main/tests/parity/oracle_scripts/video_golden.py \
        --out-dir /work/main/tests/parity/golden [--only NAME ...]

For every scenario of ``video_scenarios.SCENARIOS`` it regenerates the synthetic clip
(``video_clip.py``) and the seeded checkpoint (``seeded_ckpt.py``, seed 0) in a temporary
folder, builds the official predictor with ``apply_postprocessing=False`` (so no
non-overlap, no hole filling) on CPU in float32, runs the scenario and writes
``video_<name>.npz``.

Official CPU float32 quirk: a frame without past object pointers (an object whose only
prompt is on a later frame) hands memory attention a bfloat16 memory and the official code
raises a dtype error. As in the oracle's run_official.py, memory attention receives that
memory upcast to float32 (what type promotion gives in every other case).
"""
import argparse
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
sys.dont_write_bytecode = True

import numpy as np  # noqa: E402
import torch  # noqa: E402

import seeded_ckpt  # noqa: E402
import video_scenarios as vs  # noqa: E402
from video_clip import make_clip  # noqa: E402

SEED = 0


def _check_official():
    import importlib.metadata

    import sam2

    if importlib.metadata.version("sam2") != "1.1.0" or "site-packages" not in sam2.__file__:
        sys.exit(f"this script needs the official sam2==1.1.0, got {sam2.__file__}")


def _read_entry(state, obj_id, frame_idx):
    idx = state["obj_id_to_idx"][obj_id]
    per_obj = state["output_dict_per_obj"][idx]
    temp = state["temp_output_dict_per_obj"][idx]
    for store in (temp["cond_frame_outputs"], temp["non_cond_frame_outputs"],
                  per_obj["cond_frame_outputs"], per_obj["non_cond_frame_outputs"]):
        if frame_idx in store:
            out = store[frame_idx]
            return out["pred_masks"], out["object_score_logits"], out["obj_ptr"]
    return None


def _upcast_memory(predictor):
    inner = predictor.memory_attention.forward

    def forward(*args, **kwargs):
        mem = kwargs.get("memory")
        if mem is not None and mem.dtype != torch.float32:
            kwargs["memory"] = mem.float()
        return inner(*args, **kwargs)

    predictor.memory_attention.forward = forward


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    _check_official()
    from sam2.build_sam import build_sam2_video_predictor

    torch.set_num_threads(args.threads)
    names = args.only or list(vs.SCENARIOS)
    with tempfile.TemporaryDirectory() as tmp:
        ckpts, digests = {}, {}
        for name in names:
            spec = vs.SCENARIOS[name]
            clip_dir = os.path.join(tmp, f"clip{spec['frames']}")
            if not os.path.isdir(clip_dir):
                make_clip(clip_dir, frames=spec["frames"])
            masks = dict(np.load(os.path.join(clip_dir, "masks.npz")))
            if spec["size"] not in ckpts:
                path = os.path.join(tmp, f"{spec['size']}.pt")
                weights = seeded_ckpt.make_seeded_state_dict(spec["size"], SEED)
                torch.save({"model": weights}, path)
                ckpts[spec["size"]] = path
                digests[spec["size"]] = seeded_ckpt.state_dict_digest(weights)
            predictor = build_sam2_video_predictor(
                vs.config_name(spec["size"]), ckpts[spec["size"]], device="cpu",
                apply_postprocessing=False, hydra_overrides_extra=vs.hydra_overrides(spec))
            _upcast_memory(predictor)
            with torch.inference_mode():
                records = vs.run_scenario(predictor, os.path.join(clip_dir, "JPEGImages"),
                                          masks, spec, _read_entry)
            out = vs.pack(records)
            out["spec_json"] = np.array(json.dumps(spec))
            out["weights_sha256"] = np.array(digests[spec["size"]])
            out["command"] = np.array(" ".join(["video_golden.py"] + sys.argv[1:]))
            path = os.path.join(args.out_dir, f"video_{name}.npz")
            tmp_path = path + ".tmp.npz"
            np.savez_compressed(tmp_path, **out)
            os.replace(tmp_path, path)
            scores = [r["score"].round(2).tolist() for r in records]
            print(f"{name}: {len(records)} records -> {path}; scores {scores}", flush=True)


if __name__ == "__main__":
    main()
