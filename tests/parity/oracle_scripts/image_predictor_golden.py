#!/usr/bin/env python
"""Golden outputs of the OFFICIAL SAM2ImagePredictor for the image-predictor parity test.

Runs ONLY under the oracle python (official sam2==1.1.0), as a separate process, from a
folder without a ``sam2/`` subfolder and without PYTHONPATH; see tests/parity/README.md:

    cd /tmp && env -u PYTHONPATH /root/.cache/sam2-oracle/venv/bin/python \
        /work/main/tests/parity/oracle_scripts/image_predictor_golden.py --size t --seed 0 \
        --out /work/main/tests/parity/golden/image_t.npz

It imports the official package, numpy and torch, plus ``seeded_ckpt`` (tests/parity, torch
and standard library only) to build the deterministic checkpoint. Everything the parity test
needs is written into one compressed .npz: the input image, the mask prompt, prompts, the
checkpoint digest, and cropped / strided views of the outputs (float32).
"""
import argparse
import hashlib
import importlib.metadata
import json
import os
import sys
import tempfile

_PARITY_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _PARITY_DIR)
sys.dont_write_bytecode = True

import numpy as np  # noqa: E402
import torch  # noqa: E402

import seeded_ckpt  # noqa: E402

# --- strided / cropped views stored in the golden file (the test applies the same ones) ---
EMBED_STRIDE = 4            # image_embed [1,256,64,64] -> [1,64,16,16]
HR0_STRIDE = (4, 8)         # high_res_feats[0] [1,32,256,256] -> channel/4, spatial/8
HR1_STRIDE = (4, 4)         # high_res_feats[1] [1,64,128,128] -> channel/4, spatial/4
LOWRES_STRIDE = 8           # low-res logits [C,256,256] -> [C,32,32]
LOWRES_CROP = (112, 144)    # plus a full-resolution crop [C,32,32]
HIRES_STRIDE = 8            # logits at image size [C,H,W] -> [C,H/8,W/8]
HIRES_CROP = ((104, 136), (128, 160))  # rows, cols of a full-resolution crop


