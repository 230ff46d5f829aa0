"""Metric rules of the MOSEv2 scorer on hand-made masks; expected values are worked out by hand
(in comments) or by brute-force references written here, never by the code under test."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from sam2.evaluation import (
    aggregate_objects,
    boundary_f,
    boundary_map,
    dilate,
    disappearance_segments,
    disk_kernel,
    first_visible_run,
    frame_radii,
    frame_score,
    jaccard,
    reappearance_segments,
    summarize_object,
)

GOLDEN = Path(__file__).parent / "golden" / "boundary_golden.npz"


# ---------------------------------------------------------------------------------- brute force
def brute_disk(r: float) -> np.ndarray:
    """skimage-style disk written from its definition: grid arange(-r, r+1)."""
    coords = [-r + k for k in range(int(math.floor(2 * r + 1 - 1e-12)) + 1) if -r + k < r + 1]
    return np.array([[x * x + y * y <= r * r for x in coords] for y in coords], dtype=bool)


def brute_dilate(src: np.ndarray, kern: np.ndarray) -> np.ndarray:
    """OpenCV dilate, default anchor (centre cell), unmirrored kernel, by loops."""
    h, w = src.shape
    kh, kw = kern.shape
    ay, ax = kh // 2, kw // 2
    out = np.zeros_like(src, dtype=bool)
    for y in range(h):
        for x in range(w):
            for i in range(kh):
                for j in range(kw):
                    yy, xx = y + i - ay, x + j - ax
                    if kern[i, j] and 0 <= yy < h and 0 <= xx < w and src[yy, xx]:
                        out[y, x] = True
    return out


def brute_boundary(seg: np.ndarray) -> np.ndarray:
    h, w = seg.shape
    b = np.zeros((h, w), bool)
    for y in range(h):
        for x in range(w):
            if y == h - 1 and x == w - 1:
                continue
            nbrs = []
            if x + 1 < w and y + 1 < h:
                nbrs = [(y, x + 1), (y + 1, x), (y + 1, x + 1)]
            elif y == h - 1:
                nbrs = [(y, x + 1)]
            else:
                nbrs = [(y + 1, x)]
            b[y, x] = any(seg[n] != seg[y, x] for n in nbrs)
    return b


def brute_f(pred: np.ndarray, gt: np.ndarray, r: float, centred: bool = False) -> float:
    """F measure by sets of offsets. centred=True uses a disk centred on 0 (what a naive
    implementation would do) instead of the reference's off-centre one."""
    pb, gb = brute_boundary(pred), brute_boundary(gt)
    if centred:
        n = int(math.floor(r))
        offsets = [(dy, dx) for dy in range(-n, n + 1) for dx in range(-n, n + 1) if dy * dy + dx * dx <= r * r]
    else:
        k = brute_disk(r)
        a = k.shape[0] // 2
        offsets = [(i - a, j - a) for i in range(k.shape[0]) for j in range(k.shape[1]) if k[i, j]]
    pts_p, pts_g = set(zip(*np.nonzero(pb))), set(zip(*np.nonzero(gb)))

    def covered(points, other):
        return sum(any((y + dy, x + dx) in other for dy, dx in offsets) for y, x in points)

    if not pts_p and not pts_g:
        return 1.0
    if not pts_p or not pts_g:
        return 0.0
    prec, rec = covered(pts_p, pts_g) / len(pts_p), covered(pts_g, pts_p) / len(pts_g)
    return 0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec)


def box(h, w, y0, x0, bh, bw):
    m = np.zeros((h, w), bool)
    m[y0 : y0 + bh, x0 : x0 + bw] = True
    return m


# ------------------------------------------------------------------------------------------- J
def test_jaccard_plus_one_smoothing():
    gt = box(4, 4, 0, 0, 2, 2)  # 4 px
    pred = np.zeros((4, 4), bool)
    pred[0, 0:3] = True  # 3 px, 2 of them inside gt
    # inter 2, union 5 -> (2+1)/(5+1)
    assert jaccard(gt, pred) == pytest.approx(3 / 6)
    assert jaccard(np.zeros((4, 4), bool), np.zeros((4, 4), bool)) == 1.0
    fp = np.zeros((4, 4), bool)
    fp[3, 1:4] = True  # 3 false positives on an empty GT -> 1/4
    assert jaccard(np.zeros((4, 4), bool), fp) == pytest.approx(1 / 4)
    assert jaccard(gt, np.zeros((4, 4), bool)) == pytest.approx(1 / 5)


