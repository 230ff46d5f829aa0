"""The overlay video writer: frames encoded as they come (none kept), GIF and MP4 readable."""
from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
from PIL import Image

from sam2.demo.overlay_video import OverlayVideo


def _picture(t: int) -> Image.Image:
    array = np.zeros((30, 41, 3), np.uint8)
    array[:, t * 5 : t * 5 + 5] = (250, 20, 20)
    return Image.fromarray(array)


def test_gif_frames_are_written_in_order_and_not_kept(tmp_path):
    writer = OverlayVideo(tmp_path / "o.gif", "gif", 5.0)
    refs = []
    for t in range(6):
        picture = _picture(t)
        refs.append(weakref.ref(picture))
        writer.add(picture)
        del picture
    gc.collect()
    assert all(ref() is None for ref in refs)  # the writer holds no picture
    assert not (tmp_path / "o.gif").exists()  # nothing under the final name before finish
    assert writer.finish() == tmp_path / "o.gif"
    with Image.open(tmp_path / "o.gif") as gif:
        assert gif.n_frames == 6 and gif.info["duration"] == 200 and gif.info["loop"] == 0
        for t in range(6):
            gif.seek(t)
            rgb = np.asarray(gif.convert("RGB"))
            assert tuple(rgb[10, t * 5 + 2]) == (250, 20, 20) and tuple(rgb[10, (t * 5 + 12) % 41]) == (0, 0, 0)


def test_mp4_has_every_frame(tmp_path):
    av = pytest.importorskip("av")
    writer = OverlayVideo(tmp_path / "o.mp4", "mp4", 8.0)
    for t in range(5):
        writer.add(_picture(t))
    writer.finish()
    with av.open(str(tmp_path / "o.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 5


def test_discard_leaves_the_previous_file(tmp_path):
    (tmp_path / "o.gif").write_bytes(b"previous")
    writer = OverlayVideo(tmp_path / "o.gif", "gif", 8.0)
    writer.add(_picture(0))
    writer.discard()
    assert (tmp_path / "o.gif").read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.gif"]


def test_pictures_of_another_size_are_refused(tmp_path):
    writer = OverlayVideo(tmp_path / "o.gif", "gif", 8.0)
    writer.add(_picture(0))
    with pytest.raises(ValueError, match=r"overlay picture 1 is \(10, 10\), the first one was \(41, 30\)"):
        writer.add(Image.new("RGB", (10, 10)))
    writer.discard()
