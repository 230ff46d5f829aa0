"""Output folders that are either complete or absent, resume checks, and the submission zip.

A video is written into ``OUT/.partial-<video>/`` and renamed to ``OUT/<video>/`` only when every
frame is on disk, so a killed run never leaves a half-written video under its final name. A re-run
treats a final folder as done only if it holds a PNG for every frame (in the requested layout); an
empty or truncated file (no PNG signature) does not count.

Nothing here touches what the tools did not write: a video name is one plain path component
(:func:`sam2.utils.safe_paths.check_entry_name`), an existing ``OUT/<video>`` is replaced only when
it holds nothing but mask PNGs (in either layout), and the zip packs only regular files inside
``OUT/<video>`` (a symbolic link there is an error, so no file from elsewhere enters the archive).
"""
from __future__ import annotations

import logging
import os
import shutil
import zipfile
from pathlib import Path
from types import TracebackType
from typing import Iterable, Optional, Sequence

from sam2.utils.safe_paths import UnsafePathError, check_entry_name

logger = logging.getLogger(__name__)

PARTIAL_PREFIX = ".partial-"
_RETIRED_PREFIX = ".retired-"


def partial_dir(output_root: Path, video: str) -> Path:
    """Temporary folder in which ``video`` is written (hidden, same file system as the final one)."""
    return Path(output_root) / f"{PARTIAL_PREFIX}{video}"


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _is_png_file(path: Path) -> bool:
    """A regular file (not a link) that starts with the PNG signature (an empty file is not)."""
    if path.is_symlink() or not path.is_file() or path.suffix.lower() != ".png":
        return False
    try:
        with open(path, "rb") as handle:
            return handle.read(len(_PNG_SIGNATURE)) == _PNG_SIGNATURE
    except OSError:
        return False


def _png_stems(folder: Path) -> set[str]:
    return {p.stem for p in folder.iterdir() if _is_png_file(p)}


def _foreign_entries(folder: Path) -> list[str]:
    """Entries of an existing ``OUT/<video>`` that no inference run writes (anything but mask PNGs
    and ``<digits>/`` folders of mask PNGs)."""
    foreign: list[str] = []
    for entry in sorted(folder.iterdir()):
        if entry.is_dir() and not entry.is_symlink() and entry.name.isdigit():
            foreign += [f"{entry.name}/{p.name}" for p in sorted(entry.iterdir())
                        if not (p.suffix.lower() == ".png" and p.is_file() and not p.is_symlink())]
        elif not (entry.suffix.lower() == ".png" and entry.is_file() and not entry.is_symlink()):
            foreign.append(entry.name)
    return foreign


def video_output_complete(
    output_root: Path, video: str, frame_names: Sequence[str], per_obj_png_file: bool
) -> bool:
    """True when ``OUT/<video>`` holds one PNG per frame name (per object folder with ``per_obj_png_file``).

    Args:
        output_root: the ``--output_mask_dir`` folder.
        video: video name.
        frame_names: stems of the video's frames (e.g. ``["00000", "00001", ...]``).
        per_obj_png_file: layout ``OUT/<video>/<obj_id:03d>/<frame>.png`` instead of ``OUT/<video>/<frame>.png``.
    """
    check_entry_name(video, "video name")
    folder = Path(output_root) / video
    if folder.is_symlink() or not folder.is_dir() or not frame_names:
        return False
    wanted = set(frame_names)
    if not per_obj_png_file:
        return wanted <= _png_stems(folder)
    obj_dirs = [d for d in folder.iterdir() if d.is_dir() and not d.is_symlink()]
    if not obj_dirs:
        return False
    return all(d.name.isdigit() and wanted <= _png_stems(d) for d in obj_dirs)


