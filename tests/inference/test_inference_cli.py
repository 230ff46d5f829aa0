"""``tools/vos_inference_ddp.py`` end to end with a real (tiny, seeded) SAM2.1 model on CPU.

The model is ``configs/sam2.1/sam2.1_hiera_instant.yaml`` with seeded random weights, except the
object-score head's last bias, raised to +8 so that objects stay "present" and later frames carry
non-trivial masks (with plain random weights every tracked frame is empty and comparing runs would
prove little). Every run uses ``OMP_NUM_THREADS=1``: CPU results are bitwise reproducible for a
fixed per-worker thread count, whatever the number of workers.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from inference_splits import CUSTOM_PALETTE, corrupt_jpeg, make_small_split, read_tree

from sam2.data.mose_layout import list_frame_files, read_index_png, write_palette_png

pytestmark = pytest.mark.slow  # worker processes

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "vos_inference_ddp.py"
CONFIG = "configs/sam2.1/sam2.1_hiera_instant.yaml"
RUN_TIMEOUT_S = 300


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"
    env.update(extra)
    return env


def _args(ws: dict, split: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, str(TOOL), "--sam2_cfg", CONFIG, "--sam2_checkpoint", str(ws["ckpt"]),
        "--output_mask_dir", str(out), "--base_video_dir", str(split / "JPEGImages"),
        "--input_mask_dir", str(split / "Annotations"), "--num_gpus", "0", *extra,
    ]


def _run(ws: dict, split: Path, out: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        _args(ws, split, out, *extra), cwd=REPO, env=env or _env(), capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> dict:
    from sam2.build_sam import build_sam2_video_predictor
    from sam2.data.synthetic import SyntheticConfig, write_synthetic_split

    root = tmp_path_factory.mktemp("vos_cli")
    split = write_synthetic_split(root / "split", SyntheticConfig(num_videos=3, num_frames=8, height=48, width=64, seed=0))
    # validation-style split: frame 0 annotated only, with a non-VOC palette; videos of 8, 5, 8 frames
    for video_dir in sorted((split / "Annotations").iterdir()):
        first, palette = read_index_png(video_dir / "00000.png")
        shutil.rmtree(video_dir)
        write_palette_png(video_dir / "00000.png", first, CUSTOM_PALETTE)
    for path in list_frame_files(split / "JPEGImages" / "synth0001")[5:]:
        path.unlink()
    torch.manual_seed(0)
    model = build_sam2_video_predictor(CONFIG, None, device="cpu")
    state = model.state_dict()
    bias = "sam_mask_decoder.pred_obj_score_head.layers.2.bias"
    state[bias] = torch.full_like(state[bias], 8.0)
    ckpt = root / "instant_seeded.pt"
    torch.save({"model": state}, ckpt)
    ws = {"root": root, "split": split, "ckpt": ckpt}
    ws["ref"] = _run(ws, split, root / "ref", "--num_workers", "2", "--zip", str(root / "submission.zip"))
    return ws


def test_two_workers_write_a_valid_submission(ws):
    ref = ws["ref"]
    assert ref.returncode == 0, ref.stderr[-3000:]
    assert "videos done: 3/3" in ref.stdout and "failures: 0" in ref.stdout
    out, split = ws["root"] / "ref", ws["split"]
    assert sorted(p.name for p in out.iterdir()) == ["synth0000", "synth0001", "synth0002"]
    nontrivial = 0
    for video in ["synth0000", "synth0001", "synth0002"]:
        stems = [p.stem for p in list_frame_files(split / "JPEGImages" / video)]
        assert sorted(p.stem for p in (out / video).iterdir()) == stems  # every frame, frame 0 included
        gt = read_index_png(split / "Annotations" / video / "00000.png")[0]
        gt_ids = set(np.unique(gt).tolist())
        for stem in stems:
            pred, palette = read_index_png(out / video / f"{stem}.png")
            assert pred.shape == gt.shape
            np.testing.assert_array_equal(palette, CUSTOM_PALETTE)  # the input annotation's palette
            assert set(np.unique(pred).tolist()) <= gt_ids
            nontrivial += int(stem != "00000" and pred.any())
        first = read_index_png(out / video / "00000.png")[0]
        assert (first == gt).mean() > 0.95  # frame 0 comes back from the mask prompt
    assert nontrivial >= 10
    with zipfile.ZipFile(ws["root"] / "submission.zip") as archive:
        names = archive.namelist()
        assert sorted(names) == sorted(read_tree(out))  # video folders at the zip root, nothing else
        assert archive.read("synth0001/00004.png") == (out / "synth0001" / "00004.png").read_bytes()


def test_one_worker_gives_identical_output(ws):
    # the single worker runs in the tool's own process: an inherited MKL_NUM_THREADS must not give it
    # another thread count (and so other float sums) than the spawned workers of the reference run
    run = _run(ws, ws["split"], ws["root"] / "one", "--num_workers", "1", env=_env(MKL_NUM_THREADS="2"))
    assert run.returncode == 0, run.stderr[-3000:]
    assert read_tree(ws["root"] / "one") == read_tree(ws["root"] / "ref")


def test_killed_run_then_rerun_equals_uninterrupted_run(ws):
    out = ws["root"] / "killed"
    proc = subprocess.Popen(
        _args(ws, ws["split"], out, "--num_workers", "2"), cwd=REPO, env=_env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + RUN_TIMEOUT_S
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if out.is_dir() and any(p.is_dir() and not p.name.startswith(".") for p in out.iterdir()):
                break
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the tool and its worker processes (one session)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed midway"
    finished = [p.name for p in out.iterdir() if not p.name.startswith(".")]
    assert 1 <= len(finished) < 3
    for video in finished:  # whatever sits under a final name is complete
        assert read_tree(out / video) == read_tree(ws["root"] / "ref" / video)

    rerun = _run(ws, ws["split"], out, "--num_workers", "2")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"({3 - len(finished)} run, {len(finished)} already complete)" in rerun.stdout
    assert read_tree(out) == read_tree(ws["root"] / "ref")  # no leftovers of the killed run either


def test_corrupted_jpeg_fails_that_video_only(ws):
    split = ws["root"] / "split_corrupt"
    shutil.copytree(ws["split"], split)
    corrupt_jpeg(split / "JPEGImages" / "synth0002" / "00004.jpg")
    zip_path = ws["root"] / "corrupt.zip"
    run = _run(ws, split, ws["root"] / "corrupt", "--num_workers", "2", "--zip", str(zip_path))
    assert run.returncode == 1
    assert "FAILED synth0002" in run.stderr and "00004.jpg" in run.stderr
    assert "videos done: 2/3" in run.stdout and "failures: 1" in run.stdout
    out = ws["root"] / "corrupt"
    assert sorted(p.name for p in out.iterdir()) == ["synth0000", "synth0001"]
    for video in ["synth0000", "synth0001"]:
        assert read_tree(out / video) == read_tree(ws["root"] / "ref" / video)
    assert not zip_path.exists()


def test_object_appearing_later_is_empty_before_its_first_frame(ws):
    split = make_small_split(ws["root"] / "split_late")  # video "late": object 2 first on frame 3
    video_list = ws["root"] / "late.txt"
    video_list.write_text("late\n")
    out = ws["root"] / "late_out"
    run = _run(ws, split, out, "--track_object_appearing_later_in_video", "--video_list_file", str(video_list))
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["late"]
    labels = [read_index_png(out / "late" / f"{t:05d}.png")[0] for t in range(6)]
    assert all(2 not in labels[t] for t in range(3))
    assert 2 in labels[3]  # its prompt frame
    assert all(1 in labels[t] for t in range(1))
