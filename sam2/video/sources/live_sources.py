"""Live frame sources for streaming: frames one by one, in arrival order, length unknown.

Unlike :mod:`sam2.video.sources.frame_source` (random access to a finished video), a live source is
an iterator of :class:`LiveFrame` (RGB ``[H, W, 3]`` uint8 at the source's resolution) read
once, front to back:

* :class:`LiveFolderSource` - the images of a folder in order (listed by
  :func:`sam2.data.frame_files.list_frame_files` in natural order: integer names by value,
  other names naturally sorted); with ``follow=True`` it keeps watching the folder and
  yields new images as they appear (like ``tail -f``).
* :class:`AVSource` - a video file, an ``rtsp://`` (or other network) URL, or a camera
  (``camera:N``), decoded with PyAV (the ``video`` extra: ``pip install "sam2-rcms[video]"``).
* :class:`IteratorSource` - any Python iterable / generator of numpy arrays, PIL images or
  tensors.

:func:`open_live_source` picks one from a string (``VIDEO.mp4``, ``FOLDER``,
``rtsp://...``, ``camera:0``). Every source applies the same two checks:

* a **corrupt frame** (undecodable file or packet, an item that is not an image) is skipped
  and reported (a warning naming the frame, listed in :attr:`LiveSource.skipped`) with
  ``on_corrupt="skip"`` (default: a camera glitch should not end the run), or raises
  :class:`CorruptFrameError` naming the frame with ``on_corrupt="error"``;
* a frame whose size differs from the first frame's raises :class:`FrameSizeError`
  naming both frames.

Frame indices count every frame the source produced, skipped ones included, so a skipped
frame leaves a gap in :attr:`LiveFrame.index`. The reader thread and bounded buffer that sit
between a source and the tracker are in :mod:`sam2.video.sources.live_feed`.
"""
from __future__ import annotations

import logging
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union

import numpy as np

from sam2.data.errors import DataFormatError
from sam2.data.frame_files import VIDEO_SUFFIXES, list_frame_files
from sam2.utils.extras import MissingExtraError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
NETWORK_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt")
CORRUPT_POLICIES = ("skip", "error")
VIDEO_EXTRA_HINT = 'pip install "sam2-rcms[video]"'


class LiveSourceError(RuntimeError):
    """A live source cannot be opened or read; the message names the source."""


class CorruptFrameError(LiveSourceError):
    """A frame could not be decoded or is not an image; the message names the frame.

    Attributes:
        reason: what is wrong, without the frame's name.
    """

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where, self.reason = where, reason


class FrameSizeError(LiveSourceError):
    """A frame's size differs from the first frame's; the message names both frames."""


def require_av(purpose: str):
    """Import PyAV or raise :class:`MissingExtraError` naming the ``video`` extra."""
    try:
        import av
    except ImportError as err:
        raise MissingExtraError(
            f"{purpose} needs PyAV, which is not installed: {VIDEO_EXTRA_HINT} "
            "(or pip install av)") from err
    return av


def av_frame_rgb(frame: Any) -> np.ndarray:
    """``[H, W, 3]`` uint8 RGB of a decoded PyAV video frame (FFmpeg's conversion to
    ``rgb24``): the one conversion of every reader of video files (:class:`AVSource`,
    :class:`sam2.video.sources.frame_source.VideoFileSource`), so a lossy video gives the same pixels
    whichever reads it."""
    return frame.to_ndarray(format="rgb24")


# ----------------------------------------------------------------------------------------
# frames
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LiveFrame:
    """One decoded frame of a live source.

    Attributes:
        index: position in the source (0-based; skipped corrupt frames count too).
        image: ``[H, W, 3]`` uint8 RGB at the source's resolution.
        name: short name for outputs (the file stem for folders, else ``%05d`` of ``index``).
        where: description for messages (e.g. ``frame 12 (cam/00012.jpg)``).
    """

    index: int
    image: np.ndarray
    name: str
    where: str

    @property
    def size(self) -> Tuple[int, int]:
        """``(width, height)``."""
        return int(self.image.shape[1]), int(self.image.shape[0])


