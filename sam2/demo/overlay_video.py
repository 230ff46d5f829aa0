"""An overlay video (animated GIF or MP4) written one picture at a time: memory flat in video length.

``OverlayVideo(path, "gif", fps)``; ``add(picture)`` per frame; ``finish()`` renames the
temporary file beside ``path`` into place (mode as the umask gives new files), ``discard()``
removes it. Nothing but the picture being encoded is kept in memory: each GIF frame carries its
own 256-colour palette and is encoded as it arrives, MP4 frames go straight to the encoder.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Optional

from PIL import GifImagePlugin, Image

from sam2.utils.atomic_files import apply_new_file_mode

__all__ = ["OverlayVideo"]


class OverlayVideo:
    """Streamed writer of an animated GIF or an MP4 (``fmt`` ``"gif"`` / ``"mp4"``; MP4 needs PyAV).

    Args:
        path: the final file.
        fmt: ``"gif"`` or ``"mp4"``.
        fps: frames per second (> 0).
    """

    def __init__(self, path: str | os.PathLike, fmt: str, fps: float) -> None:
        if fmt not in ("gif", "mp4"):
            raise ValueError(f"overlay format must be 'gif' or 'mp4', got {fmt!r}")
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.path = Path(path)
        self.fmt = fmt
        self.fps = float(fps)
        self.count = 0
        self._tmp: Optional[str] = None
        self._handle: Optional[BinaryIO] = None
        self._container: Any = None
        self._stream: Any = None
        self._size: Optional[tuple[int, int]] = None

    def _open(self, first: Image.Image) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=self.path.suffix, dir=self.path.parent)
        self._size = first.size
        if self.fmt == "gif":
            self._handle = os.fdopen(fd, "wb")
            header, _ = GifImagePlugin.getheader(first.quantize(256), None, {"loop": 0, "duration": self._ms(),
                                                                             "optimize": False})
            for chunk in header:
                self._handle.write(chunk)
            return
        os.close(fd)
        import av

        self._container = av.open(self._tmp, mode="w", format="mp4")
        self._stream = self._container.add_stream("mpeg4", rate=max(1, int(round(self.fps))))
        width, height = first.size
        self._stream.width, self._stream.height = max(2, width - width % 2), max(2, height - height % 2)
        self._stream.pix_fmt = "yuv420p"

    def _ms(self) -> int:
        return int(round(1000 / self.fps))

    def add(self, picture: Image.Image) -> None:
        """Encode one ``RGB`` picture (every picture must have the first one's size)."""
        if self._tmp is None:
            self._open(picture)
        if picture.size != self._size:
            raise ValueError(f"overlay picture {self.count} is {picture.size}, the first one was {self._size}")
        if self.fmt == "gif":
            assert self._handle is not None
            frame = picture.convert("RGB").quantize(256)
            for chunk in GifImagePlugin.getdata(frame, duration=self._ms(), include_color_table=True):
                self._handle.write(chunk)
        else:
            import av

            crop = picture.convert("RGB").crop((0, 0, self._stream.width, self._stream.height))
            for packet in self._stream.encode(av.VideoFrame.from_image(crop)):
                self._container.mux(packet)
        self.count += 1

    def _close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._container is not None:
            self._container.close()
            self._container = None

    def finish(self) -> Optional[Path]:
        """Complete the file and move it into place; ``None`` (nothing written) without pictures."""
        if self._tmp is None:
            return None
        try:
            if self.fmt == "gif":
                assert self._handle is not None
                self._handle.write(b";")  # GIF trailer
            else:
                for packet in self._stream.encode():
                    self._container.mux(packet)
            self._close()
            apply_new_file_mode(self._tmp)
            os.replace(self._tmp, self.path)
        except BaseException:
            self.discard()
            raise
        self._tmp = None
        return self.path

    def discard(self) -> None:
        """Drop the temporary file (the final path is left as it was)."""
        self._close()
        if self._tmp is not None and os.path.exists(self._tmp):
            os.unlink(self._tmp)
        self._tmp = None
