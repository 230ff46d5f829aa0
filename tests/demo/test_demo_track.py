"""`tools/demo.py --video ...` on a short generated photographic clip: a JPEG folder and an MP4,
clicks, a box and a mask prompt, RCMS on and off, the outputs and the errors."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sam2.data.synthetic import SyntheticConfig, generate_video

ROOT = Path(__file__).resolve().parents[2]
NUM_FRAMES = 6
pytestmark = pytest.mark.slow  # the shipped model on a clip


def _load_tool():
    spec = importlib.util.spec_from_file_location("demo_tool_track", ROOT / "tools" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):  # tests/conftest.py
    yield


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A photographic clip (held-out photographs) as JPEG frames, plus object 1's first-frame mask."""
    cfg = SyntheticConfig(num_videos=1, num_frames=NUM_FRAMES, height=72, width=96, min_objects=1, max_objects=1,
                          event_prob=0.0, photographic=1.0, photo_split="val", seed=3)
    video = generate_video(cfg, 0)
    root = tmp_path_factory.mktemp("clip")
    frames = root / "frames"
    frames.mkdir()
    for t, frame in enumerate(video.frames):
        Image.fromarray(frame).save(frames / f"{t:05d}.jpg", quality=95)
    mask = video.annotations[0] == 1
    Image.fromarray((mask * 255).astype(np.uint8)).save(root / "mask.png")
    ys, xs = np.nonzero(mask)
    centre = (float(np.median(xs)), float(np.median(ys)))
    box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
    return {"frames": frames, "mask": root / "mask.png", "centre": centre, "box": box, "video": video}


def _masks(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))]


def test_jpeg_folder_with_a_mask_prompt(tmp_path, clip):
    tool = _load_tool()
    out = tmp_path / "out"
    code = tool.main(["--video", str(clip["frames"]), "--mask", str(clip["mask"]), "--output-dir", str(out),
                      "--rcms", "off", "--no-progress"])
    assert code == 0
    masks = _masks(out / "masks")
    assert len(masks) == NUM_FRAMES
    assert all(m.shape == (72, 96) for m in masks)
    # the shipped model keeps the prompted object on the first frame (mask prompt -> its own mask)
    truth = clip["video"].annotations[0] == 1
    first = masks[0] == 1
    iou = (first & truth).sum() / max(1, (first | truth).sum())
    assert iou > 0.5, iou
    with Image.open(out / "overlay.gif") as gif:
        assert gif.n_frames == NUM_FRAMES


def test_clicks_and_box_with_rcms_on(tmp_path, clip):
    tool = _load_tool()
    x, y = clip["centre"]
    for flags in (["--points", f"{x},{y}", "1,1,0"], ["--box", ",".join(str(v) for v in clip["box"])]):
        out = tmp_path / flags[0].strip("-")
        code = tool.main(["--video", str(clip["frames"]), *flags, "--output-dir", str(out), "--rcms", "on", "--no-progress"])
        assert code == 0
        assert len(_masks(out / "masks")) == NUM_FRAMES
        assert (out / "overlay.gif").is_file()


def test_mp4_input_and_output(tmp_path, clip):
    av = pytest.importorskip("av", reason="needs the video/dev extra")
    path = tmp_path / "clip.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=8)
        stream.width, stream.height, stream.pix_fmt = 96, 72, "yuv420p"
        for frame in clip["video"].frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tool = _load_tool()
    out = tmp_path / "out"
    code = tool.main(["--video", str(path), "--mask", str(clip["mask"]), "--output-dir", str(out),
                      "--overlay", "mp4", "--no-progress"])
    assert code == 0
    assert len(_masks(out / "masks")) == NUM_FRAMES
    with av.open(str(out / "overlay.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == NUM_FRAMES


def test_bad_input_is_named(tmp_path, clip, capsys):
    tool = _load_tool()
    assert tool.main(["--video", str(clip["frames"]), "--output-dir", str(tmp_path / "a"), "--no-progress"]) == 2
    assert "--points" in capsys.readouterr().err
    assert tool.main(["--video", str(tmp_path / "nowhere"), "--points", "1,1", "--output-dir", str(tmp_path / "b"),
                      "--no-progress"]) == 1
    assert "nowhere" in capsys.readouterr().err
    assert tool.main(["--video", str(clip["frames"]), "--points", "500,1", "--output-dir", str(tmp_path / "c"),
                      "--no-progress"]) == 1
    assert "outside" in capsys.readouterr().err
    empty = tmp_path / "empty.png"
    Image.fromarray(np.zeros((72, 96), np.uint8)).save(empty)
    assert tool.main(["--video", str(clip["frames"]), "--mask", str(empty), "--output-dir", str(tmp_path / "d"),
                      "--no-progress"]) == 1
    assert "empty.png" in capsys.readouterr().err


def test_mp4_without_pyav_names_the_extra(tmp_path, monkeypatch, capsys):
    import sys

    video = tmp_path / "clip.mp4"
    video.write_bytes(b"not decoded: PyAV is checked first")
    monkeypatch.setitem(sys.modules, "av", None)  # import av -> ImportError
    tool = _load_tool()
    assert tool.main(["--video", str(video), "--points", "1,1", "--output-dir", str(tmp_path / "o"), "--no-progress"]) == 1
    assert "sam2-rcms[video]" in capsys.readouterr().err
