"""Reader and writer of the MOSEv2 / DAVIS / YouTube-VOS split layout (one reader, used everywhere).

Layout::

    <split>/JPEGImages/<video>/00000.jpg ...   RGB frames (``.jpg``/``.jpeg``/``.png``)
    <split>/Annotations/<video>/00000.png ...  palette ("P") PNGs, pixel value = object id, 0 = bg
    <split>/meta.json                          optional, {"videos": {video: {"length", "height",
                                               "width", "objects"}}}; ``objects`` is a list of ids
                                               or a dict keyed by id strings
    <list file>                                optional, one video name per line

Video names (list file, ``meta.json`` keys, folder names) are plain names: no ``/``, ``..``,
absolute paths, control characters or hidden names, and a list names a video once
(:func:`sam2.utils.safe_paths.check_entry_name`); list and meta files must be regular files.

Which files are frames and their order follow :mod:`sam2.data.frame_files` (the rules the video
predictor's reader uses too): sorted by the integer value of the file stem; a stem that is not an
integer, or two files with the same number, is an error naming the file(s); dot-files are
ignored. Annotations may be sparse (the validation split ships frame 0 only).

API:

* :class:`MoseSplit` (``MoseSplit(root)`` or ``MoseSplit.from_dirs(image_root, ann_root)``):
  ``videos()``, ``frames(video)``, ``num_frames(video)``, ``frame_path``, ``annotation_path``,
  ``annotated_frames(video)``, ``read_frame(video, name)`` -> ``[H, W, 3]`` uint8 RGB,
  ``read_annotation(video, name)`` -> ``[H, W]`` uint8 ids, ``read_palette``,
  ``frame_size(video)`` -> ``(H, W)``, ``object_ids(video, name=None)``,
  ``first_appearance(video)`` -> ``{obj_id: frame_index}``, ``meta`` (:class:`SplitMeta` or None),
  ``validate(video=None, require_all_annotations=False)``.
* Free functions: :func:`list_frame_files` / :func:`list_video_frames` (from
  :mod:`sam2.data.frame_files`), :func:`read_rgb`, :func:`read_index_png`,
  :func:`write_palette_png` (atomic), :func:`read_meta`, :func:`write_meta` (atomic),
  :func:`read_video_list`.
* Errors: :class:`DataFormatError` (a ``ValueError`` carrying ``.path``), always naming the file.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
from PIL import Image

from sam2.data.errors import DataFormatError
from sam2.data.frame_decode import IMAGE_ERRORS, to_rgb8
from sam2.data.frame_files import FRAME_EXTENSIONS, frame_index_of, list_frame_files, list_video_frames
from sam2.data.palette import flat_to_palette, palette_to_flat, voc_palette
from sam2.utils.atomic_files import atomic_write_bytes
from sam2.utils.safe_paths import UnsafePathError, check_entry_name, read_regular_text

__all__ = [
    "DataFormatError",
    "FRAME_EXTENSIONS",
    "MoseSplit",
    "SplitMeta",
    "VideoMeta",
    "frame_index_of",
    "image_size_of",
    "list_frame_files",
    "list_video_frames",
    "read_index_png",
    "read_meta",
    "read_rgb",
    "read_video_list",
    "write_meta",
    "write_palette_png",
]

ANNOTATION_EXTENSIONS: tuple[str, ...] = (".png",)


# ----------------------------------------------------------------------------------------------
# Image I/O
# ----------------------------------------------------------------------------------------------
def _open_image(path: Path) -> Image.Image:
    if not path.is_file():
        raise DataFormatError(path, "file not found")
    try:
        img = Image.open(path)
        img.load()
    except IMAGE_ERRORS as exc:
        raise DataFormatError(path, f"unreadable image ({exc})") from exc
    return img


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an image as RGB.

    Returns:
        ``[H, W, 3]`` uint8.
    """
    img = to_rgb8(_open_image(Path(path)), path)  # 16-bit frames scaled, not clipped
    return np.asarray(img, dtype=np.uint8).copy()


def image_size_of(path: str | os.PathLike) -> tuple[int, int]:
    """``(H, W)`` of an image from its header only (cheap); error naming the file if unreadable."""
    p = Path(path)
    if not p.is_file():
        raise DataFormatError(p, "file not found")
    try:
        with Image.open(p) as img:
            width, height = img.size
    except IMAGE_ERRORS as exc:
        raise DataFormatError(p, f"unreadable image ({exc})") from exc
    return height, width


