"""Tiny media written by the streaming tests themselves (no downloads, a few KB each)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Sequence

import numpy as np


def moving_square_frames(count: int, width: int = 64, height: int = 48, seed: int = 0) -> List[np.ndarray]:
    """``count`` RGB uint8 frames: a bright square moving right on a dim noisy background."""
    rng = np.random.RandomState(seed)
    frames = []
    for t in range(count):
        img = np.full((height, width, 3), 40, dtype=np.uint8)
        img += rng.randint(0, 12, size=img.shape, dtype=np.uint8)
        x0 = 8 + 2 * t
        img[14:30, x0:x0 + 16] = (230, 200, 40)
        frames.append(img)
    return frames


def square_mask(width: int = 64, height: int = 48) -> np.ndarray:
    """The square of frame 0 of :func:`moving_square_frames` as ``[H, W]`` bool."""
    mask = np.zeros((height, width), dtype=bool)
    mask[14:30, 8:24] = True
    return mask


def write_video(path: Path, frames: Sequence[np.ndarray], codec: str = "mpeg4", fps: int = 10) -> Path:
    """Encode ``frames`` with PyAV (``mpeg4`` in MP4, ``mjpeg`` in MKV, ...)."""
    import av

    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if codec != "mjpeg":
            stream.options = {"qscale": "2"}
        for img in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def corrupt_mjpeg_frame(path: Path, frame: int) -> None:
    """Overwrite the JPEG data of one frame of an MJPEG file with zeros (SOI markers found
    by scanning; the container framing is left intact)."""
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 2) if data[i] == 0xFF and data[i + 1] == 0xD8
              and data[i + 2] == 0xFF]
    begin, end = starts[frame], starts[frame + 1] - 16
    data[begin:end] = bytes(end - begin)
    path.write_bytes(bytes(data))