def as_rgb_uint8(image: Any, where: str) -> np.ndarray:
    """Convert an image to ``[H, W, 3]`` uint8 RGB (C-contiguous).

    Accepted: a PIL image (any mode, converted like ``convert("RGB")``); a numpy array
    ``[H, W]`` (grey), ``[H, W, 3]`` (RGB) or ``[H, W, 4]`` (RGBA, alpha dropped); a torch
    tensor ``[3, H, W]`` / ``[1, H, W]`` (channels first, the torchvision convention) or
    ``[H, W, 3]`` (channels last, when the first dimension is not 1 or 3), or ``[H, W]``.
    uint8 values are taken as is; float values must lie in ``[0, 1]`` (scaled by 255 and
    rounded); bool as 0 / 255.

    Raises:
        CorruptFrameError: anything else, naming ``where``.
    """
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a base dependency
        Image = None
    if Image is not None and isinstance(image, Image.Image):
        try:
            return np.ascontiguousarray(np.asarray(image.convert("RGB")))
        except (OSError, ValueError) as err:
            raise CorruptFrameError(where, f"cannot convert the PIL image to RGB: {err}") from err
    if "torch" in sys.modules and isinstance(image, sys.modules["torch"].Tensor):
        tensor = image.detach().cpu()
        if tensor.dim() == 3 and tensor.shape[0] in (1, 3):
            tensor = tensor.permute(1, 2, 0)
        try:
            image = tensor.numpy()
        except TypeError:  # e.g. bfloat16
            image = tensor.float().numpy()
    if not isinstance(image, np.ndarray):
        raise CorruptFrameError(
            where, "expected an image (numpy array, PIL image or tensor), got "
            f"{type(image).__name__}")
    arr = image
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise CorruptFrameError(
            where, "expected an image of shape [H, W, 3] (or [3, H, W] for a tensor), got "
            f"shape {tuple(image.shape)}")
    arr = arr[:, :, :3]
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise CorruptFrameError(where, f"the image is empty (shape {tuple(image.shape)})")
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if arr.dtype == np.bool_:
        return np.ascontiguousarray(arr.astype(np.uint8) * 255)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise CorruptFrameError(where, "the image holds NaN or infinite values")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 1.0:
            raise CorruptFrameError(
                where, f"float images must hold values in [0, 1], got {lo:g}..{hi:g} "
                "(pass uint8 for 0..255)")
        return np.ascontiguousarray(np.rint(arr.astype(np.float64) * 255.0).astype(np.uint8))
    raise CorruptFrameError(
        where, f"unsupported image dtype {arr.dtype} (use uint8, float in [0, 1] or bool)")


# ----------------------------------------------------------------------------------------
# the base class: checks shared by every source
# ----------------------------------------------------------------------------------------
@dataclass
class _Raw:
    """What a subclass produces per frame: an image-like object or the reason it is corrupt."""

    index: int
    name: str
    where: str
    image: Any = None
    error: Optional[str] = None


@dataclass(frozen=True)
class SkippedFrame:
    """A corrupt frame that was skipped (``on_corrupt="skip"``)."""

    index: int
    where: str
    reason: str


class LiveSource:
    """Iterator of :class:`LiveFrame` with the corrupt-frame and frame-size checks.

    Subclasses implement :meth:`_raw_frames`. Iterate once; :meth:`close` (or leaving a
    ``with`` block) releases the underlying file / device.

    Args:
        on_corrupt: ``"skip"`` (warn, record in :attr:`skipped`, go on) or ``"error"``.
    """

    #: what the source reads, for messages
    description: str = "live source"

    def __init__(self, on_corrupt: str = "skip") -> None:
        if on_corrupt not in CORRUPT_POLICIES:
            raise ValueError(f"on_corrupt must be one of {CORRUPT_POLICIES}, got {on_corrupt!r}")
        self.on_corrupt = on_corrupt
        self.skipped: List[SkippedFrame] = []
        self._first: Optional[LiveFrame] = None
        self._closed = False

    def _raw_frames(self) -> Iterator[_Raw]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _corrupt(self, raw: _Raw, reason: str) -> None:
        if self.on_corrupt == "error":
            raise CorruptFrameError(raw.where, f"corrupt frame: {reason}")
        self.skipped.append(SkippedFrame(raw.index, raw.where, reason))
        logger.warning("skipping corrupt %s: %s", raw.where, reason)

    def __iter__(self) -> Iterator[LiveFrame]:
        for raw in self._raw_frames():
            if self._closed:
                return
            if raw.error is not None:
                self._corrupt(raw, raw.error)
                continue
            try:
                rgb = as_rgb_uint8(raw.image, raw.where)
            except CorruptFrameError as err:
                self._corrupt(raw, err.reason)
                continue
            frame = LiveFrame(raw.index, rgb, raw.name, raw.where)
            if self._first is None:
                self._first = frame
            elif frame.size != self._first.size:
                (w, h), (w0, h0) = frame.size, self._first.size
                raise FrameSizeError(
                    f"{frame.where} is {w}x{h} but the first frame, {self._first.where}, is "
                    f"{w0}x{h0}: every frame of a stream must have the same size")
            yield frame

    def close(self) -> None:
        """Release the file / device (idempotent)."""
        self._closed = True

    def __enter__(self) -> "LiveSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ----------------------------------------------------------------------------------------
