"""Track one object through the user's own video (``python tools/demo.py --video PATH ...``).

The video is a folder of JPEG / PNG frames named by their numbers (the rules of
:mod:`sam2.data.frame_files`) or a video file (MP4 and the like, decoded with PyAV: the
``video`` extra); it is read, prompted and tracked as ``tools/vos_inference.py`` and
``tools/track_stream.py`` read it, so the three write the same masks. The object is
prompted on the first frame with clicks, a box or a mask, then tracked by the video
predictor (the shipped demo model by default, an official model by its Hugging Face id,
or any SAM 2.1 checkpoint and config, e.g. a MOSEv2 baseline), with RCMS on or off.
Outputs::

    OUT/masks/<frame>.png      per-frame masks (palette PNG, object id 1), one per frame, named
                               after the frame file (a video file: 00000.png, ...)
    OUT/overlay.gif | .mp4     the frames with the mask tinted and outlined

Every file is written atomically; an interrupted run (Ctrl-C) still leaves the masks of the
frames done and an overlay of those frames. The overlay is encoded frame by frame as the video is
tracked (memory does not grow with the video's length).

``OUT`` must be new, empty, or a folder this command wrote before (it holds the marker file
:data:`TRACK_MARKER`); it may not be, hold or lie inside the video, the mask or the checkpoint;
it is locked for the run (:class:`~sam2.utils.output_lock.OutputLock`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
from PIL import Image

from sam2.data.errors import DataFormatError
from sam2.demo.assets import ModelChoice, choose_model
from sam2.demo.overlay_video import OverlayVideo
from sam2.utils.output_lock import OutputLockedError, claim_and_lock
from sam2.utils.safe_paths import UnsafePathError, describe_kind
from sam2.data.frame_decode import IMAGE_ERRORS, to_rgb8
from sam2.utils.prompt_checks import CLICK_LABELS, PromptError, check_boxes, check_points, check_setting

logger = logging.getLogger(__name__)

__all__ = ["TRACK_MARKER", "TrackError", "TrackResult", "TrackSettings", "frame_names", "iter_video_frames",
           "track_video"]

TRACK_MARKER = ".sam2-rcms-demo-track"
"""Marker file of a ``tools/demo.py --video`` output folder (the command reuses only such folders)."""

_VIDEO_EXTRA = 'pip install "sam2-rcms[video]"'


class TrackError(RuntimeError):
    """Bad input or a failed run (the message names the file, frame or flag at fault)."""


@dataclass(frozen=True)
class TrackSettings:
    """Options of one tracking run.

    Attributes:
        video: folder of JPEG / PNG frames (sorted by integer name) or a video file.
        output_dir: receives ``masks/`` and the overlay.
        points: clicks ``(x, y, label)`` in video pixels on the first frame (label 1 = on the
            object, 0 = background).
        box: ``(x0, y0, x1, y1)`` in video pixels on the first frame.
        mask: a first-frame mask image (non-zero pixels = the object), the video's size.
        checkpoint, config: the model; None = the shipped demo model (the demo config, the
            shipped checkpoint of the config).
        model: an official Hugging Face id instead of ``checkpoint`` / ``config``.
        device: torch device name (``cuda`` / ``cpu``, ...).
        rcms: RCMS on (its published N and tau, RCMSPolicy's defaults) or plain SAM 2.1.
        apply_postprocessing: SAM 2 post-processing (hole filling, stability fallback), as
            ``tools/vos_inference.py --apply_postprocessing``; off by default, as there.
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
    config: Optional[str] = None
    model: Optional[str] = None
    device: str = "cpu"
    rcms: bool = True
    apply_postprocessing: bool = False
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
        # the library's prompt rules (sam2.utils.prompt_checks), clicks only on the command line
        if self.points:
            check_points([p[:2] for p in self.points], [p[2] for p in self.points], "--points",
                         allowed_labels=CLICK_LABELS)
        if self.box is not None:
            check_boxes(self.box, "--box")
        check_setting("--fps", "fps", self.fps, low=0.0, low_open=True)
        check_setting("--max-overlay-side", "max_overlay_side", self.max_overlay_side, low=1, integer=True)


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


def _frame_files(folder: Path) -> list[Path]:
    """The frames of a folder, as the video predictor and the inference tools list them."""
    from sam2.data.frame_files import list_video_frames

    try:
        return list_video_frames(folder)
    except DataFormatError as exc:
        raise TrackError(str(exc)) from None


def frame_names(video: Path, num_frames: int) -> list[str]:
    """Output names of the frames: the frame files' stems (a folder), else ``00000``, ...
    (a video file), as ``tools/track_stream.py`` names them."""
    video = Path(video)
    if video.is_dir():
        return [path.stem for path in _frame_files(video)]
    return [f"{index:05d}" for index in range(num_frames)]


def iter_video_frames(video: Path) -> Iterator[np.ndarray]:
    """The frames of ``video`` in order, each ``[H, W, 3]`` uint8 RGB at the video's size."""
    from sam2.video.sources.live_sources import av_frame_rgb

    video = Path(video)
    if video.is_dir():
        for path in _frame_files(video):
            try:
                with Image.open(path) as img:
                    yield np.asarray(to_rgb8(img, path))
            except IMAGE_ERRORS as exc:
                raise TrackError(f"{path}: cannot decode this frame ({exc})") from exc
        return
    if not video.is_file():
        raise TrackError(f"{video}: no such folder or video file")
    av = _require_av()
    try:
        with av.open(str(video)) as container:
            for frame in container.decode(video=0):
                yield av_frame_rgb(frame)
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


def _overlay_picture(rgb: np.ndarray, ids: np.ndarray, max_side: int) -> Image.Image:
    from sam2.data.palette import overlay_ids

    picture = Image.fromarray(overlay_ids(rgb, ids))
    scale = max_side / max(picture.size)
    if scale < 1:
        picture = picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))), Image.Resampling.BILINEAR)
    return picture


