"""Which files of a video folder are its frames, and in which order: the one set of rules.

Used by the split reader (:class:`sam2.data.mose_layout.MoseSplit`), the video predictor's
frame reader (:mod:`sam2.video.sources.frame_source`), the evaluator and the demo, so a folder one of
them accepts is read the same way by all of them.

Rules:

* a frame is a regular file whose extension is one of :data:`FRAME_EXTENSIONS` (``.jpg``,
  ``.jpeg``, ``.png``; case-insensitive); other files and sub-folders are ignored;
* names starting with ``.`` are ignored (``.DS_Store``, ``._00000.jpg`` left by macOS, editor
  and partial-download files);
* the stem must be a non-negative integer written in ASCII digits (``00012.jpg``; not ``-1``,
  ``1_000``, ``+3`` or ``frame_12``), else :class:`DataFormatError` names the file;
* frames are ordered by that integer (``2.jpg`` before ``10.jpg``);
* two files with the same integer (``1.jpg`` and ``001.jpg``, or ``00001.jpg`` and
  ``00001.png``) are an error naming both files;
* a frame that is a symbolic link must point to a file inside the same folder (after the
  folder's own links are resolved); a link leading elsewhere (``00003.jpg -> /home/me/secret.jpg``)
  is an error naming the link and its target, so nothing outside the named folders is read.

Live folders (:class:`sam2.video.sources.live_sources.LiveFolderSource`) use the same rules with
``natural_order=True``: any stem is accepted, integer stems are ordered by value and other names
in natural order (``cam9`` before ``cam10``); two files with the same key are still an error.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence, Tuple

from sam2.data.errors import DataFormatError

FRAME_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png")
"""Extensions of video frames (lower case; matched case-insensitively)."""

VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".ts")
"""Extensions of video files read with PyAV (offline frame sources and live sources alike)."""


def frame_index_of(path: str | os.PathLike) -> int:
    """Integer value of a frame file's stem (``00012.jpg`` -> 12); error naming the file otherwise."""
    stem = Path(path).stem
    if not (stem.isascii() and stem.isdigit()):
        raise DataFormatError(
            path,
            "frame file name is not an integer name (expected digits only, e.g. 00000.jpg; "
            "frames are ordered by that number)",
        )
    return int(stem)


def natural_key(path: str | os.PathLike) -> Tuple:
    """Natural sort key of a file's stem: digit runs by value, the rest case-folded
    (``cam9.png`` before ``cam10.png``; ``2.jpg`` before ``10.jpg``)."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", Path(path).stem))


def list_frame_files(folder: str | os.PathLike, extensions: Sequence[str] = FRAME_EXTENSIONS, *,
                     natural_order: bool = False) -> list[Path]:
    """Files of ``folder`` with one of ``extensions``, sorted by integer stem (rules above).

    ``natural_order=True`` accepts any stem and sorts by :func:`natural_key` (live folders).
    Returns an empty list for a folder without such files. Raises :class:`DataFormatError` if the
    folder does not exist, a name is not an integer (unless ``natural_order``), or two files share
    the same key.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DataFormatError(root, "folder not found")
    wanted = tuple(ext.lower() for ext in extensions)
    found = [
        p for p in root.iterdir()
        if not p.name.startswith(".") and p.suffix.lower() in wanted and p.is_file()
    ]
    real_root = root.resolve()
    for path in found:
        if path.is_symlink() and not path.resolve().is_relative_to(real_root):
            raise DataFormatError(
                path, f"frame is a link to {path.resolve()}, outside its folder {real_root}; frames are read "
                "only from inside the folders given (copy the file in instead of linking it)")
    key_of = natural_key if natural_order else frame_index_of
    keyed = sorted(((key_of(p), p) for p in found), key=lambda item: (item[0], item[1].name))
    for (key_a, path_a), (key_b, path_b) in zip(keyed, keyed[1:]):
        if key_a == key_b:
            what = f"duplicate frame index {key_a}" if not natural_order else "duplicate frame position"
            raise DataFormatError(
                path_b, f"{what}: {path_a.name} and {path_b.name} have the same number"
            )
    return [p for _, p in keyed]


def list_video_frames(folder: str | os.PathLike) -> list[Path]:
    """The frames of one video folder (at least one), sorted by their integer names.

    Raises:
        DataFormatError: the folder is missing or holds no frame, or a rule above is broken.
    """
    files = list_frame_files(folder, FRAME_EXTENSIONS)
    if not files:
        raise DataFormatError(folder, "no frames in this folder (no JPEG frames *.jpg / *.jpeg, nor PNG frames *.png)")
    return files


__all__ = ["FRAME_EXTENSIONS", "DataFormatError", "frame_index_of", "list_frame_files", "list_video_frames",
           "natural_key"]
