"""Samplers, clip-consistent transforms, the VOS dataset and its bad-sample handling."""
from __future__ import annotations

import logging
import random
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from training.dataset.transforms import (
    Clip, ColorJitter, ComposeAPI, NormalizeAPI, RandomAffine, RandomCropAPI, RandomGrayscale,
    RandomHorizontalFlip, RandomResizeAPI, ToTensorAPI,
)
from training.dataset.vos_dataset import VOSDataset
from training.dataset.vos_raw_dataset import PNGRawDataset, RawVideo
from training.dataset.vos_sampler import ClipTooShortError, RandomGapSampler, RandomUniformSampler
from training.utils.data_utils import collate_fn


def _ids_reader(visible_from: int, n_obj: int = 2):
    def read(pos):
        ids = np.zeros((4, 4), np.uint8)
        if pos >= visible_from:
            for o in range(1, n_obj + 1):
                ids[o - 1, 0] = o
        return ids
    return read


def test_uniform_sampler_consecutive_and_first_frame_visible():
    video = RawVideo("v", [f"{i:05d}" for i in range(20)])
    s = RandomUniformSampler(num_frames=5, max_num_objects=1)
    for seed in range(30):
        clip = s.sample(video, _ids_reader(visible_from=7), random.Random(seed))
        p = clip.frame_positions
        assert p == list(range(p[0], p[0] + 5)) and p[0] >= 7
        assert len(clip.object_ids) == 1 and clip.object_ids[0] in (1, 2)


def test_gap_sampler_gaps_visibility_and_short_video_error():
    video = RawVideo("v", [f"{i:05d}" for i in range(30)])
    s = RandomGapSampler(num_frames=8, max_num_objects=2)
    seen_gaps = set()
    for seed in range(50):
        clip = s.sample(video, _ids_reader(visible_from=3), random.Random(seed))
        p = clip.frame_positions
        assert len(p) == 8 and p[0] >= 3 and p[-1] < 30
        gaps = np.diff(p)
        assert set(gaps.tolist()) <= {1, 2, 3}
        seen_gaps |= set(gaps.tolist())
        assert clip.object_ids == [1, 2]
    assert seen_gaps == {1, 2, 3}
    with pytest.raises(ClipTooShortError, match="'short'.*7 frames"):
        s.sample(RawVideo("short", ["0"] * 7), _ids_reader(0), random.Random(0))


def _clip(n=3, h=40, w=50):
    rng = np.random.default_rng(0)
    frames = [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for _ in range(n)]
    masks = []
    for t in range(n):
        m = torch.zeros(1, h, w, dtype=torch.bool)
        m[0, 10:25, 5 + t: 20 + t] = True
        masks.append(m)
    return Clip(frames, masks)


def test_geometric_transforms_are_consistent_across_the_clip():
    clip = _clip()
    # a marker pixel painted into the image and the mask must move together on every frame
    for t, f in enumerate(clip.frames):
        arr = np.array(f)
        arr[clip.masks[t][0].numpy()] = 255
        clip.frames[t] = Image.fromarray(arr)
    pipeline = ComposeAPI([
        RandomHorizontalFlip(consistent_transform=True, p=1.0),
        RandomAffine(degrees=25, shear=20, image_interpolation="nearest", consistent_transform=True, image_mean=(0, 0, 0)),
        RandomCropAPI(sizes=[30], probability=1.0),
        RandomResizeAPI(sizes=32, square=True),
    ])
    out = pipeline(clip, random.Random(5))
    for f, m in zip(out.frames, out.masks):
        assert f.size == (32, 32) and m.shape == (1, 32, 32)
        arr = np.array(f)
        inside = arr[m[0].numpy()]
        assert inside.size and (inside == 255).all(axis=1).mean() > 0.9  # aligned