def model_choice(settings: TrackSettings) -> ModelChoice:
    """The model ``settings`` name (see :func:`sam2.demo.assets.choose_model`).

    Raises:
        TrackError: a bad choice or a checkpoint that cannot be had, named.
    """
    try:
        return choose_model(settings.model, settings.config, settings.checkpoint)
    except (ValueError, OSError, ImportError, RuntimeError) as exc:
        raise TrackError(str(exc)) from None


def _build_predictor(settings: TrackSettings, choice: Optional[ModelChoice] = None):
    from sam2.build_sam import build_sam2_video_predictor

    choice = choice if choice is not None else model_choice(settings)
    # RCMS with its published N and tau (RCMSPolicy's defaults, as in the held-out demo's
    # RCMS-on run), or plain SAM 2.1: a named policy, whatever the config names
    return build_sam2_video_predictor(choice.config, str(choice.checkpoint), device=settings.device,
                                      apply_postprocessing=settings.apply_postprocessing,
                                      memory_policy="rcms" if settings.rcms else "sam2.1")


def track_video(settings: TrackSettings, choice: Optional[ModelChoice] = None) -> TrackResult:
    """Prompt the object on the first frame and track it through the video (see module doc);
    ``choice`` is the model (default: :func:`model_choice` of ``settings``).

    Raises:
        TrackError: unreadable video or mask, a prompt outside the frame, a missing checkpoint
            or PyAV.
    """
    video = Path(settings.video)
    if video.is_file() or settings.overlay == "mp4":
        _require_av()
    out = Path(settings.output_dir)
    if settings.mask is not None and describe_kind(settings.mask) != "a regular file":  # a FIFO would block
        raise TrackError(f"--mask: {settings.mask} is {describe_kind(settings.mask)}, not a regular file")
    try:
        lock = claim_and_lock(out, "--output-dir", {"--video": video, "--mask": settings.mask,
                                                    "--checkpoint": settings.checkpoint},
                              TRACK_MARKER, "tools/demo.py --video")
    except (UnsafePathError, OutputLockedError) as exc:
        raise TrackError(str(exc)) from None
    try:
        return _track_locked(settings, choice, video, out)
    finally:
        lock.release()


def _track_locked(settings: TrackSettings, choice: Optional[ModelChoice], video: Path, out: Path) -> TrackResult:
    import torch

    from sam2.data import write_palette_png
    from sam2.data.palette import voc_palette
    from sam2.inference.masks import resolve_labels
    from sam2.video.sources.frame_source import FrameReadError

    masks_dir = out / "masks"
    masks_dir.mkdir(parents=True, exist_ok=True)
    overlay_path = out / f"overlay.{settings.overlay}"
    predictor = _build_predictor(settings, choice if choice is not None else model_choice(settings))
    try:
        state = predictor.init_state(str(video))
    except FrameReadError as exc:
        raise TrackError(str(exc)) from exc
    height, width = state.video_height, state.video_width
    with torch.inference_mode():
        if settings.mask is not None:
            predictor.add_new_mask(state, 0, 1, _read_mask(Path(settings.mask), (height, width)))
        else:
            points = np.array([[x, y] for x, y, _ in settings.points], dtype=np.float32) if settings.points else None
            labels = np.array([label for _, _, label in settings.points], dtype=np.int32) if settings.points else None
            box = np.array(settings.box, dtype=np.float32) if settings.box is not None else None
            try:  # the predictor checks the clicks against the first frame's size
                predictor.add_new_points_or_box(state, 0, 1, points=points, labels=labels, box=box)
            except PromptError as exc:
                raise TrackError(str(exc)) from None

    palette = voc_palette()
    names = frame_names(video, state.num_frames)
    overlay = OverlayVideo(overlay_path, settings.overlay, settings.fps)
    frames = iter_video_frames(video)
    tracked = 0
    interrupted = False
    outputs = predictor.propagate_in_video(state, progress=False)  # this run's own bar, below
    if settings.show_progress:
        from tqdm import tqdm

        outputs = tqdm(outputs, total=state.num_frames, desc="tracking", unit="frame")
    try:
        with torch.inference_mode():
            for frame_idx, obj_ids, masks in outputs:
                rgb = next(frames)
                ids = resolve_labels(masks, obj_ids, 0.0)  # the inference tools' rule
                write_palette_png(masks_dir / f"{names[frame_idx]}.png", ids, palette)
                overlay.add(_overlay_picture(rgb, ids, settings.max_overlay_side))
                tracked += 1
    except KeyboardInterrupt:
        interrupted = True
        logger.warning("interrupted after %d of %d frames: writing what is done", tracked, state.num_frames)
    finally:
        frames.close()
        overlay.finish()  # the frames done so far, also after an error or an interrupt
    if interrupted:
        raise KeyboardInterrupt
    return TrackResult(masks_dir=masks_dir, overlay=overlay_path, num_frames=state.num_frames, num_tracked=tracked)
