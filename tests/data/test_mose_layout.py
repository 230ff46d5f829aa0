"""Tests of the MOSEv2 layout reader/writer and the VOC palette (tiny hand-made splits)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sam2.data import (
    DataFormatError,
    MoseSplit,
    list_frame_files,
    read_index_png,
    read_meta,
    voc_palette,
    write_meta,
    write_palette_png,
)

H, W = 6, 8


def _jpg(path: Path, value: int = 100, size: tuple[int, int] = (H, W)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), value, np.uint8)).save(path)


def _make_split(root: Path, n_frames: int = 4) -> dict[int, np.ndarray]:
    """Video 'v1': object 3 on every frame, object 7 from frame 2 on (sparse ids)."""
    masks = {}
    for t in range(n_frames):
        _jpg(root / "JPEGImages" / "v1" / f"{t:05d}.jpg", 10 * t)
        ids = np.zeros((H, W), np.uint8)
        ids[0:2, 0:2] = 3
        if t >= 2:
            ids[4:6, 5:8] = 7
        masks[t] = ids
        write_palette_png(root / "Annotations" / "v1" / f"{t:05d}.png", ids)
    _jpg(root / "JPEGImages" / "v0" / "00000.jpg")
    return masks


def test_voc_palette_known_entries():
    pal = voc_palette()
    assert pal.shape == (256, 3) and pal.dtype == np.uint8
    # Hand-derived: index 1 -> bit0 -> red bit 7; 2 -> green; 3 -> red+green; 4 -> blue.
    assert pal[0].tolist() == [0, 0, 0]
    assert pal[1].tolist() == [128, 0, 0]
    assert pal[2].tolist() == [0, 128, 0]
    assert pal[3].tolist() == [128, 128, 0]
    assert pal[4].tolist() == [0, 0, 128]
    # 8 = 0b001_000 -> red bit 6 -> 64
    assert pal[8].tolist() == [64, 0, 0]
    # 255 is the well-known VOC "void" colour
    assert pal[255].tolist() == [224, 224, 192]
    assert len({tuple(c) for c in pal.tolist()}) == 256


def test_write_read_roundtrip_is_palette_and_atomic(tmp_path):
    ids = np.array([[0, 1, 2], [5, 5, 255]], np.uint8)
    out = tmp_path / "a" / "b" / "00000.png"
    write_palette_png(out, ids)
    with Image.open(out) as img:
        assert img.mode == "P"
    back, pal = read_index_png(out, expected_size=(2, 3))
    np.testing.assert_array_equal(back, ids)
    np.testing.assert_array_equal(pal, voc_palette())
    assert [p.name for p in out.parent.iterdir()] == ["00000.png"]  # no temp file left behind


def test_write_rejects_out_of_range_ids(tmp_path):
    with pytest.raises(ValueError, match="0..255"):
        write_palette_png(tmp_path / "x.png", np.array([[0, 300]]))


def test_frames_sorted_by_integer_name(tmp_path):
    for name in ["10", "2", "1"]:
        _jpg(tmp_path / f"{name}.jpg")
    assert [p.name for p in list_frame_files(tmp_path)] == ["1.jpg", "2.jpg", "10.jpg"]


def test_non_integer_frame_name_is_named(tmp_path):
    _jpg(tmp_path / "frame_a.jpg")
    with pytest.raises(DataFormatError, match="frame_a.jpg"):
        list_frame_files(tmp_path)


def test_split_reading(tmp_path):
    masks = _make_split(tmp_path)
    split = MoseSplit(tmp_path)
    assert split.videos() == ["v0", "v1"]
    assert split.frames("v1") == ["00000", "00001", "00002", "00003"]
    frame = split.read_frame("v1", "00002")
    assert frame.shape == (H, W, 3) and frame.dtype == np.uint8
    np.testing.assert_array_equal(split.read_annotation("v1", 3), masks[3])
    assert split.object_ids("v1", "00000") == [3]
    assert split.object_ids("v1") == [3, 7]
    assert split.first_appearance("v1") == {3: 0, 7: 2}
    assert split.frame_size("v1") == (H, W)
    split.validate("v1", require_all_annotations=True)


def test_from_dirs_and_video_list(tmp_path):
    _make_split(tmp_path)
    lst = tmp_path / "list.txt"
    lst.write_text("# comment\nv1\n\n")
    split = MoseSplit.from_dirs(tmp_path / "JPEGImages", tmp_path / "Annotations", video_list_file=lst)
    assert split.videos() == ["v1"]
    assert split.annotated_frames("v1")[0] == "00000"


def test_rgb_annotation_is_an_error_naming_the_file(tmp_path):
    _make_split(tmp_path)
    bad = tmp_path / "Annotations" / "v1" / "00001.png"
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(bad)
    split = MoseSplit(tmp_path)
    with pytest.raises(DataFormatError, match=r"00001\.png.*mode 'RGB'"):
        split.read_annotation("v1", "00001")
    with pytest.raises(DataFormatError, match=r"00001\.png"):
        split.validate("v1")


def test_grey_annotation_rejected_unless_allowed(tmp_path):
    path = tmp_path / "g.png"
    Image.fromarray(np.full((2, 2), 4, np.uint8), mode="L").save(path)
    with pytest.raises(DataFormatError, match="g.png"):
        read_index_png(path)
    ids, _ = read_index_png(path, allow_grayscale=True)
    assert ids.tolist() == [[4, 4], [4, 4]]


def test_size_mismatch_named(tmp_path):
    _make_split(tmp_path)
    write_palette_png(tmp_path / "Annotations" / "v1" / "00002.png", np.zeros((H + 1, W), np.uint8))
    split = MoseSplit(tmp_path)
    with pytest.raises(DataFormatError, match=r"00002\.png.*size 7x8"):
        split.read_annotation("v1", "00002")


def test_missing_annotation_and_missing_frames(tmp_path):
    _make_split(tmp_path)
    (tmp_path / "Annotations" / "v1" / "00003.png").unlink()
    split = MoseSplit(tmp_path)
    split.validate("v1")  # sparse annotations are fine by default
    with pytest.raises(DataFormatError, match=r"00003\.png.*missing"):
        split.validate("v1", require_all_annotations=True)
    (tmp_path / "JPEGImages" / "v2").mkdir()
    with pytest.raises(DataFormatError, match=r"v2.*no frames"):
        MoseSplit(tmp_path).frames("v2")
    with pytest.raises(DataFormatError, match="00009"):
        split.read_annotation("v1", "00009", check_size=False)


def test_truncated_jpeg_named(tmp_path):
    _make_split(tmp_path)
    path = tmp_path / "JPEGImages" / "v1" / "00001.jpg"
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(DataFormatError, match=r"00001\.jpg"):
        MoseSplit(tmp_path).read_frame("v1", 1)


def test_meta_list_or_dict_objects_and_length_check(tmp_path):
    _make_split(tmp_path)
    write_meta(tmp_path / "meta.json", {
        "v1": {"length": 4, "height": H, "width": W, "objects": {"3": {}, "7": {}}},
        "v0": {"length": 1, "height": None, "width": None, "objects": [1]},
    })
    meta = read_meta(tmp_path / "meta.json")
    assert meta.videos["v1"].objects == (3, 7) and meta.videos["v0"].height is None
    MoseSplit(tmp_path).validate()
    doc = json.loads((tmp_path / "meta.json").read_text())
    doc["videos"]["v1"]["length"] = 5
    (tmp_path / "meta.json").write_text(json.dumps(doc))
    with pytest.raises(DataFormatError, match=r"meta\.json.*'v1'.*length 5"):
        MoseSplit(tmp_path).validate("v1")


def test_bad_meta_named(tmp_path):
    (tmp_path / "meta.json").write_text("{not json")
    with pytest.raises(DataFormatError, match="meta.json"):
        read_meta(tmp_path / "meta.json")
    (tmp_path / "meta.json").write_text(json.dumps({"videos": {"a": {"height": 2}}}))
    with pytest.raises(DataFormatError, match="'length'"):
        read_meta(tmp_path / "meta.json")