# ------------------------------------------------------------------------------- boundary maps
def test_boundary_map_hand_worked():
    seg = np.zeros((4, 4), bool)
    seg[1:3, 1:3] = True
    expected = np.array([[1, 1, 1, 0], [1, 0, 1, 0], [1, 1, 1, 0], [0, 0, 0, 0]], bool)
    np.testing.assert_array_equal(boundary_map(seg), expected)
    # bottom-right pixel set: its up-left neighbour (diagonal), the last column above it
    # (lower neighbour differs) and the last row left of it (right neighbour differs) are
    # boundary; the corner itself is always 0
    corner = np.zeros((2, 2), bool)
    corner[1, 1] = True
    np.testing.assert_array_equal(boundary_map(corner), np.array([[1, 1], [1, 0]], bool))
    # a full mask has no boundary at all
    assert not boundary_map(np.ones((3, 5), bool)).any()


def test_boundary_map_matches_brute_force_on_random_masks():
    rng = np.random.default_rng(1)
    for _ in range(5):
        seg = rng.random((7, 9)) < 0.4
        np.testing.assert_array_equal(boundary_map(seg), brute_boundary(seg))


# ----------------------------------------------------------------------------- disks, dilation
def test_float_radius_disk_is_off_centre():
    k = disk_kernel(3.2)
    # arange(-3.2, 4.2) = -3.2 .. 3.8: 8 values, so an 8x8 kernel
    assert k.shape == (8, 8)
    # row y=-3.2 (y^2 = r^2) keeps only x = 0, which is not on the grid -> empty
    assert not k[0].any()
    # row y=-0.2: x^2 <= 10.2 -> x in {-2.2 .. 2.8} = columns 1..6
    assert k[3].tolist() == [False] + [True] * 6 + [False]
    # integer radius: centred, symmetric 3x3 plus
    assert disk_kernel(1.0).astype(int).tolist() == [[0, 1, 0], [1, 1, 1], [0, 1, 0]]
    for r in [0.8, 1.0, 2.5, 3.2, 4.0, 5.7, 17.623]:
        np.testing.assert_array_equal(disk_kernel(r), brute_disk(r))


def test_dilation_matches_brute_force():
    rng = np.random.default_rng(2)
    src = rng.random((12, 15)) < 0.05
    for r in [1.0245, 2.5, 3.2]:
        np.testing.assert_array_equal(dilate(src, disk_kernel(r)), brute_dilate(src, brute_disk(r)))


def test_against_opencv_and_skimage_golden():
    g = np.load(GOLDEN)
    for i, r in enumerate(g["radii"]):
        np.testing.assert_array_equal(disk_kernel(float(r)), g[f"disk_{i}"].astype(bool), err_msg=f"disk({r})")
    for i, r in enumerate(g["dilate_radii"]):
        got = dilate(g["sparse"].astype(bool), disk_kernel(float(r)))
        np.testing.assert_array_equal(got, g[f"dilated_{i}"].astype(bool), err_msg=f"dilate r={r}")
    h, w = (int(v) for v in g["shape"])
    for k, (pb, gb) in enumerate(zip(g["pred_bits"], g["gt_bits"])):
        pred = np.unpackbits(pb)[: h * w].reshape(h, w).astype(bool)
        gt = np.unpackbits(gb)[: h * w].reshape(h, w).astype(bool)
        s = frame_score(gt, pred)
        assert (s.f, s.f_dot) == pytest.approx(tuple(g["f_values"][k]), abs=1e-12), f"pair {k}"


