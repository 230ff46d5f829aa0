"""Unit tests of the inference pieces that need no model: sharding, overlap rule, atomic output, launcher."""
from __future__ import annotations

import socket
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from sam2.inference import launcher
from sam2.inference.masks import NOT_STARTED_LOGIT, LabelAccumulator, resolve_labels
from sam2.inference.sharding import balance_by_frames
from sam2.inference.submission import (
    AtomicVideoDir,
    partial_dir,
    remove_stale_partials,
    video_output_complete,
    write_submission_zip,
)


# ---------------------------------------------------------------- sharding
def test_balance_largest_first_greedy_by_hand():
    counts = {"a": 10, "b": 7, "c": 6, "d": 5, "e": 1}
    # 10->w0; 7->w1; 6->w1 (7<10) => w1=13; 5->w0 => 15; 1->w1 => 14
    assert balance_by_frames(counts, 2) == [["a", "d"], ["b", "c", "e"]]


def test_balance_is_a_partition_and_deterministic():
    counts = {f"v{i}": (i * 37) % 23 + 1 for i in range(30)}
    shards = balance_by_frames(counts, 4)
    assert sorted(v for s in shards for v in s) == sorted(counts)
    assert shards == balance_by_frames(dict(reversed(list(counts.items()))), 4)
    loads = [sum(counts[v] for v in s) for s in shards]
    assert max(loads) - min(loads) <= max(counts.values())


def test_balance_more_workers_than_videos_and_bad_input():
    assert balance_by_frames({"x": 3}, 3) == [["x"], [], []]
    with pytest.raises(ValueError, match="num_workers"):
        balance_by_frames({"x": 3}, 0)


# ---------------------------------------------------------------- overlap rule
def _brute_force_labels(logits: np.ndarray, ids: list[int], thresh: float) -> np.ndarray:
    """The rule written literally, pixel by pixel: argmax keeps its logit, the others are clamped to
    at most -10, threshold, paint from the highest id to the lowest (lowest id wins)."""
    num, height, width = logits.shape
    out = np.zeros((height, width), dtype=np.uint8)
    order = sorted(range(num), key=lambda i: ids[i])
    for y in range(height):
        for x in range(width):
            values = [float(logits[i, y, x]) for i in order]
            best = max(values)
            winner = values.index(best)
            for k in reversed(range(num)):
                v = values[k] if k == winner else min(values[k], -10.0)
                if v > thresh:
                    out[y, x] = ids[order[k]]
    return out


@pytest.mark.parametrize("thresh", [0.0, -20.0, 3.0])
def test_resolve_labels_matches_literal_rule(thresh):
    rng = np.random.default_rng(0)
    logits = rng.choice([-30.0, -15.0, -12.0, -5.0, 0.0, 2.0, 4.0, 8.0], size=(3, 9, 11)).astype(np.float32)
    ids = [7, 2, 5]  # unsorted on purpose; equal logits (ties) are frequent with this alphabet
    got = resolve_labels(torch.from_numpy(logits), ids, thresh)
    assert got.dtype == np.uint8 and got.shape == (9, 11)
    np.testing.assert_array_equal(got, _brute_force_labels(logits, ids, thresh))


def test_resolve_labels_by_hand():
    logits = torch.tensor([[[5.0, -1.0, 3.0, 1.0]], [[2.0, -2.0, 3.0, 6.0]]])  # objects 4 and 9
    np.testing.assert_array_equal(resolve_labels(logits, [4, 9], 0.0), [[4, 0, 4, 9]])  # tie -> lowest id


@pytest.mark.parametrize("thresh", [0.0, -20.0])
def test_accumulator_equals_joint_rule_in_any_feed_order(thresh):
    rng = np.random.default_rng(1)
    logits = rng.choice([-30.0, -12.0, -3.0, 0.0, 2.0, 4.0], size=(3, 2, 5, 6)).astype(np.float32)  # [O,T,H,W]
    ids = [3, 1, 2]
    acc = LabelAccumulator(2, 5, 6, thresh)
    for i in [2, 0, 1]:
        for t in range(2):
            acc.add(t, ids[i], torch.from_numpy(logits[i, t]))
    for t in range(2):
        np.testing.assert_array_equal(acc.labels(t), resolve_labels(torch.from_numpy(logits[:, t]), ids, thresh))


def test_accumulator_on_disk_and_not_started(tmp_path):
    acc = LabelAccumulator(2, 3, 3, 0.0, scratch_dir=tmp_path)
    acc.add_constant(0, 2, NOT_STARTED_LOGIT)
    acc.add(0, 1, torch.full((3, 3), -5.0))
    acc.add(1, 1, torch.full((3, 3), 1.0))
    acc.add(1, 2, torch.full((3, 3), 2.0))
    assert (acc.labels(0) == 0).all() and (acc.labels(1) == 2).all()
    assert (tmp_path / "best.npy").is_file()


