"""Synthetic MOSE-style videos: a fast, deterministic stand-in for MOSEv2 data.

Each video is rendered in numpy (no GPU, no model) from ``(config.seed, video index)``, so a
video does not change when the number of videos changes. A scene holds:

* a textured background on a canvas larger than the frame, seen through a moving **camera**;
* **annotated objects** (ids ``1..n``, all visible on frame 0): textured, deforming shapes of
  several sizes (a few pixels up to about a third of the frame), bouncing around, rotating;
* **look-alike distractors**: unannotated (pixel value 0) copies of an annotated object's
  texture class, colours and shape family, moving on their own. MOSE annotates "the targets"
  and leaves look-alikes unannotated, so this is what we do; in **crowded** scenes several
  annotated objects also share one texture class (look-alikes among the targets);
* static **occluders** (textured pillars/walls, unannotated, drawn on top of everything);
* **disappearance/reappearance events** per annotated object: it leaves the frame and comes back
  (``"exit"``), or slides behind an occluder and shrinks so it is fully hidden (``"occluder"``),
  for a few frames; objects also hide each other by chance;
* **lighting changes**: a global gain and a drifting linear shading ramp.

Annotations are the visible pixels of each object after every layer is drawn, so they are
exact for every frame. Objects that appear only later (``late_entry_prob``) start off-screen.

API: :class:`SyntheticConfig`, :func:`generate_video` (in memory, returns :class:`SyntheticVideo`)
and :func:`write_synthetic_split` (MOSEv2 layout + ``meta.json``, written atomically as a whole).
With ``photographic > 0`` that fraction of the videos is rendered by
:class:`sam2.data.photo_scene.PhotoScene` instead: photographs shipped in installed packages as
backgrounds and textures, camera pan/zoom/shake, sweeping photo-textured occluders, motion blur,
lighting changes and JPEG artefacts (``photo_split`` picks the training or the held-out
photographs, :mod:`sam2.data.photo_library`).

Modules: :mod:`sam2.data.synthetic_config` (options, result types),
:mod:`sam2.data.synthetic_textures`, :mod:`sam2.data.synthetic_shapes`,
:mod:`sam2.data.synthetic_scene` (the procedural scene), :mod:`sam2.data.photo_library`,
:mod:`sam2.data.photo_effects`, :mod:`sam2.data.photo_scene` (the photographic scene).
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
from PIL import Image

from sam2.data.mose_layout import write_meta, write_palette_png
from sam2.utils.atomic_files import atomic_write_bytes
from sam2.data.palette import voc_palette
from sam2.data.photo_library import load_photos
from sam2.data.photo_scene import PhotoScene
from sam2.data.synthetic_config import ObjectEvent, SyntheticConfig, SyntheticVideo
from sam2.data.synthetic_scene import Scene
from sam2.data.synthetic_textures import TEXTURE_CLASSES
from sam2.utils.atomic_files import apply_new_file_mode
from sam2.utils.safe_paths import check_output_folder

logger = logging.getLogger(__name__)

SPLIT_MARKER = ".sam2-rcms-synthetic-split"
"""File written into every synthetic split: ``overwrite`` replaces only folders that hold it."""

__all__ = [
    "SPLIT_MARKER",
    "TEXTURE_CLASSES",
    "ObjectEvent",
    "SyntheticConfig",
    "SyntheticVideo",
    "generate_video",
    "is_photographic",
    "video_name",
    "write_synthetic_split",
]


def video_name(index: int) -> str:
    """Name of the ``index``-th synthetic video (``"synth0000"``, ...)."""
    return f"synth{index:04d}"


def is_photographic(config: SyntheticConfig, index: int) -> bool:
    """Whether video ``index`` is rendered in the photographic mode (a stream of its own, so the
    procedural videos do not depend on ``config.photographic``)."""
    if config.photographic <= 0.0:
        return False
    if config.photographic >= 1.0:
        return True
    return bool(np.random.default_rng([config.seed, index, 2]).random() < config.photographic)


def generate_video(config: SyntheticConfig, index: int) -> SyntheticVideo:
    """Render video ``index`` of the split described by ``config`` (deterministic).

    Returns:
        :class:`SyntheticVideo` with ``frames`` ``[T, H, W, 3]`` uint8 and ``annotations``
        ``[T, H, W]`` uint8.

    Raises:
        PhotoLibraryError: a photographic video is asked for and the packages holding the
            photographs (the ``train`` extra) are not installed.
    """
    scene: Scene
    if is_photographic(config, index):
        scene = PhotoScene(config, index, load_photos(config.photo_split))
    else:
        scene = Scene(config, index)
    T, (h, w) = config.num_frames, scene.size
    frames = np.empty((T, h, w, 3), dtype=np.uint8)
    annotations = np.empty((T, h, w), dtype=np.uint8)
    for t in range(T):
        frames[t], annotations[t] = scene.render(t)
    info = {
        "crowded": scene.crowded,
        "num_distractors": len(scene.distractors),
        "num_occluders": len(scene.occluders),
        "objects": {s.obj_id: {"texture": s.texture_class, "radius": round(s.radius, 2)} for s in scene.objects},
    }
    if isinstance(scene, PhotoScene):
        info["photos"] = sorted(scene.used)
    return SyntheticVideo(video_name(index), frames, annotations, scene.events, info)


def _meta_entry(video: SyntheticVideo) -> dict:
    present = video.annotations.reshape(video.annotations.shape[0], -1)
    objects = {}
    for obj_id, desc in video.info["objects"].items():
        visible = np.flatnonzero((present == obj_id).any(axis=1))
        if visible.size == 0:
            continue  # never visible: not a target
        objects[str(obj_id)] = {
            **desc,
            "first_frame": int(visible[0]),
            "num_visible_frames": int(visible.size),
            "events": [asdict(e) for e in video.events.get(obj_id, [])],
        }
    T, h, w = video.annotations.shape
    return {
        "length": int(T),
        "height": int(h),
        "width": int(w),
        "objects": objects,
        "crowded": video.info["crowded"],
        "num_distractors": video.info["num_distractors"],
        "num_occluders": video.info["num_occluders"],
        **({"photos": video.info["photos"]} if "photos" in video.info else {}),
    }


def write_synthetic_split(
    root: str | os.PathLike,
    config: SyntheticConfig,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Write a split in the MOSEv2 layout: ``root/JPEGImages``, ``root/Annotations``,
    ``root/meta.json``. The split is built in a temporary sibling folder and renamed into place,
    so ``root`` is either absent or complete.

    A marker file (:data:`SPLIT_MARKER`) in the split says it was written here: ``overwrite``
    replaces only such a folder (or an empty one), never a folder of someone else's files.

    Args:
        root: destination folder; must not exist (or be empty) unless ``overwrite``.
        config: generator options.
        overwrite: replace an existing ``root`` that holds a split written by this function.
        progress: show a tqdm bar.

    Returns:
        ``Path(root)``.
    """
    target = Path(root)
    check_output_folder(target, "synthetic split folder")
    if target.exists() and any(target.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{target}: exists and is not empty (pass overwrite=True)")
        if not (target / SPLIT_MARKER).is_file() or target.is_symlink():
            raise FileExistsError(
                f"{target}: exists and holds files not written by the synthetic split writer (no {SPLIT_MARKER}); "
                "it is not replaced: choose another folder, or move it away yourself")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        apply_new_file_mode(staging, is_dir=True)  # mkdtemp's folders are private (0700)
        palette = voc_palette()
        meta: dict[str, dict] = {}
        indices = range(config.num_videos)
        if progress:
            from tqdm import tqdm

            indices = tqdm(indices, desc="synthetic videos", unit="video")
        for index in indices:
            video = generate_video(config, index)
            for t in range(config.num_frames):
                buffer = io.BytesIO()
                Image.fromarray(video.frames[t]).save(buffer, format="JPEG", quality=config.jpeg_quality)
                atomic_write_bytes(staging / "JPEGImages" / video.name / f"{t:05d}.jpg", buffer.getvalue())
                write_palette_png(staging / "Annotations" / video.name / f"{t:05d}.png", video.annotations[t], palette)
            meta[video.name] = _meta_entry(video)
        write_meta(staging / "meta.json", meta)
        (staging / "JPEGImages").mkdir(exist_ok=True)
        (staging / "Annotations").mkdir(exist_ok=True)
        atomic_write_bytes(staging / SPLIT_MARKER, b"a synthetic split written by sam2.data.synthetic\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("wrote %d synthetic videos to %s", config.num_videos, target)
    return target
