"""DAM4SAM policy vs the authors' DAM4SAM tracker (golden from reference_scripts/dam4sam_reference.py).

Same demo model, clip and object on both sides: the square leaves the frame for 8 frames
(RAM skipping absent frames, pointers only from visible frames) and frame 2 is added to
the DRM by introspection. Per tracked frame: stored low-res logits and object pointer
(relative L2 <= 1e-4), object score, the decoder IoUs, the output area at video size, and
the frames added to the DRM.
"""
from __future__ import annotations

import numpy as np
import pytest

from golden_run import DEMO_CKPT, file_sha256, load_golden, rel_l2, run_policy
from sam2.video.policies.dam4sam import Dam4SamPolicy

TOL = 1e-4
pytestmark = pytest.mark.slow  # the demo model on 30 frames: about a minute per scenario


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    golden = load_golden("dam4sam_square")
    meta = golden["meta"]
    assert meta["weights_sha256"] == file_sha256(DEMO_CKPT), "demo checkpoint changed: regenerate the goldens"
    ours = run_policy(tmp_path_factory.mktemp("dam4sam"), meta["frames"], meta["obj_id"],
                      Dam4SamPolicy(), video_stride=1)
    return golden, ours


def test_masks_pointers_scores(case):
    golden, ours = case
    assert list(ours["frames"]) == [int(f) for f in golden["frame"]]
    for i, frame in enumerate(ours["frames"]):
        assert rel_l2(ours["lowres"][i], golden["lowres"][i]) <= TOL, f"frame {frame}: low-res logits"
        assert rel_l2(ours["ptr"][i], golden["ptr"][i]) <= TOL, f"frame {frame}: object pointer"
        assert abs(ours["score"][i] - golden["score"][i]) <= TOL, f"frame {frame}: object score"
        assert int((ours["video"][i] > 0).sum()) == int(golden["mask_area"][i]), f"frame {frame}: output area"
        np.testing.assert_array_equal((ours["video"][i] > 0)[::8, ::8], golden["video"][i] > 0,
                                      err_msg=f"frame {frame}: output mask")


def test_decisions(case):
    golden, ours = case
    events = ours["records"]
    assert [e["frame"] for e in events] == [int(f) for f in golden["frame"]]
    for i, e in enumerate(events):
        np.testing.assert_allclose(e["iou"], golden["ious"][i].max(), atol=TOL, err_msg=f"frame {e['frame']}")
    anchors = [e["frame"] for e in events if e["anchor"]]
    assert anchors == golden["meta"]["drm_frames"]
    assert [int(v) for v in golden["drm_added"]] == [int(e["anchor"]) for e in events]


def test_anchor_is_read_as_conditioning_memory(case):
    """After frame 2 joins the DRM, later frames read it among the DRM frames."""
    _, ours = case
    later = [e for e in ours["records"] if e["frame"] > 3]
    assert later and all(2 in e["read"]["drm"] for e in later)
    # absent frames (no positive pixel) are never read as RAM
    absent = {int(f) for f, a in zip(ours["frames"], ours["video"]) if not (a > 0).any()}
    assert absent and not any(set(e["read"]["ram"]) & absent for e in ours["records"])


def test_golden_is_not_degenerate():
    g = load_golden("dam4sam_square")
    assert g["drm_added"].sum() >= 1 and (g["mask_area"] == 0).sum() >= 3
