#!/usr/bin/env python
"""Golden outputs of the OFFICIAL SAM2AutomaticMaskGenerator for tests/parity/test_amg_parity.py.

Runs ONLY under the oracle python (official sam2==1.1.0) as a separate process, from a folder
without a ``sam2/`` subfolder and without PYTHONPATH. Regenerate the golden file with:

    cd /tmp && env -u PYTHONPATH /root/.cache/sam2-oracle/venv/bin/python \
        /work/main/tests/parity/oracle_scripts/amg_golden.py \
        --out /work/main/tests/parity/golden/amg_t.npz

Imports: the official package, numpy, torch and ``seeded_ckpt`` (tests/parity; torch and the
standard library only) for the deterministic tiny checkpoint. The settings of every case live
in ``CASES`` below and are stored in the golden file, so the test runs exactly what was run
here. Per case the file holds the records in the generator's order: uncompressed-RLE counts
(flattened, with offsets), area, bbox, predicted_iou, stability_score, point_coords, crop_box.

``--bench`` (used by benchmarks/amg.py) instead times the official generator on one image and
prints one JSON line: seconds per image and peak memory (resident, and CUDA when used).
"""
import argparse
import importlib.metadata
import json
import os
import sys
import tempfile
import time

_PARITY_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _PARITY_DIR)
sys.dont_write_bytecode = True

import numpy as np  # noqa: E402
import torch  # noqa: E402

import seeded_ckpt  # noqa: E402

IMAGE_HW = (120, 160)

# The seeded tiny weights give mask logits within about +-1 (stability score 0 everywhere);
# the last layer of the mask decoder's hypernetwork MLPs is scaled up so that the stability
# score takes real values. The test applies the same change (it imports this function).
HYPERNET_SCALE = 8.0


def golden_state_dict(size: str, seed: int) -> dict:
    """The seeded state dict of ``seeded_ckpt`` with the hypernetwork output layer scaled."""
    state = seeded_ckpt.make_seeded_state_dict(size, seed)
    for key in state:
        if key.startswith("sam_mask_decoder.output_hypernetworks_mlps.") and ".layers.2." in key:
            state[key] = state[key] * HYPERNET_SCALE
    return state


# Each case: keyword arguments of SAM2AutomaticMaskGenerator (besides the model).
KEEP_ALL = dict(pred_iou_thresh=0.0, stability_score_thresh=0.0, box_nms_thresh=1.0)
CASES = {
    # every candidate survives; 25 points in batches of 10 (a short last batch)
    "keep_all": dict(points_per_side=5, points_per_batch=10, **KEEP_ALL),
    # a crop layer and mask-to-mask refinement; batches of 3 points / 3 refined masks
    "crops_m2m": dict(
        points_per_side=2, points_per_batch=3, crop_n_layers=1, crop_nms_thresh=1.0,
        use_m2m=True, **KEEP_ALL,
    ),
    # official defaults: with random weights (predicted IoU ~0.5) nothing survives
    "defaults": dict(points_per_side=4, points_per_batch=16),
    # thresholds inside the range of the random-weight scores: some but not all survive
    "filtered": dict(
        points_per_side=5, points_per_batch=25, pred_iou_thresh=0.505,
        stability_score_thresh=0.005, box_nms_thresh=1.0,
    ),
    "filtered_nms": dict(
        points_per_side=5, points_per_batch=25, pred_iou_thresh=0.505,
        stability_score_thresh=0.005, box_nms_thresh=0.7,
    ),
}


