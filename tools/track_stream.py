#!/usr/bin/env python
"""Track objects in a live source as its frames are decoded.

    python tools/track_stream.py --source VIDEO.mp4 --mask first.png --out OUT
    python tools/track_stream.py --source FOLDER --points 210,350 --points 250,220,0 --out OUT
    python tools/track_stream.py --source rtsp://cam/live --box 10,20,200,180 --out OUT \\
        --overlay OUT/overlay.mp4 --drop-late
    python tools/track_stream.py --source camera:0 --points 320,240 --out OUT --overlay live.mp4
    python tools/track_stream.py --source VIDEO.mp4 --points 210,350 --out OUT --model facebook/sam2.1-hiera-tiny

Sources: a video file (PyAV, ``pip install "sam2-rcms[video]"``), a folder of images (in
order; ``--follow`` keeps watching it for new images), an ``rtsp://`` (or http, udp, ...) URL,
or ``camera:N``. The first frame is prompted with ``--mask`` (a PNG of the first frame's size:
palette / grey values are object ids, a black-and-white mask is object 1), ``--points
X,Y[,LABEL]`` (repeatable; label 1 positive, 0 negative) and / or ``--box X0,Y0,X1,Y1`` (both
for ``--obj-id``, default 1), in frame pixels. The model is the embedded demo model unless
``--model ID`` (an official Hugging Face id) or ``--config`` / ``--checkpoint`` name another.

Outputs, written while it runs: ``OUT/masks/<frame>.png`` palette PNGs of object ids (each
written atomically; ``--png``, the default when there is no ``--overlay``), an overlay video
(``--overlay``; fragmented MP4, so even a killed run leaves a playable file), and
``OUT/summary.json`` at the end. A progress bar shows the live frames per second.

The masks are those of ``tools/vos_inference.py`` for the same video, prompt, model and policy
(post-processing off unless ``--apply-postprocessing``, as there).

``--drop-late`` keeps only the newest frame when frames arrive faster than they are tracked
(cameras, streams); by default every frame is tracked in order (files, folders).
Ctrl-C stops cleanly: every PNG written so far is complete, the overlay video is closed
properly, the summary says ``"interrupted": true`` (exit code 130).
Exit codes: 0 done, 1 a runtime error (named on stderr), 2 bad arguments, 130 interrupted.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from sam2.demo.assets import DEFAULT_CHECKPOINT_HELP, DEMO_CONFIG
from sam2.utils import cli

logger = logging.getLogger("track_stream")

# the shipped demo model (256 px); configs/sam2.1/sam2.1_hiera_demo.yaml is the 4x faster 128-px one
DEFAULT_CONFIG = DEMO_CONFIG


# ----------------------------------------------------------------------------------------
# arguments
# ----------------------------------------------------------------------------------------
def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", required=True, help="VIDEO.mp4, FOLDER, rtsp://... or camera:N")
    p.add_argument("--mask", type=Path, help="first-frame mask PNG (object ids)")
    p.add_argument("--points", type=cli.parse_click, action="append", default=[], metavar="X,Y[,LABEL]",
                   help="a click on the first frame (repeatable)")
    p.add_argument("--box", type=cli.parse_box, metavar="X0,Y0,X1,Y1", help="a box on the first frame")
    p.add_argument("--obj-id", type=int, default=1, help="object id of --points / --box (default 1)")
    cli.add_model_flags(p, config_default=DEFAULT_CONFIG, checkpoint_default=DEFAULT_CHECKPOINT_HELP)
    cli.add_device_flag(p)
    cli.add_output_flag(p, required=True)
    p.add_argument("--apply-postprocessing", action="store_true",
                   help="SAM 2 post-processing (hole filling, stability fallback), as the "
                        "--apply_postprocessing of tools/vos_inference.py (default: off, as there)")
    p.add_argument("--png", action="store_true", help="write per-frame PNGs (default without --overlay)")
    p.add_argument("--overlay", type=Path, help="overlay video to write (.mp4, .mkv, .mov)")
    p.add_argument("--overlay-fps", type=float, default=None,
                   help="frame rate of the overlay video (default: the source's, else 25)")
    p.add_argument("--drop-late", action="store_true",
                   help="keep only the newest frame when tracking falls behind")
    p.add_argument("--on-corrupt", choices=("skip", "error"), default="skip",
                   help="a corrupt frame is skipped and reported (default) or ends the run")
    p.add_argument("--follow", action="store_true", help="folders: keep watching for new images")
    p.add_argument("--idle-timeout", type=float, default=None,
                   help="--follow: stop after this many seconds without a new image")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    cli.add_progress_flag(p)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = p.parse_args(argv)
    args.argv = argv  # the command line, for the note that names the official model instead
    if args.mask is None and not args.points and args.box is None:
        p.error("give a first-frame prompt: --mask, --points or --box")
    if args.mask is not None and (args.points or args.box is not None):
        p.error("--mask cannot be combined with --points / --box")
    if not 1 <= args.obj_id <= 255:
        p.error(f"--obj-id {args.obj_id}: object ids are 1..255 (the value written in the PNGs)")
    if args.max_frames is not None and args.max_frames < 1:
        p.error("--max-frames must be >= 1")
    if args.overlay is not None and args.overlay.suffix.lower() not in (".mp4", ".mkv", ".mov"):
        p.error(f"--overlay {args.overlay}: use a .mp4, .mkv or .mov file")
    args.png = args.png or args.overlay is None
    return args


# ----------------------------------------------------------------------------------------
# prompts and outputs
# ----------------------------------------------------------------------------------------
def read_prompt_mask(path: Path, size: Tuple[int, int]) -> Dict[int, np.ndarray]:
    """Object masks of a first-frame PNG: ``{obj_id: [H, W] bool}``.

    Palette / grey PNGs: each non-zero value is an object id, except that a mask holding
    only 0 and 255 (or a 1-bit / RGB image) is one object, id 1.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            mode = img.mode
            arr = np.asarray(img.convert("L") if mode not in ("P", "L") else img).copy()
            if mode in ("RGB", "RGBA"):
                arr = (np.asarray(img.convert("RGB")).max(axis=-1) > 0).astype(np.uint8)
    except (FileNotFoundError, UnidentifiedImageError, OSError) as err:
        raise SystemExit(f"error: --mask {path}: cannot read the mask ({err})")
    width, height = size
    if arr.shape != (height, width):
        raise SystemExit(f"error: --mask {path} is {arr.shape[1]}x{arr.shape[0]} but the first frame "
                         f"of the source is {width}x{height}")
    values = [int(v) for v in np.unique(arr) if v != 0]
    if mode not in ("P",) and set(values) <= {255, 1}:
        values, arr = [1], (arr > 0).astype(np.uint8)
    if not values:
        raise SystemExit(f"error: --mask {path} is empty (no object pixel)")
    return {v: arr == v for v in values}