# ------------------------------------------------------------------------------------------ radii
def test_radius_branches():
    # 240x320: diagonal 400, r_std = 3.2
    assert frame_radii(240, 320, 100) == (4.0, 1.0)  # ceil(0.1*10) = 1 < 3.2: F ceil(3.2)=4, F_dot 1
    assert frame_radii(240, 320, 401) == (4.0, 3.0)  # ceil(0.1*20.02) = 3 < 3.2
    r_f, r_d = frame_radii(240, 320, 1600)  # ceil(4) = 4 >= 3.2: both un-rounded 3.2
    assert r_f == r_d == pytest.approx(3.2)
    r_f, r_d = frame_radii(240, 320, 0)  # empty GT: r_std for both
    assert r_f == r_d == pytest.approx(3.2)
    # 1080p: r_std = 0.008 * 2202.9 = 17.62 -> F uses 18; a 100x100 object gets 10
    assert frame_radii(1080, 1920, 100 * 100) == (18.0, 10.0)


def test_small_object_branch_hand_worked():
    # 10x10 GT box, prediction shifted 2 px right, 240x320 frame: F uses r=4 (centred 9x9 disk:
    # every boundary pixel has its partner 2 px away) -> 1.0. F_dot uses r=1 (plus shape).
    # Boundary of a box (rows 60..69, cols 60..69): outer top row (y=59, x=59..69), outer left
    # column (x=59, y=60..69), inner bottom row (y=69, x=60..69), inner right column
    # (x=69, y=60..68): 40 px; the same for the prediction shifted to cols 62..71.
    # Precision: top row 10/11 (x=71 has no GT neighbour), left col (x=61, y=60..69) only
    # y=60, 68, 69 -> 3/10, bottom row 9/10, right col (x=71) 0/9 -> 22/40.
    # Recall by the mirror argument: 10/11 + 0/10 + 10/10 + 2/9 -> 22/40. F_dot = 0.55.
    gt = box(240, 320, 60, 60, 10, 10)
    pred = box(240, 320, 60, 62, 10, 10)
    s = frame_score(gt, pred)
    assert s.f == pytest.approx(1.0)
    assert s.f_dot == pytest.approx(0.55)
    assert s.j == pytest.approx((80 + 1) / (120 + 1))


def test_shift_by_three_pixels_with_the_off_centre_disk():
    # 40x40 box (area 1600): both measures use the float radius 3.2 (8x8 off-centre kernel).
    gt = box(240, 320, 100, 140, 40, 40)
    pred = box(240, 320, 100, 143, 40, 40)
    expected = brute_f(pred, gt, 3.2)
    s = frame_score(gt, pred)
    assert s.f == pytest.approx(expected, abs=1e-12)
    assert s.f_dot == pytest.approx(expected, abs=1e-12)
    assert 0.6 < expected < 0.75  # ~69: the off-centre disk does not reach 3 px to one side
    assert brute_f(pred, gt, 3.2, centred=True) == 1.0  # a centred disk would say 100


def test_boundary_f_empty_cases():
    empty = np.zeros((20, 30), bool)
    obj = box(20, 30, 5, 5, 4, 4)
    assert boundary_f(boundary_map(empty), boundary_map(empty), 2.0) == 1.0
    assert boundary_f(boundary_map(empty), boundary_map(obj), 2.0) == 0.0
    assert boundary_f(boundary_map(obj), boundary_map(empty), 2.0) == 0.0
    s = frame_score(empty, empty)
    assert (s.j, s.f, s.f_dot, s.gt_empty) == (1.0, 1.0, 1.0, True)
    s = frame_score(empty, obj)  # false positive on empty GT: J = 1/(16+1), F = 0
    assert (s.j, s.f, s.f_dot, s.gt_empty) == (pytest.approx(1 / 17), 0.0, 0.0, True)
    s = frame_score(obj, empty)
    assert (s.j, s.f, s.f_dot, s.gt_empty) == (pytest.approx(1 / 17), 0.0, 0.0, False)


