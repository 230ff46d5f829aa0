"""Model configs: composition equals the official configs, overlays stay small, name lookup,
and Hydra isolation (no global state; building inside a user's Hydra app works).

The expected configs were composed by the official package:
``tests/parity/oracle_scripts/model_configs_golden.py`` (command in its docstring).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

import sam2.build_sam as build_sam
import sam2.utils.config_compose as config_compose
from sam2.build_sam import UnknownConfigError, compose_config, list_configs, resolve_config

GOLDEN = Path(__file__).resolve().parents[1] / "parity" / "golden" / "official_model_configs.json"
CONFIG_DIR = Path(build_sam.__file__).resolve().parent / "configs"
SIZES = ("t", "s", "b+", "l")
PLAIN_POLICY = {"name": "sam2.1", "params": {}}
VIDEO_PREDICTOR = {"memory_dtype": "bfloat16", "batch_objects": True}


def _official() -> dict:
    with open(GOLDEN, "r", encoding="utf-8") as fh:
        return json.load(fh)["configs"]


def _as_json(cfg) -> str:
    # JSON keeps int vs float apart (10000 vs 10000.0), which == on Python values would not.
    return json.dumps(OmegaConf.to_container(cfg, resolve=True), sort_keys=True)


@pytest.mark.parametrize("name", sorted(_official()))
def test_config_composes_to_official_values(name: str) -> None:
    cfg = OmegaConf.to_container(compose_config(name), resolve=True)
    assert "rcms" not in cfg  # RCMS parameters live in memory_policy.params
    assert cfg.pop("memory_policy") == PLAIN_POLICY
    assert cfg.pop("video_predictor") == VIDEO_PREDICTOR
    assert json.dumps(cfg, sort_keys=True) == json.dumps(_official()[name], sort_keys=True)


@pytest.mark.parametrize("size", SIZES)
def test_rcms_config_is_size_config_plus_mss_and_rcms(size: str) -> None:
    base = OmegaConf.to_container(compose_config(f"sam2.1_hiera_{size}"), resolve=True)
    rcms = OmegaConf.to_container(compose_config(f"sam2.1_hiera_{size}_rcms_mqf_mss_lvt"), resolve=True)
    assert rcms["memory_policy"] == {"name": "rcms", "params": {}}  # RCMSPolicy's published N, tau
    assert rcms["video_predictor"] == base["video_predictor"]
    assert rcms["model"]["sigmoid_scale_for_mem_enc"] == 7.5
    assert rcms["model"]["sigmoid_bias_for_mem_enc"] == -4.0
    for key in ("sigmoid_scale_for_mem_enc", "sigmoid_bias_for_mem_enc"):
        base["model"].pop(key)
        rcms["model"].pop(key)
    assert rcms["model"] == base["model"]
    assert set(rcms) == {"model", "memory_policy", "video_predictor"}


def test_model_config_files_are_small_overlays() -> None:
    names = [f"sam2/sam2_hiera_{s}.yaml" for s in SIZES] + [f"sam2.1/sam2.1_hiera_{s}.yaml" for s in SIZES]
    names += [f"sam2.1/sam2.1_hiera_{s}_rcms_mqf_mss_lvt.yaml" for s in SIZES]
    for name in names:
        text = (CONFIG_DIR / name).read_text(encoding="utf-8")
        body = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        assert len(body) <= 12, f"{name} is not a small overlay ({len(body)} lines)"
        assert "defaults:" in text, name
        assert "memory_attention" not in text, f"{name} repeats the base"


def test_list_configs_names_only_model_configs() -> None:
    names = list_configs()
    for family, stem in (("sam2.1", "sam2.1_hiera"), ("sam2", "sam2_hiera")):
        for size in SIZES:
            assert f"configs/{family}/{stem}_{size}.yaml" in names
    assert "configs/sam2.1/sam2.1_hiera_b+_rcms_mqf_mss_lvt.yaml" in names
    assert not any("/_" in n or "_training/" in n for n in names)


@pytest.mark.parametrize(
    "spelling",
    [
        "configs/sam2.1/sam2.1_hiera_b+.yaml",
        "sam2.1/sam2.1_hiera_b+.yaml",
        "sam2.1_hiera_b+.yaml",
        "sam2.1_hiera_b+",
        "configs/sam2.1/sam2.1_hiera_b+",
        str(CONFIG_DIR / "sam2.1" / "sam2.1_hiera_b+.yaml"),
    ],
)
def test_config_name_spellings(spelling: str) -> None:
    ref = resolve_config(spelling)
    assert ref.name == "configs/sam2.1/sam2.1_hiera_b+.yaml" and ref.external_dir is None


def test_unknown_config_lists_available_configs() -> None:
    with pytest.raises(UnknownConfigError) as info:
        compose_config("configs/sam2.1/sam2.1_hiera_xl.yaml")
    message = str(info.value)
    assert "sam2.1_hiera_xl" in message
    assert "configs/sam2.1/sam2.1_hiera_t.yaml" in message
    assert "configs/sam2/sam2_hiera_l.yaml" in message


def test_ambiguous_bare_name_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for family in ("a", "b"):
        (tmp_path / "configs" / family).mkdir(parents=True)
        (tmp_path / "configs" / family / "m.yaml").write_text("model: {}\n")
    monkeypatch.setattr(config_compose, "PACKAGE_DIR", tmp_path)
    monkeypatch.setattr(config_compose, "CONFIG_DIR", tmp_path / "configs")
    with pytest.raises(UnknownConfigError, match="ambiguous"):
        resolve_config("m.yaml")
    assert resolve_config("a/m.yaml").name == "configs/a/m.yaml"


def test_external_yaml_can_extend_package_configs(tmp_path: Path) -> None:
    user = tmp_path / "my_model.yaml"
    user.write_text(
        "# @package _global_\n"
        "defaults:\n  - /configs/sam2.1/sam2.1_hiera_t\n  - _self_\n"
        "model:\n  num_maskmem: 5\n"
        "rcms:\n  num_prev_frames_to_promote: 2\n"
    )
    cfg = compose_config(str(user), overrides=["++model.image_size=512"])
    assert cfg.model.num_maskmem == 5 and cfg.model.image_size == 512
    assert cfg.model.image_encoder.trunk.embed_dim == 96
    assert cfg.rcms.num_prev_frames_to_promote == 2 and cfg.memory_policy.name == "sam2.1"


def test_compose_leaves_no_global_hydra_state() -> None:
    from hydra.core.global_hydra import GlobalHydra

    compose_config("sam2.1_hiera_t")
    assert not GlobalHydra.instance().is_initialized()


def test_compose_inside_a_users_hydra_app(tmp_path: Path) -> None:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    (tmp_path / "app.yaml").write_text("lr: 0.5\n")
    with initialize_config_dir(config_dir=str(tmp_path), version_base="1.3"):
        users_instance = GlobalHydra.instance()
        ours = compose_config("configs/sam2/sam2_hiera_s.yaml")
        assert ours.model.image_encoder.trunk.stages == [1, 2, 11, 2]
        assert GlobalHydra.instance() is users_instance
        assert compose(config_name="app").lr == 0.5  # the user's search path still works
    assert not GlobalHydra.instance().is_initialized()


def test_overrides_are_applied_after_the_config() -> None:
    plain = compose_config("sam2.1_hiera_t")
    changed = compose_config("sam2.1_hiera_t", ["++model.num_maskmem=3", "++model.new_flag=true"])
    assert plain.model.num_maskmem == 7 and changed.model.num_maskmem == 3
    assert changed.model.new_flag is True
    assert _as_json(plain.model.memory_encoder) == _as_json(changed.model.memory_encoder)


def test_import_is_hydra_free_and_compose_works_inside_hydra_main(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "app.yaml").write_text("size: t\n")
    (tmp_path / "app.py").write_text(
        "import hydra\n"
        "from hydra.core.global_hydra import GlobalHydra\n"
        "from hydra.core.hydra_config import HydraConfig\n"
        "import sam2\n"
        "from sam2.build_sam import compose_config\n"
        "assert not GlobalHydra.instance().is_initialized(), 'import sam2 initialised Hydra'\n"
        "@hydra.main(config_path='conf', config_name='app', version_base='1.3')\n"
        "def main(cfg):\n"
        "    before = GlobalHydra.instance()\n"
        "    model_cfg = compose_config(f'sam2.1_hiera_{cfg.size}')\n"
        "    assert GlobalHydra.instance() is before and before.is_initialized()\n"
        "    assert HydraConfig.get().job.name == 'app'\n"
        "    print('trunk', model_cfg.model.image_encoder.trunk.embed_dim)\n"
        "main()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "app.py", "hydra.run.dir=out"], capture_output=True,
                         text=True, env=env, cwd=str(tmp_path), timeout=120)
    assert out.returncode == 0, out.stderr
    assert "trunk 96" in out.stdout
