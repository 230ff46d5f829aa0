"""Pictures of one demo video: ground truth and predictions overlaid, RCMS promotions marked.

Each rendered frame is a row of panels (ground truth, RCMS off, RCMS on). On the RCMS-on panel a
red border marks the frame where an object's first disappearance triggered RCMS, an orange border
marks frames that RCMS promoted into conditioning memory, and from the trigger on a caption lists
the promoted frames the model now keeps. The GIF shows every frame; the strip (PNG) a handful of
them, chosen to include the trigger and the promoted frames.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from sam2.data import list_frame_files, read_index_png, read_rgb
from sam2.data.palette import overlay_ids
from sam2.utils.atomic_files import atomic_output

_TITLE_H = 14
_CAPTION_H = 14
_BORDER = 3
_GAP = 4
_TRIGGER_RGB = (230, 40, 40)
_PROMOTED_RGB = (255, 150, 0)
_BG_RGB = (24, 24, 24)
_TEXT_RGB = (235, 235, 235)


@dataclass
class PolicyMarks:
    """What the memory policy did in one video, indexed by frame (RCMS triggers and promotions,
    other policies' notes).

    Attributes:
        triggers: frame index -> object ids whose first disappearance happened there.
        promoted: frame index -> ``(object id, quality)`` pairs promoted from that frame.
        trigger_of: object id -> its trigger frame (promotions become visible from there).
    """

    triggers: dict[int, list[int]] = field(default_factory=dict)
    promoted: dict[int, list[tuple[int, float]]] = field(default_factory=dict)
    trigger_of: dict[int, int] = field(default_factory=dict)
    #: frame index -> short notes of other memory policies (SAMURAI's motion choices and
    #: frames kept out of memory; DAM4SAM's DRM anchors are shown as promotions)
    notes: dict[int, list[str]] = field(default_factory=dict)

    @property
    def num_promoted(self) -> int:
        """Number of (frame, object) promotions."""
        return sum(len(v) for v in self.promoted.values())

    def kept_before(self, frame_idx: int) -> list[tuple[int, int]]:
        """``(object id, frame)`` promotions already in effect at ``frame_idx`` (sorted)."""
        out = []
        for frame, entries in self.promoted.items():
            for obj_id, _q in entries:
                if self.trigger_of.get(obj_id, 1 << 30) <= frame_idx:
                    out.append((obj_id, frame))
        return sorted(out)


def read_policy_marks(record_file: Optional[Path]) -> PolicyMarks:
    """Parse a record written by the inference tool's ``--policy_record_dir`` (absent file: no marks).

    The file holds ``{"video": ..., "objects": {"<id>": [{"trigger_frame", "promoted_frames",
    "qualities"}, ...]}}``.
    """
    marks = PolicyMarks()
    if record_file is None or not Path(record_file).is_file():
        return marks
    try:
        payload = json.loads(Path(record_file).read_text(encoding="utf-8"))
        objects = payload["objects"]
        for key, events in objects.items():
            obj_id = int(key)
            for event in events:
                if "trigger_frame" not in event:
                    _read_policy_event(marks, obj_id, event)
                    continue
                trigger = int(event["trigger_frame"])
                marks.triggers.setdefault(trigger, []).append(obj_id)
                marks.trigger_of.setdefault(obj_id, trigger)
                frames = [int(f) for f in event.get("promoted_frames", [])]
                qualities = [float(q) for q in event.get("qualities", [])] or [float("nan")] * len(frames)
                for frame, quality in zip(frames, qualities):
                    marks.promoted.setdefault(frame, []).append((obj_id, quality))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{record_file}: not a valid policy record ({exc})") from exc
    return marks


def _read_policy_event(marks: PolicyMarks, obj_id: int, event: dict) -> None:
    """One per-frame record of SAMURAI (``branch``), DAM4SAM (``anchor``) or SAM2Long
    (``survivors``)."""
    frame = int(event["frame"])
    if "survivors" in event:  # SAM2Long: pathways diverge, or the best one changes branch
        if event.get("mode") == "diverse":
            marks.notes.setdefault(frame, []).append(f"obj{obj_id} diverse pathways")
        parent = event["survivors"][0].get("parent_slot") if event["survivors"] else None
        if parent not in (None, 0):
            marks.notes.setdefault(frame, []).append(f"obj{obj_id} best pathway from #{parent}")
    if event.get("anchor"):  # DAM4SAM: the frame joins the distractor-resolving memory
        marks.trigger_of.setdefault(obj_id, frame)
        marks.promoted.setdefault(frame, []).append((obj_id, float(event.get("iou", float("nan")))))
    if "branch" in event:  # SAMURAI
        ious = event.get("ious") or []
        if ious and event["chosen"] != int(np.argmax(ious)):
            marks.notes.setdefault(frame, []).append(f"obj{obj_id} motion pick #{event['chosen']}")
        if event.get("valid") is False:
            marks.notes.setdefault(frame, []).append(f"obj{obj_id} not in memory")


def _font() -> ImageFont.ImageFont:
    return ImageFont.load_default()


def _panel(picture: np.ndarray, title: str, border: Optional[tuple[int, int, int]], caption: str) -> Image.Image:
    h, w = picture.shape[:2]
    canvas = Image.new("RGB", (w + 2 * _BORDER, h + 2 * _BORDER + _TITLE_H + _CAPTION_H), _BG_RGB)
    draw = ImageDraw.Draw(canvas)
    draw.text((_BORDER, 1), title, fill=_TEXT_RGB, font=_font())
    if border is not None:
        draw.rectangle([0, _TITLE_H, w + 2 * _BORDER - 1, _TITLE_H + h + 2 * _BORDER - 1], fill=border)
    canvas.paste(Image.fromarray(picture), (_BORDER, _TITLE_H + _BORDER))
    if caption:
        draw.text((_BORDER, _TITLE_H + h + 2 * _BORDER + 1), caption, fill=_TEXT_RGB, font=_font())
    return canvas


def _hstack(images: Sequence[Image.Image], gap: int = _GAP) -> Image.Image:
    width = sum(im.width for im in images) + gap * (len(images) - 1)
    height = max(im.height for im in images)
    out = Image.new("RGB", (width, height), _BG_RGB)
    x = 0
    for im in images:
        out.paste(im, (x, 0))
        x += im.width + gap
    return out


def _vstack(images: Sequence[Image.Image], gap: int = _GAP) -> Image.Image:
    width = max(im.width for im in images)
    height = sum(im.height for im in images) + gap * (len(images) - 1)
    out = Image.new("RGB", (width, height), _BG_RGB)
    y = 0
    for im in images:
        out.paste(im, (0, y))
        y += im.height + gap
    return out


@dataclass(frozen=True)
class VideoSources:
    """Where one video's frames, ground truth and predictions are.

    Attributes:
        frames: folder of ``<frame>.jpg``.
        annotations: folder of ground-truth ``<frame>.png``.
        predictions: ``{panel title: folder of predicted <frame>.png}``, in panel order; the panel
            titled ``rcms_panel`` gets the RCMS marks.
        rcms_panel: title of the panel showing the RCMS-on run (or None).
    """

    frames: Path
    annotations: Path
    predictions: Mapping[str, Path]
    rcms_panel: Optional[str] = None


def render_frame(sources: VideoSources, frame_idx: int, frame_name: str, marks: PolicyMarks) -> Image.Image:
    """One frame as a row of panels: ground truth, then each prediction folder.

    Args:
        sources: the video's folders.
        frame_idx: position of the frame in the video (RCMS records use positions).
        frame_name: file stem of the frame (``00012``).
        marks: the memory policy's marks of the video.

    Returns:
        An RGB ``PIL.Image``.
    """
    rgb = read_rgb(sources.frames / f"{frame_name}.jpg")
    size = rgb.shape[:2]
    gt_path = sources.annotations / f"{frame_name}.png"
    gt_ids = read_index_png(gt_path, expected_size=size)[0] if gt_path.is_file() else np.zeros(size, np.uint8)
    panels = [_panel(overlay_ids(rgb, gt_ids.astype(np.int64)), f"ground truth  #{frame_idx}", None, "")]
    for title, folder in sources.predictions.items():
        pred_path = folder / f"{frame_name}.png"
        if not pred_path.is_file():
            raise FileNotFoundError(f"{pred_path}: prediction frame missing")
        ids = read_index_png(pred_path, expected_size=size)[0].astype(np.int64)
        border, caption = None, ""
        if title == sources.rcms_panel:
            caption = _marks_caption(marks, frame_idx)
            if frame_idx in marks.promoted:
                border = _PROMOTED_RGB
            if frame_idx in marks.triggers:
                border = _TRIGGER_RGB
        panels.append(_panel(overlay_ids(rgb, ids), title, border, caption))
    return _hstack(panels)


def _marks_caption(marks: PolicyMarks, frame_idx: int) -> str:
    if frame_idx in marks.notes and frame_idx not in marks.triggers:
        return ", ".join(marks.notes[frame_idx][:2])
    if frame_idx in marks.triggers:
        objs = ",".join(str(o) for o in marks.triggers[frame_idx])
        return f"obj {objs} lost: RCMS fires"
    if frame_idx in marks.promoted:
        entries = " ".join(f"obj{o} q={q:.2f}" for o, q in marks.promoted[frame_idx])
        return f"promoted: {entries}"
    kept = marks.kept_before(frame_idx)
    if not kept:
        return ""
    frames_of: dict[int, list[int]] = {}
    for obj_id, frame in kept:  # sorted by object, then frame
        frames_of.setdefault(obj_id, []).append(frame)
    groups = [f"obj{o} " + " ".join(f"#{f}" for f in frames) for o, frames in frames_of.items()]
    text = "kept: " + ", ".join(groups[:3])
    return text + (" ..." if len(groups) > 3 else "")


def strip_frame_indices(num_frames: int, marks: PolicyMarks, count: int = 8) -> list[int]:
    """Frames for the strip: the trigger and promoted frames first, then evenly spaced ones.

    Args:
        num_frames: frames in the video.
        marks: the video's policy marks.
        count: how many frames to show (at most ``num_frames``).

    Returns:
        Sorted distinct frame indices.
    """
    count = max(1, min(count, num_frames))
    chosen: set[int] = set()
    for frame in sorted(marks.triggers) + sorted(marks.promoted):
        if len(chosen) < count // 2 and 0 <= frame < num_frames:
            chosen.add(frame)
    spaced = np.linspace(0, num_frames - 1, num=count - len(chosen)).round().astype(int).tolist()
    chosen.update(int(f) for f in spaced)
    # rounding or RCMS frames may collide with spaced ones: fill with the frames farthest from the chosen
    while len(chosen) < count:
        free = [f for f in range(num_frames) if f not in chosen]
        chosen.add(max(free, key=lambda f: (min(abs(f - c) for c in chosen), -f)))
    return sorted(chosen)


def _atomic_save(image: Image.Image, path: Path, **save_kwargs) -> None:
    with atomic_output(path) as tmp:
        image.save(tmp, **save_kwargs)


def _legend(width: int, title: str) -> Image.Image:
    band = Image.new("RGB", (width, 2 * _TITLE_H + 4), _BG_RGB)
    draw = ImageDraw.Draw(band)
    draw.text((4, 2), title, fill=_TEXT_RGB, font=_font())
    draw.rectangle([4, _TITLE_H + 4, 14, _TITLE_H + 14], fill=_TRIGGER_RGB)
    draw.text((18, _TITLE_H + 3), "object lost, RCMS fires", fill=_TEXT_RGB, font=_font())
    draw.rectangle([168, _TITLE_H + 4, 178, _TITLE_H + 14], fill=_PROMOTED_RGB)
    draw.text((182, _TITLE_H + 3), "frame promoted to conditioning memory", fill=_TEXT_RGB, font=_font())
    return band


def write_video_pictures(
    sources: VideoSources,
    marks: PolicyMarks,
    gif_path: Path,
    strip_path: Path,
    title: str = "",
    strip_count: int = 8,
    frame_ms: int = 180,
    progress: bool = False,
) -> tuple[Path, Path]:
    """Write the animated GIF (every frame) and the PNG strip (``strip_count`` frames, one per row).

    Args:
        sources: the video's folders.
        marks: policy marks (from :func:`read_policy_marks`).
        gif_path, strip_path: outputs (written atomically).
        title: text of the legend band on top of both pictures.
        strip_count: rows of the strip.
        frame_ms: GIF frame duration.
        progress: show a tqdm bar.

    Returns:
        ``(gif_path, strip_path)``.
    """
    from tqdm import tqdm

    from sam2.demo.overlay_video import OverlayVideo

    names = [p.stem for p in list_frame_files(sources.frames)]
    if not names:
        raise FileNotFoundError(f"{sources.frames}: no frames to render")
    strip_indices = list(strip_frame_indices(len(names), marks, strip_count))
    kept: dict[int, Image.Image] = {}  # only the strip's frames stay in memory
    legend = None
    gif = OverlayVideo(gif_path, "gif", 1000.0 / frame_ms)
    try:
        for idx, name in enumerate(tqdm(names, desc="pictures", unit="frame", disable=not progress)):
            picture = render_frame(sources, idx, name, marks)
            if legend is None:
                legend = _legend(picture.width, title)
            gif.add(_vstack([legend, picture], gap=0))
            if idx in strip_indices:
                kept[idx] = picture
    except BaseException:
        gif.discard()
        raise
    gif.finish()
    _atomic_save(_vstack([legend] + [kept[i] for i in strip_indices]), Path(strip_path), optimize=True)
    return Path(gif_path), Path(strip_path)
