"""`tools/demo.py` end to end on a tiny held-out split with a seeded random checkpoint of the demo
architecture (fast; checks the stages, the output layout and the exit codes, not the scores)."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from sam2.build_sam import build_sam2
from sam2.demo import DEMO_CONFIG, DemoSettings, run_demo

ROOT = Path(__file__).resolve().parents[2]


def _load_tool():
    spec = importlib.util.spec_from_file_location("demo_tool", ROOT / "tools" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def random_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    model = build_sam2(DEMO_CONFIG, device="cpu")
    path = tmp_path_factory.mktemp("ckpt") / "random_demo.pt"
    torch.save({"model": model.state_dict()}, path)
    return path


@pytest.mark.slow  # the whole demo
def test_demo_writes_every_stage(tmp_path, random_ckpt):
    out = tmp_path / "demo"
    settings = DemoSettings(output_dir=out, checkpoint=random_ckpt, num_videos=2, num_frames=6,
                            height=48, width=64, seed=5, num_workers=1, show_progress=False)
    result = run_demo(settings)

    meta = json.loads((out / "data" / "meta.json").read_text())
    videos = sorted(p.name for p in (out / "data" / "JPEGImages").iterdir())
    assert len(videos) == 2 and (out / "data" / "Annotations").is_dir() and meta
    for run in ("rcms_off", "rcms_on"):
        for video in videos:
            assert len(list((out / f"pred_{run}" / video).glob("*.png"))) == 6
        scores = out / f"scores_{run}"
        assert {"metrics.json", "scores.txt", "metrics_full.json"} <= {p.name for p in scores.iterdir()}
    assert sorted(p.stem for p in (out / "rcms_records").glob("*.json")) == videos

    assert [r.label for r in result.rows] == ["RCMS off", "RCMS on (N=4)"]
    reference = json.loads((out / "scores_rcms_off" / "metrics_full.json").read_text())
    assert result.metrics(False)["J&F_new"] == pytest.approx(reference["dataset"]["J&F_new"], abs=1e-9)
    assert (out / "scores_table.txt").read_text().strip() == result.table
    assert result.video in videos
    with Image.open(result.gif) as gif:
        assert gif.n_frames == 6
    with Image.open(result.strip) as strip:
        assert strip.width > 3 * 64


def test_cli_exit_codes(tmp_path, capsys):
    tool = _load_tool()
    assert tool.main(["--num-videos", "0", "--output-dir", str(tmp_path / "a")]) == 2
    missing = tmp_path / "nope.pt"
    assert tool.main(["--checkpoint", str(missing), "--output-dir", str(tmp_path / "b"), "--no-progress"]) == 1
    assert "nope.pt" in capsys.readouterr().err


@pytest.mark.slow  # the whole demo
def test_cli_runs_with_a_given_checkpoint(tmp_path, random_ckpt, capfd):
    tool = _load_tool()
    code = tool.main(["--checkpoint", str(random_ckpt), "--num-videos", "1", "--num-frames", "5",
                      "--output-dir", str(tmp_path / "cli"), "--num-workers", "1", "--no-progress", "--no-pictures"])
    assert code == 0
    captured = capfd.readouterr()
    printed = captured.out
    assert "%|" not in captured.err and "propagate in video" not in captured.err  # --no-progress: no bar at all
    assert "J&Ḟ_r" in printed and "RCMS off" in printed and "RCMS on (N=4)" in printed
    assert (tmp_path / "cli" / "scores_rcms_on" / "scores.txt").is_file()
    assert not (tmp_path / "cli" / "demo.gif").exists()
