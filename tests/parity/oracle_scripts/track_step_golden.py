#!/usr/bin/env python
"""Golden outputs of the OFFICIAL ``SAM2Base.track_step`` on tiny seeded models.

Runs only under the oracle interpreter (official ``sam2==1.1.0``), from a folder without a
``sam2/`` subfolder and without PYTHONPATH. Regenerate::

    cd /tmp && env -u PYTHONPATH /root/.cache/sam2-oracle/venv/bin/python \
        /work/main/tests/parity/oracle_scripts/track_step_golden.py \
        --out /work/main/tests/parity/golden/track_step_tiny.npz

The tiny models, prompts, seeded input features and call order are defined in
``track_step_scenario.py`` (shared with ``tests/modeling/test_sam2_base.py``). The image
encoder is a stub (only ``neck.d_model`` is read); features are fed to ``track_step``
directly. After each step the output is stored in the official ``output_dict`` with
``maskmem_features`` rounded to bfloat16, as the official video predictor stores it.

Stored per scenario ``<name>`` and step ``<i>`` (float32): ``<name>/<i>/pred_masks``
``[B,1,32,32]``, ``obj_ptr`` ``[B,C]``, ``object_score_logits`` ``[B,1]``, ``ious`` ``[B,3]``
(NaN padded) and ``maskmem_features`` (first 16 channels, before the bf16 rounding).
``meta`` is a JSON string (versions, weight digests, command).
"""
import argparse
import importlib.metadata
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import numpy as np  # noqa: E402
import torch  # noqa: E402

from official_guard import import_official_sam2  # noqa: E402

import track_step_scenario as sc  # noqa: E402
from seeded_ckpt import state_dict_digest  # noqa: E402


def build_official(spec):
    return sc.assemble_tiny_model(spec, seeded=True)


def run_official(spec):
    model = build_official(spec)
    output_dict = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
    results = []
    with torch.no_grad():
        for frame, is_init, prompt, store, reverse in spec["steps"]:
            feats, pos, sizes = sc.frame_features(spec, frame)
            point_inputs, mask_inputs = None, None
            if prompt == "mask":
                mask_inputs = sc.mask_prompt()
            elif prompt is not None:
                coords, labels = sc.point_prompt(prompt)
                point_inputs = {"point_coords": coords, "point_labels": labels}
            current_out, sam_outputs, _, _ = model._track_step(
                frame, is_init, feats, pos, sizes, point_inputs, mask_inputs, output_dict,
                sc.NUM_FRAMES, reverse, None,
            )
            _, _, ious, low_res, high_res, obj_ptr, score = sam_outputs
            current_out["pred_masks"] = low_res
            current_out["pred_masks_high_res"] = high_res
            current_out["obj_ptr"] = obj_ptr
            current_out["object_score_logits"] = score
            model._encode_memory_in_output(feats, sizes, point_inputs, True, high_res, score, current_out)
            results.append({
                "pred_masks": low_res.float().clone(),
                "obj_ptr": obj_ptr.float().clone(),
                "object_score_logits": score.float().clone(),
                "ious": sc.pad_ious(ious),
                "maskmem_features": current_out["maskmem_features"][:, :16].float().clone(),
            })
            current_out["maskmem_features"] = current_out["maskmem_features"].to(torch.bfloat16)
            del current_out["pred_masks_high_res"]
            key = "cond_frame_outputs" if store == "cond" else "non_cond_frame_outputs"
            output_dict[key][frame] = current_out
    return model, results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    sam2 = import_official_sam2()
    torch.set_num_threads(args.threads)

    arrays = {}
    meta = {
        "command": " ".join(["track_step_golden.py"] + sys.argv[1:]),
        "torch": torch.__version__,
        "sam2": importlib.metadata.version("sam2"),
        "sam2_path": sam2.__file__,
        "threads": args.threads,
        "weights_sha256": {},
    }
    for name, spec in sc.SCENARIOS.items():
        model, results = run_official(spec)
        meta["weights_sha256"][name] = state_dict_digest(model.state_dict())
        for i, res in enumerate(results):
            for k, v in res.items():
                arrays[f"{name}/{i}/{k}"] = v.numpy().astype(np.float32)
    arrays["meta"] = np.array(json.dumps(meta))
    tmp = args.out + ".tmp.npz"
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, args.out)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
