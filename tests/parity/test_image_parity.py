"""Parity of SAM2ImagePredictor with the official predictor (goldens in golden/image_<size>.npz).

The goldens were produced by oracle_scripts/image_predictor_golden.py (see README.md) with the
seeded checkpoint of seeded_ckpt.py; this test regenerates the identical checkpoint, builds our
model with build_sam2 on CPU float32 and runs the same prompts.
"""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

PARITY_DIR = Path(__file__).resolve().parent
if str(PARITY_DIR) not in sys.path:
    sys.path.insert(0, str(PARITY_DIR))

import seeded_ckpt  # noqa: E402

GOLDEN_DIR = PARITY_DIR / "golden"
REL_TOL = 1e-4
SIZES = ["t", "b+"]

# The stored views are defined once, in the oracle script that writes them (importing it
# loads numpy, torch and seeded_ckpt only; the official package is imported inside its main()).
sys.path.insert(0, str(PARITY_DIR / "oracle_scripts"))
from image_predictor_golden import (  # noqa: E402
    EMBED_STRIDE, HR0_STRIDE, HR1_STRIDE, hires_views, lowres_views, stats,
)

CASE_NAMES = ["point", "points_neg", "box", "mask", "point_box"]


def rel_l2(actual, expected):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    return float(np.linalg.norm(actual - expected) / max(np.linalg.norm(expected), 1e-12))


def assert_close(actual, expected, what):
    err = rel_l2(actual, expected)
    assert err <= REL_TOL, f"{what}: relative L2 error {err:.3e} > {REL_TOL}"


class Run:
    """Our predictor on the golden image, with the decoder's object-score logits hooked."""

    def __init__(self, size, tmp_dir):
        from sam2.build_sam import build_sam2
        from sam2.sam2_image_predictor import SAM2ImagePredictor

        self.golden = dict(np.load(GOLDEN_DIR / f"image_{size}.npz"))
        self.meta = json.loads(str(self.golden["meta_json"].reshape(-1)[0]))
        ckpt = Path(tmp_dir) / f"seeded_{size}.pt"
        digest = seeded_ckpt.write_seeded_checkpoint(size, self.meta["seed"], ckpt)
        assert digest == self.meta["weights_sha256"], (
            "seeded_ckpt.py no longer reproduces the weights of the golden file; regenerate the "
            "goldens (tests/parity/README.md)")
        model = build_sam2(self.meta["config"], str(ckpt), device="cpu")
        ckpt.unlink()
        self.model = model
        self.obj_scores = []
        model.sam_mask_decoder.register_forward_hook(
            lambda _m, _i, out: self.obj_scores.append(out[3].detach().clone()))
        self.predictor = SAM2ImagePredictor(model)
        self.predictor.set_image(self.golden["image"])

    def predict(self, **kwargs):
        self.obj_scores.clear()
        out = self.predictor.predict(**kwargs)
        return out, self.obj_scores[0].numpy()


@pytest.fixture(scope="module", params=SIZES)
def run(request, tmp_path_factory):
    return Run(request.param, tmp_path_factory.mktemp(f"ckpt_{request.param}"))


@pytest.mark.slow  # 1024-px parity
def test_image_features(run):
    g = run.golden
    feats = run.predictor._features
    emb = feats["image_embed"].numpy()
    hr0, hr1 = [f.numpy() for f in feats["high_res_feats"]]
    assert emb.shape == (1, 256, 64, 64)
    assert_close(emb[:, ::EMBED_STRIDE, ::EMBED_STRIDE, ::EMBED_STRIDE], g["image_embed_strided"], "image_embed")
    assert_close(stats(emb), g["image_embed_stats"], "image_embed stats")
    assert_close(hr0[:, ::HR0_STRIDE[0], ::HR0_STRIDE[1], ::HR0_STRIDE[1]], g["high_res_0_strided"], "high_res_feats[0]")
    assert_close(stats(hr0), g["high_res_0_stats"], "high_res_feats[0] stats")
    assert_close(hr1[:, ::HR1_STRIDE[0], ::HR1_STRIDE[1], ::HR1_STRIDE[1]], g["high_res_1_strided"], "high_res_feats[1]")
    assert_close(stats(hr1), g["high_res_1_stats"], "high_res_feats[1] stats")
    assert torch.equal(run.predictor.get_image_embedding(), feats["image_embed"])


