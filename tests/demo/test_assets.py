"""Where the shipped models are, and which checkpoint a shipped config picks when none is given."""
from pathlib import Path

import pytest

from sam2.demo import DEMO_CONFIG, DEMO_IMAGE_SIZE, SHIPPED_MODELS, demo_checkpoint_path
from sam2.demo.assets import require_demo_checkpoint, shipped_checkpoint_for

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_model_is_the_256px_one_and_both_files_are_package_data():
    assert DEMO_IMAGE_SIZE == 256 and DEMO_CONFIG == "configs/sam2.1/sam2.1_hiera_demo_256.yaml"
    assert demo_checkpoint_path().name == "sam2.1_hiera_demo_256.pt"
    assert demo_checkpoint_path(128).name == "sam2.1_hiera_demo.pt"
    for size, model in SHIPPED_MODELS.items():
        assert model.image_size == size
        assert model.checkpoint_path.parent == ROOT / "sam2" / "checkpoints"
        assert model.scores_path.name == Path(model.checkpoint_name).stem + "_scores.json"
        assert (ROOT / "sam2" / model.config).is_file()  # configs/ is the package's config folder


def test_each_shipped_config_picks_its_own_checkpoint():
    for size, model in SHIPPED_MODELS.items():
        assert shipped_checkpoint_for(model.config) == require_demo_checkpoint(size)
    assert shipped_checkpoint_for(SHIPPED_MODELS[128].config) != shipped_checkpoint_for(DEMO_CONFIG)


def test_other_configs_and_sizes_are_named_in_the_error():
    with pytest.raises(ValueError, match="sam2.1_hiera_b\\+.yaml.*--checkpoint"):
        shipped_checkpoint_for("configs/sam2.1/sam2.1_hiera_b+.yaml")
    with pytest.raises(ValueError, match="512-px"):
        demo_checkpoint_path(512)


def test_a_missing_checkpoint_is_named(monkeypatch, tmp_path):
    import sam2.demo.assets as assets

    monkeypatch.setattr(assets, "_CHECKPOINT_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "sam2.1_hiera_demo_256.pt")):
        shipped_checkpoint_for(DEMO_CONFIG)


def test_resolve_checkpoint_prefers_the_given_file_and_names_a_missing_one(tmp_path):
    from sam2.demo.assets import resolve_checkpoint

    given = tmp_path / "mine.pt"
    given.write_bytes(b"")
    assert resolve_checkpoint(given, "configs/sam2.1/sam2.1_hiera_b+.yaml") == given  # any config
    assert resolve_checkpoint(None, SHIPPED_MODELS[128].config) == demo_checkpoint_path(128)
    with pytest.raises(FileNotFoundError, match="absent.pt: checkpoint not found"):
        resolve_checkpoint(tmp_path / "absent.pt", DEMO_CONFIG)
