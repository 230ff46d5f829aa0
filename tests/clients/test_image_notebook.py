"""The official image-predictor notebook's sequence of calls, on the shipped demo model.

Order of the notebook: ``build_sam2`` + ``SAM2ImagePredictor``, ``set_image``, one click with
three candidates sorted by score, two clicks with the best candidate's low-res logits fed back as
``mask_input``, a box, a box with a negative click, a batch of boxes, then ``set_image_batch`` with
``predict_batch`` for boxes and for batched clicks (best mask per object by score).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from sam2.sam2_image_predictor import SAM2ImagePredictor


def centre_of(mask: np.ndarray) -> list:
    ys, xs = np.nonzero(mask)
    return [float(xs.mean()), float(ys.mean())]


def box_of(mask: np.ndarray) -> list:
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())]


@pytest.fixture(scope="module")
def images(clip):
    video_dir, masks = clip
    frames = [np.array(Image.open(video_dir / f"{t:05d}.jpg").convert("RGB")) for t in (0, 7)]
    return frames, [masks["obj1"][0], masks["obj1"][7]], [masks["obj2"][0], masks["obj2"][7]]


def test_single_image_sequence(image_model, images) -> None:
    (image, _), (disk, _), (square, _) = images
    height, width = image.shape[:2]
    low = image_model.image_size // 4
    predictor = SAM2ImagePredictor(image_model)
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        predictor.set_image(image)
        assert predictor.get_image_embedding().shape == (1, image_model.hidden_dim, image_model.image_size // 16,
                                                          image_model.image_size // 16)
        input_point = np.array([centre_of(disk)])
        input_label = np.array([1])
        masks, scores, logits = predictor.predict(
            point_coords=input_point, point_labels=input_label, multimask_output=True)
        assert masks.shape == (3, height, width) and masks.dtype == np.float32
        assert set(np.unique(masks)) <= {0.0, 1.0}
        assert scores.shape == (3,) and logits.shape == (3, low, low)
        sorted_ind = np.argsort(scores)[::-1]
        masks, scores, logits = masks[sorted_ind], scores[sorted_ind], logits[sorted_ind]
        assert scores[0] == scores.max()

        # two clicks, the best candidate's low-res logits fed back
        input_point = np.array([centre_of(disk), centre_of(square)])
        input_label = np.array([1, 0])
        mask_input = logits[np.argmax(scores), :, :]
        fed, fed_scores, fed_logits = predictor.predict(
            point_coords=input_point, point_labels=input_label, mask_input=mask_input[None, :, :],
            multimask_output=False)
        plain, _, plain_logits = predictor.predict(
            point_coords=input_point, point_labels=input_label, multimask_output=False)
        assert fed.shape == (1, height, width) and fed_scores.shape == (1,) and fed_logits.shape == (1, low, low)
        assert not np.allclose(fed_logits, plain_logits)  # the mask prompt is used
        again, _, again_logits = predictor.predict(
            point_coords=input_point, point_labels=input_label, mask_input=mask_input[None, :, :],
            multimask_output=False)
        np.testing.assert_array_equal(again_logits, fed_logits)  # decoding is a pure function

        # a box, then a box with a negative click
        input_box = np.array(box_of(disk))
        box_masks, box_scores, _ = predictor.predict(
            point_coords=None, point_labels=None, box=input_box[None, :], multimask_output=False)
        assert box_masks.shape == (1, height, width) and box_scores.shape == (1,)
        both, _, _ = predictor.predict(
            point_coords=np.array([centre_of(disk)]), point_labels=np.array([0]), box=input_box,
            multimask_output=False)
        assert both.shape == (1, height, width)

        # a batch of boxes: one mask per box, each as if predicted alone
        input_boxes = np.array([box_of(disk), box_of(square)])
        b_masks, b_scores, b_logits = predictor.predict(
            point_coords=None, point_labels=None, box=input_boxes, multimask_output=False)
        assert b_masks.shape == (2, 1, height, width) and b_scores.shape == (2, 1)
        assert b_logits.shape == (2, 1, low, low)
        for i, one_box in enumerate(input_boxes):
            _, s, lg = predictor.predict(box=one_box[None, :], multimask_output=False)
            np.testing.assert_allclose(b_logits[i], lg, atol=1e-4)
            np.testing.assert_allclose(b_scores[i], s, atol=1e-5)

    # a PIL image gives the same embedding as its numpy array
    pil = SAM2ImagePredictor(image_model)
    pil.set_image(Image.fromarray(image))
    torch.testing.assert_close(pil.get_image_embedding(), predictor.get_image_embedding())


def test_image_batch_equals_one_image_at_a_time(image_model, images) -> None:
    frames, disks, squares = images
    predictor = SAM2ImagePredictor(image_model)
    boxes_batch = [np.array([box_of(d), box_of(s)]) for d, s in zip(disks, squares)]
    pts_batch = [np.array([[centre_of(d)], [centre_of(s)]]) for d, s in zip(disks, squares)]  # B x 1 x 2
    labels_batch = [np.array([[1], [1]]) for _ in frames]
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        predictor.set_image_batch(frames)
        masks_batch, scores_batch, logits_batch = predictor.predict_batch(
            None, None, box_batch=boxes_batch, multimask_output=False)
        assert len(masks_batch) == len(scores_batch) == len(logits_batch) == 2
        pt_masks, pt_scores, _ = predictor.predict_batch(
            pts_batch, labels_batch, box_batch=None, multimask_output=True)
        best_masks = [m[range(len(m)), np.argmax(s, axis=-1)] for m, s in zip(pt_masks, pt_scores)]
        for image, masks, scores, best in zip(frames, masks_batch, scores_batch, best_masks):
            assert masks.shape == (2, 1, *image.shape[:2]) and scores.shape == (2, 1)
            assert best.shape == (2, *image.shape[:2])
        with pytest.raises(RuntimeError, match="set_image_batch"):
            SAM2ImagePredictor(image_model).predict_batch(None, None, box_batch=boxes_batch)

        single = SAM2ImagePredictor(image_model)
        for i, image in enumerate(frames):
            single.set_image(image)
            masks, scores, logits = single.predict(box=boxes_batch[i], multimask_output=False)
            np.testing.assert_allclose(logits_batch[i], logits, atol=1e-4)
            np.testing.assert_allclose(scores_batch[i], scores, atol=1e-5)
            assert (masks_batch[i] != masks).mean() < 1e-3  # equal up to pixels at the threshold
            m3, s3, _ = single.predict(pts_batch[i], labels_batch[i], multimask_output=True)
            np.testing.assert_allclose(pt_scores[i], s3, atol=1e-5)
            assert m3.shape == pt_masks[i].shape
