"""Photographs shipped inside installed packages, for the photographic synthetic videos.

Only files that ship in the packages' wheels are read (as image files, never through a
package's download helpers): scikit-image's ``skimage/data`` folder, scikit-learn's
``sklearn/datasets/images`` and matplotlib's ``mpl-data/sample_data``. Drawings, logos, charts and
tiny test images are not used. The photographs are split once, here, into a training set and a
held-out validation set (:data:`TRAIN_PHOTOS`, :data:`VAL_PHOTOS`, disjoint; the two views of the
motorcycle stay together), so a validation video never shows a photograph seen in training.

The packages are the ``train`` / ``dev`` extras: ``pip install "sam2-rcms[train]"``.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = [
    "PHOTO_CATALOGUE",
    "TRAIN_PHOTOS",
    "VAL_PHOTOS",
    "PhotoLibraryError",
    "Photo",
    "load_photos",
    "photo_names",
    "photo_path",
]

#: name -> (package, folder inside the package, file name)
PHOTO_CATALOGUE: dict[str, tuple[str, str, str]] = {
    "astronaut": ("skimage", "data", "astronaut.png"),
    "brick": ("skimage", "data", "brick.png"),
    "camera": ("skimage", "data", "camera.png"),
    "cell": ("skimage", "data", "cell.png"),
    "chelsea": ("skimage", "data", "chelsea.png"),
    "clock_motion": ("skimage", "data", "clock_motion.png"),
    "coffee": ("skimage", "data", "coffee.png"),
    "coins": ("skimage", "data", "coins.png"),
    "grass": ("skimage", "data", "grass.png"),
    "gravel": ("skimage", "data", "gravel.png"),
    "hubble_deep_field": ("skimage", "data", "hubble_deep_field.jpg"),
    "ihc": ("skimage", "data", "ihc.png"),
    "moon": ("skimage", "data", "moon.png"),
    "motorcycle_left": ("skimage", "data", "motorcycle_left.png"),
    "motorcycle_right": ("skimage", "data", "motorcycle_right.png"),
    "page": ("skimage", "data", "page.png"),
    "retina": ("skimage", "data", "retina.jpg"),
    "rocket": ("skimage", "data", "rocket.jpg"),
    "text": ("skimage", "data", "text.png"),
    "china": ("sklearn", "datasets/images", "china.jpg"),
    "flower": ("sklearn", "datasets/images", "flower.jpg"),
    "grace_hopper": ("matplotlib", "mpl-data/sample_data", "grace_hopper.jpg"),
}

#: Photographs never used by a training split (4 in colour, 2 grey; distinct scenes).
VAL_PHOTOS: tuple[str, ...] = ("coffee", "rocket", "flower", "grace_hopper", "gravel", "coins")

#: Every other photograph of the catalogue.
TRAIN_PHOTOS: tuple[str, ...] = tuple(n for n in PHOTO_CATALOGUE if n not in VAL_PHOTOS)

_EXTRA_HINT = 'pip install "sam2-rcms[train]" (scikit-image, scikit-learn and matplotlib ship the photographs)'


class PhotoLibraryError(RuntimeError):
    """A photograph's package or file is missing (names the package, file and extra to install)."""


@dataclass(frozen=True)
class Photo:
    """One photograph: ``pixels`` ``[H, W, 3]`` uint8 RGB (grey ones repeated), its ``name``."""

    name: str
    pixels: np.ndarray

    @property
    def grey(self) -> bool:
        """True for a photograph that has no colour."""
        return bool(np.array_equal(self.pixels[..., 0], self.pixels[..., 1]) and np.array_equal(self.pixels[..., 1], self.pixels[..., 2]))


def photo_names(split: str) -> tuple[str, ...]:
    """Names of the ``"train"`` or ``"val"`` photographs."""
    if split == "train":
        return TRAIN_PHOTOS
    if split == "val":
        return VAL_PHOTOS
    raise ValueError(f"photo split must be 'train' or 'val', got {split!r}")


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise PhotoLibraryError(f"the photographic mode needs the package {package!r}, which is not installed: {_EXTRA_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def photo_path(name: str) -> Path:
    """File of photograph ``name`` inside its installed package (raises :class:`PhotoLibraryError`)."""
    if name not in PHOTO_CATALOGUE:
        raise KeyError(f"unknown photograph {name!r}; known: {', '.join(sorted(PHOTO_CATALOGUE))}")
    package, folder, filename = PHOTO_CATALOGUE[name]
    path = _package_dir(package) / folder / filename
    if not path.is_file():
        raise PhotoLibraryError(f"{path}: photograph {name!r} is missing from the installed {package!r}: {_EXTRA_HINT}")
    return path


@functools.lru_cache(maxsize=None)
def _load(name: str) -> Photo:
    path = photo_path(name)
    try:
        with Image.open(path) as img:
            pixels = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except OSError as exc:
        raise PhotoLibraryError(f"{path}: cannot read photograph {name!r}: {exc}") from exc
    pixels.setflags(write=False)
    return Photo(name, pixels)


def load_photos(split: str) -> list[Photo]:
    """The photographs of ``split`` (``"train"`` / ``"val"``), decoded once per process."""
    return [_load(name) for name in photo_names(split)]
