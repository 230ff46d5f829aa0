"""Track one object through the user's own video (``python tools/demo.py --video PATH ...``).

The video is a folder of JPEG frames or a video file (MP4 and the like, decoded with PyAV: the
``video`` extra). The object is prompted on the first frame with clicks, a box or a mask, then
tracked by the video predictor (the shipped demo model by default, or any SAM 2.1 checkpoint and
config, e.g. an official one or a MOSEv2 baseline), with RCMS on or off. Outputs::

    OUT/masks/00000.png ...    per-frame masks (palette PNG, object id 1), one per frame
    OUT/overlay.gif | .mp4     the frames with the mask tinted and outlined

Every file is written atomically; an interrupted run (Ctrl-C) still leaves the masks of the
frames done and an overlay of those frames.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np
from PIL import Image

from sam2.demo.assets import DEMO_CONFIG, resolve_checkpoint
from sam2.utils.atomic_files import atomic_output

logger = logging.getLogger(__name__)

__all__ = ["TrackError", "TrackResult", "TrackSettings", "iter_video_frames", "track_video"]

_VIDEO_EXTRA = 'pip install "sam2-rcms[video]"'
_JPEG_SUFFIXES = (".jpg", ".jpeg")


class TrackError(RuntimeError):
    """Bad input or a failed run (the message names the file, frame or flag at fault)."""


@dataclass(frozen=True)
class TrackSettings:
    """Options of one tracking run.

    Attributes:
        video: folder of JPEG frames (sorted by integer name) or a video file.
        output_dir: receives ``masks/`` and the overlay.
        points: clicks ``(x, y, label)`` in video pixels on the first frame (label 1 = on the
            object, 0 = background).
        box: ``(x0, y0, x1, y1)`` in video pixels on the first frame.
        mask: a first-frame mask image (non-zero pixels = the object), the video's size.
        checkpoint, config: the model; None / the demo config = the shipped demo model.
        rcms: RCMS on (its published N and tau, RCMSPolicy's defaults) or plain SAM 2.1.
        overlay: ``"gif"`` or ``"mp4"`` (the MP4 needs PyAV).
        fps: frame rate of the overlay.
        max_overlay_side: the overlay is scaled down so its longer side is at most this.
        show_progress: a tqdm bar over the frames.
    """

    video: Path
    output_dir: Path = Path("demo_track")
    points: tuple[tuple[float, float, int], ...] = ()
    box: Optional[tuple[float, float, float, float]] = None
    mask: Optional[Path] = None
    checkpoint: Optional[Path] = None
    config: str = DEMO_CONFIG
    rcms: bool = True
    overlay: str = "gif"
    fps: float = 8.0
    max_overlay_side: int = 480
    show_progress: bool = True

    def __post_init__(self) -> None:
        if not self.points and self.box is None and self.mask is None:
            raise ValueError("give a first-frame prompt: --points X,Y[,LABEL] ..., --box X0,Y0,X1,Y1 or --mask FILE")
        if self.mask is not None and (self.points or self.box is not None):
            raise ValueError("--mask cannot be combined with --points or --box")
        if self.overlay not in ("gif", "mp4"):
            raise ValueError(f"overlay must be 'gif' or 'mp4', got {self.overlay!r}")
        for x, y, label in self.points:
            if label not in (0, 1):
                raise ValueError(f"point ({x}, {y}) has label {label}; labels are 1 (object) or 0 (background)")
        if self.box is not None:
            x0, y0, x1, y1 = self.box
            if not (x1 > x0 and y1 > y0):
                raise ValueError(f"box {self.box} must have x1 > x0 and y1 > y0")
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")


@dataclass
class TrackResult:
    """What a run wrote: ``masks_dir`` (one PNG per tracked frame), ``overlay``, frame counts."""

    masks_dir: Path
    overlay: Path
    num_frames: int
    num_tracked: int
    interrupted: bool = False


def _require_av():
    try:
        import av
    except ImportError as exc:
        raise TrackError(f"reading or writing MP4 files needs PyAV: {_VIDEO_EXTRA}") from exc
    return av


def _jpeg_files(folder: Path) -> list[Path]:
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _JPEG_SUFFIXES]
    if not files:
        raise TrackError(f"{folder}: no JPEG frames (*.jpg, *.jpeg) in this folder")

    def key(path: Path) -> int:
        try:
            return int(path.stem)
        except ValueError:
            raise TrackError(f"{path}: frame names must be integers (00000.jpg, 00001.jpg, ...)") from None

    return sorted(files, key=key)


def iter_video_frames(video: Path) -> Iterator[np.ndarray]:
    """The frames of ``video`` in order, each ``[H, W, 3]`` uint8 RGB at the video's size."""
    video = Path(video)
    if video.is_dir():
        for path in _jpeg_files(video):
            try:
                with Image.open(path) as img:
                    yield np.asarray(img.convert("RGB"))
            except OSError as exc:
                raise TrackError(f"{path}: cannot decode this frame ({exc})") from exc
        return
    if not video.is_file():
        raise TrackError(f"{video}: no such folder or video file")
    av = _require_av()
    try:
        with av.open(str(video)) as container:
            for frame in container.decode(video=0):
                yield np.asarray(frame.to_image().convert("RGB"))
    except av.FFmpegError as exc:
        raise TrackError(f"{video}: cannot decode this video ({exc})") from exc


def _read_mask(path: Path, size: tuple[int, int]) -> np.ndarray:
    try:
        with Image.open(path) as img:
            arr = np.asarray(img)
    except OSError as exc:
        raise TrackError(f"{path}: cannot read the first-frame mask ({exc})") from exc
    if arr.ndim == 3:
        arr = arr[..., :3].max(axis=2)
    if arr.shape != size:
        raise TrackError(f"{path}: mask is {arr.shape[1]}x{arr.shape[0]} but the video is {size[1]}x{size[0]}")
    mask = arr > 0
    if not mask.any():
        raise TrackError(f"{path}: the first-frame mask is empty")
    return mask


def _overlay_picture(rgb: np.ndarray, mask: np.ndarray, max_side: int) -> Image.Image:
    from sam2.demo.visualize import overlay_ids

    picture = Image.fromarray(overlay_ids(rgb, mask.astype(np.uint8)))
    scale = max_side / max(picture.size)
    if scale < 1:
        picture = picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))), Image.Resampling.BILINEAR)
    return picture