def read_index_png(
    path: str | os.PathLike,
    expected_size: tuple[int, int] | None = None,
    allow_grayscale: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Read an indexed annotation/prediction PNG.

    Args:
        path: the PNG file.
        expected_size: ``(H, W)`` the image must have (e.g. the frame's size), or None.
        allow_grayscale: also accept an ``"L"`` (8-bit grey) PNG whose values are the ids.

    Returns:
        ``(ids, palette)``: ``ids`` ``[H, W]`` uint8 object ids (0 = background), ``palette``
        ``[256, 3]`` uint8 (the VOC palette for a grey PNG).

    Raises:
        DataFormatError: missing/unreadable file, RGB or other non-palette mode, wrong size.
    """
    p = Path(path)
    img = _open_image(p)
    if img.mode == "P":
        palette = flat_to_palette(img.getpalette())
    elif img.mode == "L" and allow_grayscale:
        palette = voc_palette()
    else:
        accepted = "'P' (palette)" + (" or 'L'" if allow_grayscale else "")
        raise DataFormatError(p, f"annotation PNG must be mode {accepted}, got mode '{img.mode}'")
    ids = np.asarray(img, dtype=np.uint8).copy()
    if expected_size is not None and tuple(ids.shape) != tuple(expected_size):
        raise DataFormatError(
            p, f"size {ids.shape[0]}x{ids.shape[1]} (HxW) differs from the expected {expected_size[0]}x{expected_size[1]}"
        )
    return ids, palette


def write_palette_png(
    path: str | os.PathLike,
    ids: np.ndarray,
    palette: np.ndarray | None = None,
) -> None:
    """Write object ids as a palette PNG, atomically (temp file + rename).

    Args:
        path: destination ``.png``; parent folders are created.
        ids: ``[H, W]`` integer array of object ids in 0..255.
        palette: ``[N<=256, 3]`` uint8 colours; default :func:`voc_palette`.
    """
    arr = np.asarray(ids)
    if arr.ndim != 2:
        raise ValueError(f"{path}: ids must be a 2-D [H, W] array, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ValueError(f"{path}: ids must be within 0..255, got range {arr.min()}..{arr.max()}")
        arr = arr.astype(np.uint8)
    img = Image.fromarray(np.ascontiguousarray(arr), mode="P")
    img.putpalette(palette_to_flat(voc_palette() if palette is None else palette))
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())


# ----------------------------------------------------------------------------------------------
# Meta and list files
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VideoMeta:
    """One ``meta.json`` entry: ``length`` frames of ``height`` x ``width`` (None = read from disk)."""

    length: int
    height: int | None
    width: int | None
    objects: tuple[int, ...]
    extra: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class SplitMeta:
    """Parsed ``meta.json``: ``videos`` maps video name -> :class:`VideoMeta`."""

    videos: Mapping[str, VideoMeta]
    path: str | None = None


def _parse_video_meta(path: Path, name: str, entry: object) -> VideoMeta:
    if not isinstance(entry, Mapping):
        raise DataFormatError(path, f"videos[{name!r}] must be an object, got {type(entry).__name__}")
    if "length" not in entry:
        raise DataFormatError(path, f"videos[{name!r}] lacks the key 'length'")
    raw_objects = entry.get("objects", [])
    try:
        objects = tuple(sorted(int(k) for k in raw_objects))
        length = int(entry["length"])
        height = None if entry.get("height") is None else int(entry["height"])
        width = None if entry.get("width") is None else int(entry["width"])
    except (TypeError, ValueError) as exc:
        raise DataFormatError(path, f"videos[{name!r}] has a malformed value ({exc})") from exc
    extra = {k: v for k, v in entry.items() if k not in ("length", "height", "width")}
    return VideoMeta(length=length, height=height, width=width, objects=objects, extra=extra)


def _refuse_duplicate_keys(path: Path):
    def hook(pairs: list[tuple[str, object]]) -> dict:
        seen: dict[str, object] = {}
        for key, value in pairs:
            if key in seen:
                raise DataFormatError(path, f"the key {key!r} appears twice in one JSON object (which one is meant?)")
            seen[key] = value
        return seen

    return hook


def read_meta(path: str | os.PathLike) -> SplitMeta:
    """Parse a ``meta.json`` (``{"videos": {name: {length, height, width, objects}}}``).

    Every video name must be one plain path component (:func:`sam2.utils.safe_paths.check_entry_name`),
    a key may not appear twice in one object, and ``length`` must be a positive integer.
    """
    p = Path(path)
    try:
        text = read_regular_text(p, "meta file")
    except FileNotFoundError:
        raise DataFormatError(p, "meta file not found") from None
    except (UnsafePathError, UnicodeDecodeError) as exc:
        raise DataFormatError(p, str(exc)) from exc
    try:
        doc = json.loads(text, object_pairs_hook=_refuse_duplicate_keys(p))
    except json.JSONDecodeError as exc:
        raise DataFormatError(p, f"not valid JSON ({exc})") from exc
    if not isinstance(doc, Mapping) or not isinstance(doc.get("videos"), Mapping):
        raise DataFormatError(p, "expected a JSON object with a 'videos' object")
    videos = {}
    for name, entry in doc["videos"].items():
        try:
            check_entry_name(name, "video name")
        except UnsafePathError as exc:
            raise DataFormatError(p, str(exc)) from None
        videos[name] = _parse_video_meta(p, name, entry)
        if videos[name].length < 1:
            raise DataFormatError(p, f"videos[{name!r}]: length must be >= 1, got {videos[name].length}")
    return SplitMeta(videos=videos, path=str(p))


def write_meta(path: str | os.PathLike, videos: Mapping[str, Mapping[str, object]]) -> None:
    """Write ``{"videos": videos}`` as JSON, atomically."""
    payload = json.dumps({"videos": dict(videos)}, indent=1, sort_keys=True).encode("utf-8")
    atomic_write_bytes(path, payload)


def read_video_list(path: str | os.PathLike) -> list[str]:
    """Video names of a list file, one per line; blank lines and ``#`` comments ignored.

    Every name must be one plain path component (no ``..``, no separator, not hidden; see
    :func:`sam2.utils.safe_paths.check_entry_name`) and may appear only once; the file must be a
    regular file (a FIFO or a device is refused, not read).

    Raises:
        DataFormatError: naming the file (and the line) at fault.
    """
    p = Path(path)
    try:
        text = read_regular_text(p, "video list file")
    except FileNotFoundError:
        raise DataFormatError(p, "video list file not found") from None
    except (UnsafePathError, UnicodeDecodeError) as exc:
        raise DataFormatError(p, str(exc)) from exc
    names: list[str] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        try:
            check_entry_name(item, f"line {number}")
        except UnsafePathError as exc:
            raise DataFormatError(p, str(exc)) from None
        if item in first_line:
            raise DataFormatError(p, f"line {number}: video {item!r} is listed twice (first on line {first_line[item]})")
        first_line[item] = number
        names.append(item)
    return names


# ----------------------------------------------------------------------------------------------
# The split reader
# ----------------------------------------------------------------------------------------------
class MoseSplit:
    """Read access to one split in the MOSEv2 layout.

    Args:
        root: split folder holding ``JPEGImages/``, ``Annotations/`` and optionally ``meta.json``.
        video_list_file: optional file of video names (restricts and orders ``videos()``).
        meta_file: ``meta.json`` path; default ``root/meta.json`` when it exists.
    """

    def __init__(
        self,
        root: str | os.PathLike | None,
        video_list_file: str | os.PathLike | None = None,
        meta_file: str | os.PathLike | None = None,
        *,
        image_root: str | os.PathLike | None = None,
        ann_root: str | os.PathLike | None = None,
    ) -> None:
        self.root = None if root is None else Path(root)
        if self.root is not None and not self.root.is_dir():
            raise DataFormatError(self.root, "split folder not found")
        self.image_root = Path(image_root) if image_root is not None else (self.root / "JPEGImages" if self.root else None)
        self.ann_root = Path(ann_root) if ann_root is not None else (self.root / "Annotations" if self.root else None)
        if self.image_root is None and self.ann_root is None:
            raise ValueError("MoseSplit needs a root or an image_root/ann_root")
        if meta_file is None and self.root is not None and (self.root / "meta.json").is_file():
            meta_file = self.root / "meta.json"
        self.meta: SplitMeta | None = read_meta(meta_file) if meta_file is not None else None
        self._video_list = read_video_list(video_list_file) if video_list_file is not None else None
        self._frame_cache: dict[str, list[Path]] = {}
        self._ann_cache: dict[str, dict[int, Path]] = {}
        self._size_cache: dict[str, tuple[int, int]] = {}

    @classmethod
    def from_dirs(
        cls,
        image_root: str | os.PathLike | None,
        ann_root: str | os.PathLike | None,
        video_list_file: str | os.PathLike | None = None,
        meta_file: str | os.PathLike | None = None,
    ) -> "MoseSplit":
        """A split given as separate frame and annotation roots (the inference tool's flags)."""
        return cls(None, video_list_file, meta_file, image_root=image_root, ann_root=ann_root)

    # -- listing ---------------------------------------------------------------------------------
    def videos(self) -> list[str]:
        """Video names: the list file's order if given, else the sorted sub-folders of the frame
        root (or of the annotation root when there is no frame root)."""
        if self._video_list is not None:
            return list(self._video_list)
        base = self.image_root if self.image_root is not None and self.image_root.is_dir() else self.ann_root
        if base is None or not base.is_dir():
            raise DataFormatError(base if base is not None else "<none>", "neither JPEGImages nor Annotations folder found")
        names = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
        for name in names:
            try:
                check_entry_name(name, "video folder name")
            except UnsafePathError as exc:
                raise DataFormatError(base / name, str(exc)) from None
        return names

    def _frame_files(self, video: str) -> list[Path]:
        if video not in self._frame_cache:
            if self.image_root is None:
                raise DataFormatError(f"<no JPEGImages>/{video}", "this split has no frame folder")
            self._frame_cache[video] = list_video_frames(self.image_root / video)
        return self._frame_cache[video]

    def _annotation_files(self, video: str) -> dict[int, Path]:
        if video not in self._ann_cache:
            if self.ann_root is None:
                raise DataFormatError(f"<no Annotations>/{video}", "this split has no annotation folder")
            folder = self.ann_root / video
            files = list_frame_files(folder, ANNOTATION_EXTENSIONS) if folder.is_dir() else []
            self._ann_cache[video] = {frame_index_of(p): p for p in files}
        return self._ann_cache[video]

    def frames(self, video: str) -> list[str]:
        """Frame names (file stems, e.g. ``"00000"``) sorted by their integer value."""
        return [p.stem for p in self._frame_files(video)]

    def num_frames(self, video: str) -> int:
        """Number of frames of ``video``."""
        return len(self._frame_files(video))

    def frame_path(self, video: str, name: str | int) -> Path:
        """Path of frame ``name`` (a stem or a position in ``frames(video)``)."""
        files = self._frame_files(video)
        if isinstance(name, (int, np.integer)):
            if not 0 <= int(name) < len(files):
                raise IndexError(f"{self.image_root / video}: frame position {name} out of range 0..{len(files) - 1}")
            return files[int(name)]
        for p in files:
            if p.stem == name:
                return p
        raise DataFormatError(self.image_root / video / f"{name}.jpg", "frame not found")

    def annotation_path(self, video: str, name: str | int) -> Path:
        """Path where the annotation of frame ``name`` (stem or position) lives (may not exist)."""
        stem = self.frame_path(video, name).stem if isinstance(name, (int, np.integer)) else name
        if self.ann_root is None:
            raise DataFormatError(f"<no Annotations>/{video}/{stem}.png", "this split has no annotation folder")
        return self.ann_root / video / f"{stem}.png"

    def annotated_frames(self, video: str) -> list[str]:
        """Stems of the frames that have an annotation PNG, sorted by integer value (empty list
        when the video has no annotation folder)."""
        return [p.stem for _, p in sorted(self._annotation_files(video).items())]

    # -- reading ---------------------------------------------------------------------------------
    def frame_size(self, video: str) -> tuple[int, int]:
        """``(H, W)`` of the video (from the first frame's header, else from meta/annotations)."""
        if video in self._size_cache:
            return self._size_cache[video]
        size = self._find_size(video)
        self._size_cache[video] = size
        return size

    def _find_size(self, video: str) -> tuple[int, int]:
        if self.image_root is not None and (self.image_root / video).is_dir():
            return image_size_of(self._frame_files(video)[0])
        if self.meta is not None and video in self.meta.videos:
            vm = self.meta.videos[video]
            if vm.height is not None and vm.width is not None:
                return vm.height, vm.width
        anns = self._annotation_files(video)
        if not anns:
            raise DataFormatError(self.ann_root / video, "no frames and no annotations to take the size from")
        return image_size_of(next(iter(sorted(anns.items())))[1])

    def read_frame(self, video: str, name: str | int) -> np.ndarray:
        """Frame ``name`` (stem or position) as ``[H, W, 3]`` uint8 RGB."""
        return read_rgb(self.frame_path(video, name))

    def read_annotation(self, video: str, name: str | int, check_size: bool = True) -> np.ndarray:
        """Annotation of frame ``name`` as ``[H, W]`` uint8 object ids (0 = background).

        Raises :class:`DataFormatError` naming the PNG if it is missing, not a palette PNG, or
        (with ``check_size``) not the size of the video's frames.
        """
        path = self.annotation_path(video, name)
        expected = self.frame_size(video) if check_size else None
        ids, _ = read_index_png(path, expected_size=expected)
        return ids

    def read_palette(self, video: str, name: str | int | None = None) -> np.ndarray:
        """``[256, 3]`` uint8 palette of an annotation PNG (default: the first annotated frame)."""
        if name is None:
            annotated = self.annotated_frames(video)
            if not annotated:
                return voc_palette()
            name = annotated[0]
        _, palette = read_index_png(self.annotation_path(video, name))
        return palette

    def object_ids(self, video: str, name: str | int | None = None) -> list[int]:
        """Sorted non-zero ids in frame ``name``'s annotation, or in all annotations if None."""
        names: Iterable[str | int] = self.annotated_frames(video) if name is None else [name]
        seen: set[int] = set()
        for item in names:
            seen.update(int(v) for v in np.unique(self.read_annotation(video, item)) if v != 0)
        return sorted(seen)

    def first_appearance(self, video: str) -> dict[int, int]:
        """``{obj_id: frame position}`` of the first annotated frame where each object is visible."""
        position_of = {stem: i for i, stem in enumerate(self.frames(video))}
        first: dict[int, int] = {}
        for stem in self.annotated_frames(video):
            if stem not in position_of:
                raise DataFormatError(self.annotation_path(video, stem), "annotation has no matching frame")
            for v in np.unique(self.read_annotation(video, stem)):
                if v != 0 and int(v) not in first:
                    first[int(v)] = position_of[stem]
        return first

    # -- validation ------------------------------------------------------------------------------
    def validate(self, video: str | None = None, require_all_annotations: bool = False, decode_frames: bool = False) -> None:
        """Check one video (or all) and raise :class:`DataFormatError` naming the first bad file.

        Checks: the video has frames with integer names; all frames have the same size
        (headers only unless ``decode_frames``); every annotation is a palette PNG of the
        frame size and matches a frame; with ``require_all_annotations`` every frame has one;
        with a ``meta.json``, its length/size agree with the files.
        """
        for name in [video] if video is not None else self.videos():
            files = self._frame_files(name)
            size = image_size_of(files[0])
            for path in files[1:]:
                if image_size_of(path) != size:
                    raise DataFormatError(path, f"frame size {image_size_of(path)} differs from the first frame's {size}")
            if decode_frames:
                for path in files:
                    read_rgb(path)
            stems = {p.stem for p in files}
            annotations = self._annotation_files(name)
            for path in annotations.values():
                if path.stem not in stems:
                    raise DataFormatError(path, "annotation has no matching frame")
                read_index_png(path, expected_size=size)
            if require_all_annotations:
                for path in files:
                    if frame_index_of(path) not in annotations:
                        raise DataFormatError(self.annotation_path(name, path.stem), "annotation missing for this frame")
            if self.meta is not None and name in self.meta.videos:
                vm = self.meta.videos[name]
                where = self.meta.path or "meta.json"
                if vm.length != len(files):
                    raise DataFormatError(where, f"video {name!r}: meta length {vm.length} but {len(files)} frames on disk")
                if vm.height is not None and vm.width is not None and (vm.height, vm.width) != size:
                    raise DataFormatError(where, f"video {name!r}: meta size {vm.height}x{vm.width} but frames are {size[0]}x{size[1]}")