def remove_stale_partials(output_root: Path) -> list[str]:
    """Delete leftovers of killed runs (``.partial-*`` / ``.retired-*`` folders); returns their names.

    Call only while no worker is writing into ``output_root``.
    """
    root = Path(output_root)
    removed: list[str] = []
    if not root.is_dir():
        return removed
    for entry in sorted(root.iterdir()):
        if entry.is_dir() and entry.name.startswith((PARTIAL_PREFIX, _RETIRED_PREFIX)):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    if removed:
        logger.info("removed %d partial output folder(s) left by an interrupted run", len(removed))
    return removed


class AtomicVideoDir:
    """Context manager handing out a temporary folder for one video's masks.

    ``with AtomicVideoDir(out, "vid") as tmp: ...write into tmp...; handle.commit()`` renames ``tmp``
    to ``out/vid`` (replacing an incomplete folder of that name, but only one that holds nothing
    except mask PNGs: anything else there is reported, not deleted). Leaving the block without
    :meth:`commit` (an exception, a failure) deletes the temporary folder.
    """

    def __init__(self, output_root: Path, video: str) -> None:
        check_entry_name(video, "video name for an output folder")
        self.output_root = Path(output_root)
        self.video = video
        self.temp = partial_dir(self.output_root, video)
        self.final = self.output_root / video
        self._committed = False

    def __enter__(self) -> Path:
        self.output_root.mkdir(parents=True, exist_ok=True)
        if self.temp.exists():
            shutil.rmtree(self.temp)
        self.temp.mkdir()
        return self.temp

    def commit(self) -> Path:
        """Move the finished folder into place; returns the final path."""
        retired: Optional[Path] = None
        if self.final.is_symlink() or (self.final.exists() and not self.final.is_dir()):
            raise UnsafePathError(f"{self.final} exists and is not a folder of masks; it is not replaced (move it away)")
        if self.final.exists():
            foreign = _foreign_entries(self.final)
            if foreign:
                raise UnsafePathError(
                    f"{self.final} holds files an inference run does not write ({', '.join(foreign[:5])}"
                    f"{', ...' if len(foreign) > 5 else ''}); it is not replaced: move them away or choose "
                    "another output folder")
            retired = self.output_root / f"{_RETIRED_PREFIX}{self.video}"
            if retired.exists():
                shutil.rmtree(retired)
            os.replace(self.final, retired)
        os.replace(self.temp, self.final)
        self._committed = True
        if retired is not None:
            shutil.rmtree(retired, ignore_errors=True)
        return self.final

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if not self._committed and self.temp.exists():
            shutil.rmtree(self.temp, ignore_errors=True)


def write_submission_zip(output_root: Path, videos: Iterable[str], zip_path: Path) -> int:
    """Pack ``OUT/<video>/...`` for the given videos into ``zip_path`` with the video folders at the root.

    The zip is written to a temporary name and renamed when complete. Returns the number of files.
    Every video name is checked (:func:`~sam2.utils.safe_paths.check_entry_name`) and every
    archived file is a regular file inside ``OUT/<video>`` (a symbolic link is an error), so the
    archive holds only relative names under its root.
    """
    root = Path(output_root)
    videos = [check_entry_name(video, "video name to zip") for video in videos]
    zip_path = Path(zip_path)
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    temp = zip_path.with_name(f".{zip_path.name}.tmp")
    count = 0
    try:
        with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for video in sorted(videos):
                folder = root / video
                if folder.is_symlink() or not folder.is_dir():
                    raise FileNotFoundError(f"cannot zip video {video!r}: {folder} is not a folder")
                for path in _files_to_zip(folder):
                    archive.write(path, arcname=path.relative_to(root).as_posix())
                    count += 1
        os.replace(temp, zip_path)
    finally:
        if temp.exists():
            temp.unlink()
    return count


def _files_to_zip(folder: Path) -> list[Path]:
    """Regular files under ``folder`` (sorted, links not followed); a link is an error."""
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        here = Path(dirpath)
        for name in sorted(dirnames) + sorted(filenames):
            path = here / name
            if path.is_symlink():
                raise UnsafePathError(f"{path} is a symbolic link; the submission zip holds only files written here")
            if name in filenames and path.is_file():
                files.append(path)
    return sorted(files)
