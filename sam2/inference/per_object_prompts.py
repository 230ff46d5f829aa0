"""Prompts from per-object annotation folders (the SA-V layout of the official ``vos_inference.py``).

Layout: ``<input_mask_dir>/<video>/<obj_id:03d>/<frame>.png``, one binary PNG per object and
annotated frame (any non-zero pixel is the object; palette or grey PNGs). Objects may overlap.

Prompt selection follows the official tool's ``--per_obj_png_file`` rules:

* default: the first annotated frame; every object folder must hold a PNG for it (an empty mask is
  still a prompt);
* ``use_all_masks``: every annotated frame, and every object folder must hold each of them;
* ``track_object_appearing_later_in_video``: per object, its first non-empty mask (all its
  non-empty masks with ``use_all_masks``).

A missing file, a non-integer object folder or a mask of the wrong size is a
:class:`~sam2.data.mose_layout.DataFormatError` naming the file.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sam2.data.mose_layout import DataFormatError, list_frame_files, read_index_png
from sam2.data.palette import voc_palette
from sam2.inference.masks import check_object_ids

from sam2.inference.prompt_records import RunnerSettings, VideoPrompts

if TYPE_CHECKING:  # pragma: no cover
    from sam2.data.mose_layout import MoseSplit

LATER_FLAG = "--track_object_appearing_later_in_video"


def object_folders(split: "MoseSplit", video: str) -> dict[int, Path]:
    """``{obj_id: folder}`` of a per-object annotation layout; empty when the video uses label PNGs."""
    root = None if split.ann_root is None else split.ann_root / video
    if root is None or not root.is_dir():
        return {}
    folders = [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    found: dict[int, Path] = {}
    for folder in folders:
        if not folder.name.isdigit():
            raise DataFormatError(folder, "per-object annotation folders must be named by the object id (e.g. 001)")
        found[int(folder.name)] = folder
    check_object_ids(list(found), str(root))
    return found


def _read_binary(path: Path, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    values, palette = read_index_png(path, expected_size=size, allow_grayscale=True)
    return values > 0, palette


def read_per_object_prompts(split: "MoseSplit", video: str, settings: "RunnerSettings") -> "VideoPrompts":
    """Collect the prompt masks of ``video`` from its per-object folders (see the module docstring)."""
    folders = object_folders(split, video)
    frame_names = split.frames(video)
    position = {name: idx for idx, name in enumerate(frame_names)}
    size = split.frame_size(video)
    files: dict[int, dict[int, Path]] = {}  # obj_id -> frame_idx -> PNG
    for obj_id, folder in folders.items():
        files[obj_id] = {}
        for png in list_frame_files(folder, (".png",)):
            if png.stem not in position:
                raise DataFormatError(png, "annotation has no matching frame")
            files[obj_id][position[png.stem]] = png
    annotated = sorted({t for per_obj in files.values() for t in per_obj})
    if not annotated:
        raise DataFormatError(split.ann_root / video, "no annotation PNG in any object folder")
    prompts = VideoPrompts(frame_names, size[0], size[1], voc_palette())
    palette_set = False

    def take(obj_id: int, frame_idx: int) -> np.ndarray:
        nonlocal palette_set
        path = files[obj_id].get(frame_idx)
        if path is None:
            expected = folders[obj_id] / f"{frame_names[frame_idx]}.png"
            raise DataFormatError(
                expected, f"missing: object {obj_id} has no mask on this annotated frame; use {LATER_FLAG} "
                "for videos whose objects are not all annotated on the same frames")
        mask, palette = _read_binary(path, size)
        if not palette_set:
            prompts.palette, palette_set = palette, True
        return mask

    if settings.track_object_appearing_later_in_video:
        for obj_id in sorted(files):
            for frame_idx in sorted(files[obj_id]):
                mask = take(obj_id, frame_idx)
                if not mask.any() or (obj_id in prompts.start and not settings.use_all_masks):
                    continue
                prompts.start.setdefault(obj_id, frame_idx)
                prompts.masks.setdefault(frame_idx, {})[obj_id] = mask
        if not prompts.start:
            raise DataFormatError(split.ann_root / video, "every per-object mask is empty")
        return prompts
    frames = annotated if settings.use_all_masks else annotated[:1]
    for frame_idx in frames:
        for obj_id in sorted(files):
            prompts.start.setdefault(obj_id, frame_idx)
            prompts.masks.setdefault(frame_idx, {})[obj_id] = take(obj_id, frame_idx)
    return prompts
