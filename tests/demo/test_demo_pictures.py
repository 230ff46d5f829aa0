"""Overlays, RCMS marks, frame choice of the strip, and the GIF/PNG writers on a hand-made video."""
import json

import numpy as np
import pytest
from PIL import Image

from sam2.data import voc_palette, write_palette_png
from sam2.data.palette import overlay_ids
from sam2.demo.visualize import (
    PolicyMarks,
    VideoSources,
    read_policy_marks,
    render_frame,
    strip_frame_indices,
    write_video_pictures,
)


def test_overlay_tints_objects_outlines_them_and_keeps_background():
    rgb = np.full((6, 6, 3), 100, np.uint8)
    ids = np.zeros((6, 6), np.int64)
    ids[1:5, 1:5] = 1  # a 4x4 square: 12 outline pixels, 4 interior pixels
    out = overlay_ids(rgb, ids, alpha=0.5)
    red = voc_palette(2)[1].astype(float)  # (128, 0, 0)
    assert (out[0] == 100).all() and (out[:, 0] == 100).all()  # background untouched
    interior = out[2:4, 2:4].reshape(-1, 3)
    expected = np.floor(0.5 * 100 + 0.5 * red)
    assert np.all(np.abs(interior - expected) <= 1)
    assert np.array_equal(out[1, 1], red.astype(np.uint8))  # outline in the full colour
    assert np.array_equal(out[4, 3], red.astype(np.uint8))


def test_overlay_rejects_a_mask_of_another_size():
    with pytest.raises(ValueError, match="does not match"):
        overlay_ids(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5), np.int64))


def test_policy_record_is_read_per_frame(tmp_path):
    record = tmp_path / "v.json"
    record.write_text(json.dumps({"video": "v", "objects": {
        "1": [{"trigger_frame": 9, "promoted_frames": [7, 4], "qualities": [0.9, 0.7]}],
        "2": [],
    }}))
    marks = read_policy_marks(record)
    assert marks.triggers == {9: [1]}
    assert marks.promoted == {7: [(1, 0.9)], 4: [(1, 0.7)]}
    assert marks.num_promoted == 2
    assert marks.kept_before(8) == [] and marks.kept_before(9) == [(1, 4), (1, 7)]
    assert read_policy_marks(tmp_path / "absent.json").num_promoted == 0
    (tmp_path / "bad.json").write_text("{\"objects\": 3}")
    with pytest.raises(ValueError, match="bad.json"):
        read_policy_marks(tmp_path / "bad.json")


def test_strip_keeps_rcms_frames_and_is_evenly_filled():
    marks = PolicyMarks(triggers={13: [1]}, promoted={5: [(1, 0.8)]}, trigger_of={1: 13})
    frames = strip_frame_indices(20, marks, count=6)
    assert len(frames) == 6 and frames == sorted(set(frames))
    assert 13 in frames and 5 in frames and 0 in frames and 19 in frames
    assert strip_frame_indices(3, PolicyMarks(), count=8) == [0, 1, 2]


def _tiny_video(root, num_frames=4, h=24, w=32):
    frames, ann, pred = root / "JPEGImages" / "v", root / "Annotations" / "v", root / "pred" / "v"
    frames.mkdir(parents=True)
    for t in range(num_frames):
        Image.fromarray(np.full((h, w, 3), 40 * t, np.uint8)).save(frames / f"{t:05d}.jpg")
        ids = np.zeros((h, w), np.uint8)
        ids[4:12, 2 + 3 * t: 10 + 3 * t] = 1
        write_palette_png(ann / f"{t:05d}.png", ids)
        write_palette_png(pred / f"{t:05d}.png", np.roll(ids, 1, axis=1))
    return VideoSources(frames=frames, annotations=ann, predictions={"off": pred, "on": pred}, rcms_panel="on")


def test_gif_has_every_frame_and_strip_has_the_chosen_rows(tmp_path):
    sources = _tiny_video(tmp_path)
    marks = PolicyMarks(triggers={3: [1]}, promoted={1: [(1, 0.75)]}, trigger_of={1: 3})
    one = render_frame(sources, 0, "00000", marks)
    assert one.height > 24 and one.width > 3 * 32  # three panels side by side, titles above
    gif, strip = write_video_pictures(sources, marks, tmp_path / "o" / "d.gif", tmp_path / "o" / "s.png", strip_count=2)
    with Image.open(gif) as im:
        assert im.n_frames == 4
    with Image.open(strip) as im:
        assert im.width == one.width and im.height > 2 * one.height
    # the promoted frame's RCMS panel has an orange border, the trigger frame's a red one
    promoted = np.asarray(render_frame(sources, 1, "00001", marks))
    trigger = np.asarray(render_frame(sources, 3, "00003", marks))
    plain = np.asarray(render_frame(sources, 0, "00000", marks))
    x_on = one.width - 2  # right edge of the last (RCMS on) panel
    y = one.height // 2
    assert tuple(promoted[y, x_on]) == (255, 150, 0)
    assert tuple(trigger[y, x_on]) == (230, 40, 40)
    assert tuple(plain[y, x_on]) == (24, 24, 24)
    assert not list((tmp_path / "o").glob(".*"))  # no temporary files left


def test_missing_prediction_frame_is_named(tmp_path):
    sources = _tiny_video(tmp_path)
    (sources.predictions["on"] / "00002.png").unlink()
    with pytest.raises(FileNotFoundError, match="00002.png"):
        render_frame(sources, 2, "00002", PolicyMarks())


def test_caption_groups_kept_frames_by_object():
    from sam2.demo.visualize import _marks_caption

    marks = PolicyMarks(triggers={6: [1], 9: [3]}, promoted={1: [(1, 0.6), (3, 0.8)], 2: [(1, 0.7)], 4: [(3, 0.9)]},
                      trigger_of={1: 6, 3: 9})
    assert _marks_caption(marks, 6) == "obj 1 lost: RCMS fires"
    assert _marks_caption(marks, 2) == "promoted: obj1 q=0.70"
    assert _marks_caption(marks, 7) == "kept: obj1 #1 #2"  # object 3 has not fired yet
    assert _marks_caption(marks, 10) == "kept: obj1 #1 #2, obj3 #1 #4"
    assert _marks_caption(marks, 0) == ""