@pytest.mark.slow  # 1024-px parity
@pytest.mark.parametrize("multi", [True, False], ids=["multi", "single"])
@pytest.mark.parametrize("case", CASE_NAMES)
def test_prompt_case(run, case, multi):
    g = run.golden
    spec = run.meta["prompts"][case]
    kwargs = {}
    if "point_coords" in spec:
        kwargs["point_coords"] = np.array(spec["point_coords"], np.float32)
        kwargs["point_labels"] = np.array(spec["point_labels"], np.int64)
    if "box" in spec:
        kwargs["box"] = np.array(spec["box"], np.float32)
    if spec.get("use_mask_input"):
        kwargs["mask_input"] = g["mask_input_f16"].astype(np.float32)
    tag = f"{case}_{'multi' if multi else 'single'}"
    (logits, ious, low), obj = run.predict(multimask_output=multi, return_logits=True, **kwargs)
    n_masks = 3 if multi else 1
    assert logits.shape == (n_masks, 240, 320) and low.shape == (n_masks, 256, 256)
    assert_close(ious, g[f"{tag}/ious"], f"{tag} ious")
    assert_close(obj, g[f"{tag}/obj_score"], f"{tag} object score")
    strided, crop = lowres_views(low)
    assert_close(strided, g[f"{tag}/lowres_strided"], f"{tag} low-res logits (strided)")
    assert_close(crop, g[f"{tag}/lowres_crop"], f"{tag} low-res logits (crop)")
    assert_close(stats(low), g[f"{tag}/lowres_stats"], f"{tag} low-res stats")
    strided, crop = hires_views(logits)
    assert_close(strided, g[f"{tag}/logits_strided"], f"{tag} logits (strided)")
    assert_close(crop, g[f"{tag}/logits_crop"], f"{tag} logits (crop)")
    if multi:  # binary masks (one decoder call more, so only for the multimask cases)
        (masks, _, _), _ = run.predict(multimask_output=multi, **kwargs)
        assert masks.dtype == np.float32 and set(np.unique(masks).tolist()) <= {0.0, 1.0}
        area = masks.reshape(n_masks, -1).sum(-1)
        # a pixel within ~1e-6 of the threshold may flip
        assert np.abs(area - g[f"{tag}/mask_area"]).max() <= 3


@pytest.mark.slow  # 1024-px parity
def test_two_boxes_torch_api(run):
    g = run.golden
    pred = run.predictor
    boxes = torch.from_numpy(g["boxes2/boxes"])
    corners = pred._transforms.transform_boxes(boxes, normalize=True, orig_hw=pred._orig_hw[-1])
    run.obj_scores.clear()
    masks, ious, low = pred._predict(None, None, corners, None, multimask_output=True, return_logits=True)
    assert masks.shape == (2, 3, 240, 320) and ious.shape == (2, 3)
    assert_close(ious.numpy(), g["boxes2/ious"], "boxes2 ious")
    assert_close(run.obj_scores[0].numpy(), g["boxes2/obj_score"], "boxes2 object score")
    strided, crop = lowres_views(low.numpy())
    assert_close(strided, g["boxes2/lowres_strided"], "boxes2 low-res (strided)")
    assert_close(crop, g["boxes2/lowres_crop"], "boxes2 low-res (crop)")
    strided, crop = hires_views(masks.numpy())
    assert_close(strided, g["boxes2/logits_strided"], "boxes2 logits (strided)")
    assert_close(crop, g["boxes2/logits_crop"], "boxes2 logits (crop)")