def synthetic_image(height: int, width: int) -> np.ndarray:
    """A deterministic HWC uint8 picture: gradient sky, a ring, a bar and a checker patch."""
    rows, cols = np.meshgrid(np.arange(height, dtype=np.float32),
                             np.arange(width, dtype=np.float32), indexing="ij")
    out = np.empty((height, width, 3), np.float32)
    out[..., 0] = 70 + 50 * rows / height
    out[..., 1] = 110 + 40 * np.cos(cols / 19.0)
    out[..., 2] = 160 - 60 * cols / width
    radius = np.hypot(rows - 0.45 * height, cols - 0.3 * width)
    out[(radius > 0.12 * height) & (radius < 0.3 * height)] = (240, 200, 30)
    bar = (np.abs(cols - 0.72 * width) < 0.07 * width) & (rows > 0.15 * height)
    out[bar] = (200, 30, 60)
    patch = (rows > 0.7 * height) & (cols > 0.05 * width) & (cols < 0.4 * width)
    checker = ((rows // 6 + cols // 6) % 2) == 0
    out[patch & checker] = (20, 20, 20)
    out[patch & ~checker] = (235, 235, 235)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _check_official() -> None:
    if importlib.metadata.version("sam2") != "1.1.0" or os.path.isdir(
            os.path.join(os.getcwd(), "sam2")):
        sys.exit("run with the oracle python, from a folder without a sam2/ subfolder")


def pack(records):
    """Records of one case -> dict of numpy arrays (RLE counts flattened with offsets)."""
    counts = [np.asarray(r["segmentation"]["counts"], np.int64) for r in records]
    lengths = np.array([len(c) for c in counts], np.int64)
    return {
        "rle_counts": np.concatenate(counts) if counts else np.zeros(0, np.int64),
        "rle_offsets": np.concatenate(([0], np.cumsum(lengths))).astype(np.int64),
        "area": np.array([r["area"] for r in records], np.int64),
        "bbox": np.array([r["bbox"] for r in records], np.float64).reshape(-1, 4),
        "predicted_iou": np.array([r["predicted_iou"] for r in records], np.float64),
        "stability_score": np.array([r["stability_score"] for r in records], np.float64),
        "point_coords": np.array([r["point_coords"][0] for r in records], np.float64).reshape(-1, 2),
        "crop_box": np.array([r["crop_box"] for r in records], np.float64).reshape(-1, 4),
    }


def _reset_peak_rss() -> None:
    """Reset the kernel's resident-set high-water mark (Linux; silently skipped elsewhere)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def _peak_rss_mb() -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_generator(generator, image: np.ndarray, device, warmup: int, repeat: int) -> dict:
    """Run ``generator.generate(image)`` ``warmup + repeat`` times (bf16 autocast on CUDA) and
    return ``{"seconds": [...], "cpu_seconds": [...], "masks": n, "peak_rss_mb": x}`` (plus
    ``peak_cuda_mb`` on CUDA) over the timed runs. Used for the official generator here and
    for ours by benchmarks/amg.py, so both are timed the same way."""
    on_cuda = device.type == "cuda"
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if on_cuda
                else torch.autocast("cpu", enabled=False))
    result = {"seconds": [], "cpu_seconds": [], "masks": None}
    with autocast:
        for run in range(warmup + repeat):
            if on_cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            _reset_peak_rss()
            start, cpu_start = time.perf_counter(), time.process_time()
            records = generator.generate(image)
            if on_cuda:
                torch.cuda.synchronize()
            if run >= warmup:
                result["seconds"].append(time.perf_counter() - start)
                result["cpu_seconds"].append(time.process_time() - cpu_start)
            result["masks"] = len(records)
    result["peak_rss_mb"] = _peak_rss_mb()
    if on_cuda:
        result["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def bench(args) -> None:
    """Time the official generator (``--bench``); prints one JSON line."""
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator
    from sam2.build_sam import build_sam2

    device = torch.device(args.device)
    config = seeded_ckpt.CONFIG_PATTERN.format(size=args.size)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = os.path.join(tmp, "seeded.pt")
        torch.save({"model": golden_state_dict(args.size, args.seed)}, ckpt)
        model = build_sam2(config, ckpt, device=str(device), mode="eval")
    image = synthetic_image(*args.image_hw)
    kwargs = json.loads(args.generator_kwargs)
    generator = SAM2AutomaticMaskGenerator(model, **kwargs)
    result = time_generator(generator, image, device, args.warmup, args.repeat)
    sys.stdout.write("AMG_BENCH " + json.dumps(result) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", choices=seeded_ckpt.SIZES, default="t")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="golden .npz to write (not with --bench)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bench", action="store_true", help="time the generator instead")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--image-hw", type=int, nargs=2, default=[480, 640])
    ap.add_argument("--generator-kwargs", default="{}", help="JSON keyword arguments")
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.bench:
        _check_official()
        bench(args)
        return
    if not args.out:
        ap.error("--out is required (or --bench)")

    import sam2
    _check_official()
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator
    from sam2.build_sam import build_sam2

    config = seeded_ckpt.CONFIG_PATTERN.format(size=args.size)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = os.path.join(tmp, f"seeded_{args.size}_{args.seed}.pt")
        state = golden_state_dict(args.size, args.seed)
        weights_digest = seeded_ckpt.state_dict_digest(state)
        torch.save({"model": state}, ckpt)
        model = build_sam2(config, ckpt, device="cpu", mode="eval")

    image = synthetic_image(*IMAGE_HW)
    arrays = {"image": image}
    seconds = {}
    for name, kwargs in CASES.items():
        generator = SAM2AutomaticMaskGenerator(model, output_mode="uncompressed_rle", **kwargs)
        start = time.perf_counter()
        records = generator.generate(image)
        seconds[name] = round(time.perf_counter() - start, 3)
        for key, value in pack(records).items():
            arrays[f"{name}/{key}"] = value
        ious = arrays[f"{name}/predicted_iou"]
        stab = arrays[f"{name}/stability_score"]
        sys.stdout.write(
            f"{name:10s} masks={len(records):4d} "
            f"iou[min,max]={np.round([ious.min(), ious.max()], 3).tolist() if len(ious) else []} "
            f"stab[min,max]={np.round([np.nanmin(stab), np.nanmax(stab)], 3).tolist() if len(stab) else []} "
            f"{seconds[name]}s\n")

    meta = {
        "size": args.size, "seed": args.seed, "config": config,
        "weights_sha256": weights_digest, "recipe_version": seeded_ckpt.RECIPE_VERSION, "hypernet_scale": HYPERNET_SCALE,
        "cases": CASES, "image_hw": list(IMAGE_HW), "seconds": seconds,
        "torch": torch.__version__, "numpy": np.__version__,
        "sam2": importlib.metadata.version("sam2"), "sam2_path": os.path.dirname(sam2.__file__),
        "threads": args.threads,
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
    }
    arrays["meta_json"] = np.array(json.dumps(meta, sort_keys=True))
    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp_out = out + ".tmp.npz"
    np.savez_compressed(tmp_out, **arrays)
    os.replace(tmp_out, out)
    sys.stdout.write(f"wrote {out} ({os.path.getsize(out)} bytes), weights {weights_digest}\n")


if __name__ == "__main__":
    main()