def test_flip_decision_shared_and_jitter_per_frame():
    clip = _clip()
    out = RandomHorizontalFlip(consistent_transform=True, p=0.5)(clip, random.Random(1))
    flipped = [bool(torch.equal(m, c.flip(-1))) for m, c in zip(out.masks, clip.masks)]
    assert len(set(flipped)) == 1
    tensors = ToTensorAPI()(clip, random.Random(0))
    same = Clip([tensors.frames[0]] * 3, tensors.masks)
    per_frame = ColorJitter(consistent_transform=False, brightness=0.5)(same, random.Random(2))
    shared = ColorJitter(consistent_transform=True, brightness=0.5)(same, random.Random(2))
    assert not torch.equal(per_frame.frames[0], per_frame.frames[1])
    assert torch.equal(shared.frames[0], shared.frames[2])
    grey = RandomGrayscale(consistent_transform=True, p=1.0)(tensors, random.Random(0))
    assert all(torch.allclose(g[0], g[1]) for g in grey.frames)
    norm = NormalizeAPI(mean=[0.5] * 3, std=[0.5] * 3)(tensors, random.Random(0))
    assert torch.allclose(norm.frames[0], tensors.frames[0] * 2 - 1)


def _dataset(split, num_frames=3, **kw):
    raw = PNGRawDataset(str(split / "JPEGImages"), str(split / "Annotations"))
    transforms = ComposeAPI([RandomResizeAPI(sizes=32, square=True), ToTensorAPI(),
                             NormalizeAPI([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    return VOSDataset(transforms, True, raw, RandomUniformSampler(num_frames, 1), seed=0, **kw)


def test_vos_dataset_items_are_deterministic_and_collate(synthetic_split):
    ds = _dataset(synthetic_split, multiplier=2)
    assert len(ds) == 8
    a, b = ds[3], ds[3]
    assert torch.equal(a.frames, b.frames) and a.frame_indices == b.frame_indices
    assert a.frames.shape == (3, 3, 32, 32) and a.masks.shape == (3, 1, 32, 32)
    assert a.masks[0].any()  # the sampled object is visible on the first frame
    batch = collate_fn([ds[0], ds[1]])
    assert batch.img_batch.shape == (3, 2, 3, 32, 32) and batch.masks.shape == (3, 2, 32, 32)
    assert batch.flat_obj_to_img_idx[:, 1].tolist() == [3, 4, 5]
    ds.set_epoch(1)
    assert not torch.equal(ds[3].frames, a.frames) or ds[3].frame_indices != a.frame_indices


def test_short_videos_are_filtered_with_a_log(synthetic_split, caplog):
    with caplog.at_level(logging.INFO):
        ds = _dataset(synthetic_split, num_frames=6)
    assert len(ds.video_dataset) == 4
    with caplog.at_level(logging.INFO):
        with pytest.raises(ValueError, match="at least 7 frames"):
            _dataset(synthetic_split, num_frames=7)
    assert "4 videos shorter than the clip length" in caplog.text


def test_unreadable_frame_is_replaced_with_a_warning_naming_it(synthetic_split, tmp_path, caplog):
    split = tmp_path / "split"
    shutil.copytree(synthetic_split, split)
    videos = sorted(p.name for p in (split / "JPEGImages").iterdir())
    bad_video = videos[0]
    for f in (split / "JPEGImages" / bad_video).iterdir():
        f.write_bytes(b"not a jpeg")
    ds = _dataset(split)
    with caplog.at_level(logging.WARNING):
        item = ds[0]  # index 0 is the broken video
    assert item.video_name != bad_video
    assert item.attempts >= 2 and item.failed_files
    assert all(bad_video in f for f in item.failed_files)
    assert bad_video in caplog.text and "replaced" in caplog.text


def test_missing_dataset_folder_names_the_key(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset.img_folder"):
        PNGRawDataset(str(tmp_path / "nope"), str(tmp_path))


def test_worker_processes_give_the_same_batches(synthetic_split):
    from training.dataset.sam2_datasets import TorchTrainMixedDataset

    def batches(workers):
        data = TorchTrainMixedDataset([_dataset(synthetic_split)], [2], workers, shuffle=True, pin_memory=True,
                                      drop_last=True, collate_fn=collate_fn)
        return list(data.get_loader(epoch=1, rank=0, world_size=1, seed=7, start_batch=1))

    inline, forked = batches(0), batches(1)
    assert len(inline) == len(forked) == 1  # 4 clips, batch 2, resumed at batch 1
    assert torch.equal(inline[0].img_batch, forked[0].img_batch)
    assert inline[0].video_names == forked[0].video_names
