"""Loading the four exported graphs with ONNX Runtime and checking that they belong together."""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["GraphError", "TrackerGraphs", "GRAPH_FILES", "FORMAT_VERSION", "import_onnxruntime"]

#: graph name -> file name (the exporter writes the same names)
GRAPH_FILES = {
    "image_encoder": "image_encoder.onnx",
    "prompt_decoder": "prompt_decoder.onnx",
    "track_step": "track_step.onnx",
    "memory_encoder": "memory_encoder.onnx",
}
#: graph protocol version this runtime understands
FORMAT_VERSION = "1"
_EXTRA_HINT = 'install the ONNX extra: pip install "sam2-rcms[onnx]"'


class GraphError(ValueError):
    """A graph folder that cannot drive a tracker (missing file, foreign or mismatched graph)."""


def import_onnxruntime():
    """``onnxruntime``, or an ``ImportError`` naming the extra to install."""
    try:
        import onnxruntime
    except ImportError as err:
        raise ImportError(f"onnxruntime is not installed; {_EXTRA_HINT}") from err
    return onnxruntime


class TrackerGraphs:
    """The four graphs of one exported model, as ONNX Runtime sessions.

    Args:
        onnx_dir: folder written by ``tools/export_onnx.py``.
        providers: ONNX Runtime execution providers (default: CPU).
        intra_op_threads: threads per graph (``None``: ONNX Runtime's default).
        graph_optimization: ONNX Runtime optimisation level name (``"all"``, ``"extended"``,
            ``"basic"``, ``"disabled"``).
        profile_dir: write ONNX Runtime's per-operator profiles there (see :meth:`end_profiling`).

    :attr:`seconds` accumulates the wall time spent in each graph.

    Raises:
        GraphError: a graph file is missing, is not a tracker graph, has another protocol
            version, or comes from another model than the others (``sam2.model_id``).
    """

    def __init__(self, onnx_dir: Union[str, os.PathLike], providers: Optional[Sequence[str]] = None,
                 intra_op_threads: Optional[int] = None, graph_optimization: str = "all",
                 profile_dir: Optional[Union[str, os.PathLike]] = None) -> None:
        ort = import_onnxruntime()
        folder = Path(onnx_dir)
        if not folder.is_dir():
            raise GraphError(f"onnx_dir {folder} is not a folder")
        levels = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
                  "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                  "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                  "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL}
        if graph_optimization not in levels:
            raise GraphError(f"graph_optimization={graph_optimization!r}: expected one of {', '.join(levels)}")
        options = ort.SessionOptions()
        options.graph_optimization_level = levels[graph_optimization]
        if intra_op_threads is not None:
            options.intra_op_num_threads = int(intra_op_threads)
        options.log_severity_level = 3
        if profile_dir is not None:
            Path(profile_dir).mkdir(parents=True, exist_ok=True)
            options.enable_profiling = True
        self.folder = folder
        self.sessions: Dict[str, Any] = {}
        self.metadata: Dict[str, Dict[str, str]] = {}
        self.seconds: Dict[str, float] = {name: 0.0 for name in GRAPH_FILES}
        for name, fname in GRAPH_FILES.items():
            path = folder / fname
            if profile_dir is not None:
                options.profile_file_prefix = str(Path(profile_dir) / name)
            if not path.is_file():
                raise GraphError(f"{path}: missing (export the model with tools/export_onnx.py)")
            session = ort.InferenceSession(str(path), sess_options=options,
                                           providers=list(providers or ["CPUExecutionProvider"]))
            meta = dict(session.get_modelmeta().custom_metadata_map)
            self._check(path, name, meta)
            self.sessions[name] = session
            self.metadata[name] = meta
        ids = {name: meta["sam2.model_id"] for name, meta in self.metadata.items()}
        configs = {meta["sam2.config"] for meta in self.metadata.values()}
        if len(set(ids.values())) != 1 or len(configs) != 1:
            detail = ", ".join(f"{GRAPH_FILES[n]}={i}" for n, i in ids.items())
            raise GraphError(f"{folder}: the graphs come from different models (sam2.model_id: {detail}); "
                             "export all four from one checkpoint")
        self.model_id: str = next(iter(ids.values()))
        self.config: Dict[str, Any] = json.loads(next(iter(configs)))

    @staticmethod
    def _check(path: Path, name: str, meta: Dict[str, str]) -> None:
        missing = [k for k in ("sam2.format", "sam2.graph", "sam2.model_id", "sam2.config") if k not in meta]
        if missing:
            raise GraphError(f"{path}: not a SAM 2 tracker graph (metadata lacks {', '.join(missing)})")
        if meta["sam2.graph"] != name:
            raise GraphError(f"{path}: holds the {meta['sam2.graph']!r} graph, expected {name!r}")
        if meta["sam2.format"] != FORMAT_VERSION:
            raise GraphError(f"{path}: graph protocol version {meta['sam2.format']!r}, this runtime "
                             f"reads version {FORMAT_VERSION!r}; re-export the model")

    def run(self, name: str, feeds: Dict[str, np.ndarray]) -> list:
        """Run graph ``name`` on ``feeds`` (input name -> array); returns its outputs in order."""
        start = time.perf_counter()
        out = self.sessions[name].run(None, feeds)
        self.seconds[name] += time.perf_counter() - start
        return out

    def end_profiling(self) -> Dict[str, float]:
        """Stop profiling and return the total microseconds per operator type over all graphs
        (empty unless built with ``profile_dir``)."""
        totals: Dict[str, float] = {}
        for session in self.sessions.values():
            path = session.end_profiling()
            if not path:
                continue
            for event in json.loads(Path(path).read_text()):
                op = event.get("args", {}).get("op_name")
                if event.get("cat") == "Node" and op:
                    totals[op] = totals.get(op, 0.0) + float(event.get("dur", 0))
        return dict(sorted(totals.items(), key=lambda kv: -kv[1]))

    def file_sizes(self) -> Dict[str, int]:
        """Bytes of each graph file."""
        return {name: (self.folder / fname).stat().st_size for name, fname in GRAPH_FILES.items()}
