"""The photographic mode of the synthetic generator: held-out photographs, determinism, mixing
with procedural videos, exact annotations, and a clear error without the photographs' packages."""
from __future__ import annotations

import dataclasses
import importlib.util
import json

import numpy as np
import pytest

from sam2.data import photo_library
from sam2.data.photo_library import PHOTO_CATALOGUE, TRAIN_PHOTOS, VAL_PHOTOS, PhotoLibraryError, load_photos, photo_path
from sam2.data.photo_scene import PhotoScene
from sam2.data.synthetic import SyntheticConfig, generate_video, is_photographic, write_synthetic_split

SMALL = SyntheticConfig(num_videos=3, num_frames=16, height=60, width=80, photographic=1.0, seed=4)


def test_train_and_val_photographs_are_disjoint_and_shipped():
    assert set(TRAIN_PHOTOS).isdisjoint(VAL_PHOTOS)
    assert set(TRAIN_PHOTOS) | set(VAL_PHOTOS) == set(PHOTO_CATALOGUE)
    assert len(VAL_PHOTOS) >= 4 and len(TRAIN_PHOTOS) >= 10
    # the two views of one scene stay on the same side
    assert ("motorcycle_left" in VAL_PHOTOS) == ("motorcycle_right" in VAL_PHOTOS)
    for name in PHOTO_CATALOGUE:
        assert photo_path(name).is_file()
    pixels = {p.name: p.pixels for p in load_photos("train") + load_photos("val")}
    assert all(px.ndim == 3 and px.shape[2] == 3 and px.dtype == np.uint8 and min(px.shape[:2]) >= 128 for px in pixels.values())
    # no training photograph is a copy of a held-out one
    for val in VAL_PHOTOS:
        for train in TRAIN_PHOTOS:
            assert pixels[val].shape != pixels[train].shape or not np.array_equal(pixels[val], pixels[train])


@pytest.mark.parametrize("split, allowed", [("train", TRAIN_PHOTOS), ("val", VAL_PHOTOS)])
def test_videos_use_only_their_split_photographs(split, allowed):
    cfg = dataclasses.replace(SMALL, photo_split=split, num_videos=6)
    used: set[str] = set()
    for index in range(cfg.num_videos):
        video = generate_video(cfg, index)
        used |= set(video.info["photos"])
        for desc in video.info["objects"].values():
            assert desc["texture"].startswith("photo:") and desc["texture"][6:] in allowed
    assert used and used <= set(allowed)


def test_deterministic_and_distinct_from_procedural():
    a = generate_video(SMALL, 1)
    b = generate_video(dataclasses.replace(SMALL, num_videos=9), 1)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.annotations, b.annotations)
    procedural = generate_video(dataclasses.replace(SMALL, photographic=0.0), 1)
    assert not np.array_equal(a.frames, procedural.frames)
    assert a.frames.shape == (16, 60, 80, 3) and a.annotations.dtype == np.uint8


def test_mixed_split_keeps_procedural_videos_unchanged():
    mixed = dataclasses.replace(SMALL, photographic=0.5, num_videos=12)
    kinds = [is_photographic(mixed, i) for i in range(mixed.num_videos)]
    assert any(kinds) and not all(kinds)
    plain = dataclasses.replace(mixed, photographic=0.0)
    for index, photographic in enumerate(kinds):
        if not photographic:
            np.testing.assert_array_equal(generate_video(mixed, index).frames, generate_video(plain, index).frames)
            assert "photos" not in generate_video(mixed, index).info


def test_annotations_are_exact_and_objects_leave_and_return(tmp_path):
    cfg = dataclasses.replace(SMALL, num_videos=6, num_frames=32, height=90, width=120, photo_split="val")
    returned = total = 0
    for index in range(cfg.num_videos):
        video = generate_video(cfg, index)
        for obj_id in video.info["objects"]:
            assert (video.annotations[0] == obj_id).any(), f"object {obj_id} of video {index} not visible on frame 0"
            total += 1
            present = "".join("1" if (a == obj_id).any() else "0" for a in video.annotations)
            gone = present.find("10", 1)
            returned += gone >= 0 and present.find("01", gone + 1) >= 0
        # annotated ids are exactly the planned objects
        assert set(np.unique(video.annotations)) <= {0, *video.info["objects"]}
    assert returned * 2 >= total, f"{returned}/{total} objects disappear and reappear"
    root = write_synthetic_split(tmp_path / "split", dataclasses.replace(cfg, num_videos=2))
    meta = json.loads((root / "meta.json").read_text())
    assert all(set(entry["photos"]) <= set(VAL_PHOTOS) for entry in meta["videos"].values())


def test_camera_moves_and_occluders_sweep():
    cfg = dataclasses.replace(SMALL, num_frames=24, num_videos=8)
    zooms = sweeps = 0
    for index in range(cfg.num_videos):
        scene = PhotoScene(cfg, index, load_photos("train"))
        zooms += bool(np.ptp(scene.zoom) > 0.01)
        sweeps += any(not occ.static for occ in scene.occluders)
    assert zooms >= 1 and sweeps >= 1


def test_missing_package_names_the_extra(monkeypatch):
    real = importlib.util.find_spec

    def fake(name, *args, **kwargs):
        return None if name == "sklearn" else real(name, *args, **kwargs)

    monkeypatch.setattr(photo_library.importlib.util, "find_spec", fake)
    photo_library._load.cache_clear()
    try:
        with pytest.raises(PhotoLibraryError, match=r"sklearn.*sam2-rcms\[train\]"):
            generate_video(dataclasses.replace(SMALL, photo_split="val"), 0)
        # procedural videos do not need the photographs
        generate_video(dataclasses.replace(SMALL, photographic=0.0), 0)
    finally:
        photo_library._load.cache_clear()