# a folder of images
# ----------------------------------------------------------------------------------------
class LiveFolderSource(LiveSource):
    """The images of a folder, in order; optionally keeps watching it for new images.

    Args:
        folder: the folder (``*.jpg``, ``*.png``, ... ; hidden files ignored).
        follow: keep polling for new images after the existing ones are read. Each new image
            is read once its size is the same on two successive polls (so a file being
            written is not read half way); names are read in sorted order within one poll,
            polls in the order the files appear.
        poll_interval: seconds between polls (``follow`` only).
        idle_timeout: stop after this many seconds without a new image (``follow`` only;
            ``None``: never stop on its own).
        sleep, clock: injectable ``time.sleep`` / ``time.monotonic`` (tests).
    """

    def __init__(
        self,
        folder: Union[str, os.PathLike],
        *,
        follow: bool = False,
        poll_interval: float = 0.05,
        idle_timeout: Optional[float] = None,
        on_corrupt: str = "skip",
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(on_corrupt)
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise LiveSourceError(f"image folder {self.folder} does not exist or is not a folder")
        self.follow = follow
        self.poll_interval = float(poll_interval)
        self.idle_timeout = idle_timeout
        self._sleep, self._clock = sleep, clock
        self.description = f"image folder {self.folder}"
        if not follow and not self._listing():
            raise LiveSourceError(
                f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {self.folder}")

    def _listing(self) -> Dict[Path, int]:
        """The folder's images in frame order (:func:`sam2.data.frame_files.list_frame_files`,
        natural order) with their sizes."""
        try:
            paths = list_frame_files(self.folder, IMAGE_SUFFIXES, natural_order=True)
        except DataFormatError as err:
            raise LiveSourceError(str(err)) from None
        return {path: path.stat().st_size for path in paths}

    @staticmethod
    def _read(path: Path) -> Tuple[Any, Optional[str]]:
        from PIL import Image

        from sam2.data.frame_decode import IMAGE_ERRORS, to_rgb8

        try:
            with Image.open(path) as img:
                img.load()  # truncated files fail here
                return to_rgb8(img, path), None
        except IMAGE_ERRORS as err:
            return None, f"cannot decode {path.name}: {err}"

    def _raw_frames(self) -> Iterator[_Raw]:
        seen: set = set()
        sizes_before: Dict[Path, int] = {}
        index = 0
        last_new = self._clock()
        first_pass = True
        while not self._closed:
            listing = self._listing()
            ready = []
            for path, size in listing.items():
                if path in seen:
                    continue
                # a file is complete when its size did not change since the previous poll
                if first_pass or not self.follow or sizes_before.get(path) == size:
                    ready.append(path)
            sizes_before = listing
            first_pass = False
            for path in ready:  # in frame order: the listing is
                seen.add(path)
                image, error = self._read(path)
                yield _Raw(index, path.stem, f"frame {index} ({path})", image, error)
                index += 1
            if ready:
                last_new = self._clock()
            if not self.follow:
                return
            if self.idle_timeout is not None and self._clock() - last_new >= self.idle_timeout:
                logger.info("%s: no new image for %.1f s, stopping", self.description,
                            self.idle_timeout)
                return
            self._sleep(self.poll_interval)


# ----------------------------------------------------------------------------------------
# PyAV: video files, network streams, cameras
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AVTarget:
    """What PyAV opens: ``av.open(target, format=av_format, options=options)``.

    Attributes:
        kind: ``"file"``, ``"network"`` or ``"camera"``.
        target: the path, URL or device.
        av_format: the demuxer to force (cameras), else ``None``.
        options: FFmpeg options (strings).
        live: whether frames arrive in real time (network, camera).
    """

    kind: str
    target: str
    av_format: Optional[str] = None
    options: Dict[str, str] = field(default_factory=dict)
    live: bool = False


def camera_target(spec: str, platform: str = sys.platform) -> AVTarget:
    """The PyAV target of ``camera:N`` / ``camera:DEVICE`` on ``platform``.

    Linux: ``/dev/videoN`` through ``v4l2``; macOS: device ``N`` through ``avfoundation``;
    Windows: ``video=DEVICE`` through ``dshow`` (DirectShow opens cameras by name, so
    ``camera:"USB Camera"``; a bare number is refused there).
    """
    device = spec.split(":", 1)[1].strip() if ":" in spec else ""
    if not device:
        raise LiveSourceError(f"{spec!r}: name a camera, e.g. camera:0")
    if platform.startswith("linux"):
        path = f"/dev/video{device}" if device.isdigit() else device
        return AVTarget("camera", path, "v4l2", {}, live=True)
    if platform == "darwin":
        return AVTarget("camera", device, "avfoundation", {"framerate": "30"}, live=True)
    if platform.startswith("win"):
        if device.isdigit():
            raise LiveSourceError(
                f"{spec!r}: on Windows cameras are opened by name (DirectShow), e.g. "
                'camera:"Integrated Camera"; list them with ffmpeg -list_devices true -f dshow -i dummy')
        return AVTarget("camera", f"video={device}", "dshow", {}, live=True)
    raise LiveSourceError(f"{spec!r}: cameras are not supported on platform {platform!r}")


def parse_source_spec(spec: str, platform: str = sys.platform) -> Tuple[str, Any]:
    """Classify a source string.

    Returns:
        ``("folder", Path)``, ``("av", AVTarget)`` for a video file, a network URL or a camera.

    Raises:
        LiveSourceError: an unknown scheme, a missing path, or a path that is neither a
            folder nor a video file.
    """
    text = str(spec).strip()
    if text.lower().startswith("camera:"):
        return "av", camera_target(text, platform)
    scheme = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://", text)
    if scheme:
        name = scheme.group(1).lower()
        if name == "file":
            return parse_source_spec(text[len("file://"):], platform)
        if name not in NETWORK_SCHEMES:
            raise LiveSourceError(
                f"{text!r}: unsupported URL scheme {name!r} (supported: "
                f"{', '.join(NETWORK_SCHEMES)}, a file path, a folder or camera:N)")
        options = {"rtsp_transport": "tcp"} if name in ("rtsp", "rtsps") else {}
        return "av", AVTarget("network", text, None, options, live=True)
    path = Path(text)
    if path.is_dir():
        return "folder", path
    if not path.exists():
        raise LiveSourceError(f"source {path} does not exist (a video file, a folder of "
                              "images, an rtsp:// URL or camera:N)")
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise LiveSourceError(
            f"source {path} is neither a folder of images nor a video file "
            f"({', '.join(VIDEO_SUFFIXES)})")
    return "av", AVTarget("file", str(path))


class AVSource(LiveSource):
    """Frames decoded by PyAV from a video file, a network stream or a camera.

    Packets are decoded one by one, so a packet the decoder rejects is one corrupt frame
    (skipped or an error, per ``on_corrupt``) and decoding goes on with the next packet.

    Args:
        target: an :class:`AVTarget` (see :func:`parse_source_spec`) or a file path.
        options: extra FFmpeg options merged over the target's.
        timeout: seconds to wait when opening, and for each read, of a live target (network,
            camera) before giving up with an error naming it; ``None``: wait forever.
    """

    def __init__(self, target: Union[AVTarget, str, os.PathLike], *,
                 options: Optional[Dict[str, str]] = None, on_corrupt: str = "skip",
                 timeout: Optional[float] = 10.0) -> None:
        super().__init__(on_corrupt)
        self.timeout = timeout
        if not isinstance(target, AVTarget):
            target = AVTarget("file", str(target))
        self.target = AVTarget(target.kind, target.target, target.av_format,
                               {**target.options, **(options or {})}, target.live)
        self.description = f"{self.target.kind} {self.target.target}"
        self._av = require_av(f"reading {self.description}")
        if self.target.kind == "file" and not Path(self.target.target).is_file():
            raise LiveSourceError(f"video file {self.target.target} does not exist")
        self._container = None

    def _open(self):
        timeout = self.timeout if self.target.live else None
        try:
            return self._av.open(self.target.target, format=self.target.av_format,
                                 options=dict(self.target.options), timeout=timeout)
        except (self._av.error.FFmpegError, OSError) as err:
            raise LiveSourceError(f"cannot open {self.description}: {err}") from err

    def _raw_frames(self) -> Iterator[_Raw]:
        container = self._container = self._open()
        try:
            if not container.streams.video:
                raise LiveSourceError(f"{self.description} has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            index = 0
            packets = container.demux(stream)
            while not self._closed:
                try:
                    packet = next(packets)
                except StopIteration:
                    return
                except self._av.error.FFmpegError as err:
                    raise LiveSourceError(
                        f"reading {self.description} failed after {index} frames: {err}") from err
                try:
                    decoded = packet.decode()
                except self._av.error.FFmpegError as err:
                    where = f"frame {index} of {self.target.target}"
                    yield _Raw(index, f"{index:05d}", where, error=f"cannot decode: {err}")
                    index += 1
                    continue
                for frame in decoded:
                    where = f"frame {index} of {self.target.target}"
                    yield _Raw(index, f"{index:05d}", where, av_frame_rgb(frame))
                    index += 1
        finally:
            self._close_container()

    def _close_container(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            try:
                container.close()
            except Exception:  # closing a broken stream must not mask the real error
                logger.debug("closing %s failed", self.description, exc_info=True)

    def close(self) -> None:
        super().close()


# ----------------------------------------------------------------------------------------
# Python iterables
# ----------------------------------------------------------------------------------------
class IteratorSource(LiveSource):
    """Frames from a Python iterable or generator of arrays, PIL images or tensors.

    An item that is not an image (see :func:`as_rgb_uint8`) is a corrupt frame. Exceptions
    raised by the iterable itself propagate unchanged.
    """

    def __init__(self, items: Iterable[Any], *, on_corrupt: str = "skip",
                 description: str = "frame iterator") -> None:
        super().__init__(on_corrupt)
        self._items = items
        self.description = description

    def _raw_frames(self) -> Iterator[_Raw]:
        for index, item in enumerate(self._items):
            yield _Raw(index, f"{index:05d}", f"frame {index} of the {self.description}", item)

    def close(self) -> None:
        super().close()
        closer = getattr(self._items, "close", None)
        if callable(closer):  # generators: run their cleanup
            try:
                closer()
            except ValueError:  # "generator already executing" (closed from another thread)
                pass


def open_live_source(source: Union[str, os.PathLike, Iterable[Any], LiveSource], *,
                     on_corrupt: str = "skip", follow: bool = False,
                     idle_timeout: Optional[float] = None,
                     av_options: Optional[Dict[str, str]] = None) -> LiveSource:
    """A live source from a video file, folder, URL, ``camera:N`` string, or an iterable.

    Args:
        source: ``VIDEO.mp4``, a folder, ``rtsp://...``, ``camera:0``, an iterable of
            images, or an existing :class:`LiveSource` (returned as is).
        on_corrupt: ``"skip"`` or ``"error"`` (see :class:`LiveSource`).
        follow, idle_timeout: folders only (see :class:`LiveFolderSource`).
        av_options: extra FFmpeg options for PyAV sources.
    """
    if isinstance(source, LiveSource):
        return source
    if isinstance(source, (str, os.PathLike)):
        kind, what = parse_source_spec(str(source))
        if kind == "folder":
            return LiveFolderSource(what, follow=follow, idle_timeout=idle_timeout,
                                     on_corrupt=on_corrupt)
        return AVSource(what, options=av_options, on_corrupt=on_corrupt)
    if isinstance(source, np.ndarray) or not hasattr(source, "__iter__"):
        raise LiveSourceError(
            f"cannot stream from a {type(source).__name__}: give a path, URL, camera:N or an "
            "iterable of images")
    return IteratorSource(source, on_corrupt=on_corrupt)