def make_image(height=240, width=320):
    """Deterministic RGB uint8 test image [H,W,3] with a few shapes and a gradient."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.zeros((height, width, 3), np.float32)
    img[..., 0] = 40 + 80 * xx / width
    img[..., 1] = 60 + 60 * yy / height
    img[..., 2] = 90 + 30 * np.sin(xx / 17.0) * np.cos(yy / 23.0)
    disk = (xx - 100) ** 2 + (yy - 120) ** 2 < 45 ** 2
    img[disk] = (230, 60, 40)
    stripes = disk & (((xx + yy) // 8) % 2 == 0)
    img[stripes] = (250, 200, 60)
    square = (xx >= 190) & (xx < 270) & (yy >= 50) & (yy < 130)
    checker = ((xx // 10 + yy // 10) % 2 == 0)
    img[square & checker] = (30, 30, 200)
    img[square & ~checker] = (220, 220, 240)
    tri = (yy > 150) & (yy < 220) & (np.abs(xx - 230) < (yy - 150) * 0.8)
    img[tri] = (20, 160, 70)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def prompt_cases():
    """Named prompt sets (pixel coordinates of the 320x240 image)."""
    return {
        "point": dict(point_coords=[[100.0, 120.0]], point_labels=[1]),
        "points_neg": dict(point_coords=[[210.0, 70.0], [250.0, 110.0], [100.0, 120.0]],
                           point_labels=[1, 1, 0]),
        "box": dict(box=[185.0, 45.0, 275.0, 135.0]),
        "mask": dict(use_mask_input=True),
        "point_box": dict(point_coords=[[230.0, 200.0], [60.0, 60.0]], point_labels=[1, 0],
                          box=[170.0, 145.0, 290.0, 225.0]),
    }


def lowres_views(x):
    c0, c1 = LOWRES_CROP
    return x[..., ::LOWRES_STRIDE, ::LOWRES_STRIDE], x[..., c0:c1, c0:c1]


def hires_views(x):
    (r0, r1), (c0, c1) = HIRES_CROP
    return x[..., ::HIRES_STRIDE, ::HIRES_STRIDE], x[..., r0:r1, c0:c1]


def stats(x):
    x = x.astype(np.float64)
    return np.array([x.mean(), x.std(), np.abs(x).mean(), x.min(), x.max()], np.float64)


def digest_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def second_image(image):
    """A second, differently sized input for the batch case: a crop, flipped upside down."""
    return np.ascontiguousarray(image[20:220, 40:300][::-1])


def run_batch_case(predictor, image, res):
    """set_image_batch on [image, second_image] and predict_batch with one prompt set each."""
    images = [image, second_image(image)]
    predictor.set_image_batch(images)
    emb = predictor._features["image_embed"].numpy()
    # image 0 is the single image above; keep the second one's embedding only
    res["batch/image_embed_strided_1"] = emb[1:, ::EMBED_STRIDE, ::EMBED_STRIDE, ::EMBED_STRIDE]
    coords = [np.array([[100.0, 120.0]], np.float32), np.array([[60.0, 90.0], [200.0, 40.0]], np.float32)]
    labels = [np.array([1]), np.array([1, 0])]
    boxes = [None, np.array([30.0, 20.0, 160.0, 150.0], np.float32)]
    res["batch/coords_0"], res["batch/coords_1"] = coords
    res["batch/labels_0"], res["batch/labels_1"] = labels
    res["batch/box_1"] = boxes[1]
    masks, ious, lows = predictor.predict_batch(coords, labels, box_batch=boxes, multimask_output=True,
                                                return_logits=True)
    for i in range(2):
        res[f"batch/ious_{i}"] = ious[i]
        res[f"batch/lowres_strided_{i}"], res[f"batch/lowres_crop_{i}"] = lowres_views(lows[i])
        res[f"batch/logits_strided_{i}"], _ = hires_views(masks[i])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", choices=seeded_ckpt.SIZES, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", action="store_true",
                    help="also run set_image_batch / predict_batch on two images of different sizes")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    import sam2
    if importlib.metadata.version("sam2") != "1.1.0" or os.path.isdir(
            os.path.join(os.getcwd(), "sam2")):
        sys.exit("run with the oracle python, from a folder without a sam2/ subfolder")
    from sam2.build_sam import build_sam2
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    config = seeded_ckpt.CONFIG_PATTERN.format(size=args.size)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = os.path.join(tmp, f"seeded_{args.size}_{args.seed}.pt")
        weights_digest = seeded_ckpt.write_seeded_checkpoint(args.size, args.seed, ckpt)
        model = build_sam2(config, ckpt, device="cpu", mode="eval")
    predictor = SAM2ImagePredictor(model)

    decoder_outs = []
    model.sam_mask_decoder.register_forward_hook(
        lambda _m, _i, out: decoder_outs.append(out[3].detach().clone()))

    image = make_image()
    res = {"image": image}
    predictor.set_image(image)
    feats = predictor._features
    emb = feats["image_embed"].numpy()
    hr0, hr1 = [f.numpy() for f in feats["high_res_feats"]]
    res["image_embed_strided"] = emb[:, ::EMBED_STRIDE, ::EMBED_STRIDE, ::EMBED_STRIDE]
    res["image_embed_stats"] = stats(emb)
    res["high_res_0_strided"] = hr0[:, ::HR0_STRIDE[0], ::HR0_STRIDE[1], ::HR0_STRIDE[1]]
    res["high_res_0_stats"] = stats(hr0)
    res["high_res_1_strided"] = hr1[:, ::HR1_STRIDE[0], ::HR1_STRIDE[1], ::HR1_STRIDE[1]]
    res["high_res_1_stats"] = stats(hr1)

    # Mask prompt: the best low-res mask of the single-point multimask call, rounded to
    # float16 so that it can be stored exactly and fed identically to both implementations.
    _, ious0, low0 = predictor.predict(point_coords=np.array([[100.0, 120.0]]),
                                       point_labels=np.array([1]), multimask_output=True)
    mask_input = low0[int(np.argmax(ious0))][None].astype(np.float16)
    res["mask_input_f16"] = mask_input
    decoder_outs.clear()

    cases = []
    for name, spec in prompt_cases().items():
        for multi in (True, False):
            kwargs = {k: np.array(v, dtype=np.float32 if k != "point_labels" else np.int64)
                      for k, v in spec.items() if k != "use_mask_input"}
            if spec.get("use_mask_input"):
                kwargs["mask_input"] = mask_input.astype(np.float32)
            decoder_outs.clear()
            logits, ious, low = predictor.predict(multimask_output=multi, return_logits=True,
                                                  **kwargs)
            masks, _, _ = predictor.predict(multimask_output=multi, **kwargs)
            tag = f"{name}_{'multi' if multi else 'single'}"
            cases.append(tag)
            res[f"{tag}/ious"] = ious
            res[f"{tag}/obj_score"] = decoder_outs[0].numpy()
            res[f"{tag}/lowres_strided"], res[f"{tag}/lowres_crop"] = lowres_views(low)
            res[f"{tag}/lowres_stats"] = stats(low)
            res[f"{tag}/logits_strided"], res[f"{tag}/logits_crop"] = hires_views(logits)
            res[f"{tag}/mask_area"] = masks.reshape(masks.shape[0], -1).sum(-1).astype(np.int64)

    # Several objects at once through the torch API (_predict with a batch of boxes).
    boxes = torch.tensor([[185.0, 45.0, 275.0, 135.0], [50.0, 70.0, 150.0, 170.0]])
    tboxes = predictor._transforms.transform_boxes(boxes, normalize=True,
                                                   orig_hw=predictor._orig_hw[-1])
    decoder_outs.clear()
    m, i, lo = predictor._predict(None, None, tboxes, None, multimask_output=True,
                                  return_logits=True)
    res["boxes2/boxes"] = boxes.numpy()
    res["boxes2/ious"] = i.numpy()
    res["boxes2/obj_score"] = decoder_outs[0].numpy()
    res["boxes2/lowres_strided"], res["boxes2/lowres_crop"] = lowres_views(lo.numpy())
    res["boxes2/logits_strided"], res["boxes2/logits_crop"] = hires_views(m.numpy())
    cases.append("boxes2")

    if args.batch:
        run_batch_case(predictor, image, res)
        cases.append("batch")

    meta = {
        "size": args.size, "seed": args.seed, "config": config,
        "weights_sha256": weights_digest, "recipe_version": seeded_ckpt.RECIPE_VERSION,
        "cases": cases, "prompts": prompt_cases(),
        "torch": torch.__version__, "numpy": np.__version__, "sam2": importlib.metadata.version("sam2"),
        "sam2_path": os.path.dirname(sam2.__file__), "threads": args.threads,
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
    }
    res["meta_json"] = np.array(json.dumps(meta, sort_keys=True))
    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp_out = out + ".tmp.npz"
    np.savez_compressed(tmp_out, **{k: np.asarray(v) for k, v in res.items()})
    os.replace(tmp_out, out)
    sys.stdout.write(f"wrote {out} ({os.path.getsize(out)} bytes), weights {weights_digest}\n")
    for tag in cases:
        if tag == "batch":
            continue
        sys.stdout.write(f"  {tag:20s} ious={np.round(res[tag + '/ious'], 4).tolist()} "
                         f"obj={np.round(res[tag + '/obj_score'].ravel(), 3).tolist()}\n")


if __name__ == "__main__":
    main()
