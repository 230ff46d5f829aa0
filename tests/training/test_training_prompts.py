"""Training feeds the prompt encoder exactly what the predictors feed it for the same click or
box: integer pixel coordinates in model-input pixels, labels 1/0 and 2/3, and one padding
point appended by the encoder (the encoder itself adds the half-pixel shift)."""
from __future__ import annotations

from typing import List, Tuple

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from PIL import Image

from sam2.build_sam import build_sam2_video_predictor
from sam2.sam2_image_predictor import SAM2ImagePredictor
from training.model.prompts import get_next_point, mask_boxes, sample_box_points
from training.utils.config import compose_config

SIZE = 128  # image_size of both instant configs
INSTANT = "configs/sam2.1/sam2.1_hiera_instant.yaml"


def _gt() -> torch.Tensor:
    """One object ``[1, 1, SIZE, SIZE]``: a 13 x 21 rectangle, off the image centre."""
    gt = torch.zeros(1, 1, SIZE, SIZE, dtype=torch.bool)
    gt[0, 0, 30:43, 70:91] = True
    return gt


class _Recorder:
    """Records the ``points`` and ``boxes`` every call of a prompt encoder receives."""

    def __init__(self, encoder: torch.nn.Module) -> None:
        self.calls: List[Tuple[torch.Tensor, torch.Tensor, object]] = []
        self._handle = encoder.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs):
        coords, labels = kwargs["points"]
        self.calls.append((coords.detach().cpu().clone(), labels.detach().cpu().clone(), kwargs["boxes"]))

    def close(self) -> None:
        self._handle.remove()


def _train_model(**options):
    overrides = [f"trainer.model.{k}={v}" for k, v in options.items()]
    cfg = compose_config("configs/sam2.1_training/sam2.1_hiera_instant.yaml", overrides)
    cfg.launcher.experiment_log_dir = "/tmp/unused_run_dir"
    torch.manual_seed(0)
    model = instantiate(cfg.trainer.model, _recursive_=True)
    assert model.image_size == SIZE
    return model


def _training_encoder_input(model, point_inputs):
    """What the training step's heads hand the prompt encoder for ``point_inputs``."""
    rec = _Recorder(model.sam_prompt_encoder)
    try:
        c, h = model.sam_prompt_embed_dim, model.sam_image_embedding_size
        feats = torch.zeros(1, c, h, h)
        high_res = [torch.zeros(1, c // 8, 4 * h, 4 * h), torch.zeros(1, c // 4, 2 * h, 2 * h)]
        with torch.no_grad():
            model._forward_sam_heads(backbone_features=feats, point_inputs=point_inputs,
                                     high_res_features=high_res, multimask_output=True)
    finally:
        rec.close()
    assert len(rec.calls) == 1
    return rec.calls[0]


def _clicked_pixel(click) -> np.ndarray:
    """``[1, 2]`` (column, row) of the pixel training clicked: what a user clicking that pixel
    of a ``SIZE x SIZE`` image hands the predictors."""
    return np.floor(click.coords[0].numpy())


@pytest.fixture(scope="module")
def training_prompts():
    """The first-frame click and box the training model draws for :func:`_gt` (eval mode:
    the click is the object pixel farthest from its boundary)."""
    model = _train_model(prob_to_use_pt_input_for_eval=1.0, prob_to_use_box_input_for_eval=0.0)
    model.eval()
    click_plan = model.plan_prompts(_gt()[:, 0][None].expand(2, 1, SIZE, SIZE))
    click = click_plan.point_inputs[0]
    box_model = _train_model(prob_to_use_pt_input_for_train=1.0, prob_to_use_box_input_for_train=1.0)
    box_model.train()
    box = box_model.plan_prompts(_gt()[:, 0][None].expand(2, 1, SIZE, SIZE)).point_inputs[0]
    return model, click, box


def test_training_click_is_an_integer_pixel_index_inside_the_object(training_prompts):
    _, click, _ = training_prompts
    x, y = click.coords[0, 0].tolist()
    assert click.labels.tolist() == [[1]]
    assert x == int(x) and y == int(y)  # no half-pixel shift: the encoder adds it
    assert 70 <= x < 91 and 30 <= y < 43 and _gt()[0, 0, int(y), int(x)]
    # a missed pixel gives a positive click, a false alarm a negative one, also as indices
    pred = torch.zeros_like(_gt())
    pred[0, 0, 100:110, 5:15] = True
    for reference, label in ((torch.zeros_like(_gt()), 1), (pred | _gt(), 0)):
        coords, labels = get_next_point(_gt(), reference, "center")
        cx, cy = coords[0, 0].tolist()
        assert labels.tolist() == [[label]] and cx == int(cx) and cy == int(cy)
    # an un-jittered box is the first/last object column and row, as a user draws it
    corners, corner_labels = sample_box_points(_gt(), noise=0.0)
    assert corners.tolist() == [[[70.0, 30.0], [90.0, 42.0]]] and corner_labels.tolist() == [[2, 3]]
    assert mask_boxes(_gt()).tolist() == [[70.0, 30.0, 90.0, 42.0]]


def test_image_predictor_feeds_the_encoder_what_training_feeds_it(training_prompts):
    model, click, box = training_prompts
    predictor = SAM2ImagePredictor(model)
    predictor.set_image(np.zeros((SIZE, SIZE, 3), dtype=np.uint8))
    for prompt, kwargs in (
        (click, dict(point_coords=_clicked_pixel(click), point_labels=click.labels[0].numpy())),
        (box, dict(box=box.coords[0].reshape(4).numpy())),
    ):
        want_coords, want_labels, want_boxes = _training_encoder_input(model, prompt)
        rec = _Recorder(model.sam_prompt_encoder)
        try:
            predictor.predict(multimask_output=True, **kwargs)
        finally:
            rec.close()
        (coords, labels, boxes), = rec.calls
        assert want_boxes is None and boxes is None  # box corners travel as points 2/3
        assert labels.tolist() == want_labels.tolist()
        torch.testing.assert_close(coords, want_coords, rtol=0, atol=1e-5)


def test_video_predictor_feeds_the_encoder_what_training_feeds_it(training_prompts, tmp_path):
    model, click, box = training_prompts
    for i in range(2):
        Image.fromarray(np.full((SIZE, SIZE, 3), 40 * i, dtype=np.uint8)).save(tmp_path / f"{i:05d}.jpg")
    torch.manual_seed(0)
    predictor = build_sam2_video_predictor(INSTANT, None, device="cpu")
    assert predictor.image_size == SIZE
    state = predictor.init_state(str(tmp_path))
    for obj_id, prompt, kwargs in (
        (1, click, dict(points=_clicked_pixel(click), labels=click.labels[0].numpy())),
        (2, box, dict(box=box.coords[0].reshape(4).numpy())),
    ):
        want_coords, want_labels, _ = _training_encoder_input(model, prompt)
        rec = _Recorder(predictor.sam_prompt_encoder)
        try:
            predictor.add_new_points_or_box(state, 0, obj_id, **kwargs)
        finally:
            rec.close()
        assert rec.calls, "add_new_points_or_box did not reach the prompt encoder"
        coords, labels, boxes = rec.calls[0]
        assert boxes is None
        assert labels.tolist() == want_labels.tolist()
        torch.testing.assert_close(coords.to(want_coords.dtype), want_coords, rtol=0, atol=1e-5)
