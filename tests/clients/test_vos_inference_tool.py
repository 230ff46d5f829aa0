"""``tools/vos_inference.py`` against the official tool's sequence of predictor calls.

For each mode the test drives the video predictor itself the way the official script does
(``init_state(video_path=..., async_loading_frames=False)``, ``inference_state["video_height"]``,
``add_new_mask`` per object, ``propagate_in_video``, ``reset_state`` and
``_apply_non_overlapping_constraints`` in the per-object mode, lowest id painted last) and compares
the masks with what the tool wrote.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sam2.build_sam import build_sam2_video_predictor
from sam2.data.mose_layout import write_palette_png

REPO = Path(__file__).resolve().parents[2]
PALETTE = np.stack([np.arange(256)[::-1], (np.arange(256) * 3) % 256, np.arange(256)], axis=1).astype(np.uint8)


def _load_tool():
    spec = importlib.util.spec_from_file_location("vos_inference_tool", REPO / "tools" / "vos_inference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def tool(monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the tool pins its threads to this
    return _load_tool()


@pytest.fixture()
def split(tmp_path, clip):
    """``JPEGImages/v/`` (the clip), ``Annotations/v/00000.png`` (ids 1, 2), ``Annotations/late/``
    (id 1 on frame 0, id 2 first annotated on frame 6) and the same as per-object folders in ``PerObj/``."""
    video_dir, masks = clip
    images = tmp_path / "JPEGImages"
    for name in ("v", "late"):
        (images / name).mkdir(parents=True)
        for jpg in sorted(video_dir.glob("*.jpg")):
            (images / name / jpg.name).write_bytes(jpg.read_bytes())
    labels = np.where(masks["obj2"], 2, np.where(masks["obj1"], 1, 0)).astype(np.uint8)
    write_palette_png(tmp_path / "Annotations" / "v" / "00000.png", labels[0], PALETTE)
    late0 = np.where(masks["obj1"][0], 1, 0).astype(np.uint8)
    write_palette_png(tmp_path / "Annotations" / "late" / "00000.png", late0, PALETTE)
    write_palette_png(tmp_path / "Annotations" / "late" / "00006.png", labels[6], PALETTE)
    for obj_id, key in ((1, "obj1"), (2, "obj2")):  # SA-V layout, overlapping allowed
        write_palette_png(tmp_path / "PerObj" / "v" / f"{obj_id:03d}" / "00000.png",
                          masks[key][0].astype(np.uint8), PALETTE)
    return tmp_path, masks


def _run(tool, root: Path, out: Path, demo_paths, *flags: str, ann: str = "Annotations", videos=("v",)) -> int:
    listing = root / f"list_{out.name}.txt"
    listing.write_text("\n".join(videos) + "\n")
    config, checkpoint = demo_paths
    return tool.main([
        "--sam2_cfg", config, "--sam2_checkpoint", checkpoint, "--base_video_dir", str(root / "JPEGImages"),
        "--input_mask_dir", str(root / ann), "--video_list_file", str(listing), "--output_mask_dir", str(out),
        *flags,
    ])


def _predictor(demo_paths, per_obj_png_file: bool):
    config, checkpoint = demo_paths
    overlap = "false" if per_obj_png_file else "true"
    return build_sam2_video_predictor(config_file=config, ckpt_path=checkpoint, device="cpu",
                                      apply_postprocessing=False, vos_optimized=False,
                                      hydra_overrides_extra=[f"++model.non_overlap_masks={overlap}"])


def _paint(per_obj: dict, height: int, width: int) -> np.ndarray:
    """Label map: objects painted from the highest id down, so the lowest id wins overlaps."""
    out = np.zeros((height, width), dtype=np.uint8)
    for obj_id in sorted(per_obj, reverse=True):
        out[per_obj[obj_id].reshape(height, width)] = obj_id
    return out


def _read(path: Path) -> np.ndarray:
    return np.array(Image.open(path))


def _official_joint(predictor, video_dir: Path, first_masks: dict, score_thresh: float = 0.0) -> dict:
    with torch.inference_mode():
        state = predictor.init_state(video_path=str(video_dir), async_loading_frames=False)
        height, width = state["video_height"], state["video_width"]
        for obj_id, mask in first_masks.items():
            predictor.add_new_mask(inference_state=state, frame_idx=0, obj_id=obj_id, mask=mask)
        segments = {}
        for frame_idx, obj_ids, logits in predictor.propagate_in_video(state):
            segments[frame_idx] = {o: (logits[i] > score_thresh).cpu().numpy() for i, o in enumerate(obj_ids)}
    return segments, height, width


def test_default_mode_matches_the_official_sequence_and_reruns_recompute(tool, split, demo_paths) -> None:
    root, masks = split
    out = root / "out"
    assert _run(tool, root, out, demo_paths) == 0
    torch.set_num_threads(1)
    segments, height, width = _official_joint(
        _predictor(demo_paths, False), root / "JPEGImages" / "v", {1: masks["obj1"][0] & ~masks["obj2"][0],
                                                                   2: masks["obj2"][0]})
    assert sorted(segments) == list(range(masks["obj1"].shape[0]))
    assert set(np.unique(_read(out / "v" / "00000.png"))) == {0, 1, 2}  # not a trivially empty output
    for frame_idx, per_obj in segments.items():
        png = out / "v" / f"{frame_idx:05d}.png"
        np.testing.assert_array_equal(_read(png), _paint(per_obj, height, width), err_msg=str(png))
    assert np.array_equal(np.array(Image.open(out / "v" / "00000.png").getpalette()).reshape(-1, 3)[:4], PALETTE[:4])

    # a second run into the same folder recomputes (nothing is skipped, as with the official tool)
    kept = _read(out / "v" / "00004.png")
    write_palette_png(out / "v" / "00004.png", np.zeros_like(kept), PALETTE)
    assert _run(tool, root, out, demo_paths) == 0
    np.testing.assert_array_equal(_read(out / "v" / "00004.png"), kept)


def test_per_obj_png_file_reads_and_writes_object_folders(tool, split, demo_paths) -> None:
    root, masks = split
    out = root / "out_obj"
    assert _run(tool, root, out, demo_paths, "--per_obj_png_file", "--score_thresh", "-0.5", ann="PerObj") == 0
    torch.set_num_threads(1)
    segments, height, width = _official_joint(
        _predictor(demo_paths, True), root / "JPEGImages" / "v", {1: masks["obj1"][0], 2: masks["obj2"][0]},
        score_thresh=-0.5)
    for frame_idx, per_obj in segments.items():
        for obj_id, mask in per_obj.items():
            png = out / "v" / f"{obj_id:03d}" / f"{frame_idx:05d}.png"
            np.testing.assert_array_equal(_read(png), mask.reshape(height, width).astype(np.uint8), err_msg=str(png))
    assert sorted(p.name for p in (out / "v").iterdir()) == ["001", "002"]


def test_objects_appearing_later(tool, split, demo_paths, capsys) -> None:
    root, masks = split
    out = root / "out_late"
    # without the flag the video fails, and the message names the file and the flag
    assert _run(tool, root, out, demo_paths, "--use_all_masks", videos=("late",)) == 1
    err = capsys.readouterr().err
    assert "00006.png" in err and "--track_object_appearing_later_in_video" in err

    assert _run(tool, root, out, demo_paths, "--track_object_appearing_later_in_video", videos=("late",)) == 0
    torch.set_num_threads(1)
    predictor = _predictor(demo_paths, False)
    num_frames = masks["obj1"].shape[0]
    inputs = {1: {0: masks["obj1"][0]}, 2: {6: masks["obj2"][6]}}
    scores_per_obj: dict = {1: {}, 2: {}}
    with torch.inference_mode():
        state = predictor.init_state(video_path=str(root / "JPEGImages" / "late"), async_loading_frames=False)
        height, width = state["video_height"], state["video_width"]
        for obj_id in sorted(inputs):
            predictor.reset_state(state)
            for frame_idx, mask in inputs[obj_id].items():
                predictor.add_new_mask(inference_state=state, frame_idx=frame_idx, obj_id=obj_id, mask=mask)
            for frame_idx, _, logits in predictor.propagate_in_video(
                    state, start_frame_idx=min(inputs[obj_id]), reverse=False):
                scores_per_obj[obj_id][frame_idx] = logits.cpu().numpy()
        assert sorted(scores_per_obj[2]) == list(range(6, num_frames))
        for frame_idx in range(num_frames):
            scores = torch.full((2, 1, height, width), -1024.0)
            for i, obj_id in enumerate((1, 2)):
                if frame_idx in scores_per_obj[obj_id]:
                    scores[i] = torch.from_numpy(scores_per_obj[obj_id][frame_idx])
            scores = predictor._apply_non_overlapping_constraints(scores)
            expected = _paint({o: (scores[i] > 0.0).numpy() for i, o in enumerate((1, 2))}, height, width)
            png = out / "late" / f"{frame_idx:05d}.png"
            np.testing.assert_array_equal(_read(png), expected, err_msg=str(png))
    assert 2 in _read(out / "late" / "00006.png") and 2 not in _read(out / "late" / "00005.png")


def test_per_object_layout_errors_name_the_file(tool, split, demo_paths, capsys) -> None:
    root, _ = split
    missing = root / "PerObj" / "v" / "002" / "00000.png"
    write_palette_png(root / "PerObj" / "v" / "002" / "00002.png", np.zeros((72, 96), np.uint8), PALETTE)
    missing.unlink()
    assert _run(tool, root, root / "out_bad", demo_paths, "--per_obj_png_file", ann="PerObj") == 1
    err = capsys.readouterr().err
    assert str(missing) in err and "object 2" in err and "--track_object_appearing_later_in_video" in err
