"""Int8 weights for exported graphs, through ONNX Runtime's dynamic quantisation.

:func:`quantize_graph` rewrites one exported graph so that the matrix products with a constant
weight (``MatMul`` with an initializer or constant as second input, and ``Gemm``) use int8
weights and activations quantised on the fly (``onnxruntime.quantization.quantize_dynamic``).
Products of two activations (attention scores) stay float32: quantising a softmax per tensor
loses most of it. The graph's metadata is kept and ``sam2.quantized`` is added, so the
tracker accepts the graph as part of the same model.

Which graphs to quantise is a quality decision, measured by ``benchmarks/onnx_speed.py``: on the
shipped demo model the image encoder in int8 costs little (mask IoU 0.98 with the float32
graphs), while the tracking step in int8 moves masks much more (IoU about 0.8), so
:data:`DEFAULT_INT8_GRAPHS` is the image encoder only.
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import List, Sequence, Union

from sam2.utils.atomic_files import atomic_output

__all__ = ["DEFAULT_INT8_GRAPHS", "QUANTIZED_KEY", "quantize_graph", "quantize_graphs", "weight_products"]

#: graphs :func:`quantize_graph` is applied to by ``tools/export_onnx.py --int8``
DEFAULT_INT8_GRAPHS = ("image_encoder",)
#: metadata key recording the quantisation
QUANTIZED_KEY = "sam2.quantized"


def weight_products(model_proto) -> List[str]:
    """Names of the nodes of ``model_proto`` that multiply by a constant weight: ``Gemm`` and
    ``MatMul`` whose second input is an initializer or a ``Constant``."""
    constants = {i.name for i in model_proto.graph.initializer}
    constants |= {o for n in model_proto.graph.node if n.op_type == "Constant" for o in n.output}
    return [n.name for n in model_proto.graph.node
            if n.op_type == "Gemm" or (n.op_type == "MatMul" and n.input[1] in constants)]


def quantize_graph(src: Union[str, Path], dst: Union[str, Path]) -> int:
    """Write ``src`` (an exported graph) to ``dst`` with int8 weights in its weight products.

    Returns the number of quantised nodes (0: the graph is copied unchanged, with the metadata
    key added). ``dst`` is written atomically; ``src`` may equal ``dst``.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    proto = onnx.load(str(src))
    meta = {p.key: p.value for p in proto.metadata_props}
    nodes = weight_products(proto)
    with tempfile.TemporaryDirectory(prefix="sam2_int8_") as tmp:
        out = Path(tmp) / "q.onnx"
        if nodes:
            quiet = logging.getLogger().level
            logging.disable(logging.WARNING)  # the quantiser's advice to pre-process first
            try:
                quantize_dynamic(str(src), str(out), weight_type=QuantType.QInt8,
                                 op_types_to_quantize=["MatMul", "Gemm"], nodes_to_quantize=nodes)
            finally:
                logging.disable(logging.NOTSET)
                logging.getLogger().setLevel(quiet)
            proto = onnx.load(str(out))
        del proto.metadata_props[:]
        meta[QUANTIZED_KEY] = f"int8 weights in {len(nodes)} matrix products (dynamic)"
        for key, value in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        with atomic_output(Path(dst)) as path:
            onnx.save(proto, path)
    return len(nodes)


def quantize_graphs(folder: Union[str, Path], graphs: Sequence[str] = DEFAULT_INT8_GRAPHS) -> dict:
    """Quantise the named graphs of an export folder in place; ``{graph: nodes quantised}``."""
    from sam2.onnx_export.exporter import GRAPH_FILES

    unknown = [g for g in graphs if g not in GRAPH_FILES]
    if unknown:
        raise ValueError(f"graphs={unknown}: expected names among {', '.join(GRAPH_FILES)}")
    return {g: quantize_graph(Path(folder) / GRAPH_FILES[g], Path(folder) / GRAPH_FILES[g]) for g in graphs}
