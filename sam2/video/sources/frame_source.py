"""Lazy video frame reading for the video predictor.

A :class:`FrameSource` hands out model-ready frames one at a time: ``[3, S, S]`` float32,
resized to the model resolution ``S`` and normalised with the ImageNet mean / std. Nothing
is decoded up front except the image headers (to learn the video size and to reject frames
of different sizes early), so opening a 10 000-frame folder costs almost nothing and the
resident memory does not grow with the video length: decoded frames live in a small LRU
cache, optionally filled ahead of time by one background thread.

Pre-processing is bit-compatible with the official SAM2 loader: PIL ``convert("RGB")``,
``resize((S, S))`` with Pillow's default filter (bicubic, aspect ratio not kept), division
by 255 in float64, cast to float32, then ``(x - mean) / std`` in float32.
"""
from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from sam2.data.errors import DataFormatError
from sam2.data.frame_files import VIDEO_SUFFIXES, list_video_frames
from sam2.utils.constants import IMAGENET_MEAN, IMAGENET_STD
from sam2.video.sources.live_sources import av_frame_rgb

if TYPE_CHECKING:
    from PIL import Image

logger = logging.getLogger(__name__)



class FrameReadError(RuntimeError):
    """A video frame could not be listed, opened or decoded; the message names the frame."""