def test_crop_agrees_with_full_frame_at_the_image_border():
    rng = np.random.default_rng(3)
    for _ in range(4):
        gt = np.zeros((130, 160), bool)  # r_std = 1.65
        pred = np.zeros((130, 160), bool)
        gt[118:, 148:] = rng.random((12, 12)) < 0.7  # touches the last row/column
        pred[116:, 146:] = rng.random((14, 14)) < 0.6
        r_f, r_d = frame_radii(130, 160, int(gt.sum()))
        s = frame_score(gt, pred)
        assert s.f == pytest.approx(brute_f(pred, gt, r_f), abs=1e-12)
        assert s.f_dot == pytest.approx(brute_f(pred, gt, r_d), abs=1e-12)


# ------------------------------------------------------------------------------------ segments
def test_segments_present_absent_present_absent():
    # window index:   0  1  2  3  4  5  6  7  8
    empty = [False, False, True, True, False, False, False, True, True]
    assert disappearance_segments(empty) == [(2, 4), (7, 9)]
    assert reappearance_segments(empty) == [(4, 7)]
    assert first_visible_run(empty) == [(0, 2)]
    j = [1.0, 0.8, 0.5, 0.5, 0.2, 0.4, 0.6, 1.0, 0.0]
    fd = [0.9, 0.9, 1.0, 0.0, 0.3, 0.3, 0.6, 0.5, 0.5]
    f = [1.0] * 9
    o = summarize_object("v", 4, j, f, fd, empty)
    assert o.j == pytest.approx(sum(j) / 9)
    assert o.f_dot == pytest.approx(sum(fd) / 9)
    assert o.f == 1.0
    # d: segments (0.5+0.5)/2=0.5 and (1+0)/2=0.5 -> 0.5 ; F_dot: 0.5 and 0.5 -> 0.5
    assert (o.d_j, o.d_f_dot) == (pytest.approx(0.5), pytest.approx(0.5))
    # r: one segment, J (0.2+0.4+0.6)/3 = 0.4, F_dot (0.3+0.3+0.6)/3 = 0.4
    assert (o.r_j, o.r_f_dot) == (pytest.approx(0.4), pytest.approx(0.4))
    # bd: first visible run: J 0.9, F_dot 0.9
    assert (o.bd_j, o.bd_f_dot) == (pytest.approx(0.9), pytest.approx(0.9))


def test_object_absent_at_first_evaluated_frame():
    empty = [True, True, False, False, True]
    assert disappearance_segments(empty) == [(4, 5)]  # the run at index 0 does not count
    assert reappearance_segments(empty) == [(2, 4)]  # first appearance counts as a reappearance
    assert first_visible_run(empty) == [(2, 4)]
    o = summarize_object("v", 1, [1, 1, 0.5, 0.7, 0.2], [1] * 5, [1, 1, 0.1, 0.3, 0.4], empty)
    assert (o.r_j, o.r_f_dot) == (pytest.approx(0.6), pytest.approx(0.2))
    assert (o.d_j, o.d_f_dot) == (pytest.approx(0.2), pytest.approx(0.4))


def test_objects_without_segments_are_left_out_of_those_families():
    never_gone = summarize_object("a", 1, [0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [False, False])
    assert never_gone.d_j is None and never_gone.r_j is None and never_gone.bd_j == 0.5
    never_there = summarize_object("b", 2, [1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [True, True])
    assert never_there.d_j is None and never_there.r_j is None and never_there.bd_j is None
    comes_back = summarize_object("c", 3, [1.0, 0.0, 0.2], [1.0] * 3, [1.0, 0.0, 0.6], [False, True, False])
    ds = aggregate_objects([never_gone, never_there, comes_back])
    assert ds.num_objects == 3 and ds.num_d_objects == 1 and ds.num_r_objects == 1
    # dataset J = mean over objects (0.5, 1.0, 0.4)
    assert ds.j == pytest.approx((0.5 + 1.0 + 0.4) / 3)
    assert ds.d_jf_dot == pytest.approx(0.0)  # (0 + 0)/2 from the single object with a d-segment
    assert ds.r_jf_dot == pytest.approx((0.2 + 0.6) / 2)
    assert ds.jf_dot == pytest.approx((ds.j + ds.f_dot) / 2)


def test_empty_window_scores_zero():
    o = summarize_object("short", 1, [], [], [], [])
    assert (o.j, o.f, o.f_dot, o.status) == (0.0, 0.0, 0.0, "no_eval_frames")
