"""``training/train.py`` refuses nonsense settings and config code before any process starts."""
from __future__ import annotations

from pathlib import Path
from typing import List

import pytest

INSTANT = "configs/sam2.1_training/sam2.1_hiera_instant.yaml"


def _args(tmp_path: Path, *extra: str) -> List[str]:
    for sub in ("JPEGImages", "Annotations"):
        (tmp_path / "split" / sub).mkdir(parents=True, exist_ok=True)
    return ["-c", INSTANT, "--num-gpus", "1", f"dataset.img_folder={tmp_path}/split/JPEGImages",
            f"dataset.gt_folder={tmp_path}/split/Annotations", f"launcher.experiment_log_dir={tmp_path}/run", *extra]


def _main(argv: List[str], capsys: pytest.CaptureFixture) -> tuple:
    from training.train import main

    code = main(argv)
    return code, capsys.readouterr().err


def test_zero_frames_per_clip_is_refused(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = _main(_args(tmp_path, "scratch.num_frames=0"), capsys)
    assert code == 2
    assert f"config {INSTANT}: scratch.num_frames must be >= 1, got 0" in err
    assert not (tmp_path / "run").exists()


def test_zero_epochs_is_refused(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = _main(_args(tmp_path, "scratch.num_epochs=0"), capsys)
    assert code == 2
    assert f"config {INSTANT}: scratch.num_epochs must be >= 1, got 0" in err


def test_negative_epochs_is_refused(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = _main(_args(tmp_path, "scratch.num_epochs=-3"), capsys)
    assert code == 2
    assert "scratch.num_epochs must be >= 1, got -3" in err


def test_fractional_frames_is_refused(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = _main(_args(tmp_path, "scratch.num_frames=2.5"), capsys)
    assert code == 2
    assert "scratch.num_frames must be an integer, got 2.5" in err


def test_max_epochs_set_directly_to_zero_is_refused(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = _main(_args(tmp_path, "trainer.max_epochs=0"), capsys)
    assert code == 2
    assert "trainer.max_epochs must be >= 1, got 0" in err


def test_nan_learning_rate_is_refused(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = _main(_args(tmp_path, "scratch.base_lr=nan"), capsys)
    assert code == 2
    assert f"config {INSTANT}: scratch.base_lr must be a finite number, got nan" in err


def test_negative_worker_count_is_refused(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = _main(["--num-workers", "-1", *_args(tmp_path)], capsys)
    assert code == 2
    assert f"config {INSTANT}: scratch.num_train_workers must be >= 0, got -1" in err


def test_text_for_a_count_is_refused(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = _main(_args(tmp_path, "scratch.num_frames=eight"), capsys)
    assert code == 2
    assert "scratch.num_frames must be a number, got 'eight'" in err


def test_command_line_target_override_is_refused(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = _main(_args(tmp_path, "trainer._target_=os.system"), capsys)
    assert code == 2
    assert f"config {INSTANT}: trainer._target_='os.system': outside the allowed packages" in err
    assert not (tmp_path / "run").exists()


def test_command_line_nested_model_target_is_refused(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = _main(_args(tmp_path, "trainer.model.image_encoder._target_=torch.load"), capsys)
    assert code == 2
    assert "trainer.model.image_encoder._target_='torch.load': outside the allowed packages" in err


def test_training_function_outside_the_list_is_refused(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = _main(_args(tmp_path, "trainer.data.train.collate_fn._target_=training.train.main"), capsys)
    assert code == 2
    assert "trainer.data.train.collate_fn._target_='training.train.main': not an allowed class" in err


def test_allow_any_target_flag_lets_the_config_through(tmp_path, monkeypatch) -> None:
    from training.train import build_config, parse_args

    monkeypatch.chdir(tmp_path)
    args = parse_args(["--allow-any-target", *_args(tmp_path, "++trainer.extra._target_=collections.OrderedDict")])
    assert build_config(args).trainer.extra._target_ == "collections.OrderedDict"
