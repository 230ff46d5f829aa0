"""SAM2ImagePredictor API: input validation and prompt plumbing, on a small stub model.

Numerical parity with the official predictor is in tests/parity/test_image_parity.py; here a
stub stands in for SAM2Base so that every branch is cheap and its inputs can be inspected.
"""
import numpy as np
import pytest
import torch
from PIL import Image

from sam2.sam2_image_predictor import SAM2ImagePredictor

SIZE = 64
CH = 8


class StubPromptEncoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, points, boxes, masks):
        self.calls.append({"points": points, "boxes": boxes, "masks": masks})
        bsz = 1
        if points is not None:
            bsz = points[0].shape[0]
        elif masks is not None:
            bsz = masks.shape[0]
        n = 0 if points is None else points[0].shape[1]
        sparse = torch.zeros(bsz, n, CH)
        if points is not None:
            sparse = sparse + points[0].sum(-1, keepdim=True)
        dense = torch.zeros(bsz, CH, SIZE // 16, SIZE // 16)
        if masks is not None:
            dense = dense + masks.mean()
        return sparse, dense

    def get_dense_pe(self):
        return torch.zeros(1, CH, SIZE // 16, SIZE // 16)


class StubMaskDecoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, image_embeddings, image_pe, sparse_prompt_embeddings, dense_prompt_embeddings,
                multimask_output, repeat_image, high_res_features):
        self.calls.append(dict(image_embeddings=image_embeddings, repeat_image=repeat_image,
                               high_res_features=high_res_features, multimask_output=multimask_output))
        bsz = sparse_prompt_embeddings.shape[0]
        m = 3 if multimask_output else 1
        base = image_embeddings.mean() + sparse_prompt_embeddings.sum() * 1e-3 + dense_prompt_embeddings.mean()
        yy = torch.linspace(-50, 50, SIZE // 4)
        low = (yy[:, None] + 0 * yy[None, :]).expand(bsz, m, -1, -1) + base
        ious = torch.full((bsz, m), 0.5) + base
        return low, ious, None, torch.ones(bsz, 1)


class StubModel(torch.nn.Module):
    image_size = SIZE
    directly_add_no_mem_embed = True

    def __init__(self):
        super().__init__()
        self.no_mem_embed = torch.nn.Parameter(torch.full((1, 1, CH), 0.25))
        self.sam_prompt_encoder = StubPromptEncoder()
        self.sam_mask_decoder = StubMaskDecoder()

    @property
    def device(self):
        return self.no_mem_embed.device

    def forward_image(self, img):
        assert img.shape[1:] == (3, SIZE, SIZE)
        return {"img": img}

    def _prepare_backbone_features(self, backbone_out):
        img = backbone_out["img"]
        feats, sizes = [], []
        for stride, ch in ((4, CH // 2), (8, CH), (16, CH)):
            s = SIZE // stride
            pooled = torch.nn.functional.adaptive_avg_pool2d(img.mean(1, keepdim=True), s)
            fmap = pooled.expand(-1, ch, -1, -1)
            feats.append(fmap.flatten(2).permute(2, 0, 1))
            sizes.append((s, s))
        return feats, [None] * 3, sizes


def image(h=30, w=40, value=None, seed=0):
    if value is not None:
        return np.full((h, w, 3), value, np.uint8)
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture()
def pred():
    return SAM2ImagePredictor(StubModel())


def test_set_image_features_and_state(pred):
    img = image()
    pred.set_image(img)
    assert pred._is_image_set and not pred._is_batch
    assert pred._orig_hw == [(30, 40)]
    emb = pred.get_image_embedding()
    assert emb.shape == (1, CH, SIZE // 16, SIZE // 16)
    hr = pred._features["high_res_feats"]
    assert [tuple(f.shape) for f in hr] == [(1, CH // 2, 16, 16), (1, CH, 8, 8)]
    # no_mem_embed is added to the lowest-resolution level only
    pred2 = SAM2ImagePredictor(StubModel())
    pred2.model.no_mem_embed.data.zero_()
    pred2.set_image(img)
    assert torch.allclose(emb - pred2.get_image_embedding(), torch.tensor(0.25))
    assert torch.equal(hr[0], pred2._features["high_res_feats"][0])
    pil = SAM2ImagePredictor(StubModel())
    pil.set_image(Image.fromarray(img))
    assert torch.equal(pil.get_image_embedding(), emb) and pil._orig_hw == [(30, 40)]
    pred.reset_predictor()
    assert not pred._is_image_set and pred._features is None and pred._orig_hw is None


def test_predict_before_set_image(pred):
    with pytest.raises(RuntimeError, match="set_image"):
        pred.predict(point_coords=np.array([[1.0, 2.0]]), point_labels=np.array([1]))
    with pytest.raises(RuntimeError, match="set_image"):
        pred.get_image_embedding()


@pytest.mark.parametrize("bad, err, msg", [
    (np.zeros((20, 20, 3), np.float32), ValueError, "uint8"),
    (np.zeros((20, 20), np.uint8), ValueError, "HxWx3"),
    (np.zeros((20, 20, 4), np.uint8), ValueError, "HxWx3"),
    (Image.new("RGBA", (20, 20)), ValueError, "RGB"),
    (Image.new("L", (20, 20)), ValueError, "RGB"),
    ([[0, 0, 0]], TypeError, "numpy"),
])
def test_bad_images(pred, bad, err, msg):
    with pytest.raises(err, match=msg):
        pred.set_image(bad)


def test_bad_prompts(pred):
    pred.set_image(image())
    with pytest.raises(ValueError, match="point_labels must be supplied"):
        pred.predict(point_coords=np.array([[1.0, 2.0]]))
    with pytest.raises(ValueError, match="does not match"):
        pred.predict(point_coords=np.array([[1.0, 2.0], [3.0, 4.0]]), point_labels=np.array([1]))
    with pytest.raises(ValueError, match=r"point_coords must have shape"):
        pred.predict(point_coords=np.array([1.0, 2.0, 3.0]), point_labels=np.array([1]))
    with pytest.raises(ValueError, match="box must have shape"):
        pred.predict(box=np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="mask_input must have shape"):
        pred.predict(mask_input=np.zeros((1, 8, 8), np.float32))
    with pytest.raises(ValueError, match="box batch size"):
        pred.predict(point_coords=np.zeros((3, 1, 2)), point_labels=np.ones((3, 1)), box=np.tile([0.0, 0.0, 5.0, 5.0], (2, 1)))


def test_box_goes_first_and_coords_are_scaled(pred):
    pred.set_image(image(h=30, w=40))
    pred.predict(point_coords=np.array([[20.0, 15.0], [0.0, 30.0]]), point_labels=np.array([1, 0]),
                 box=np.array([4.0, 3.0, 40.0, 30.0]))
    coords, labels = pred.model.sam_prompt_encoder.calls[-1]["points"]
    assert labels.tolist() == [[2, 3, 1, 0]]
    expected = torch.tensor([[[6.4, 6.4], [64.0, 64.0], [32.0, 32.0], [0.0, 64.0]]])
    assert torch.allclose(coords, expected)
    pred.predict(point_coords=np.array([[0.5, 0.25]]), point_labels=np.array([1]), normalize_coords=False)
    coords, _ = pred.model.sam_prompt_encoder.calls[-1]["points"]
    assert torch.allclose(coords, torch.tensor([[[32.0, 16.0]]]))
    assert pred.model.sam_mask_decoder.calls[-1]["repeat_image"] is False


def test_outputs_shapes_threshold_and_clamp():
    pred = SAM2ImagePredictor(StubModel(), mask_threshold=5.0)
    pred.set_image(image())
    masks, ious, low = pred.predict(point_coords=np.array([[3.0, 3.0]]), point_labels=np.array([1]))
    # like the official predictor, binary masks come back as float32 0/1 arrays
    assert masks.shape == (3, 30, 40) and masks.dtype == np.float32
    assert set(np.unique(masks).tolist()) <= {0.0, 1.0}
    assert ious.shape == (3,) and low.shape == (3, 16, 16)
    assert low.max() <= 32.0 and low.min() >= -32.0 and low.max() == 32.0
    logits, _, _ = pred.predict(point_coords=np.array([[3.0, 3.0]]), point_labels=np.array([1]),
                                multimask_output=False, return_logits=True)
    assert logits.shape == (1, 30, 40) and logits.dtype == np.float32
    masks1, _, _ = pred.predict(point_coords=np.array([[3.0, 3.0]]), point_labels=np.array([1]),
                                multimask_output=False)
    np.testing.assert_array_equal(masks1, (logits > 5.0).astype(np.float32))
    assert logits.max() > 32.0  # full-size logits are not clipped


def test_mask_input_and_several_boxes(pred):
    pred.set_image(image())
    mask = np.full((1, 16, 16), 2.0, np.float32)
    pred.predict(mask_input=mask)
    assert pred.model.sam_prompt_encoder.calls[-1]["masks"].shape == (1, 1, 16, 16)
    assert pred.model.sam_prompt_encoder.calls[-1]["points"] is None
    masks, ious, low = pred.predict(box=np.array([[0, 0, 10, 10], [5, 5, 20, 20]], np.float32),
                                    multimask_output=False)
    assert masks.shape == (2, 1, 30, 40) and ious.shape == (2, 1)
    assert pred.model.sam_mask_decoder.calls[-1]["repeat_image"] is True


def test_batch_mode_uses_each_image(pred):
    imgs = [image(value=0, h=20, w=30), image(value=255, h=50, w=10)]
    with pytest.raises(TypeError):
        pred.set_image_batch([Image.fromarray(imgs[0])])
    pred.set_image_batch(imgs)
    assert pred._is_batch and pred._orig_hw == [(20, 30), (50, 10)]
    assert pred.get_image_embedding().shape[0] == 2
    masks, ious, lows = pred.predict_batch(
        point_coords_batch=[np.array([[1.0, 1.0]]), np.array([[2.0, 2.0]])],
        point_labels_batch=[np.array([1]), np.array([1])])
    assert [m.shape for m in masks] == [(3, 20, 30), (3, 50, 10)]
    calls = pred.model.sam_mask_decoder.calls[-2:]
    assert calls[0]["image_embeddings"].mean() < calls[1]["image_embeddings"].mean()
    assert not np.allclose(ious[0], ious[1])
    with pytest.raises(ValueError, match="entries"):
        pred.predict_batch(box_batch=[np.zeros(4)])
    pred.set_image(imgs[0])
    with pytest.raises(RuntimeError, match="set_image_batch"):
        pred.predict_batch(box_batch=[np.zeros(4)])


def test_non_contiguous_image_and_postprocessing_options():
    img = image(seed=3)
    a = SAM2ImagePredictor(StubModel())
    a.set_image(img[:, ::-1])  # negative strides (e.g. a flipped view) are accepted
    b = SAM2ImagePredictor(StubModel())
    b.set_image(np.ascontiguousarray(img[:, ::-1]))
    assert torch.equal(a.get_image_embedding(), b.get_image_embedding())
    c = SAM2ImagePredictor(StubModel(), mask_threshold=1.5, max_hole_area=8, max_sprinkle_area=2)
    assert c._transforms.max_hole_area == 8 and c._transforms.max_sprinkle_area == 2
    assert c._transforms.mask_threshold == 1.5 and c._transforms.resolution == SIZE
