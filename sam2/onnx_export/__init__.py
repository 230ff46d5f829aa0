"""Export of the SAM 2.1 tracker to ONNX (needs torch and the ``onnx`` extra).

See :func:`~sam2.onnx_export.exporter.export_tracker` and ``docs/onnx.md``; the graphs run
without torch through :class:`sam2.onnx.OnnxVideoTracker`.
"""
from sam2.onnx_export.exporter import FORMAT_VERSION, GRAPH_FILES, export_tracker, model_config, model_fingerprint
from sam2.onnx_export.fused_attention import ATTENTION_MODES
from sam2.onnx_export.graphs import UnsupportedModelError, check_exportable
from sam2.onnx_export.quantize import DEFAULT_INT8_GRAPHS, quantize_graph, quantize_graphs

__all__ = ["ATTENTION_MODES", "DEFAULT_INT8_GRAPHS", "FORMAT_VERSION", "GRAPH_FILES", "UnsupportedModelError", "check_exportable", "export_tracker",
           "model_config", "model_fingerprint", "quantize_graph", "quantize_graphs"]
