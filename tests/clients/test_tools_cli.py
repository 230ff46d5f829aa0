"""The project's own tools speak one command-line convention (sam2.utils.cli): each one's --help
is read and the defaults it states are checked against what the tool does; --output aliases,
--model by Hugging Face id (a hub cache the test builds, offline), the demo model's note."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import sam2.build_sam
import sam2.utils.hub
from sam2.utils import cli

ROOT = Path(__file__).resolve().parents[2]

#: tool -> the shared flags it has
TOOLS = {
    "tools/demo.py": ("--output", "--no-progress", "--device", "--config", "--checkpoint", "--model"),
    "tools/track_stream.py": ("--output", "--no-progress", "--device", "--config", "--checkpoint", "--model"),
    "tools/compare_policies.py": ("--output", "--device", "--config", "--checkpoint", "--model"),
    "tools/score.py": ("--output", "--no-progress"),
    "tools/make_synthetic_mose.py": ("--output", "--no-progress"),
    "tools/vos_inference_ddp.py": ("--no-progress",),
    "tools/export_onnx.py": ("--output", "--config", "--checkpoint", "--model"),
    "examples/image_predictor.py": ("--output", "--device", "--config", "--checkpoint", "--model"),
    "examples/video_predictor.py": ("--output", "--no-progress", "--device", "--config", "--checkpoint", "--model"),
    "examples/automatic_mask_generator.py": ("--output", "--device", "--config", "--checkpoint", "--model"),
}


def _load(relpath: str):
    path = ROOT / relpath
    sys.path.insert(0, str(path.parent))  # the examples import their _common module
    try:
        spec = importlib.util.spec_from_file_location("cli_test_" + path.stem, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


def _help(module, capsys) -> str:
    assert cli.run_main(module.main, ["--help"]) == 0
    return " ".join(capsys.readouterr().out.split())  # one line: argparse wraps at the terminal width


def _stated(help_text: str, flag: str) -> str:
    """What the help says ``flag`` defaults to."""
    match = re.search(re.escape(flag) + r"[^()]*?\(default: ([^)]*)\)", help_text)
    assert match, f"{flag}: no stated default in the help"
    return match.group(1)


def _stated_checkpoint(help_text: str) -> str:
    match = re.search(r"--checkpoint CHECKPOINT [^()]*\(default: [^)]*?(sam2/checkpoints/\S+\.pt)\)", help_text)
    assert match, "--checkpoint: the help names no default checkpoint file"
    return match.group(1)


@pytest.mark.parametrize("relpath", sorted(TOOLS))
def test_help_lists_the_shared_flags(relpath, capsys):
    text = _help(_load(relpath), capsys)
    for flag in TOOLS[relpath]:
        assert f"{flag} " in text or f"{flag}," in text, (relpath, flag)
    if "--output" in TOOLS[relpath]:
        assert "--output DIR, --out DIR, --output-dir DIR" in text
    if "--device" in TOOLS[relpath]:
        assert _stated(text, "--device").startswith("auto")


@pytest.mark.parametrize("flag", cli.OUTPUT_FLAGS)
def test_output_aliases_work_in_every_tool(flag, tmp_path):
    folder = str(tmp_path / "o")
    parsed = [
        _load("tools/track_stream.py").parse_args(["--source", "x", "--box", "1,1,5,5", flag, folder]),
        _load("tools/demo.py").parse_args([flag, folder]),
        _load("tools/score.py").parse_args(["--meta", "m", "--ann", "a", "--pred", "p", flag, folder]),
        _load("tools/make_synthetic_mose.py").parse_args([flag, folder]),
        _load("tools/compare_policies.py").build_parser().parse_args(["--split", "s", flag, folder]),
    ]
    assert all(args.output == Path(folder) for args in parsed)


class _Built(Exception):
    """Raised by the stand-in model builder: what the tool asked for."""


def _capture_build(monkeypatch, module=None):
    """Builders that raise :class:`_Built`, in ``sam2.build_sam`` and (names imported at load) ``module``."""
    def fake(config_file, ckpt_path=None, device="cuda", **kwargs):
        raise _Built(config_file, str(ckpt_path), str(device))
    for owner in (sam2.build_sam, module):
        for name in ("build_sam2_video_predictor", "build_sam2"):
            if owner is not None and hasattr(owner, name):
                monkeypatch.setattr(owner, name, fake)


def _auto() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def test_track_stream_loads_what_its_help_states(monkeypatch, capsys, tmp_path):
    tool = _load("tools/track_stream.py")
    text = _help(tool, capsys)
    _capture_build(monkeypatch)
    args = tool.parse_args(["--source", "x", "--box", "1,1,5,5", "--out", str(tmp_path)])
    with pytest.raises(_Built) as built:
        tool._build_predictor(args)
    config, checkpoint, device = built.value.args
    assert config == _stated(text, "--config CONFIG")
    assert Path(checkpoint).as_posix().endswith(_stated_checkpoint(text))
    assert checkpoint.endswith("sam2.1_hiera_demo_256.pt")  # the 256-px demo model, not the 128-px one
    assert device == _auto()
    note = capsys.readouterr().err
    assert "synthetic shapes" in note
    assert "python tools/track_stream.py --source x --box 1,1,5,5 --out" in note
    assert note.strip().endswith("--model facebook/sam2.1-hiera-tiny")


def test_track_stream_model_id_goes_through_the_hub(monkeypatch, capsys, tmp_path):
    tool = _load("tools/track_stream.py")
    _capture_build(monkeypatch)
    weights = tmp_path / "sam2.1_hiera_tiny.pt"
    weights.write_bytes(b"")
    asked = []
    monkeypatch.setattr(sam2.utils.hub, "download_checkpoint",
                        lambda model_id: asked.append(model_id) or ("configs/sam2.1/sam2.1_hiera_t.yaml", str(weights)))
    base = ["--source", "x", "--box", "1,1,5,5", "--out", str(tmp_path), "--device", "cpu"]
    with pytest.raises(_Built) as built:
        tool._build_predictor(tool.parse_args(base + ["--model", "facebook/sam2.1-hiera-tiny"]))
    assert built.value.args == ("configs/sam2.1/sam2.1_hiera_t.yaml", str(weights), "cpu")
    assert asked == ["facebook/sam2.1-hiera-tiny"]
    assert "synthetic shapes" not in capsys.readouterr().err  # no note for an official model
    with pytest.raises(cli.ToolError) as info:  # both ways of naming a model at once
        tool._build_predictor(tool.parse_args(base + ["--model", "facebook/sam2.1-hiera-tiny", "--config", "c.yaml"]))
    assert info.value.code == 2 and "--model" in str(info.value)
    monkeypatch.undo()  # the real hub module: an unknown id is refused before any download
    with pytest.raises(cli.ToolError) as info:
        tool._build_predictor(tool.parse_args(base + ["--model", "facebook/sam2.1-hiera-huge"]))
    assert info.value.code == 2 and "'facebook/sam2.1-hiera-huge'" in str(info.value)
    with pytest.raises(cli.ToolError) as info:
        tool._build_predictor(tool.parse_args(base + ["--device", "tpu9"]))
    assert info.value.code == 2


def test_demo_video_loads_what_its_help_states(monkeypatch, capsys, tmp_path):
    tool = _load("tools/demo.py")
    text = _help(tool, capsys)
    _capture_build(monkeypatch)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(_Built) as built:
        tool.main(["--video", "frames", "--points", "1,1"])
    config, checkpoint, device = built.value.args
    assert config == _stated(text, "--config CONFIG")
    assert Path(checkpoint).as_posix().endswith(_stated_checkpoint(text))
    assert device == _auto()
    assert _stated(text, "--output DIR").startswith("demo_track/ with --video")
    assert (tmp_path / "demo_track" / "masks").is_dir()
    note = capsys.readouterr().err
    assert "note: the embedded demo model was trained on synthetic shapes" in note
    assert "python tools/demo.py --video frames --points 1,1 --model facebook/sam2.1-hiera-tiny" in note


def test_demo_video_refuses_bad_model_flags_with_code_2(tmp_path, capsys):
    tool = _load("tools/demo.py")
    base = ["--video", str(tmp_path), "--points", "1,1", "--output", str(tmp_path / "o")]
    assert tool.main(base + ["--model", "facebook/sam2.1-hiera-huge"]) == 2
    assert "'facebook/sam2.1-hiera-huge'" in capsys.readouterr().err
    assert tool.main(base + ["--model", "facebook/sam2.1-hiera-tiny", "--checkpoint", "x.pt"]) == 2
    assert "--model" in capsys.readouterr().err
    assert tool.main(base + ["--checkpoint", str(tmp_path / "nope.pt")]) == 1
    assert "nope.pt" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # refused before anything is written


def test_demo_scores_use_the_stated_defaults(monkeypatch, capsys):
    tool = _load("tools/demo.py")
    text = _help(tool, capsys)
    seen = []

    def fake_run_demo(settings):
        seen.append(settings)
        raise _Built()
    monkeypatch.setattr(tool, "run_demo", fake_run_demo)
    with pytest.raises(_Built):
        tool.main(["--no-pictures"])
    assert _stated(text, "--output DIR").endswith("demo_output/ otherwise")
    assert seen[0].output_dir == Path("demo_output")
    assert seen[0].config == _stated(text, "--config CONFIG") and seen[0].checkpoint is None


@pytest.mark.parametrize("example", ["image_predictor", "video_predictor", "automatic_mask_generator"])
def test_examples_load_what_their_help_states(example, monkeypatch, capsys):
    tool = _load(f"examples/{example}.py")
    text = _help(tool, capsys)
    _capture_build(monkeypatch, tool)
    with pytest.raises(_Built) as built:
        tool.main([])
    config, checkpoint, device = built.value.args
    assert config == _stated(text, "--config CONFIG")
    assert Path(checkpoint).as_posix().endswith(_stated_checkpoint(text))
    assert device == _auto()
    assert _stated(text, "--output DIR") == "demo_output/examples"


# ------------------------------------------------------------------------------------------
# --model with a Hugging Face cache the test builds, offline, the real download path
# ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_demo_video_with_an_official_model_id_offline(tmp_path):
    pytest.importorskip("huggingface_hub")
    sys.path.insert(0, str(ROOT / "tests" / "parity"))
    from seeded_ckpt import make_seeded_state_dict
    from test_from_pretrained import _offline_env, _write_hub_cache

    weights = tmp_path / "weights.pt"
    torch.save({"model": make_seeded_state_dict("t", 3)}, weights)
    _write_hub_cache(tmp_path / "hub", "facebook/sam2.1-hiera-tiny", "sam2.1_hiera_tiny.pt", weights.read_bytes())
    frames = tmp_path / "frames"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for t in range(2):
        Image.fromarray(rng.integers(0, 255, (32, 48, 3), dtype=np.uint8)).save(frames / f"{t:05d}.jpg")
    out = tmp_path / "out"
    env = _offline_env(tmp_path)
    env.pop("TQDM_DISABLE")  # the bars must obey --no-progress alone
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "demo.py"), "--video", str(frames), "--points", "20,10",
         "--model", "facebook/sam2.1-hiera-tiny", "--device", "cpu", "--output", str(out), "--no-progress"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(list((out / "masks").glob("*.png"))) == 2
    assert "embedded demo model" not in done.stderr  # the official model runs: no note
    assert "propagate in video" not in done.stderr and "%|" not in done.stderr  # --no-progress: no bar at all
    missing = subprocess.run(  # an id that is not in the cache: exit 1, the error says what to do
        [sys.executable, str(ROOT / "tools" / "demo.py"), "--video", str(frames), "--points", "20,10",
         "--model", "facebook/sam2.1-hiera-small", "--output", str(tmp_path / "o2"), "--no-progress"],
        env=_offline_env(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert missing.returncode == 1
    assert "sam2.1_hiera_small.pt" in missing.stderr and "not in the local cache" in missing.stderr
