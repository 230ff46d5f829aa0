"""tools/export_onnx.py and tools/vos_inference.py --backend onnx."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from onnx_helpers import DEMO_CKPT, DEMO_CONFIG
from sam2.onnx_export import GRAPH_FILES

REPO = Path(__file__).resolve().parents[2]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_tool", REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_export_tool_writes_graphs_and_refuses_to_overwrite(tmp_path, capsys):
    tool = _load("export_onnx")
    out = tmp_path / "graphs"
    model = ["--config", DEMO_CONFIG, "--checkpoint", str(DEMO_CKPT)]
    assert tool.cli.run_main(tool.main, [*model, "--output", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(GRAPH_FILES.values())
    assert "wrote 4 graphs" in capsys.readouterr().out
    assert tool.cli.run_main(tool.main, [*model, "--out", str(out)]) == 1
    assert "already exist" in capsys.readouterr().err
    assert tool.cli.run_main(tool.main, [*model, "--output", str(out), "--overwrite"]) == 0
    (out / "track_step.onnx").write_bytes(b"someone else's file")
    assert tool.cli.run_main(tool.main, [*model, "--output", str(out), "--overwrite"]) == 1
    assert (out / "track_step.onnx").read_bytes() == b"someone else's file"  # never replaced
    missing = ["--config", DEMO_CONFIG, "--checkpoint", str(tmp_path / "none.pt"), "--output", str(out)]
    assert tool.cli.run_main(tool.main, missing) == 2
    assert "none.pt" in capsys.readouterr().err
    # the output may not hold an input
    assert tool.cli.run_main(tool.main, [*model, "--output", str(DEMO_CKPT.parent)]) == 2


def _run_tool(split: Path, out: Path, *extra: str) -> int:
    tool = _load("vos_inference")
    return tool.main(["--base_video_dir", str(split / "JPEGImages"), "--input_mask_dir", str(split / "Annotations"),
                      "--output_mask_dir", str(out), *extra])


def test_vos_inference_onnx_backend_writes_the_same_outputs(demo_graphs, held_out_split, tmp_path, monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert _run_tool(held_out_split, tmp_path / "onnx", "--backend", "onnx", "--onnx_dir", str(demo_graphs)) == 0
    assert _run_tool(held_out_split, tmp_path / "torch", "--sam2_cfg", DEMO_CONFIG,
                     "--sam2_checkpoint", str(DEMO_CKPT)) == 0
    ours = sorted((tmp_path / "onnx").rglob("*.png"))
    ref = sorted((tmp_path / "torch").rglob("*.png"))
    assert [p.relative_to(tmp_path / "onnx") for p in ours] == [p.relative_to(tmp_path / "torch") for p in ref]
    assert len(ours) > 10
    same = total = 0
    for a, b in zip(ours, ref):
        x, y = np.array(Image.open(a)), np.array(Image.open(b))
        assert Image.open(a).mode == Image.open(b).mode == "P"
        same += int((x == y).sum())
        total += x.size
    assert same / total > 0.999  # the torch backend stores bfloat16 memories, these graphs float32


def test_vos_inference_without_the_extra_names_it(demo_graphs, held_out_split, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # importing it now fails
    with pytest.raises(SystemExit) as exc:
        _run_tool(held_out_split, tmp_path / "out", "--backend", "onnx", "--onnx_dir", str(demo_graphs))
    assert exc.value.code == 2
    assert 'pip install "sam2-rcms[onnx]"' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _run_tool(held_out_split, tmp_path / "out", "--backend", "onnx")  # no --onnx_dir


def test_export_tool_fused_attention_and_int8(tmp_path):
    tool = _load("export_onnx")
    out = tmp_path / "graphs"
    model = ["--config", DEMO_CONFIG, "--checkpoint", str(DEMO_CKPT)]
    assert tool.cli.run_main(tool.main, [*model, "--output", str(out), "--attention", "fused", "--int8"]) == 0
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(out / "image_encoder.onnx")).metadata_props}
    assert meta["sam2.attention"] == "fused" and meta["sam2.quantized"].startswith("int8 weights")
    assert "sam2.quantized" not in {p.key for p in onnx.load(str(out / "track_step.onnx")).metadata_props}
    assert tool.cli.run_main(tool.main, [*model, "--output", str(tmp_path / "x"), "--attention", "flash"]) == 2