def _write_overlay(pictures: Sequence[Image.Image], path: Path, fps: float) -> None:
    """Write ``pictures`` as an animated GIF or an MP4 at ``path``, atomically."""
    with atomic_output(path) as tmp:
        if path.suffix == ".gif":
            pictures[0].save(tmp, save_all=True, append_images=list(pictures[1:]), duration=int(round(1000 / fps)), loop=0)
        else:
            av = _require_av()
            with av.open(tmp, mode="w", format="mp4") as container:
                stream = container.add_stream("mpeg4", rate=int(round(fps)))
                width, height = pictures[0].size
                stream.width, stream.height = width - width % 2, height - height % 2
                stream.pix_fmt = "yuv420p"
                for picture in pictures:
                    frame = av.VideoFrame.from_image(picture.crop((0, 0, stream.width, stream.height)))
                    for packet in stream.encode(frame):
                        container.mux(packet)
                for packet in stream.encode():
                    container.mux(packet)


def _build_predictor(settings: TrackSettings):
    from sam2.build_sam import build_sam2_video_predictor

    try:
        checkpoint = resolve_checkpoint(settings.checkpoint, settings.config)
    except (ValueError, FileNotFoundError) as exc:
        raise TrackError(str(exc)) from None
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    # RCMS with its published N and tau (RCMSPolicy's defaults, as in the held-out demo's
    # RCMS-on run), or plain SAM 2.1: a named policy, whatever the config names
    return build_sam2_video_predictor(settings.config, str(checkpoint), device=device,
                                      memory_policy="rcms" if settings.rcms else "sam2.1")


def track_video(settings: TrackSettings) -> TrackResult:
    """Prompt the object on the first frame and track it through the video (see module doc).

    Raises:
        TrackError: unreadable video or mask, a prompt outside the frame, a missing checkpoint
            or PyAV.
    """
    import torch

    from sam2.data import write_palette_png
    from sam2.data.palette import voc_palette
    from sam2.video.frame_source import FrameReadError

    video = Path(settings.video)
    if video.is_file() or settings.overlay == "mp4":
        _require_av()
    out = Path(settings.output_dir)
    masks_dir = out / "masks"
    masks_dir.mkdir(parents=True, exist_ok=True)
    overlay_path = out / f"overlay.{settings.overlay}"
    predictor = _build_predictor(settings)
    try:
        state = predictor.init_state(str(video))
    except FrameReadError as exc:
        raise TrackError(str(exc)) from exc
    height, width = state.video_height, state.video_width
    with torch.inference_mode():
        if settings.mask is not None:
            predictor.add_new_mask(state, 0, 1, _read_mask(Path(settings.mask), (height, width)))
        else:
            for x, y, _ in settings.points:
                if not (0 <= x < width and 0 <= y < height):
                    raise TrackError(f"point ({x}, {y}) is outside the {width}x{height} first frame")
            points = np.array([[x, y] for x, y, _ in settings.points], dtype=np.float32) if settings.points else None
            labels = np.array([label for _, _, label in settings.points], dtype=np.int32) if settings.points else None
            box = np.array(settings.box, dtype=np.float32) if settings.box is not None else None
            predictor.add_new_points_or_box(state, 0, 1, points=points, labels=labels, box=box)

    palette = voc_palette()
    pictures: list[Image.Image] = []
    frames = iter_video_frames(video)
    tracked = 0
    interrupted = False
    outputs = predictor.propagate_in_video(state)
    if settings.show_progress:
        from tqdm import tqdm

        outputs = tqdm(outputs, total=state.num_frames, desc="tracking", unit="frame")
    try:
        with torch.inference_mode():
            for frame_idx, obj_ids, masks in outputs:
                rgb = next(frames)
                mask = (masks[list(obj_ids).index(1), 0] > 0).cpu().numpy()
                write_palette_png(masks_dir / f"{frame_idx:05d}.png", mask.astype(np.uint8), palette)
                pictures.append(_overlay_picture(rgb, mask, settings.max_overlay_side))
                tracked += 1
    except KeyboardInterrupt:
        interrupted = True
        logger.warning("interrupted after %d of %d frames: writing what is done", tracked, state.num_frames)
    finally:
        frames.close()
        if pictures:
            _write_overlay(pictures, overlay_path, settings.fps)
    if interrupted:
        raise KeyboardInterrupt
    return TrackResult(masks_dir=masks_dir, overlay=overlay_path, num_frames=state.num_frames, num_tracked=tracked)
