"""Int8 weights for an exported graph (ONNX Runtime dynamic quantisation of weight products)."""
from __future__ import annotations

import shutil

import numpy as np
import onnx
import pytest

from sam2.onnx import OnnxVideoTracker
from sam2.onnx_export import quantize_graph, quantize_graphs
from sam2.onnx_export.quantize import QUANTIZED_KEY, weight_products

pytest.importorskip("onnxruntime.quantization")


def _ops(path):
    return [n.op_type for n in onnx.load(str(path)).graph.node]


def test_only_weight_products_are_quantized_and_metadata_is_kept(demo_graphs, tmp_path):
    src = demo_graphs / "image_encoder.onnx"
    proto = onnx.load(str(src))
    weights = weight_products(proto)
    products = [n for n in proto.graph.node if n.op_type in ("MatMul", "Gemm")]
    # attention scores multiply two activations: those are not weight products
    assert 0 < len(weights) < len(products)
    dst = tmp_path / "image_encoder.onnx"
    assert quantize_graph(src, dst) == len(weights)
    ops = _ops(dst)
    assert "MatMulInteger" in ops or "DynamicQuantizeMatMul" in ops
    assert ops.count("MatMul") == len(products) - len(weights)  # the activation products stay float
    before = {p.key: p.value for p in proto.metadata_props}
    after = {p.key: p.value for p in onnx.load(str(dst)).metadata_props}
    assert {k: v for k, v in after.items() if k != QUANTIZED_KEY} == before
    assert after[QUANTIZED_KEY].startswith(f"int8 weights in {len(weights)} ")


def test_int8_encoder_tracks_close_to_float32(demo_graphs, held_out_split, tmp_path):
    folder = tmp_path / "int8"
    shutil.copytree(demo_graphs, folder)
    counts = quantize_graphs(folder)
    assert list(counts) == ["image_encoder"] and counts["image_encoder"] > 0
    with pytest.raises(ValueError, match="graphs=\\['decoder'\\]"):
        quantize_graphs(folder, ["decoder"])
    video = sorted((held_out_split / "JPEGImages").iterdir())[0]
    from PIL import Image

    ann = np.array(Image.open(sorted((held_out_split / "Annotations" / video.name).glob("*.png"))[0]))
    obj = int(np.unique(ann)[1])
    results = []
    for graphs in (demo_graphs, folder):
        tracker = OnnxVideoTracker(graphs, intra_op_threads=1)  # same model id: accepted
        state = tracker.init_state(str(video))
        tracker.add_new_mask(state, 0, obj, ann == obj)
        results.append({f: m for f, _, m in tracker.propagate_in_video(state)})
    fp32, int8 = results
    inter = sum(int(((fp32[f] > 0) & (int8[f] > 0)).sum()) for f in fp32)
    union = sum(int(((fp32[f] > 0) | (int8[f] > 0)).sum()) for f in fp32)
    assert union > 0 and inter / union > 0.85  # close, and not identical: the weights did change
    assert any(np.abs(fp32[f] - int8[f]).max() > 1e-3 for f in fp32)