class OverlayWriter:
    """An overlay video written frame by frame with PyAV (H.264 when available, else MPEG-4).

    MP4 / MOV are written fragmented (``frag_keyframe+empty_moov``) so the part written so
    far plays even if the process dies; :meth:`close` flushes the encoder and closes the
    container properly.
    """

    def __init__(self, path: Path, width: int, height: int, fps: float) -> None:
        from sam2.video.sources.live_sources import require_av

        av = require_av(f"writing the overlay video {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        options = {}
        if path.suffix.lower() in (".mp4", ".mov"):
            options["movflags"] = "frag_keyframe+empty_moov+default_base_moof"
        self.path = path
        self._av = av
        self._container = av.open(str(path), "w", options=options)
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        rate = max(1, int(round(fps)))
        self._stream = self._container.add_stream(codec, rate=rate)
        # yuv420p needs even sizes: the picture is padded by one pixel where needed
        self.width, self.height = width + width % 2, height + height % 2
        self._stream.width, self._stream.height = self.width, self.height
        self._stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            self._stream.options = {"preset": "veryfast", "crf": "20"}
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        if rgb.shape[:2] != (self.height, self.width):
            rgb = np.pad(rgb, ((0, self.height - rgb.shape[0]), (0, self.width - rgb.shape[1]), (0, 0)),
                         mode="edge")
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        if self._container is None:
            return
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None


def _write_json(path: Path, payload: dict) -> None:
    from sam2.utils.atomic_files import atomic_write_bytes

    atomic_write_bytes(path, (json.dumps(payload, indent=2) + "\n").encode())


# ----------------------------------------------------------------------------------------
# the run
# ----------------------------------------------------------------------------------------
class _Rate:
    """Frames per second over a sliding window of the last ``window`` frames."""

    def __init__(self, window: int = 30) -> None:
        self.window = window
        self.times: List[float] = []

    def tick(self) -> float:
        self.times.append(time.perf_counter())
        self.times = self.times[-self.window:]
        if len(self.times) < 2:
            return 0.0
        return (len(self.times) - 1) / max(self.times[-1] - self.times[0], 1e-9)


def _build_predictor(args: argparse.Namespace):
    from sam2.build_sam import build_sam2_video_predictor
    from sam2.demo.assets import choose_tool_model, demo_model_notice

    device = cli.resolve_device(args.device)
    choice = choose_tool_model(args.model, args.config, args.checkpoint, DEFAULT_CONFIG)
    if choice.is_shipped_demo_model:
        print(demo_model_notice("tools/track_stream.py", getattr(args, "argv", [])), file=sys.stderr)
    # post-processing as tools/vos_inference.py's flag says (off by default): the same video,
    # prompt, model and policy give the same masks through every tool
    return build_sam2_video_predictor(choice.config, str(choice.checkpoint), device=device,
                                      apply_postprocessing=args.apply_postprocessing)


def _is_finite(source) -> bool:
    """Whether ``source`` is a file or a folder read once (its end will come), not a live one."""
    from sam2.video.sources.live_sources import AVSource, LiveFolderSource

    if isinstance(source, LiveFolderSource):
        return not source.follow
    return isinstance(source, AVSource) and not source.target.live


def _look_ahead(feed, limit: int) -> Tuple[Iterator, Optional[int]]:
    """``feed``'s frames, and the video's length when it ends within the first ``limit``
    frames (else ``None``). An error met while looking ahead is raised after the frames read
    before it, where it would have been raised without looking ahead."""
    ahead: List = []
    error: Optional[Exception] = None
    try:
        for frame in feed:
            ahead.append(frame)
            if len(ahead) >= limit:
                break
        else:
            return iter(ahead), (len(ahead) or None)
    except Exception as err:  # a corrupt frame (on_corrupt="error"), a size change, ...
        error = err

    def frames() -> Iterator:
        yield from ahead
        if error is not None:
            raise error
        yield from feed

    return frames(), None


def _prompt_first_frame(stream, args: argparse.Namespace):
    if args.mask is not None:
        result = None
        for obj_id, mask in read_prompt_mask(args.mask, stream.size).items():
            result = stream.add_mask(obj_id, mask)
        return result
    points = labels = None
    if args.points:
        points = [[x, y] for x, y, _ in args.points]
        labels = [lab for _, _, lab in args.points]
    if args.box is not None:
        return stream.add_box(args.obj_id, args.box, points=points, labels=labels)
    return stream.add_points(args.obj_id, points, labels)


def run(args: argparse.Namespace, source=None) -> int:
    """Track ``args.source`` (or the given live ``source``); returns the exit code.

    Before anything is opened: ``--output`` and ``--overlay`` may not be, hold or lie inside the
    source, the mask or the checkpoint, an existing ``--overlay`` outside ``--output`` is never
    replaced, and ``--output`` is locked for the run (exit code 2 otherwise).
    """
    from sam2.utils.output_lock import OutputLock, OutputLockedError
    from sam2.utils.safe_paths import UnsafePathError, check_output_folder, check_outputs_apart, describe_kind

    if args.mask is not None and describe_kind(args.mask) != "a regular file":  # a FIFO would block
        raise cli.ToolError(f"--mask: {args.mask} is {describe_kind(args.mask)}, not a regular file", cli.EXIT_USAGE)
    local_source = args.source if source is None and Path(args.source).exists() else None
    lock = OutputLock(args.output, "tools/track_stream.py")
    try:
        check_output_folder(args.output, "--output")
        check_outputs_apart({"--output": args.output, "--overlay": args.overlay},
                            {"--source": local_source, "--mask": args.mask, "--checkpoint": args.checkpoint})
        overlay = args.overlay
        if overlay is not None and (overlay.exists() or overlay.is_symlink()) and \
                Path(args.output).resolve() not in overlay.resolve().parents:
            raise UnsafePathError(f"--overlay {overlay}: the file exists and is not in --output "
                                  f"{args.output}; remove it or choose another --overlay")
        lock.acquire()
    except (UnsafePathError, OutputLockedError) as err:
        raise cli.ToolError(str(err), cli.EXIT_USAGE) from None
    try:
        return _run_locked(args, source)
    finally:
        lock.release()


def _run_locked(args: argparse.Namespace, source=None) -> int:
    from tqdm import tqdm

    from sam2.data.mose_layout import write_palette_png
    from sam2.data.palette import overlay_ids
    from sam2.inference.masks import resolve_labels
    from sam2.video.sources.live_feed import FrameFeed
    from sam2.video.sources.live_sources import LiveSourceError, MissingExtraError, open_live_source
    from sam2.video.tracking.stream import StreamFrameError, open_stream

    try:
        source = source if source is not None else open_live_source(
            args.source, on_corrupt=args.on_corrupt, follow=args.follow,
            idle_timeout=args.idle_timeout)
    except (LiveSourceError, MissingExtraError) as err:
        print(f"error: --source {args.source}: {err}", file=sys.stderr)
        return 1
    predictor = _build_predictor(args)
    feed = FrameFeed(source, policy="latest" if args.drop_late else "all", capacity=4)
    mask_dir = args.output / "masks"
    overlay: Optional[OverlayWriter] = None
    stream = None
    summary = {"source": str(args.source), "frames_tracked": 0, "dropped_frames": [],
               "skipped_frames": [], "interrupted": False, "error": None,
               "policy": feed.policy, "png_dir": str(mask_dir) if args.png else None,
               "overlay": str(args.overlay) if args.overlay else None}
    rate = _Rate()
    bar = tqdm(desc="tracking", unit="frame", disable=args.no_progress)
    code = 0
    started = time.perf_counter()
    last_log = started

    def emit(frame, result) -> None:
        nonlocal last_log
        ids = resolve_labels(result.logits, result.obj_ids, 0.0)
        if args.png:
            write_palette_png(mask_dir / f"{frame.name}.png", ids)
        if overlay is not None:
            overlay.write(overlay_ids(frame.image, ids))
        summary["frames_tracked"] += 1
        fps = rate.tick()
        bar.update(1)
        bar.set_postfix(fps=f"{fps:.1f}", dropped=len(feed.dropped), refresh=False)
        if args.no_progress and time.perf_counter() - last_log >= 2.0:
            last_log = time.perf_counter()
            logger.info("frame %s: %.1f fps, %d dropped", frame.name, fps, len(feed.dropped))

    try:
        # a file or folder shorter than the model's object-pointer window: its length bounds
        # that window, as when the same video is tracked offline (tools/vos_inference.py)
        limit = int(getattr(predictor, "max_obj_ptrs_in_encoder", 0))
        frames, num_frames = (_look_ahead(feed, limit) if _is_finite(source) and not args.drop_late
                              and limit > 0 else (iter(feed), None))
        try:
            first = next(frames)
        except StopIteration:
            raise LiveSourceError(f"{args.source} produced no frame") from None
        if args.png:
            mask_dir.mkdir(parents=True, exist_ok=True)
        if args.overlay is not None:
            fps = args.overlay_fps or _source_fps(source) or 25.0
            overlay = OverlayWriter(args.overlay, first.size[0], first.size[1], fps)
        stream = open_stream(predictor, first.image, num_frames=num_frames)
        emit(first, _prompt_first_frame(stream, args))
        for frame in frames:
            if args.max_frames is not None and summary["frames_tracked"] >= args.max_frames:
                break
            emit(frame, stream.push(frame))
    except KeyboardInterrupt:
        summary["interrupted"] = True
        code = 130
        logger.warning("interrupted: everything written so far is complete")
    except (LiveSourceError, StreamFrameError, ValueError, RuntimeError) as err:
        summary["error"] = str(err)
        code = 1
        print(f"error: {err}", file=sys.stderr)
    finally:
        bar.close()
        feed.close()
        if stream is not None:
            stream.close()
        if overlay is not None:
            overlay.close()
        elapsed = time.perf_counter() - started
        summary["dropped_frames"] = list(feed.dropped)
        summary["skipped_frames"] = [
            {"index": s.index, "frame": s.where, "reason": s.reason}
            for s in getattr(source, "skipped", [])]
        summary["seconds"] = round(elapsed, 3)
        summary["mean_fps"] = round(summary["frames_tracked"] / elapsed, 3) if elapsed > 0 else None
        args.output.mkdir(parents=True, exist_ok=True)
        _write_json(args.output / "summary.json", summary)
    logger.info("%d frames tracked (%.2f fps), %d dropped, %d skipped", summary["frames_tracked"],
                summary["mean_fps"] or 0.0, len(summary["dropped_frames"]),
                len(summary["skipped_frames"]))
    return code


def _source_fps(source) -> Optional[float]:
    """The frame rate a PyAV source advertises, if any (read from its open container)."""
    container = getattr(source, "_container", None)
    try:
        rate = container.streams.video[0].average_rate if container is not None else None
        return float(rate) if rate else None
    except Exception:
        return None


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    return run(args)


if __name__ == "__main__":
    sys.exit(cli.run_main(main))
