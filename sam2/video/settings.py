"""Public import path of the video predictor's settings; they live in
:mod:`sam2.video.tracking.settings`."""
from sam2.video.tracking.settings import VideoSettings, resolve_video_settings

__all__ = ["VideoSettings", "resolve_video_settings"]
