#!/usr/bin/env python
"""Reference run of the authors' DAM4SAM tracker for tests/policies/test_dam4sam_reference.py.

Runs under the forks' python only (see tests/policies/README.md), from a folder without a
``sam2/`` subfolder::

    cd /tmp && env -u PYTHONPATH $FORKS_PY /path/to/tests/policies/reference_scripts/dam4sam_reference.py \
        --fork-dir /path/to/DAM4SAM-checkout --out /path/to/tests/policies/golden/dam4sam_square.npz

The authors' ``DAM4SAMTracker`` (``dam4sam_tracker.py``: the RAM/DRM decisions) drives the
fork's video predictor built from its ``sam21pp_hiera_t.yaml`` (DAM4SAM's own settings: RAM
stride 5, 4 DRM slots, corrected frames as conditioning frames) with the project's demo model
(architecture overrides only) on the project's synthetic clip, one object, its mask on frame 0.

Changes to run it on CPU and compare it with an offline predictor (our code; no fork file is
modified):

* the wrapper's two CUDA-only spots run on the CPU (``torch.device("cuda")`` while it builds
  its state, ``Tensor.cuda()`` in the fork's memory read, a no-op here);
* frames are prepared like SAM 2's frame loader (PIL resize to the model size, /255,
  ImageNet normalisation) instead of the wrapper's tensor resize, so both sides see the same
  pixels;
* the wrapper counts frames as they arrive; here its frame count is held at the clip length
  (what an offline predictor sees; it only normalises object-pointer temporal encodings).

Recorded per tracked frame: ``lowres`` ``[T, h, w]`` stored low-res logits, ``score`` ``[T]``,
``ptr`` ``[T, C]``, ``ious`` ``[T, 3]`` (the decoder's candidates), ``mask_area`` ``[T]``
(pixels of the output at video size), ``drm_added`` ``[T]`` (1 where the frame entered the
DRM), ``video`` ``[T, H/8, W/8]`` the output mask (0/1) strided.
"""
import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fork_env  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

SCENARIO = {"model": "demo", "frames": 30, "obj_id": 2}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fork-dir", required=True, help="checkout of jovanavidenovic/DAM4SAM")
    ap.add_argument("--out", required=True)
    ap.add_argument("--frames", type=int, default=SCENARIO["frames"])
    ap.add_argument("--obj-id", type=int, default=SCENARIO["obj_id"], choices=(1, 2))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    fork_env.load_fork("dam4sam", args.fork_dir)
    torch.Tensor.cuda = lambda self, *a, **k: self  # CPU run: the fork's .cuda() calls are no-ops
    import dam4sam_tracker
    from sam2.build_sam import build_sam2_video_predictor

    real_device = torch.device

    class CpuTracker(dam4sam_tracker.DAM4SAMTracker):
        def __init__(self, predictor, num_frames):
            self.predictor = predictor
            self.input_image_size = predictor.image_size
            self.img_mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float32)[:, None, None]
            self.img_std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float32)[:, None, None]
            self.tracking_times = []
            self.num_frames_offline = num_frames

        def init_state_tw(self):
            torch.device = lambda *a, **k: real_device("cpu")
            try:
                return super().init_state_tw()
            finally:
                torch.device = real_device

        def _prepare_image(self, img_pil):
            size = self.input_image_size
            arr = np.array(img_pil.convert("RGB").resize((size, size)))
            img = torch.from_numpy(arr).permute(2, 0, 1).float() / 255.0
            return (img - self.img_mean) / self.img_std

        def track(self, image, init=False):
            self.inference_state["num_frames"] = self.num_frames_offline - 1
            return super().track(image, init)

    with tempfile.TemporaryDirectory() as work:
        jpegs, masks = fork_env.make_video(work, args.frames)
        ckpt, digest = fork_env.DEMO_CKPT, fork_env.file_sha256(fork_env.DEMO_CKPT)
        predictor = build_sam2_video_predictor(
            "sam21pp_hiera_t.yaml", ckpt, device="cpu", apply_postprocessing=False,
            hydra_overrides_extra=fork_env.demo_model_overrides(architecture_only=True))
        fork_env.make_qpool_global_blocks_runnable(predictor, predictor.image_size)
        tracker = CpuTracker(predictor, args.frames)
        names = sorted(os.listdir(jpegs))
        gt = masks[f"obj{args.obj_id}"]
        tracker.initialize(Image.open(os.path.join(jpegs, names[0])), gt[0].astype(np.uint8))
        rec = {k: [] for k in ("frame", "lowres", "score", "ptr", "ious", "mask_area",
                               "drm_added", "video")}
        for t in range(1, args.frames):
            n_drm = len(tracker.inference_state["adds_in_drm_per_obj"][0])
            out = tracker.track(Image.open(os.path.join(jpegs, names[t])))
            state = tracker.inference_state
            store = state["output_dict"]["non_cond_frame_outputs"]
            entry = store.get(t)
            if entry is None:  # became a DRM frame after the next preflight: read the temp copy
                entry = state["temp_output_dict_per_obj"][0]["cond_frame_outputs"][t]
            rec["frame"].append(t)
            rec["lowres"].append(entry["pred_masks"][0, 0].float().numpy())
            rec["score"].append(float(entry["object_score_logits"].reshape(-1)[0]))
            rec["ptr"].append(entry["obj_ptr"][0].float().numpy())
            rec["ious"].append(np.asarray(entry["all_pred_masks"][1], np.float32))
            m = out["pred_mask"]
            rec["mask_area"].append(int(m.sum()))
            rec["drm_added"].append(int(len(state["adds_in_drm_per_obj"][0]) > n_drm))
            rec["video"].append(m[::8, ::8].astype(np.uint8))
        meta = {"scenario": SCENARIO, "frames": args.frames, "obj_id": args.obj_id,
                "weights_sha256": digest, "fork_commit": fork_env.fork_commit(args.fork_dir),
                "drm_frames": list(tracker.inference_state["adds_in_drm_per_obj"][0]),
                "torch": torch.__version__, "argv": sys.argv[1:]}
        arrays = {k: np.asarray(v) for k, v in rec.items()}
        arrays["meta_json"] = np.array(json.dumps(meta))
        fork_env.save_npz(args.out, arrays)
        print(json.dumps({"out": args.out, "drm_frames": meta["drm_frames"],
                          "area": rec["mask_area"], "score": [round(x, 2) for x in rec["score"]],
                          "ious": [[round(float(v), 2) for v in r] for r in rec["ious"]]}))


if __name__ == "__main__":
    main()
