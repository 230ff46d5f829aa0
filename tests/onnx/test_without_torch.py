"""``sam2.onnx`` imports and tracks a video in a process where importing torch fails."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image

from sam2.onnx import OnnxVideoTracker

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import json, sys
    class NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError("torch is not available in this process")
            return None
    sys.meta_path.insert(0, NoTorch())
    import numpy as np
    from sam2.onnx import OnnxVideoTracker
    graphs, video, mask_file, out_file = sys.argv[1:5]
    tracker = OnnxVideoTracker(graphs, intra_op_threads=1)
    state = tracker.init_state(video)
    tracker.add_new_mask(state, 0, 1, np.load(mask_file))
    tracker.add_new_points_or_box(state, 2, 2, points=[[20, 30]], labels=[1])
    frames = {}
    for frame_idx, obj_ids, masks in tracker.propagate_in_video(state):
        frames[frame_idx] = masks
    np.savez(out_file, **{str(k): v for k, v in frames.items()})
    print(json.dumps({"torch_loaded": any(m == "torch" or m.startswith("torch.") for m in sys.modules),
                      "frames": sorted(frames), "obj_ids": obj_ids}))
""")


def test_tracking_works_where_torch_cannot_be_imported(demo_graphs, held_out_split, tmp_path):
    video = sorted((held_out_split / "JPEGImages").iterdir())[0]
    ann = np.array(Image.open(sorted((held_out_split / "Annotations" / video.name).glob("*.png"))[0]))
    first_id = int(np.unique(ann[ann > 0])[0])
    np.save(tmp_path / "mask.npy", ann == first_id)
    script = tmp_path / "no_torch.py"
    script.write_text(SCRIPT)
    env_path = str(REPO)
    proc = subprocess.run(
        [sys.executable, str(script), str(demo_graphs), str(video), str(tmp_path / "mask.npy"), str(tmp_path / "out.npz")],
        capture_output=True, text=True, timeout=300,
        env={"PYTHONPATH": env_path, "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["torch_loaded"] is False
    assert report["obj_ids"] == [1, 2]
    assert report["frames"] == list(range(len(list(video.iterdir()))))
    # the same calls in this (torch-enabled) process give the same masks (to float noise: the
    # two processes may run NumPy's BLAS with different thread counts)
    tracker = OnnxVideoTracker(demo_graphs, intra_op_threads=1)
    state = tracker.init_state(str(video))
    tracker.add_new_mask(state, 0, 1, ann == first_id)
    tracker.add_new_points_or_box(state, 2, 2, points=[[20, 30]], labels=[1])
    out = np.load(tmp_path / "out.npz")
    for frame_idx, _, masks in tracker.propagate_in_video(state):
        np.testing.assert_allclose(out[str(frame_idx)], masks, rtol=1e-5, atol=1e-4)
    assert sum(int((out[k][0] > 0).sum()) for k in out.files) > 100  # object 1 is tracked