def test_object_id_out_of_palette_range():
    with pytest.raises(ValueError, match="300"):
        resolve_labels(torch.zeros(1, 2, 2), [300], 0.0)


# ---------------------------------------------------------------- atomic output, resume check, zip
def _write_frames(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / f"{n}.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # a PNG signature: resume checks it


def test_atomic_video_dir_commit_and_abort(tmp_path):
    out = tmp_path / "out"
    handle = AtomicVideoDir(out, "vid")
    with handle as temp:
        _write_frames(temp, ["00000", "00001"])
        assert not (out / "vid").exists()  # nothing under the final name before commit
        handle.commit()
    assert sorted(p.name for p in (out / "vid").iterdir()) == ["00000.png", "00001.png"]
    assert not partial_dir(out, "vid").exists()

    with pytest.raises(RuntimeError):
        with AtomicVideoDir(out, "other") as temp:
            _write_frames(temp, ["00000"])
            raise RuntimeError("boom")
    assert not (out / "other").exists() and not partial_dir(out, "other").exists()


def test_commit_replaces_incomplete_folder(tmp_path):
    out = tmp_path / "out"
    _write_frames(out / "vid", ["00000", "stale"])
    handle = AtomicVideoDir(out, "vid")
    with handle as temp:
        _write_frames(temp, ["00000", "00001"])
        handle.commit()
    assert sorted(p.name for p in (out / "vid").iterdir()) == ["00000.png", "00001.png"]
    assert sorted(p.name for p in out.iterdir()) == ["vid"]


def test_video_output_complete_layouts(tmp_path):
    names = ["00000", "00001"]
    assert not video_output_complete(tmp_path, "v", names, False)
    _write_frames(tmp_path / "v", ["00000"])
    assert not video_output_complete(tmp_path, "v", names, False)
    _write_frames(tmp_path / "v", names)
    assert video_output_complete(tmp_path, "v", names, False)
    assert not video_output_complete(tmp_path, "v", names, True)  # no object folders
    _write_frames(tmp_path / "w" / "001", names)
    _write_frames(tmp_path / "w" / "002", names[:1])
    assert not video_output_complete(tmp_path, "w", names, True)
    _write_frames(tmp_path / "w" / "002", names)
    assert video_output_complete(tmp_path, "w", names, True)


def test_remove_stale_partials_keeps_finished_videos(tmp_path):
    _write_frames(tmp_path / "done", ["00000"])
    _write_frames(partial_dir(tmp_path, "half"), ["00000"])
    assert remove_stale_partials(tmp_path) == [".partial-half"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["done"]


def test_zip_has_video_folders_at_root(tmp_path):
    out = tmp_path / "out"
    _write_frames(out / "v1", ["00000", "00001"])
    _write_frames(out / "v2" / "001", ["00000"])
    _write_frames(partial_dir(out, "v3"), ["00000"])
    target = tmp_path / "sub" / "submission.zip"
    assert write_submission_zip(out, ["v2", "v1"], target) == 3
    with zipfile.ZipFile(target) as z:
        assert z.namelist() == ["v1/00000.png", "v1/00001.png", "v2/001/00000.png"]
    assert sorted(p.name for p in target.parent.iterdir()) == ["submission.zip"]
    with pytest.raises(FileNotFoundError, match="missing"):
        write_submission_zip(out, ["missing"], tmp_path / "x.zip")
    assert not (tmp_path / "x.zip").exists()


# ---------------------------------------------------------------- launcher
def test_free_port_is_bindable_and_not_one_in_use():
    port = launcher.find_free_port()
    assert isinstance(port, int) and 1024 <= port <= 65535
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))  # raises OSError if the port were taken
        sock.listen(1)
        assert sock.getsockname()[1] == port
        # while a process listens on it, the port is not handed out again
        assert all(launcher.find_free_port() != port for _ in range(5))


def test_torchrun_env_parsing():
    assert launcher.torchrun_env({}) is None
    env = {"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "MASTER_ADDR": "n0", "MASTER_PORT": "29500"}
    assert launcher.torchrun_env(env) == launcher.TorchrunEnv(rank=3, world_size=8, local_rank=1)
    with pytest.raises(ValueError, match="RANK=9"):
        launcher.torchrun_env({**env, "RANK": "9"})


def test_choose_layout():
    assert launcher.choose_layout(None, 2, visible_gpus=0) == launcher.WorkerLayout(2, "cpu", "gloo")
    assert launcher.choose_layout(8, 1, visible_gpus=2) == launcher.WorkerLayout(2, "cuda", "nccl")
    assert launcher.choose_layout(None, 1, visible_gpus=4) == launcher.WorkerLayout(4, "cuda", "nccl")
    assert launcher.choose_layout(0, 3, visible_gpus=4) == launcher.WorkerLayout(3, "cpu", "gloo")
    assert launcher.choose_layout(2, 1, visible_gpus=0).device(0) == torch.device("cpu")
    with pytest.raises(ValueError, match="num_workers"):
        launcher.choose_layout(0, 0, visible_gpus=0)
