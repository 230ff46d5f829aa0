"""Bytes of one stored frame-and-object memory entry of a video predictor (SAM2.1-t, 1024 px,
random weights: sizes do not depend on them). Runs with either package:

    # ours (from the repository root)
    PYTHONPATH=$PWD python tests/parity/oracle_scripts/entry_bytes.py ours
    # official (oracle python, from a folder without a sam2/ subfolder)
    cd /tmp && env -u PYTHONPATH /root/.cache/sam2-oracle/venv/bin/python \
        /work/main/tests/parity/oracle_scripts/entry_bytes.py official

Prints one JSON line with the bytes of the tensors stored for frame 2 after a propagation of a
3-frame clip (the shared memory positional encoding is not counted).
"""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
import torch  # noqa: E402

from video_clip import make_clip  # noqa: E402

which = sys.argv[1]
torch.set_num_threads(2)
root = os.path.join(tempfile.mkdtemp(), "clip")
if not os.path.isdir(root):
    make_clip(root, frames=3)
masks = dict(np.load(os.path.join(root, "masks.npz")))
from sam2.build_sam import build_sam2_video_predictor
pred = build_sam2_video_predictor("configs/sam2.1/sam2.1_hiera_t.yaml", None, device="cpu")
with torch.inference_mode():
    state = pred.init_state(os.path.join(root, "JPEGImages"))
    pred.add_new_mask(state, 0, 1, masks["obj1"][0])
    for _ in pred.propagate_in_video(state):
        pass
def nbytes(d):
    total = 0
    for k, v in d.items():
        if isinstance(v, torch.Tensor):
            total += v.numel() * v.element_size()
        elif isinstance(v, list) and k != "maskmem_pos_enc":
            total += sum(x.numel() * x.element_size() for x in v if isinstance(x, torch.Tensor))
    return total
if which == "official":
    entry = state["output_dict_per_obj"][0]["non_cond_frame_outputs"][2]
    shared = entry["maskmem_pos_enc"][0].data_ptr() == state["output_dict_per_obj"][0]["non_cond_frame_outputs"][1]["maskmem_pos_enc"][0].data_ptr()
    print(json.dumps({"which": which, "bytes": nbytes(entry), "keys": sorted(entry), "pos_enc_shared": shared}))
else:
    out = state.tracks[1].bank.get(2)
    print(json.dumps({"which": which, "bytes": nbytes(vars(out))}))
