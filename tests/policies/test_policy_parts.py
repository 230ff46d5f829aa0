"""The pieces of the SAMURAI / DAM4SAM / SAM2Long policies, composition and the command lines (fast)."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sam2.evaluation.segments import ObjectScore
from sam2.video.policies.composed import ComposedPolicy
from sam2.video.policies.dam4sam import Dam4SamCore, largest_component, mask_bounds, rectangle_overlap
from sam2.video.policies import resolve_policy
from sam2.video.policies.rcms import RCMSPolicy
from sam2.video.policies.sam2long import Sam2LongPolicy, _Pair, rank_scales, select_pathways
from sam2.video.policies.samurai import (BoxKalmanFilter, SamuraiPolicy, box_to_measurement, candidate_boxes,
                                motion_iou, state_to_box)

RCMS = {"num_prev_frames_to_promote": 4, "low_quality_threshold": 0.6}


# -- SAMURAI pieces ----------------------------------------------------------------------------
def test_kalman_initiate_predict_update():
    kf = BoxKalmanFilter()
    mean, cov = kf.initiate([50.0, 40.0, 0.5, 20.0])
    np.testing.assert_allclose(mean, [50, 40, 0.5, 20, 0, 0, 0, 0])
    # std: 2*h/20 = 2 (positions, height), 1e-2 (aspect), 10*h/160 = 1.25 (velocities), 1e-5
    np.testing.assert_allclose(np.diag(cov), [4, 4, 1e-4, 4, 1.5625, 1.5625, 1e-10, 1.5625])
    moving = mean.copy()
    moving[4:6] = [3.0, -1.0]  # velocity
    pred, pcov = kf.predict(moving, cov)
    np.testing.assert_allclose(pred[:4], [53, 39, 0.5, 20])
    assert (np.diag(pcov) > np.diag(cov)).all()  # uncertainty grows
    # a measurement equal to the prediction leaves the mean and shrinks the covariance
    upd, ucov = kf.update(pred, pcov, pred[:4])
    np.testing.assert_allclose(upd, pred, atol=1e-12)
    assert (np.diag(ucov)[:4] < np.diag(pcov)[:4]).all()
    # a measurement to the right pulls the centre right, by less than the innovation
    upd2, _ = kf.update(pred, pcov, [63.0, 39.0, 0.5, 20.0])
    assert 53 < upd2[0] < 63


def test_box_conversions_and_motion_iou():
    assert box_to_measurement((10, 20, 30, 60)) == [20.0, 40.0, 0.5, 40]
    assert box_to_measurement((5, 5, 9, 5)) == [7.0, 5.0, 4.0, 1]  # zero height counts as 1
    assert state_to_box(np.array([20.0, 40.0, 0.5, 40.0])) == (10.0, 20.0, 30.0, 60.0)
    assert motion_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert motion_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert motion_iou((0, 0, 10, 10), (0, 0, 0, 0)) == 0.0  # empty candidate


def test_candidate_boxes_at_model_resolution():
    low = torch.full((1, 2, 16, 16), -10.0)
    low[0, 0, 4:8, 2:6] = 10.0
    boxes = candidate_boxes(low)
    high = F.interpolate(low, size=(64, 64), mode="bilinear", align_corners=False)[0, 0] > 0
    ys, xs = torch.nonzero(high, as_tuple=True)
    assert boxes[0] == (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))
    assert boxes[1] == (0, 0, 0, 0)


# -- DAM4SAM pieces ----------------------------------------------------------------------------
def test_mask_bounds_rectangle_overlap_components():
    m = np.zeros((10, 12), np.uint8)
    m[2:5, 3:9] = 1
    assert mask_bounds(m) == (3, 2, 8, 4)
    assert mask_bounds(np.zeros((4, 4))) == (0, 0, 0, 0)
    # rectangles cover left..right-1 x top..bottom-1: 10x10 vs 20x10 pixels
    assert rectangle_overlap((0, 0, 10, 10), (0, 0, 20, 10)) == pytest.approx(0.5)
    assert rectangle_overlap((3, 3, 3, 3), (3, 3, 3, 3)) == 1.0  # degenerate: identical
    two = np.zeros((8, 8), np.uint8)
    two[0:2, 0:2] = 1
    two[2, 2] = 1  # diagonal neighbour: same 8-connected component (5 px)
    two[5:8, 5:7] = 1  # 6 px
    big = largest_component(two)
    assert big.sum() == 6 and big[6, 5] == 1


def test_drm_and_ram_selection():
    core = Dam4SamCore(ram_stride=5, drm_size=4)
    # first prompt, closest before t-1, then the closest others, never t-1
    assert core.select_drm(30, [0, 8, 17, 29]) == [17, 0, 8]
    assert core.select_drm(1, [0]) == [0]
    stored = set(range(1, 30))
    present = lambda t: t not in (26, 27)  # noqa: E731
    ram = core.select_ram(30, 3, present, lambda t: t == 17, lambda t, cond: t in stored)
    # slot 0: 29; then multiples of 5 below: 25 (present), 20
    assert ram == [29, 25, 20]
    ram = core.select_ram(28, 3, present, lambda t: False, lambda t, cond: t in stored)
    assert ram == [25, 20, 15]  # 27, 26 absent: slot 0 steps back to 25


# -- SAM2Long pieces ---------------------------------------------------------------------------
def test_sam2long_pathway_selection():
    # pathway 0 is better on every candidate; confident: the 3 best pairs, ties in input order
    pairs = [_Pair(0, 0, -0.1, 0.9), _Pair(0, 1, -1.0, 0.9), _Pair(0, 2, -3.0, 0.2),
             _Pair(1, 0, -0.1, 0.9), _Pair(1, 1, -2.0, 0.5), _Pair(1, 2, -4.0, 0.3)]
    assert [(e.h, e.j) for e in select_pathways(pairs, 3, 2, confident=True)] == [(0, 0), (1, 0), (0, 1)]
    # uncertain: a rounded signed IoU already taken is skipped (0.9 twice), then 0.5, 0.2
    assert [(e.h, e.j) for e in select_pathways(pairs, 3, 2, confident=False)] == [(0, 0), (1, 1), (0, 2)]
    # all candidates agree: one pair per value, then the best pair of each missing pathway
    same = [_Pair(h, j, -float(h + j), 0.5) for h in range(3) for j in range(3)]
    assert [(e.h, e.j) for e in select_pathways(same, 3, 3, confident=False)] == [(0, 0), (1, 0), (2, 0)]
    # the sign of the object score separates present from absent masks of equal IoU
    signed = [_Pair(0, 0, -0.1, 0.5), _Pair(1, 0, -0.2, -0.5), _Pair(0, 1, -0.3, 0.5)]
    assert [(e.h, e.j) for e in select_pathways(signed, 2, 2, confident=False)] == [(0, 0), (1, 0)]


def test_sam2long_rank_scales():
    # lowest object score -> 0.95, highest -> 1.05, linear by rank; prompts count 10
    np.testing.assert_allclose(rank_scales([10.0, -3.0, 2.0]).numpy(), [1.05, 0.95, 1.0], atol=1e-7)
    # a list of prompt scores only is ranked in bfloat16 by the fork: 0.95 -> 0.94921875
    assert rank_scales([10.0], prompts_only=True).tolist() == [0.94921875]
    assert rank_scales([10.0]).tolist() == [pytest.approx(0.95)]
    with pytest.raises(ValueError, match="num_pathway"):
        Sam2LongPolicy(num_pathway=0)


# -- composition and settings -------------------------------------------------------------------
def test_compose_independent_policies():
    policy = resolve_policy({"name": "rcms+samurai", "params": {"samurai.kf_score_weight": 0.4,
                                                                "low_quality_threshold": 0.5}}, RCMS)
    assert isinstance(policy, ComposedPolicy)
    rcms, samurai = policy.members
    assert isinstance(rcms, RCMSPolicy) and rcms.low_quality_threshold == 0.5
    assert isinstance(samurai, SamuraiPolicy) and samurai.core.kf_score_weight == 0.4
    assert policy.presence_threshold == -1.0 and policy.plans_reads
    assert resolve_policy("rcms+dam4sam", RCMS).name == "rcms+dam4sam"


def test_compose_errors_say_why():
    with pytest.raises(ValueError, match="SAMURAI and DAM4SAM both decide"):
        resolve_policy("samurai+dam4sam", RCMS)
    with pytest.raises(ValueError, match="cannot be composed: SAM2Long keeps several memories"):
        resolve_policy("rcms+sam2long", RCMS)
    with pytest.raises(ValueError, match="SAMURAI and SAM2Long both choose"):
        resolve_policy("sam2long+samurai", RCMS)
    with pytest.raises(ValueError, match="DAM4SAM and SAM2Long"):
        resolve_policy("dam4sam+sam2long", RCMS)
    # RCMS switched off (N = 0) is plain SAM 2.1, which composes with anything
    assert resolve_policy("rcms+sam2long", dict(RCMS, num_prev_frames_to_promote=0)).name == "sam2long"
    with pytest.raises(ValueError, match="accepted by no member"):
        resolve_policy({"name": "rcms+samurai", "params": {"nonsense": 1}}, RCMS)
    with pytest.raises(ValueError, match="unknown memory policy 'kalman'"):
        resolve_policy("rcms+kalman", RCMS)
    with pytest.raises(ValueError, match="kf_score_weight"):
        SamuraiPolicy(kf_score_weight=2.0)


def test_inference_tool_flags(tmp_path):
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("vos_tool", root / "tools" / "vos_inference_ddp.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    args = tool.build_parser().parse_args(
        ["--output_mask_dir", str(tmp_path / "o"), "--base_video_dir", str(tmp_path), "--input_mask_dir", str(tmp_path),
         "--memory_policy", "samurai", "--policy_opt", "kf_score_weight=0.3", "--policy_opt", "name=x",
         "--policy_opt", "samurai:flag=true"])
    assert tool.policy_opts(args) == {"kf_score_weight": 0.3, "name": "x", "flag": True}
    base = ["--output_mask_dir", str(tmp_path / "o"), "--base_video_dir", str(tmp_path),
            "--input_mask_dir", str(tmp_path)]
    args = tool.build_parser().parse_args(base + ["--memory_policy", "samurai", "--policy_opt", "kf_score_weight=0.3"])
    options = tool.options_from_args(args)
    assert options.memory_policy == "samurai" and dict(options.policy_opts) == {"kf_score_weight": 0.3}
    args = tool.build_parser().parse_args(base + ["--memory_policy", "sam2long", "--policy_opt", "num_pathway=2"])
    assert dict(tool.options_from_args(args).policy_opts) == {"num_pathway": 2}
    assert resolve_policy({"name": "sam2long", "params": {"num_pathway": 2}}, RCMS).hypotheses == 2
    for bad in (["--policy_opt", "a=1"], ["--memory_policy", "samurai+dam4sam"],
                ["--memory_policy", "rcms+sam2long"], ["--memory_policy", "sam2long", "--policy_opt", "num_pathway=0"],
                ["--memory_policy", "samurai", "--policy_opt", "novalue"],
                ["--memory_policy", "samurai", "--policy_opt", "dam4sam:iou_threshold=0.5"]):
        with pytest.raises(SystemExit):
            tool._check_paths(tool.build_parser(), tool.build_parser().parse_args(base + bad))


# -- the comparison tool's table ------------------------------------------------------------------
def _compare_tool():
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("compare_tool", root / "tools" / "compare_policies.py")
    tool = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = tool  # dataclasses look their module up
    spec.loader.exec_module(tool)
    return tool


def test_bootstrap_intervals_cover_the_mean():
    tool = _compare_tool()
    rng = np.random.default_rng(1)
    objs = [ObjectScore(f"v{i // 2}", i % 2, float(j), 0.0, float(j), d_j=float(j), d_f_dot=float(j))
            for i, j in enumerate(rng.uniform(0.2, 0.9, size=40))]  # 20 videos of 2 objects
    ci = tool.bootstrap_ci(objs, rounds=300, seed=0)
    mean = 100 * np.mean([o.j for o in objs])
    lo, hi = ci["J&Ḟ"]
    assert lo < mean < hi and hi - lo < 20
    assert ci["J&Ḟ_r"] is None  # no object has a reappearance
    assert tool.bootstrap_ci(objs, rounds=300, seed=0) == ci  # seeded
    one_video = [ObjectScore("v", o.obj_id, o.j, o.f, o.f_dot, d_j=o.d_j, d_f_dot=o.d_f_dot) for o in objs[:2]]
    lo, hi = tool.bootstrap_ci(one_video, rounds=50, seed=0)["J&Ḟ"]
    assert lo == hi  # videos are the unit: one video, one replicate value


def test_table_is_relative_to_plain_sam2():
    tool = _compare_tool()
    base = tool.PolicyRun("sam2.1", {"J&Ḟ": 50.0, "J&Ḟ_d": None, "J&Ḟ_r": 40.0},
                          {"J&Ḟ": (45.0, 55.0), "J&Ḟ_d": None, "J&Ḟ_r": None}, fps=10.0, cpu_fps=10.0, peak_mb=100.0)
    other = tool.PolicyRun("samurai", {"J&Ḟ": 52.0, "J&Ḟ_d": 60.0, "J&Ḟ_r": None},
                           {"J&Ḟ": (47.0, 57.0), "J&Ḟ_d": (50.0, 70.0), "J&Ḟ_r": None}, fps=9.0, cpu_fps=5.0, peak_mb=150.0)
    failed = tool.PolicyRun("dam4sam", error="boom")
    table = tool.format_table([base, other, failed])
    rows = table.strip().splitlines()
    assert len(rows) == 5
    assert "52.0 [47.0, 57.0]" in rows[3] and "0.50x" in rows[3] and "1.50x" in rows[3]
    assert "failed: boom" in rows[4]


def test_demo_strip_reads_policy_records(tmp_path):
    import json

    from sam2.demo.visualize import _marks_caption, read_policy_marks

    record = {"video": "v", "objects": {"1": [
        {"frame": 3, "branch": "motion", "chosen": 2, "ious": [0.9, 0.5, 0.7], "valid": False},
        {"frame": 4, "iou": 0.85, "anchor": True, "policy": "dam4sam"},
        {"trigger_frame": 6, "promoted_frames": [5], "qualities": [0.7]},
        {"frame": 7, "mode": "diverse", "runs": [], "survivors": [{"parent_slot": 2, "candidate": 0}]},
        {"frame": 8, "mode": "confident", "runs": [], "survivors": [{"parent_slot": 0, "candidate": 1}]},
    ]}}
    path = tmp_path / "v.json"
    path.write_text(json.dumps(record))
    marks = read_policy_marks(path)
    assert marks.notes[3] == ["obj1 motion pick #2", "obj1 not in memory"]
    assert marks.promoted[4] == [(1, 0.85)] and marks.promoted[5] == [(1, 0.7)]
    assert "motion pick" in _marks_caption(marks, 3)
    assert marks.notes[7] == ["obj1 diverse pathways", "obj1 best pathway from #2"]
    assert 8 not in marks.notes


@pytest.mark.slow
def test_compare_tool_end_to_end(tmp_path):
    """tools/compare_policies.py on a one-video split: every policy runs, is scored, tabled."""
    import json
    import subprocess
    from pathlib import Path

    from sam2.data import SyntheticConfig, write_synthetic_split

    root = Path(__file__).resolve().parents[2]
    split = write_synthetic_split(tmp_path / "split", SyntheticConfig(num_videos=1, num_frames=10, height=96,
                                                                      width=128, seed=3), progress=False)
    out = tmp_path / "out"
    cmd = [sys.executable, str(root / "tools" / "compare_policies.py"), "--split", str(split),
           "--config", "configs/sam2.1/sam2.1_hiera_demo.yaml",
           "--checkpoint", str(root / "sam2" / "checkpoints" / "sam2.1_hiera_demo.pt"),
           "--policies", "sam2.1,rcms+samurai", "--bootstrap", "20", "--out", str(out), "--no_chart"]
    env = dict(__import__("os").environ, PYTHONPATH=str(root))
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(tmp_path), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = (out / "table.md").read_text().strip().splitlines()
    assert len(rows) == 4 and rows[2].startswith("| sam2.1 |") and rows[3].startswith("| rcms+samurai |")
    runs = json.loads((out / "results.json").read_text())["runs"]
    assert all(r["error"] is None and r["frames"] > 0 and r["peak_mb"] > 0 for r in runs)
    assert "1.00x" in rows[2]
    bad = subprocess.run(cmd[:-7] + ["--policies", "samurai+dam4sam", "--out", str(out), "--no_chart"],
                         capture_output=True, text=True, cwd=str(tmp_path), env=env)
    assert bad.returncode == 2 and "both decide" in bad.stderr


def test_compare_tool_refuses_a_policy_named_twice(tmp_path):
    """Runs are keyed by policy name, so a repeated name is refused before any model is built."""
    import subprocess
    from pathlib import Path

    from sam2.data import SyntheticConfig, write_synthetic_split

    root = Path(__file__).resolve().parents[2]
    split = write_synthetic_split(tmp_path / "split", SyntheticConfig(num_videos=1, num_frames=3, height=48,
                                                                      width=64, seed=3), progress=False)
    cmd = [sys.executable, str(root / "tools" / "compare_policies.py"), "--split", str(split),
           "--config", "configs/sam2.1/sam2.1_hiera_demo.yaml",
           "--checkpoint", str(root / "sam2" / "checkpoints" / "sam2.1_hiera_demo.pt"),
           "--policies", "sam2.1,samurai,sam2.1", "--out", str(tmp_path / "out"), "--no_chart"]
    env = dict(__import__("os").environ, PYTHONPATH=str(root))
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(tmp_path), env=env)
    assert proc.returncode == 2 and "sam2.1 named more than once" in proc.stderr
    assert not (tmp_path / "out" / "table.md").exists()


def test_policy_opt_has_one_syntax_for_every_tool():
    from sam2.utils.cli import parse_policy_opts

    assert parse_policy_opts(["sam2long:num_pathway=3", "rcms+samurai:samurai.kf_score_weight=0.3", "rcms:x=a"],
                             ["sam2long", "rcms+samurai", "rcms"]) == {
        "sam2long": {"num_pathway": 3}, "rcms+samurai": {"samurai.kf_score_weight": 0.3}, "rcms": {"x": "a"}}
    assert parse_policy_opts(["num_pathway=3"], ["sam2long"]) == {"sam2long": {"num_pathway": 3}}
    for bad, why in ((["num_pathway=3"], "name the policy"), (["samurai:k=1"], "'samurai' is not one of"),
                     (["sam2long:num_pathway"], "expected [POLICY:]KEY=VALUE"), (["sam2long:=1"], "expected")):
        with pytest.raises(ValueError, match=why.replace("[", r"\[").replace("]", r"\]")):
            parse_policy_opts(bad, ["sam2long", "rcms"])
