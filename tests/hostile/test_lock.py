"""One run per output folder: a second run stops with a clear message; a stale lock is taken over."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from edge_helpers import REPO, make_split, snapshot

from sam2.inference.app import run_inference
from sam2.inference.options import InferenceOptions
from sam2.utils.output_lock import LOCK_NAME, OutputLock, OutputLockedError

sys.path.insert(0, str(REPO / "tools"))
import vos_inference_ddp  # noqa: E402


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_second_lock_on_one_folder_is_refused(tmp_path):
    with OutputLock(tmp_path, "first run"):
        before = snapshot(tmp_path)
        with pytest.raises(OutputLockedError) as err:
            OutputLock(tmp_path, "second run").acquire()
        assert snapshot(tmp_path) == before
    message = str(err.value)
    assert message.startswith(f"{tmp_path} is in use by process {os.getpid()} on {socket.gethostname()} (first run, since ")
    assert message.endswith(f"if no such run is active, delete {tmp_path / LOCK_NAME}")
    assert not (tmp_path / LOCK_NAME).exists()  # released on exit


def test_stale_lock_of_a_killed_run_is_taken_over(tmp_path, caplog):
    stale = {"pid": _dead_pid(), "host": socket.gethostname(), "tool": "killed run", "started": "then"}
    (tmp_path / LOCK_NAME).write_text(json.dumps(stale))
    with OutputLock(tmp_path, "new run"):
        holder = json.loads((tmp_path / LOCK_NAME).read_text())
        assert holder["pid"] == os.getpid() and holder["tool"] == "new run"
    assert f"taking over the lock of process {stale['pid']} (killed run), which no longer runs" in caplog.text


def test_lock_from_another_host_is_not_guessed_stale(tmp_path):
    other = {"pid": _dead_pid(), "host": "some-other-node", "tool": "cluster run", "started": "then"}
    (tmp_path / LOCK_NAME).write_text(json.dumps(other))
    with pytest.raises(OutputLockedError, match=f"in use by process {other['pid']} on some-other-node"):
        OutputLock(tmp_path, "new run").acquire()
    assert json.loads((tmp_path / LOCK_NAME).read_text()) == other


def test_second_inference_run_leaves_the_first_runs_partial_folder_alone(tmp_path):
    split = make_split(tmp_path / "split")
    out = tmp_path / "out"
    out.mkdir()
    (out / ".partial-a").mkdir()  # the first run is writing video a
    (out / ".partial-a" / "00000.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    options = InferenceOptions(sam2_cfg="unused", sam2_checkpoint=None, output_mask_dir=out,
                               base_video_dir=split / "JPEGImages", input_mask_dir=split / "Annotations")
    with OutputLock(out, "first run"):
        before = snapshot(out)
        with pytest.raises(OutputLockedError, match=f"{out} is in use by process {os.getpid()}"):
            run_inference(options, predictor_factory=lambda *_: pytest.fail("no predictor may be built"))
        assert snapshot(out) == before


def test_inference_tool_on_a_locked_folder_exits_with_the_message(tmp_path, capsys):
    split = make_split(tmp_path / "split")
    out = tmp_path / "out"
    with OutputLock(out, "first run"):
        with pytest.raises(SystemExit) as stop:
            vos_inference_ddp.main(["--sam2_checkpoint", "", "--base_video_dir", str(split / "JPEGImages"),
                                    "--input_mask_dir", str(split / "Annotations"), "--output_mask_dir", str(out),
                                    "--num_gpus", "0"])
    assert stop.value.code == 2
    assert f"error: {out} is in use by process {os.getpid()}" in capsys.readouterr().err


def test_lock_works_where_hard_links_are_not_supported(tmp_path, monkeypatch):
    def no_links(*_args, **_kwargs):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    with OutputLock(tmp_path, "first run"):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["tool"] == "first run"
        with pytest.raises(OutputLockedError, match="first run"):
            OutputLock(tmp_path, "second run").acquire()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
