"""Output folders that are either complete or absent, resume checks, and the submission zip.

A video is written into ``OUT/.partial-<video>/`` and renamed to ``OUT/<video>/`` only when every
frame is on disk, so a killed run never leaves a half-written video under its final name. A re-run
treats a final folder as done only if it holds a PNG for every frame (in the requested layout).
"""
from __future__ import annotations

import logging
import os
import shutil
import zipfile
from pathlib import Path
from types import TracebackType
from typing import Iterable, Optional, Sequence

logger = logging.getLogger(__name__)

PARTIAL_PREFIX = ".partial-"
_RETIRED_PREFIX = ".retired-"


def partial_dir(output_root: Path, video: str) -> Path:
    """Temporary folder in which ``video`` is written (hidden, same file system as the final one)."""
    return Path(output_root) / f"{PARTIAL_PREFIX}{video}"


def _png_stems(folder: Path) -> set[str]:
    return {p.stem for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".png"}


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
    folder = Path(output_root) / video
    if not folder.is_dir() or not frame_names:
        return False
    wanted = set(frame_names)
    if not per_obj_png_file:
        return wanted <= _png_stems(folder)
    obj_dirs = [d for d in folder.iterdir() if d.is_dir()]
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
    to ``out/vid`` (replacing an incomplete folder of that name). Leaving the block without
    :meth:`commit` (an exception, a failure) deletes the temporary folder.
    """

    def __init__(self, output_root: Path, video: str) -> None:
        if not video or "/" in video or video.startswith("."):
            raise ValueError(f"invalid video name for an output folder: {video!r}")
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
        if self.final.exists():
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
    """
    root = Path(output_root)
    zip_path = Path(zip_path)
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    temp = zip_path.with_name(f".{zip_path.name}.tmp")
    count = 0
    try:
        with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for video in sorted(videos):
                folder = root / video
                if not folder.is_dir():
                    raise FileNotFoundError(f"cannot zip video {video!r}: {folder} does not exist")
                for path in sorted(folder.rglob("*")):
                    if path.is_file():
                        archive.write(path, arcname=path.relative_to(root).as_posix())
                        count += 1
        os.replace(temp, zip_path)
    finally:
        if temp.exists():
            temp.unlink()
    return count
