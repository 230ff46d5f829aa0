"""Checkpoints: numpy arrays of any numeric dtype load safely; a corrupt training checkpoint is named."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sam2.build_sam import CheckpointError, read_checkpoint_state_dict
from training.trainer import Trainer


def test_numpy_int64_arrays_in_a_checkpoint_load(tmp_path):
    path = tmp_path / "ckpt.pt"
    torch.save({"model": {"w": torch.ones(2)}, "counts": np.arange(3, dtype=np.int64),
                "rng": np.zeros(4, dtype=np.uint32), "flags": np.array([True]), "loss": np.float64(0.5)}, path)
    state = read_checkpoint_state_dict(path)
    assert torch.equal(state["w"], torch.ones(2))


def test_numpy_object_arrays_stay_refused(tmp_path):
    path = tmp_path / "ckpt.pt"
    torch.save({"model": {"w": torch.ones(2)}, "junk": np.array([{"a": 1}], dtype=object)}, path)
    with pytest.raises(CheckpointError, match=f"checkpoint '{path}' is not a readable PyTorch checkpoint"):
        read_checkpoint_state_dict(path)


def test_corrupt_training_checkpoint_names_the_file_and_a_remedy(tmp_path):
    path = tmp_path / "checkpoint.pt"
    torch.save({"model": {}, "optimizer": {}, "epoch": 1, "step": 1, "batch_in_epoch": 0}, path)
    path.write_bytes(path.read_bytes()[:100])  # truncated by a full disk
    (tmp_path / "checkpoint_3.pt").write_bytes(b"")
    with pytest.raises(RuntimeError) as err:
        Trainer._read_resume_checkpoint(None, str(path))
    message = str(err.value)
    assert message.startswith(f"cannot resume from {path}: the file is not a readable training checkpoint (truncated or corrupt?")
    assert message.endswith("to start over, move it out of the folder; to go back to an earlier epoch, copy one of "
                            "checkpoint_3.pt over it")


def test_foreign_file_named_checkpoint_pt_is_refused(tmp_path):
    path = tmp_path / "checkpoint.pt"
    torch.save({"model": {"w": torch.ones(1)}}, path)  # a model export, not a training checkpoint
    with pytest.raises(RuntimeError, match=(
            f"cannot resume from {path}: not a training checkpoint of this trainer \\(missing 'optimizer', 'epoch', "
            "'step', 'batch_in_epoch'\\); to start over, move it out of the folder$")):
        Trainer._read_resume_checkpoint(None, str(path))
