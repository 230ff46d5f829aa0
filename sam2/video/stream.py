"""Public import path of streaming (``open_stream`` / ``push`` on live frames); it lives in
:mod:`sam2.video.tracking.stream`."""
from sam2.video.tracking.stream import (
    StreamClosedError,
    StreamFrameError,
    StreamMasks,
    StreamPromptError,
    VideoStream,
    open_stream,
)

__all__ = ["StreamClosedError", "StreamFrameError", "StreamMasks", "StreamPromptError", "VideoStream",
           "open_stream"]
