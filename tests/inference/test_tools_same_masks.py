"""Every tool that tracks a video writes the same masks for the same video, prompt, model and
policy: ``tools/track_stream.py``, ``tools/vos_inference.py``, ``tools/vos_inference_ddp.py`` and
``tools/demo.py --video``, on a folder of JPEG frames and on an MP4.

The clip is shorter than the model's object-pointer window (16 frames), where a stream must be
told the video's length to match an offline run, and photographic, where post-processing (hole
filling, stability fallback) changes masks from frame 1 on. The MP4 is lossy: the tools that take
a video file read it themselves; the split tools get its frames as decoded by PyAV's ``rgb24``
conversion, stored losslessly (PNG), so every tool must decode the MP4 to exactly those pixels.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sam2.data.mose_layout import write_palette_png
from sam2.data.synthetic import SyntheticConfig, generate_video

ROOT = Path(__file__).resolve().parents[2]
CONFIG = "configs/sam2.1/sam2.1_hiera_demo.yaml"  # the 128-px demo model
CHECKPOINT = str(ROOT / "sam2" / "checkpoints" / "sam2.1_hiera_demo.pt")
NUM_FRAMES = 10
VIDEO = "clip"

pytestmark = pytest.mark.slow  # the trained model, four tools, twice


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(f"same_masks_{name}", ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _quiet_and_one_thread(one_torch_thread, monkeypatch):  # one_torch_thread: tests/conftest.py
    # the inference tools pin torch to OMP_NUM_THREADS threads (float sums depend on it) and
    # silence tqdm through the environment at import: both restored after the test
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("TQDM_DISABLE", "1")
    yield


@pytest.fixture(scope="module")
def clip() -> dict:
    cfg = SyntheticConfig(num_videos=1, num_frames=NUM_FRAMES, height=72, width=96, min_objects=1,
                          max_objects=1, event_prob=0.0, photographic=1.0, photo_split="val", seed=2)
    video = generate_video(cfg, 0)
    first = (video.annotations[0] == 1).astype(np.uint8)
    assert first.any()
    return {"frames": list(video.frames), "first_mask": first}


def _write_split(root: Path, frames, first_mask: np.ndarray, suffix: str) -> Path:
    """``root/JPEGImages/clip/<t>.<suffix>`` and the first frame's annotation (object 1)."""
    (root / "JPEGImages" / VIDEO).mkdir(parents=True)
    for t, rgb in enumerate(frames):
        options = {"quality": 90} if suffix == "jpg" else {}
        Image.fromarray(rgb).save(root / "JPEGImages" / VIDEO / f"{t:05d}.{suffix}", **options)
    write_palette_png(root / "Annotations" / VIDEO / "00000.png", first_mask)
    return root


def _write_mp4(path: Path, frames) -> Path:
    import av

    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _decoded(path: Path) -> list:
    from sam2.video.sources.live_sources import av_frame_rgb

    import av

    with av.open(str(path)) as container:
        return [av_frame_rgb(frame) for frame in container.decode(video=0)]


def _run_every_tool(tmp_path: Path, source: Path, split: Path) -> dict:
    """The masks each tool wrote: ``{tool: {png name: [H, W] uint8 ids}}``."""
    mask = split / "Annotations" / VIDEO / "00000.png"
    outs = {name: tmp_path / f"out_{name}" for name in ("track_stream", "vos", "vos_ddp", "demo")}
    assert _tool("track_stream").main(
        ["--source", str(source), "--mask", str(mask), "--config", CONFIG, "--checkpoint", CHECKPOINT,
         "--out", str(outs["track_stream"]), "--no-progress"]) == 0
    split_args = ["--sam2_cfg", CONFIG, "--sam2_checkpoint", CHECKPOINT,
                  "--base_video_dir", str(split / "JPEGImages"), "--input_mask_dir", str(split / "Annotations")]
    assert _tool("vos_inference").main([*split_args, "--output_mask_dir", str(outs["vos"])]) == 0
    # plain SAM 2.1 (this tool's own default is the published RCMS baseline)
    assert _tool("vos_inference_ddp").main(
        [*split_args, "--output_mask_dir", str(outs["vos_ddp"]), "--num_gpus", "0",
         "--num_prev_frames_to_promote", "0"]) == 0
    assert _tool("demo").main(
        ["--video", str(source), "--mask", str(mask), "--config", CONFIG, "--checkpoint", CHECKPOINT,
         "--rcms", "off", "--output-dir", str(outs["demo"]), "--no-progress"]) == 0
    folders = {"track_stream": outs["track_stream"] / "masks", "vos": outs["vos"] / VIDEO,
               "vos_ddp": outs["vos_ddp"] / VIDEO, "demo": outs["demo"] / "masks"}
    return {name: {p.name: np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))}
            for name, folder in folders.items()}


def _assert_identical(masks: dict) -> None:
    names = [f"{t:05d}.png" for t in range(NUM_FRAMES)]
    reference = masks["vos"]
    assert sorted(reference) == names
    # not a degenerate clip: the object is tracked on every frame and moves
    assert all((reference[n] == 1).any() for n in names)
    assert not np.array_equal(reference[names[0]], reference[names[-1]])
    for tool, got in masks.items():
        assert sorted(got) == names, tool
        for n in names:
            differ = int((got[n] != reference[n]).sum())
            assert differ == 0, f"{tool} vs tools/vos_inference.py: {differ} pixels differ on {n}"


def test_same_masks_from_a_jpeg_folder(tmp_path, clip):
    split = _write_split(tmp_path / "split", clip["frames"], clip["first_mask"], "jpg")
    _assert_identical(_run_every_tool(tmp_path, split / "JPEGImages" / VIDEO, split))


def test_same_masks_from_an_mp4(tmp_path, clip):
    pytest.importorskip("av")
    video = _write_mp4(tmp_path / "clip.mp4", clip["frames"])
    decoded = _decoded(video)
    assert len(decoded) == NUM_FRAMES
    # lossy: the decoded frames are not the encoded ones, so a tool that read the MP4 any other
    # way than the others would show it
    assert any(not np.array_equal(a, b) for a, b in zip(decoded, clip["frames"]))
    split = _write_split(tmp_path / "split", decoded, clip["first_mask"], "png")
    _assert_identical(_run_every_tool(tmp_path, video, split))
