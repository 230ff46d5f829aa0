"""Golden data for the evaluator's disk / dilation / boundary-F conventions.

Produced ONLY with the libraries the MOSEv2 reference scorer itself uses: scikit-image's
``skimage.morphology.disk`` and OpenCV's ``cv2.dilate`` (default anchor), both installed in the
oracle venv (never in the project). The boundary map below follows the DAVIS definition
(written here for this script); the radius rule is the MOSEv2 one (see the evaluator docs).

Regenerate (from a folder without a ``sam2/`` subfolder, PYTHONPATH unset)::

    cd /tmp && env -u PYTHONPATH /root/.cache/sam2-oracle/venv/bin/python \
        /work/main/tests/evaluation/oracle_scripts/make_boundary_golden.py \
        /work/main/tests/evaluation/golden/boundary_golden.npz
"""

import math
import sys

import cv2
import numpy as np
import skimage
from skimage.morphology import disk

RADII = [0.5, 0.55, 0.8, 1.0245, 1.0, 2.0, 2.5, 3.2, 4.0, 5.7, 8.812, 17.623]
DILATE_RADII = [0.5, 0.55, 0.8, 1.0245, 2.5, 3.2, 4.0, 5.7]
H, W = 240, 320  # r_std = 3.2


def davis_boundary(seg):
    # Edge padding by one row/column reproduces the DAVIS special cases: on the last row the
    # padded "down" equals the pixel itself (only "right" can differ), on the last column only
    # "down" can differ, and the bottom-right corner compares only with itself.
    s = seg.astype(bool)
    p = np.pad(s, ((0, 1), (0, 1)), mode="edge")
    return ((s != p[:-1, 1:]) | (s != p[1:, :-1]) | (s != p[1:, 1:])).astype(np.uint8)


def f_at(pred, gt, radius):
    pb, gb = davis_boundary(pred), davis_boundary(gt)
    n_p, n_g = int(pb.sum()), int(gb.sum())
    if n_p == 0 and n_g == 0:
        return 1.0
    if n_p == 0 or n_g == 0:
        return 0.0
    kern = disk(radius)
    prec = float((pb * cv2.dilate(gb, kern)).sum()) / n_p
    rec = float((gb * cv2.dilate(pb, kern)).sum()) / n_g
    return 0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec)


def f_pair(pred, gt):
    r_std = 0.008 * np.linalg.norm(gt.shape)
    area = int(gt.sum())
    r_ad = min(np.ceil(0.1 * np.sqrt(area)), r_std) if area > 0 else r_std
    if r_ad < r_std:
        return f_at(pred, gt, float(np.ceil(r_std))), f_at(pred, gt, float(r_ad))
    return f_at(pred, gt, float(r_std)), f_at(pred, gt, float(r_std))


def box(y0, x0, hh, ww):
    m = np.zeros((H, W), bool)
    m[y0:y0 + hh, x0:x0 + ww] = True
    return m


def ellipse(cy, cx, ry, rx):
    yy, xx = np.mgrid[0:H, 0:W]
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1


def main(out):
    rng = np.random.default_rng(0)
    data = {"skimage_version": np.array(skimage.__version__), "cv2_version": np.array(cv2.__version__)}
    data["radii"] = np.array(RADII)
    for i, r in enumerate(RADII):
        data[f"disk_{i}"] = disk(r).astype(np.uint8)
    sparse = (rng.random((40, 50)) < 0.03).astype(np.uint8)
    data["sparse"] = sparse
    data["dilate_radii"] = np.array(DILATE_RADII)
    for i, r in enumerate(DILATE_RADII):
        data[f"dilated_{i}"] = cv2.dilate(sparse, disk(r))
    big = box(100, 140, 40, 40)  # area 1600 -> both F and F_dot use r = 3.2
    small = box(60, 60, 10, 10)  # area 100 -> F uses 4, F_dot uses 1
    ell = ellipse(120, 200, 30, 45)
    pairs = []
    for dy, dx in [(0, 3), (3, 0), (0, -3), (-3, 0), (3, 3), (-3, -3), (2, -2)]:
        pairs.append((np.roll(big, (dy, dx), axis=(0, 1)), big))
    for dy, dx in [(0, 1), (0, 2), (-2, 0), (1, 1)]:
        pairs.append((np.roll(small, (dy, dx), axis=(0, 1)), small))
    pairs.append((np.roll(ell, (2, -3), axis=(0, 1)), ell))
    pairs.append((ellipse(121, 198, 28, 47), ell))
    pairs.append((np.zeros((H, W), bool), small))
    pairs.append((small, np.zeros((H, W), bool)))
    pairs.append((box(0, 0, H, W), box(0, 0, H, W)))
    pairs.append((box(H - 5, W - 7, 5, 7), box(H - 6, W - 6, 6, 6)))
    preds, gts, fs = [], [], []
    for pred, gt in pairs:
        preds.append(np.packbits(pred))
        gts.append(np.packbits(gt))
        fs.append(f_pair(pred.astype(np.uint8), gt.astype(np.uint8)))
    data["pred_bits"] = np.stack(preds)
    data["gt_bits"] = np.stack(gts)
    data["f_values"] = np.array(fs)  # [N, 2] = (F, F_dot)
    data["shape"] = np.array([H, W])
    np.savez_compressed(out, **data)
    print("wrote", out, "F values:", np.round(np.array(fs), 4).tolist())


if __name__ == "__main__":
    main(sys.argv[1])
