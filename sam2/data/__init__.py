"""Data access for MOSEv2-style splits: layout reader/writer, palette, synthetic generator.

See :mod:`sam2.data.mose_layout` for the reader API (``MoseSplit``, ``write_palette_png``, ...),
:mod:`sam2.data.palette` for ``voc_palette`` and :mod:`sam2.data.synthetic` for the generator.
"""

from sam2.data.mose_layout import (
    DataFormatError,
    MoseSplit,
    SplitMeta,
    VideoMeta,
    list_frame_files,
    list_video_frames,
    read_index_png,
    read_meta,
    read_rgb,
    read_video_list,
    write_meta,
    write_palette_png,
)
from sam2.data.palette import voc_palette
from sam2.data.synthetic import SyntheticConfig, SyntheticVideo, generate_video, write_synthetic_split

__all__ = [
    "DataFormatError",
    "MoseSplit",
    "SplitMeta",
    "SyntheticConfig",
    "SyntheticVideo",
    "VideoMeta",
    "generate_video",
    "list_frame_files",
    "list_video_frames",
    "read_index_png",
    "read_meta",
    "read_rgb",
    "read_video_list",
    "voc_palette",
    "write_meta",
    "write_palette_png",
    "write_synthetic_split",
]
