"""The models shipped in sam2/checkpoints: format and strict loading of both (the 256-px demo model
and the 128-px one it was trained from), and score floors of the demo model on held-out synthetic
and photographic videos, so a regression anywhere in the model, the predictor, the inference tool
or the scorer shows up here."""
import numpy as np
import pytest
import torch
from PIL import Image

from sam2.build_sam import build_sam2_video_predictor
from sam2.demo import DEMO_CONFIG, DEMO_TRAINING_SEED, SHIPPED_MODELS, DemoSettings, demo_checkpoint_path
from sam2.data.synthetic import SyntheticConfig, generate_video
from sam2.demo.pipeline import make_heldout_split, run_predictions, score_predictions

# The demo model before its clicks-and-boxes stage (stage B) scored J&Ḟ 55.35 (RCMS off) / 54.95
# (RCMS on) on this synthetic split; the 128-px model it was trained from 47.22 / 47.48, the
# model before that 42.85 / 43.23, the first shipped one 5.65 and a random model of the same
# architecture about 2. On the photographic split of the same size and seed (held-out
# photographs) stage B scored 39.59 / 39.06, stage C (which answers clicks) 23.71 with RCMS on:
# the clicks-and-boxes stage cost tracking on photographs. Stage D scored 57.46 / 54.80 on the
# synthetic split and 29.05 / 27.75 on the photographic one; the shipped model (stage F, which
# answers boxes) scores 50.04 / 49.93 and 23.16 / 23.16 (its tracking on the 8-video demo split,
# 67.69, is the figure it was held to). The floors sit below the measured scores by a margin
# (sam2/checkpoints/sam2.1_hiera_demo.md has every score).
JF_FLOOR = 45.0
PHOTO_JF_FLOOR = 20.0
OWN_IOU_FLOOR = 0.5
HELDOUT = dict(num_videos=4, num_frames=24, seed=11)


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # in-process inference; much faster than 2 threads on a busy machine
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("image_size", sorted(SHIPPED_MODELS))
def test_checkpoint_format_and_strict_loading(image_size):
    shipped = SHIPPED_MODELS[image_size]
    path = demo_checkpoint_path(image_size)
    assert path.is_file(), f"{path} missing"
    assert path.stat().st_size <= 20 * 2**20
    payload = torch.load(path, map_location="cpu", weights_only=True)
    assert list(payload) == ["model"]
    predictor = build_sam2_video_predictor(shipped.config, str(path), device="cpu")  # strict loading
    assert predictor.image_size == image_size
    own = predictor.state_dict()
    assert set(own) == set(payload["model"])
    assert all(torch.equal(own[k].cpu(), v) for k, v in payload["model"].items())
    assert predictor.num_prev_frames_to_promote == 0  # RCMS is off in the config itself


@pytest.mark.slow  # held-out videos through the demo model
@pytest.mark.parametrize("split, floor", [("synthetic", JF_FLOOR), ("photo", PHOTO_JF_FLOOR)])
def test_heldout_score_floor(tmp_path, split, floor):
    assert HELDOUT["seed"] != DEMO_TRAINING_SEED
    settings = DemoSettings(output_dir=tmp_path, num_workers=1, show_progress=False, split=split, **HELDOUT)
    assert settings.config == DEMO_CONFIG
    data = make_heldout_split(settings)
    pred = run_predictions(settings, data, demo_checkpoint_path(), rcms_on=True)
    metrics, _ = score_predictions(settings, data, pred, rcms_on=True)
    assert metrics["J&F_new"] >= floor, metrics


def _iou(a, b):
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


@pytest.mark.slow  # a held-out video through the shipped model
def test_each_object_follows_its_own_prompt(tmp_path):
    """The failure mode of the first shipped model: every object got the same track whatever
    its prompt. Two objects prompted with their own first-frame masks must each stay on their
    own ground truth, clearly more than on the other object's."""
    config = SyntheticConfig(num_videos=1, num_frames=10, height=180, width=240, min_objects=2,
                             max_objects=3, event_prob=0.0, crowded_prob=0.0, seed=11)
    video = generate_video(config, 0)
    # the two largest objects (a few-pixel object is about one low-res mask pixel across)
    found, areas = np.unique(video.annotations[0], return_counts=True)
    ids = [int(i) for i, _ in sorted(zip(found, areas), key=lambda p: -p[1]) if i != 0][:2]
    assert len(ids) == 2
    folder = tmp_path / "frames"
    folder.mkdir()
    for t, frame in enumerate(video.frames):
        Image.fromarray(frame).save(folder / f"{t:05d}.jpg", quality=95)
    predictor = build_sam2_video_predictor(DEMO_CONFIG, str(demo_checkpoint_path()), device="cpu")
    state = predictor.init_state(str(folder))
    for obj_id in ids:
        predictor.add_new_mask(state, 0, obj_id, video.annotations[0] == obj_id)
    own, cross = [], []
    for t, obj_ids, masks in predictor.propagate_in_video(state):
        if t == 0:
            continue
        pred = {o: (masks[i, 0] > 0).numpy() for i, o in enumerate(obj_ids)}
        gt = {o: video.annotations[t] == o for o in ids}
        a, b = ids
        own += [_iou(pred[a], gt[a]), _iou(pred[b], gt[b])]
        cross += [_iou(pred[a], gt[b]), _iou(pred[b], gt[a])]
    assert np.mean(own) >= OWN_IOU_FLOOR, (own, cross)
    assert np.mean(own) >= np.mean(cross) + 0.3, (own, cross)
