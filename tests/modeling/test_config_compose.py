"""One composer for model and training configs (sam2.utils.config_compose): both entry points
find configs the same way, fail the same way and leave Hydra's global state alone."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sam2.build_sam import compose_config as compose_model
from sam2.utils.config_compose import ConfigError, UnknownConfigError
from training.utils.config import compose_config as compose_training

REPO = Path(__file__).resolve().parents[2]
MODEL = "configs/sam2.1/sam2.1_hiera_t.yaml"
TRAINING = "configs/sam2.1_training/sam2.1_hiera_instant.yaml"


def _model_trunk(cfg) -> int:
    return cfg.model.image_encoder.trunk.embed_dim


def _training_trunk(cfg) -> int:
    return cfg.trainer.model.image_encoder.trunk.embed_dim


ENTRY_POINTS = {
    "model": (compose_model, MODEL, _model_trunk, 96),
    "training": (compose_training, TRAINING, _training_trunk, 16),
}


@pytest.mark.parametrize("kind", sorted(ENTRY_POINTS))
def test_compose_inside_a_users_hydra_app_keeps_its_state(tmp_path: Path, kind: str) -> None:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    fn, name, trunk, _ = ENTRY_POINTS[kind]
    (tmp_path / "app.yaml").write_text("lr: 0.5\n")
    with initialize_config_dir(config_dir=str(tmp_path), version_base="1.3"):
        users = GlobalHydra.instance()
        cfg = fn(name)
        assert trunk(cfg) > 0
        assert GlobalHydra.instance() is users
        assert compose(config_name="app").lr == 0.5  # the user's search path still works
    assert not GlobalHydra.instance().is_initialized()
    fn(name)
    assert not GlobalHydra.instance().is_initialized()


@pytest.mark.parametrize("kind", sorted(ENTRY_POINTS))
def test_same_spellings_are_accepted(kind: str) -> None:
    fn, name, trunk, expected = ENTRY_POINTS[kind]
    stem = Path(name).stem
    for spelling in (name, name[len("configs/"):], stem + ".yaml", stem, str(REPO / "sam2" / name)):
        assert trunk(fn(spelling)) == expected, spelling


@pytest.mark.parametrize("kind", sorted(ENTRY_POINTS))
def test_unknown_config_names_it_and_lists_the_configs_of_its_kind(kind: str) -> None:
    fn, name, _, _ = ENTRY_POINTS[kind]
    with pytest.raises(UnknownConfigError) as info:
        fn("sam2.1_hiera_no_such_size")
    message = str(info.value)
    assert "'sam2.1_hiera_no_such_size'" in message
    assert name in message  # a config of the same kind is listed
    other = TRAINING if kind == "model" else MODEL
    assert other not in message  # ... and none of the other kind


@pytest.mark.parametrize("kind", sorted(ENTRY_POINTS))
def test_broken_config_is_a_config_error_naming_the_file(tmp_path: Path, kind: str) -> None:
    fn, _, _, _ = ENTRY_POINTS[kind]
    broken = tmp_path / "broken.yaml"
    broken.write_text("defaults:\n  - /configs/sam2.1/no_such_base\n  - _self_\n")
    with pytest.raises(ConfigError, match="broken.yaml"):
        fn(str(broken))


def test_training_config_outside_the_package_extends_a_shipped_one(tmp_path: Path) -> None:
    user = tmp_path / "my_training.yaml"
    user.write_text(
        "# @package _global_\n"
        "defaults:\n  - /configs/sam2.1_training/sam2.1_hiera_instant\n  - _self_\n"
        "scratch:\n  num_frames: 5\n"
    )
    cfg = compose_training(str(user), ["trainer.model.num_maskmem=3"])
    assert cfg.scratch.num_frames == 5
    assert cfg.trainer.model.num_maskmem == 3
    assert cfg.trainer.model.image_encoder.trunk.embed_dim == 16


def test_importing_sam2_and_training_leaves_hydra_uninitialised() -> None:
    code = (
        "import sam2, sam2.build_sam, sam2.utils.config_compose, training.utils.config, training.train\n"
        "from hydra.core.global_hydra import GlobalHydra\n"
        "assert not GlobalHydra.instance().is_initialized()\n"
        "print('clean')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "clean"
