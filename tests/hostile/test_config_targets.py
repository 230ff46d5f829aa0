"""Configs are data: a ``_target_`` outside the allowlist is refused before anything runs.

Each case names the exact key path and value in the error, and (where the target would have a
visible effect) checks that nothing happened.
"""
from __future__ import annotations

import pickle
import sys
from pathlib import Path

import pytest

from sam2.build_sam import build_sam2, build_sam2_video_predictor, compose_config
from sam2.utils.config_compose import compose, list_package_configs
from sam2.utils.config_targets import ConfigTargetError, check_config_targets

DEMO = "configs/sam2.1/sam2.1_hiera_demo.yaml"
SOURCE = "configs/sam2.1/sam2.1_hiera_demo.yaml"


def _user_config(tmp_path: Path, body: str) -> str:
    path = tmp_path / "user_model.yaml"
    path.write_text("# @package _global_\ndefaults:\n  - /configs/sam2.1/sam2.1_hiera_demo\n  - _self_\n" + body)
    return str(path)


class _Marker:
    """Unpickling it creates a file: proof that a pickle ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_torch_load_of_a_pickle_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pickle_ran"
    payload = tmp_path / "payload.pt"
    payload.write_bytes(pickle.dumps(_Marker(str(marker))))
    config = _user_config(tmp_path, f"model:\n  _target_: torch.load\n  f: {payload}\n  weights_only: false\n")
    with pytest.raises(ConfigTargetError) as err:
        build_sam2(config, device="cpu")
    assert str(err.value) == (
        f"config {config}: model._target_='torch.load': outside the allowed packages (sam2, torch.nn)")
    assert not marker.exists()


def test_os_system_nested_deep_in_the_model_is_refused(tmp_path: Path) -> None:
    config = _user_config(tmp_path, "model:\n  memory_attention:\n    layer:\n      self_attention:\n"
                                    "        _target_: os.system\n")
    with pytest.raises(ConfigTargetError, match=r"model\.memory_attention\.layer\.self_attention\._target_"
                                                 r"='os\.system': outside the allowed packages"):
        compose_config(config)


def test_builtins_eval_is_refused(tmp_path: Path) -> None:
    config = _user_config(tmp_path, "model:\n  image_encoder:\n    _target_: builtins.eval\n")
    with pytest.raises(ConfigTargetError, match=r"model\.image_encoder\._target_='builtins\.eval'"):
        compose_config(config)


def test_hydra_get_method_is_refused(tmp_path: Path) -> None:
    config = _user_config(tmp_path, "model:\n  image_encoder:\n    _target_: hydra.utils.get_method\n"
                                    "    path: os.system\n")
    with pytest.raises(ConfigTargetError, match=r"model\.image_encoder\._target_='hydra\.utils\.get_method'"):
        compose_config(config)


def test_target_outside_the_model_node_is_refused(tmp_path: Path) -> None:
    config = _user_config(tmp_path, "extra:\n  deep:\n    - _target_: os.remove\n      path: x\n")
    with pytest.raises(ConfigTargetError, match=r"extra\.deep\[0\]\._target_='os\.remove'"):
        compose_config(config)


def test_args_holding_a_target_is_refused(tmp_path: Path) -> None:
    config = _user_config(tmp_path, "model:\n  sam_mask_decoder_extra_args:\n    _target_: torch.nn.Identity\n"
                                    "    _args_:\n      - _target_: builtins.exec\n        _args_: ['1']\n")
    with pytest.raises(ConfigTargetError, match=r"_args_\[0\]\._target_='builtins\.exec'"):
        compose_config(config)


def test_partial_in_a_model_config_is_refused(tmp_path: Path) -> None:
    config = _user_config(tmp_path, "model:\n  _partial_: true\n")
    with pytest.raises(ConfigTargetError, match=r"model\._partial_=True: model configs may not use _partial_"):
        compose_config(config)


def test_target_from_an_interpolation_is_checked_resolved(tmp_path: Path) -> None:
    config = _user_config(tmp_path, "innocent: os.system\nmodel:\n  _target_: ${innocent}\n")
    with pytest.raises(ConfigTargetError, match=r"model\._target_='os\.system'"):
        compose_config(config)


def test_target_made_by_oc_create_is_checked(tmp_path: Path) -> None:
    config = _user_config(tmp_path, 'model:\n  extra: "${oc.create:{_target_: builtins.eval}}"\n')
    with pytest.raises(ConfigTargetError, match=r"model\.extra\._target_='builtins\.eval'"):
        compose_config(config)


@pytest.mark.parametrize("path, module", [
    ("sam2.build_sam.torch.load", "torch"),
    ("sam2.utils.config_compose.os.system", "os"),
    ("torch.nn.functional.torch.load", "torch"),
])
def test_path_through_a_foreign_module_is_refused(path: str, module: str) -> None:
    with pytest.raises(ConfigTargetError, match=rf"model\._target_='{path}': goes through module '{module}'"):
        compose_config(DEMO, [f"++model._target_={path}"])


def test_double_underscore_path_is_refused() -> None:
    path = "sam2.modeling.sam2_base.SAM2Base.__init__"
    with pytest.raises(ConfigTargetError, match=r"double-underscore names are not allowed"):
        compose_config(DEMO, [f"++model._target_={path}"])


def test_project_class_that_is_not_a_module_is_refused_in_a_model_config() -> None:
    with pytest.raises(ConfigTargetError, match=r"model\._target_='sam2\.utils\.config_compose\.ConfigRef': "
                                                 r"a model config may only name torch\.nn\.Module classes"):
        compose_config(DEMO, ["++model._target_=sam2.utils.config_compose.ConfigRef"])


def test_project_function_is_refused_in_a_model_config() -> None:
    with pytest.raises(ConfigTargetError, match=r"model\._target_='sam2\.utils\.atomic_files\.atomic_output': "
                                                 r"not an allowed class"):
        compose_config(DEMO, ["++model._target_=sam2.utils.atomic_files.atomic_output"])


def test_non_string_target_is_refused() -> None:
    with pytest.raises(ConfigTargetError, match=r"model\._target_: must be a dotted class name \(a string\), got \[1\]"):
        compose_config(DEMO, ["++model._target_=[1]"])


def test_unknown_package_is_refused_without_importing_it() -> None:
    sys.modules.pop("antigravity", None)
    with pytest.raises(ConfigTargetError, match=r"model\.image_encoder\._target_='antigravity\.fly'"):
        compose_config(DEMO, ["++model.image_encoder._target_=antigravity.fly"])
    assert "antigravity" not in sys.modules


def test_hydra_override_of_build_sam2_is_checked(tmp_path: Path) -> None:
    target = tmp_path / "made_by_config"
    with pytest.raises(ConfigTargetError, match=r"model\._target_='os\.makedirs'"):
        build_sam2(DEMO, device="cpu", hydra_overrides_extra=["++model._target_=os.makedirs", f"++model.name={target}"])
    assert not target.exists()


def test_keyword_override_of_the_video_builder_is_checked() -> None:
    with pytest.raises(ConfigTargetError, match=r"model\._target_='os\.system'"):
        build_sam2_video_predictor(DEMO, device="cpu", **{"_target_": "os.system"})


def test_allow_any_target_opts_out() -> None:
    cfg = compose_config(DEMO, ["++model.extra._target_=collections.OrderedDict"], allow_any_target=True)
    assert cfg.model.extra._target_ == "collections.OrderedDict"


def test_environment_variable_opts_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAM2_ALLOW_ANY_TARGET", "1")
    cfg = compose_config(DEMO, ["++model.extra._target_=collections.OrderedDict"])
    assert cfg.model.extra._target_ == "collections.OrderedDict"


def test_environment_variable_with_nonsense_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAM2_ALLOW_ANY_TARGET", "yes")
    with pytest.raises(ConfigTargetError, match=r"environment variable SAM2_ALLOW_ANY_TARGET must be 1 or 0, got 'yes'"):
        compose_config(DEMO)


def test_every_shipped_config_passes_the_check() -> None:
    from training.utils.config import register_resolvers

    register_resolvers()
    names = list_package_configs("model") + list_package_configs("training")
    assert len(names) > 10
    for name in names:
        compose(name, kind="training" if "_training/" in name else "model")  # raises if refused


def test_training_module_class_names_are_checked() -> None:
    cfg = {"optim": {"options": {"lr": [{"module_cls_names": ["torch.nn.LayerNorm", "os.system"]}]}}}
    with pytest.raises(ConfigTargetError, match=r"optim\.options\.lr\[0\]\.module_cls_names\[1\]='os\.system'"):
        check_config_targets(cfg, "training", "test")


def test_refusal_is_a_config_error() -> None:
    from sam2.utils.config_compose import ConfigError

    with pytest.raises(ConfigError):
        compose_config(DEMO, ["++model._target_=os.system"])
