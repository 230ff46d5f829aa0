"""SAM2Transforms: image preprocessing, coordinate transforms and mask post-processing."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage

from sam2.utils.transforms import SAM2Transforms, image_to_float_tensor

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def test_image_matches_torchvision_resize_and_normalize():
    import torchvision.transforms as tv
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
    ours = SAM2Transforms(64, 0.0)(image)
    ref = tv.Normalize(MEAN.flatten().tolist(), STD.flatten().tolist())(
        tv.Resize((64, 64))(tv.ToTensor()(image)))
    assert ours.shape == (3, 64, 64) and ours.dtype == torch.float32
    assert torch.equal(ours, ref)


def test_image_downscale_is_antialiased_and_pil_equals_numpy():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(128, 96, 3), dtype=np.uint8)
    t = SAM2Transforms(32, 0.0)
    from_np = t(image)
    from_pil = t(Image.fromarray(image))
    assert torch.equal(from_np, from_pil)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    expected = (F.interpolate(x, (32, 32), mode="bilinear", align_corners=False, antialias=True)[0] - MEAN) / STD
    plain = (F.interpolate(x, (32, 32), mode="bilinear", align_corners=False)[0] - MEAN) / STD
    assert torch.equal(from_np, expected)
    assert not torch.allclose(from_np, plain)


def test_forward_batch_stacks_different_sizes():
    t = SAM2Transforms(16, 0.0)
    imgs = [np.zeros((10, 20, 3), np.uint8), np.full((30, 8, 3), 255, np.uint8)]
    out = t.forward_batch(imgs)
    assert out.shape == (2, 3, 16, 16)
    assert torch.equal(out[1], t(imgs[1]))


def test_image_to_float_tensor_scales_uint8_only():
    assert image_to_float_tensor(np.full((2, 2, 3), 255, np.uint8)).max() == 1.0
    assert image_to_float_tensor(np.full((2, 2, 3), 0.5, np.float32)).max() == 0.5


def test_transform_coords_and_boxes():
    t = SAM2Transforms(1024, 0.0)
    pts = torch.tensor([[[160.0, 120.0], [0.0, 240.0]]])
    out = t.transform_coords(pts, normalize=True, orig_hw=(240, 320))
    assert torch.allclose(out, torch.tensor([[[512.0, 512.0], [0.0, 1024.0]]]))
    assert torch.equal(t.transform_coords(torch.tensor([[0.25, 0.5]])), torch.tensor([[256.0, 512.0]]))
    boxes = t.transform_boxes(torch.tensor([[32.0, 24.0, 320.0, 240.0]]), normalize=True, orig_hw=(240, 320))
    assert boxes.shape == (1, 2, 2)
    assert torch.allclose(boxes, torch.tensor([[[102.4, 102.4], [1024.0, 1024.0]]]))
    with pytest.raises(ValueError, match="orig_hw"):
        t.transform_coords(pts, normalize=True)


def test_postprocess_upsamples_bilinear_without_cleanup():
    t = SAM2Transforms(64, 0.0)
    low = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    out = t.postprocess_masks(low, (30, 50))
    assert out.shape == (1, 3, 30, 50)
    assert torch.equal(out, F.interpolate(low, (30, 50), mode="bilinear", align_corners=False))


def test_postprocess_fills_holes_and_removes_sprinkles():
    thr = 0.5
    t = SAM2Transforms(64, thr, max_hole_area=4, max_sprinkle_area=3)
    low = torch.full((1, 2, 20, 20), -3.0)
    low[0, 0, 2:12, 2:12] = 4.0
    low[0, 0, 5:7, 5:7] = -1.0          # hole of area 4 -> filled
    low[0, 0, 8:11, 8:11] = thr         # hole of area 9 (score == threshold is background) -> kept
    low[0, 1, 15, 15] = 2.0             # sprinkle of area 1 -> removed
    low[0, 1, 1:3, 1:3] = 2.0           # area 4 > 3 -> kept
    out = t.postprocess_masks(low, (20, 20))  # same size: interpolation is the identity
    exp = low.clone()
    exp[0, 0, 5:7, 5:7] = thr + 10.0
    exp[0, 1, 15, 15] = thr - 10.0
    assert torch.allclose(out, exp)


def test_postprocess_hole_fill_matches_brute_force():
    rng = np.random.default_rng(5)
    low = rng.normal(size=(2, 3, 24, 24)).astype(np.float32) + 0.7
    t = SAM2Transforms(96, 0.0, max_hole_area=6)
    out = t.postprocess_masks(torch.from_numpy(low), (24, 24)).numpy()
    exp = low.copy()
    for b in range(2):
        for c in range(3):
            comp, num = ndimage.label(low[b, c] <= 0, structure=np.ones((3, 3)))
            for k in range(1, num + 1):
                if (comp == k).sum() <= 6:
                    exp[b, c][comp == k] = 10.0
    np.testing.assert_allclose(out, exp, atol=1e-6)
