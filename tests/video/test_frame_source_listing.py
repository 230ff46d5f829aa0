"""The split reader (MoseSplit) and the video predictor's frame reader (open_frame_source, what
init_state calls) list the same frames of a video folder, and refuse the same folders with
messages naming the same files."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, List, Tuple

import numpy as np
import pytest
import torch
from PIL import Image

from sam2.data.mose_layout import DataFormatError, MoseSplit
from sam2.video.sources.frame_source import FrameReadError, open_frame_source

S = 16


def _img(path: Path, value: int, fmt: str = "JPEG") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((12, 20, 3), value, np.uint8)).save(path, format=fmt)


def _mixed(folder: Path) -> List[str]:
    """Unpadded numbers, upper-case and .jpeg extensions, a PNG frame, and clutter to ignore."""
    _img(folder / "10.jpg", 100)
    _img(folder / "2.JPG", 20)
    _img(folder / "0.jpeg", 0)
    _img(folder / "3.png", 30, "PNG")
    _img(folder / "._1.jpg", 1)  # macOS resource fork: a dot-file
    (folder / ".DS_Store").write_bytes(b"\x00\x01")
    (folder / "notes.txt").write_text("not a frame")
    (folder / "7.jpg").mkdir()  # a folder named like a frame
    return ["0.jpeg", "2.JPG", "3.png", "10.jpg"]


def _padded_png(folder: Path) -> List[str]:
    for i in range(3):
        _img(folder / f"{i:05d}.png", 10 * i, "PNG")
    return ["00000.png", "00001.png", "00002.png"]


def _same_number_two_spellings(folder: Path) -> Tuple[str, ...]:
    _img(folder / "0.jpg", 0)
    _img(folder / "1.jpg", 10)
    _img(folder / "001.jpg", 11)
    return ("001.jpg", "1.jpg")


def _same_number_jpg_and_png(folder: Path) -> Tuple[str, ...]:
    _img(folder / "00000.jpg", 0)
    _img(folder / "00000.png", 0, "PNG")
    return ("00000.jpg", "00000.png")


def _non_integer(name: str) -> Callable[[Path], Tuple[str, ...]]:
    def build(folder: Path) -> Tuple[str, ...]:
        _img(folder / "00000.jpg", 0)
        _img(folder / name, 10)
        return (name,)
    return build


def _only_clutter(folder: Path) -> Tuple[str, ...]:
    _img(folder / ".00000.jpg", 0)
    (folder / "readme.md").write_text("x")
    return ("no JPEG frames",)


ACCEPTED: Dict[str, Callable[[Path], List[str]]] = {"mixed": _mixed, "padded_png": _padded_png}
REFUSED: Dict[str, Callable[[Path], Tuple[str, ...]]] = {
    "same_number_two_spellings": _same_number_two_spellings,
    "same_number_jpg_and_png": _same_number_jpg_and_png,
    "letters": _non_integer("frame_a.jpg"),
    "negative": _non_integer("-1.jpg"),
    "underscore_digits": _non_integer("1_000.jpg"),
    "plus_sign": _non_integer("+3.jpg"),
    "only_clutter": _only_clutter,
}


def _reader_frames(split_root: Path, video: str) -> List[Path]:
    split = MoseSplit(split_root)
    assert split.videos() == [video]
    return [split.frame_path(video, i) for i in range(split.num_frames(video))]


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_reader_and_frame_source_list_the_same_frames(tmp_path: Path, case: str) -> None:
    folder = tmp_path / "split" / "JPEGImages" / "vid"
    folder.mkdir(parents=True)
    expected = ACCEPTED[case](folder)
    listed = _reader_frames(tmp_path / "split", "vid")
    assert [p.name for p in listed] == expected
    src = open_frame_source(folder, S, torch.device("cpu"))
    assert [p.name for p in src.paths] == expected
    assert (len(src), src.video_height, src.video_width) == (len(expected), 12, 20)
    # the same pixels in the same order (frame i has grey level int(stem) * 10, JPEG +-3)
    for i, path in enumerate(expected):
        level = int(Path(path).stem) * 10
        means = src.get(i).mean(dim=(1, 2)) * torch.tensor([0.229, 0.224, 0.225]) + torch.tensor([0.485, 0.456, 0.406])
        assert torch.allclose(means * 255, torch.full((3,), float(level)), atol=3.0), path
    src.close()


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_reader_and_frame_source_refuse_the_same_folders(tmp_path: Path, case: str) -> None:
    folder = tmp_path / "split" / "JPEGImages" / "vid"
    folder.mkdir(parents=True)
    named = REFUSED[case](folder)
    with pytest.raises(DataFormatError) as reader_error:
        _reader_frames(tmp_path / "split", "vid")
    with pytest.raises(FrameReadError) as source_error:
        open_frame_source(folder, S, torch.device("cpu"))
    for text in (str(reader_error.value), str(source_error.value)):
        for name in named:
            assert name in text, (name, text)