def _normalise_uint8(rgb: np.ndarray, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """``[S, S, 3]`` uint8 -> ``[3, S, S]`` float32 normalised like the official loader."""
    # float64 division then float32 cast, exactly as numpy's ``arr / 255.0`` followed by a
    # copy into a float32 buffer
    scaled = torch.from_numpy(rgb).to(torch.float64).div_(255.0).to(torch.float32)
    chw = scaled.permute(2, 0, 1)
    return (chw - mean) / std


def resize_for_model(image: Union["Image.Image", np.ndarray], image_size: int) -> np.ndarray:
    """The model's view of one frame before normalisation: ``[S, S, 3]`` uint8 RGB.

    ``image`` is a PIL image (any mode, converted like ``convert("RGB")``) or an ``[H, W, 3]``
    uint8 RGB array. Resized with PIL's ``resize((S, S))`` (bicubic, aspect ratio not kept),
    as the official loader does. Every frame reader - folders, video files and streams - goes
    through here, so the same pixels give the same model input whichever reads them.
    """
    from PIL import Image

    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    elif image.mode != "RGB":
        image = image.convert("RGB")
    return np.array(image.resize((image_size, image_size)))  # writable copy


def _mean_std(device: Optional[torch.device] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(3, 1, 1)
    return mean, std


class FrameSource:
    """Random access to the preprocessed frames of one video.

    Subclasses implement :meth:`_decode` (frame index -> ``[S, S, 3]`` uint8 resized RGB).
    This base class owns the bounded cache, the optional prefetch thread and the move to the
    target device.

    Args:
        image_size: model input resolution ``S``.
        device: where :meth:`get` returns frames (the compute device, or CPU when the video
            is offloaded).
        cache_size: how many preprocessed frames stay in memory (at least 1).
        prefetch: start one background thread that decodes frames requested through
            :meth:`prefetch` ahead of time.
    """

    def __init__(
        self,
        image_size: int,
        device: torch.device,
        cache_size: int = 4,
        prefetch: bool = False,
    ) -> None:
        if cache_size < 1:
            raise ValueError(f"cache_size must be >= 1, got {cache_size}")
        self.image_size = int(image_size)
        self.device = torch.device(device)
        self.cache_size = int(cache_size)
        self._mean, self._std = _mean_std()
        self._cache: "OrderedDict[int, torch.Tensor]" = OrderedDict()
        self._lock = threading.Lock()
        self._wanted: List[int] = []
        self._wake = threading.Condition(self._lock)
        self._closed = False
        self._worker: Optional[threading.Thread] = None
        if prefetch:
            self._worker = threading.Thread(target=self._prefetch_loop, daemon=True,
                                            name="sam2-frame-prefetch")
            self._worker.start()

    # -- to be provided by subclasses -------------------------------------------------
    num_frames: int
    video_height: int
    video_width: int

    def _decode(self, index: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self, index: int) -> str:
        """Human-readable name of frame ``index`` for error messages."""
        return f"frame {index}"

    # -- public API -----------------------------------------------------------------
    def __len__(self) -> int:
        return self.num_frames

    def _check_index(self, index: int) -> int:
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise TypeError(f"frame index must be an int, got {type(index).__name__}")
        index = int(index)
        if not 0 <= index < self.num_frames:
            raise IndexError(
                f"frame index {index} is out of range for a video of {self.num_frames} frames"
            )
        return index

    def _load(self, index: int) -> torch.Tensor:
        rgb = self._decode(index)
        return _normalise_uint8(rgb, self._mean, self._std)

    def get(self, index: int) -> torch.Tensor:
        """Frame ``index`` as ``[3, S, S]`` float32 on :attr:`device` (cached)."""
        index = self._check_index(index)
        with self._lock:
            hit = self._cache.get(index)
            if hit is not None:
                self._cache.move_to_end(index)
                return hit
        frame = self._load(index).to(self.device)
        self._remember(index, frame)
        return frame

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.get(index)

    def _remember(self, index: int, frame: torch.Tensor) -> None:
        with self._lock:
            self._cache[index] = frame
            self._cache.move_to_end(index)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def cached_indices(self) -> List[int]:
        """Indices currently held in the cache (oldest first)."""
        with self._lock:
            return list(self._cache)

    def prefetch(self, indices: Iterable[int]) -> None:
        """Ask the background thread (if any) to decode ``indices`` ahead of time."""
        if self._worker is None:
            return
        valid = [int(i) for i in indices if 0 <= int(i) < self.num_frames]
        with self._wake:
            self._wanted = [i for i in valid if i not in self._cache][: self.cache_size - 1]
            self._wake.notify()

    def _prefetch_loop(self) -> None:
        while True:
            with self._wake:
                while not self._wanted and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                index = self._wanted.pop(0)
                if index in self._cache:
                    continue
            try:
                frame = self._load(index).to(self.device)
            except Exception:  # the synchronous read will raise a proper error later
                logger.debug("prefetch of %s failed", self.describe(index), exc_info=True)
                continue
            self._remember(index, frame)

    def close(self) -> None:
        """Stop the prefetch thread and drop the cache."""
        with self._wake:
            self._closed = True
            self._wanted = []
            self._cache.clear()
            self._wake.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=5.0)
            self._worker = None

    def __del__(self) -> None:  # best effort: never raise from a finaliser
        try:
            self.close()
        except Exception:
            pass


class ImageFolderSource(FrameSource):
    """Frames stored as image files ``<int>.jpg`` (or ``.jpeg`` / ``.png``) in one folder.

    Which files are frames and their order follow :mod:`sam2.data.frame_files`, the rules of
    the split reader (:class:`sam2.data.mose_layout.MoseSplit`) too: a video the reader lists
    is opened here with the same frames in the same order.

    Raises:
        FrameReadError: the folder is missing or holds no frame, a name is not an integer, two
            files share a number, or the frames do not all have the same size (the offending
            files are named). Undecodable / truncated frames are reported when first read.
    """

    def __init__(
        self,
        folder: Union[str, os.PathLike],
        image_size: int,
        device: torch.device,
        cache_size: int = 4,
        prefetch: bool = False,
    ) -> None:
        folder = Path(folder)
        if not folder.is_dir():
            raise FrameReadError(f"video folder {folder} does not exist or is not a folder")
        try:
            files = list_video_frames(folder)
        except DataFormatError as err:
            raise FrameReadError(str(err)) from err
        self.folder = folder
        self.paths: List[Path] = files
        self.num_frames = len(files)
        self.video_width, self.video_height = self._check_sizes(files)
        super().__init__(image_size, device, cache_size=cache_size, prefetch=prefetch)

    def describe(self, index: int) -> str:
        return f"frame {index} ({self.paths[index]})"

    @staticmethod
    def _check_sizes(files: Sequence[Path]) -> Tuple[int, int]:
        from PIL import Image

        from sam2.data.frame_decode import IMAGE_ERRORS

        first_size: Optional[Tuple[int, int]] = None
        for index, path in enumerate(files):
            try:
                with Image.open(path) as img:  # reads the header only
                    size = img.size
            except IMAGE_ERRORS as err:  # a decompression bomb included
                raise FrameReadError(
                    f"cannot read frame {index} ({path}): {err}") from err
            if first_size is None:
                first_size = size
            elif size != first_size:
                raise FrameReadError(
                    f"frame {index} ({path}) is {size[0]}x{size[1]} but frame 0 "
                    f"({files[0]}) is {first_size[0]}x{first_size[1]}: all frames of a video "
                    "must have the same size"
                )
        assert first_size is not None
        return first_size

    def _decode(self, index: int) -> np.ndarray:
        from PIL import Image

        from sam2.data.frame_decode import IMAGE_ERRORS, to_rgb8

        path = self.paths[index]
        try:
            with Image.open(path) as img:
                img.load()  # truncated files fail here, not lazily later
                arr = resize_for_model(to_rgb8(img, path), self.image_size)
        except IMAGE_ERRORS as err:
            raise FrameReadError(f"cannot decode frame {index} ({path}): {err}") from err
        if arr.dtype != np.uint8:
            raise FrameReadError(f"frame {index} ({path}) decodes to {arr.dtype}, expected uint8")
        return arr


class VideoFileSource(FrameSource):
    """Frames of a video file (MP4, ...) decoded with PyAV (``pip install av``).

    Frames are decoded sequentially; a backward jump re-opens the container. Only the
    cached frames are kept in memory.
    """

    def __init__(
        self,
        path: Union[str, os.PathLike],
        image_size: int,
        device: torch.device,
        cache_size: int = 4,
        prefetch: bool = False,
    ) -> None:
        try:
            import av  # noqa: F401
        except ImportError as err:
            raise FrameReadError(
                f"reading the video file {path} needs PyAV: pip install av "
                "(or pip install 'sam2-rcms[video]'), or extract the frames to JPEG files "
                "named 00000.jpg, 00001.jpg, ..."
            ) from err
        self.path = Path(path)
        if not self.path.is_file():
            raise FrameReadError(f"video file {self.path} does not exist")
        self._container = None
        self._iter = None
        self._next_index = 0
        self._decode_lock = threading.Lock()
        count, width, height = self._probe()
        if count == 0:
            raise FrameReadError(f"video file {self.path} holds no frame")
        self.num_frames, self.video_width, self.video_height = count, width, height
        super().__init__(image_size, device, cache_size=cache_size, prefetch=prefetch)

    def describe(self, index: int) -> str:
        return f"frame {index} of {self.path}"

    def _probe(self) -> Tuple[int, int, int]:
        import av

        count, width, height = 0, 0, 0
        try:
            with av.open(str(self.path)) as container:
                for frame in container.decode(video=0):
                    if count == 0:
                        width, height = frame.width, frame.height
                    count += 1
        except Exception as err:  # PyAV raises its own error classes (av.error.*)
            raise FrameReadError(f"cannot read the video file {self.path}: {err}") from err
        return count, width, height

    def _rewind(self) -> None:
        import av

        if self._container is not None:
            self._container.close()
        self._container = av.open(str(self.path))
        self._iter = self._container.decode(video=0)
        self._next_index = 0

    def _decode(self, index: int) -> np.ndarray:
        with self._decode_lock:
            try:
                if self._iter is None or index < self._next_index:
                    self._rewind()
                frame = None
                while self._next_index <= index:
                    frame = next(self._iter)
                    self._next_index += 1
                rgb = av_frame_rgb(frame)
            except Exception as err:
                raise FrameReadError(f"cannot decode {self.describe(index)}: {err}") from err
        return resize_for_model(rgb, self.image_size)

    def close(self) -> None:
        super().close()
        if getattr(self, "_container", None) is not None:
            self._container.close()
            self._container = None


def open_frame_source(
    video_path: Union[str, os.PathLike],
    image_size: int,
    device: torch.device,
    cache_size: int = 4,
    prefetch: bool = False,
) -> FrameSource:
    """Open ``video_path`` (a folder of JPEG / PNG frames or a video file) lazily.

    Raises:
        FrameReadError: the path does not exist or is neither a folder nor a video file.
    """
    if isinstance(video_path, FrameSource):
        return video_path
    path = Path(video_path)
    if path.is_dir():
        return ImageFolderSource(path, image_size, device, cache_size, prefetch)
    if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
        return VideoFileSource(path, image_size, device, cache_size, prefetch)
    if not path.exists():
        raise FrameReadError(f"video path {path} does not exist")
    raise FrameReadError(
        f"video path {path} is neither a folder of JPEG / PNG frames nor a video file "
        f"({', '.join(VIDEO_SUFFIXES)})"
    )