def second_image(image):
    """Same as oracle_scripts/image_predictor_golden.py: a crop, flipped upside down."""
    return np.ascontiguousarray(image[20:220, 40:300][::-1])


@pytest.mark.slow  # 1024-px parity
@pytest.mark.parametrize("run", ["t"], indirect=True)
def test_batch_api(run):
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    g = run.golden
    pred = SAM2ImagePredictor(run.model)  # fresh predictor: keep the fixture's single image set
    pred.set_image_batch([g["image"], second_image(g["image"])])
    emb = pred.get_image_embedding().numpy()
    assert emb.shape == (2, 256, 64, 64)
    assert_close(emb[1:, ::EMBED_STRIDE, ::EMBED_STRIDE, ::EMBED_STRIDE], g["batch/image_embed_strided_1"],
                 "batch image_embed[1]")
    assert_close(emb[:1, ::EMBED_STRIDE, ::EMBED_STRIDE, ::EMBED_STRIDE], g["image_embed_strided"],
                 "batch image_embed[0]")
    masks, ious, lows = pred.predict_batch(
        [g["batch/coords_0"], g["batch/coords_1"]], [g["batch/labels_0"], g["batch/labels_1"]],
        box_batch=[None, g["batch/box_1"]], multimask_output=True, return_logits=True)
    assert [m.shape for m in masks] == [(3, 240, 320), (3, 200, 260)]
    for i in range(2):
        assert_close(ious[i], g[f"batch/ious_{i}"], f"batch ious[{i}]")
        strided, crop = lowres_views(lows[i])
        assert_close(strided, g[f"batch/lowres_strided_{i}"], f"batch low-res[{i}] (strided)")
        assert_close(crop, g[f"batch/lowres_crop_{i}"], f"batch low-res[{i}] (crop)")
        assert_close(hires_views(masks[i])[0], g[f"batch/logits_strided_{i}"], f"batch logits[{i}]")


@pytest.mark.slow  # 1024-px parity
def test_goldens_are_not_degenerate(run):
    """Guards the usefulness of the comparison itself: outputs depend on the prompt."""
    g = run.golden
    a = g["point_multi/lowres_strided"]
    b = g["box_multi/lowres_strided"]
    assert rel_l2(a, b) > 0.1
    assert np.abs(g["point_multi/lowres_stats"][3:]).max() < 20  # not saturated


# ----------------------------------------------------------------- seeded_ckpt itself
T_SEED0_DIGEST = "033b8e41edfe5ce18306ebd94b97edfdf60f46ef1b543c3108d0ee92db2eae89"


def _small_manifest(tmp_path):
    """A manifest with a few small entries of the tiny model (fast CLI / seed tests)."""
    full = json.loads(seeded_ckpt.find_manifest("t").read_text())
    picked = [e for e in full["entries"] if e["numel"] <= 4096][:12]
    path = tmp_path / "small.state_dict.json"
    path.write_text(json.dumps({"entries": picked}))
    return path, [e["key"] for e in picked]


