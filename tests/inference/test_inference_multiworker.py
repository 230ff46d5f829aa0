"""Two spawned CPU worker processes (gloo) with the fake predictor: same output as one worker."""
from __future__ import annotations

from pathlib import Path

import pytest

from inference_fakes import make_fake_predictor
from inference_splits import make_small_split, read_tree

from sam2.inference.app import run_inference
from sam2.inference.options import InferenceOptions

pytestmark = pytest.mark.slow  # worker processes


def _options(split_root: Path, out: Path, workers: int) -> InferenceOptions:
    return InferenceOptions(
        sam2_cfg="unused", sam2_checkpoint=None, output_mask_dir=out, base_video_dir=split_root / "JPEGImages",
        input_mask_dir=split_root / "Annotations", show_progress=False, num_gpus=0, num_workers=workers,
        track_object_appearing_later_in_video=True,
    )


def test_two_spawned_workers_equal_one_worker(tmp_path):
    split_root = make_small_split(tmp_path / "split")
    one = run_inference(_options(split_root, tmp_path / "one", 1), make_fake_predictor)
    two = run_inference(_options(split_root, tmp_path / "two", 2), make_fake_predictor)
    assert one.exit_code == 0 and two.exit_code == 0
    # frame counts a=7, late=6, b=5: a -> worker 0, late -> worker 1, b -> worker 1 (6 < 7)
    assert {r.name: r.rank for r in two.results} == {"a": 0, "b": 1, "late": 1}
    assert [r.status for r in two.results] == ["done"] * 3
    tree = read_tree(tmp_path / "two")
    assert len(tree) == 7 + 5 + 6 and tree == read_tree(tmp_path / "one")


def test_torchrun_launch_equals_one_worker(tmp_path):
    import os
    import subprocess
    import sys

    from sam2.inference.launcher import find_free_port

    split_root = make_small_split(tmp_path / "split")
    one = run_inference(_options(split_root, tmp_path / "one", 1), make_fake_predictor)
    entry = Path(__file__).with_name("inference_torchrun_entry.py")
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
           str(find_free_port()), str(entry), str(split_root), str(tmp_path / "tr")]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("videos done: 3/3") == 1  # only rank 0 reports
    assert "ranks: a=0,b=1,late=1" in run.stdout
    assert one.exit_code == 0 and read_tree(tmp_path / "tr") == read_tree(tmp_path / "one")