def test_seeded_state_dict_is_deterministic_and_follows_manifest(tmp_path):
    manifest = seeded_ckpt.find_manifest("t")
    keys = [k for k, _, _ in seeded_ckpt.load_manifest(manifest)]
    sd = seeded_ckpt.make_seeded_state_dict("t", 0)
    assert list(sd) == keys
    assert seeded_ckpt.state_dict_digest(sd) == T_SEED0_DIGEST
    for key, shape, _ in seeded_ckpt.load_manifest(manifest):
        assert tuple(sd[key].shape) == shape and sd[key].dtype == torch.float32
    # per-key seeding: a tensor depends on (seed, key) only, not on the other keys
    small, small_keys = _small_manifest(tmp_path)
    sub = seeded_ckpt.make_seeded_state_dict(str(small), 0)
    assert list(sub) == small_keys and all(torch.equal(sub[k], sd[k]) for k in small_keys)
    other = seeded_ckpt.make_seeded_state_dict(str(small), 1)
    assert not torch.equal(sub["no_mem_embed"], other["no_mem_embed"])
    # scales: norm weights around 1, embeddings ~unit variance, matrices ~1/sqrt(fan_in)
    assert abs(float(sd["image_encoder.trunk.blocks.0.norm1.weight"].mean()) - 1.0) < 0.05
    assert 0.5 < float(sd["sam_mask_decoder.mask_tokens.weight"].std()) < 1.5
    w = sd["sam_mask_decoder.transformer.layers.0.mlp.layers.0.weight"]
    assert float(w.abs().max()) <= 1 / 16 + 1e-6


def test_seeded_manifest_lookup_falls_back_to_bundled_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("SAM2_REFERENCE_DIR", str(tmp_path))  # holds no manifest
    assert seeded_ckpt.find_manifest("b+") == PARITY_DIR / "manifests" / "sam2.1_hiera_b+.state_dict.json"
    with pytest.raises(ValueError, match="unknown model size"):
        seeded_ckpt.find_manifest("xl")
    # without the variable every size comes from the checkout itself (a fresh clone has no other copy)
    monkeypatch.delenv("SAM2_REFERENCE_DIR")
    for size in seeded_ckpt.SIZES:
        found = seeded_ckpt.find_manifest(size)
        assert found.parent == PARITY_DIR / "manifests", (size, found)
        assert seeded_ckpt.load_manifest(found)
    bad = tmp_path / "bad.state_dict.json"
    bad.write_text('{"entries": []}')
    with pytest.raises(ValueError, match="no 'entries'"):
        seeded_ckpt.make_seeded_state_dict(str(bad), 0)


def test_seeded_ckpt_cli_writes_loadable_checkpoint(tmp_path):
    import subprocess

    small, _ = _small_manifest(tmp_path)
    expected = seeded_ckpt.make_seeded_state_dict(str(small), 3)
    out = tmp_path / "small3.pt"
    res = subprocess.run([sys.executable, str(PARITY_DIR / "seeded_ckpt.py"), "--manifest", str(small),
                          "--seed", "3", "--out", str(out)], capture_output=True, text=True, check=True)
    assert seeded_ckpt.state_dict_digest(expected) in res.stdout
    loaded = torch.load(out, map_location="cpu", weights_only=True)
    assert set(loaded) == {"model"} and list(loaded["model"]) == list(expected)
    assert all(torch.equal(loaded["model"][k], v) for k, v in expected.items())


def test_seeded_obj_score_bias_and_scales(tmp_path):
    full = json.loads(seeded_ckpt.find_manifest("t").read_text())
    picked = [e for e in full["entries"]
              if e["key"].startswith("sam_mask_decoder.pred_obj_score_head.") or e["key"] == "no_obj_ptr"]
    path = tmp_path / "obj.state_dict.json"
    path.write_text(json.dumps({"entries": picked}))
    base = seeded_ckpt.make_seeded_state_dict(str(path), 0)
    shifted = seeded_ckpt.make_seeded_state_dict(str(path), 0, obj_score_bias=2.5, scales={"no_obj_ptr": 3.0})
    last = "sam_mask_decoder.pred_obj_score_head.layers.2.bias"
    assert torch.allclose(shifted[last], base[last] + 2.5)
    assert torch.allclose(shifted["no_obj_ptr"], base["no_obj_ptr"] * 3.0)
    changed = [k for k in base if not torch.equal(base[k], shifted[k])]
    assert sorted(changed) == sorted([last, "no_obj_ptr"])
    with pytest.raises(KeyError, match="no key contains"):
        seeded_ckpt.make_seeded_state_dict(str(path), 0, scales={"nonexistent": 2.0})
