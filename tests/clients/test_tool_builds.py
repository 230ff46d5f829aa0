"""What each tool builds: the memory policy and settings of the predictor a tool actually runs,
per policy name and flag, reached through the tool's own code path (its parser, its options and
the builder it calls), on the shipped 128-px demo model.

The rule these guard: a named policy is never changed by another flag (``--memory_policy sam2.1``
with an RCMS flag is plain SAM 2.1), and every row of ``tools/compare_policies.py`` runs the
policy it names.
"""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED_RCMS = "rcms(N=4, tau=0.6, rearm=None, cap=None)"


def _tool(monkeypatch, name: str):
    monkeypatch.setenv("TQDM_DISABLE", "0")  # the inference tools set it when absent
    spec = importlib.util.spec_from_file_location(f"{name}_build_under_test", ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rcms_config(tmp_path_factory, demo_paths) -> str:
    """A user config: the demo model with the rcms policy named in its memory_policy block."""
    path = tmp_path_factory.mktemp("cfg") / "demo_rcms.yaml"
    name = demo_paths[0].replace("configs/", "/configs/").removesuffix(".yaml")
    path.write_text(f"# @package _global_\ndefaults:\n  - {name}\n  - _self_\n"
                    "memory_policy:\n  name: rcms\n  params: {}\n")
    return str(path)


def _inference_build(module, argv):
    from sam2.inference.worker import build_predictor

    args = module.build_parser().parse_args(argv)
    return build_predictor(module.options_from_args(args), torch.device("cpu"))


def _split_args(config: str, checkpoint: str) -> list:
    return ["--sam2_cfg", config, "--sam2_checkpoint", checkpoint, "--base_video_dir", "J",
            "--input_mask_dir", "A", "--output_mask_dir", "O"]


@pytest.mark.parametrize("flags, expected", [
    ([], PUBLISHED_RCMS),  # the published baseline: RCMS switched on
    (["--memory_policy", "sam2.1"], "sam2.1"),
    (["--memory_policy", "sam2.1", "--num_prev_frames_to_promote", "4"], "sam2.1"),  # never RCMS
    (["--num_prev_frames_to_promote", "0"], "sam2.1"),
    (["--num_prev_frames_to_promote", "2"], "rcms(N=2, tau=0.6, rearm=None, cap=None)"),
    (["--memory_policy", "rcms", "--low_quality_threshold", "0.5"], "rcms(N=4, tau=0.5, rearm=None, cap=None)"),
    (["--memory_policy", "samurai", "--num_prev_frames_to_promote", "4"], "samurai("),
    (["--memory_policy", "rcms+dam4sam", "--num_prev_frames_to_promote", "2"], "rcms(N=2, tau=0.6, rearm=None, cap=None) + dam4sam"),
    (["--memory_policy", "sam2long", "--policy_opt", "num_pathway=2"], "sam2long"),
])
def test_vos_inference_ddp_builds_the_named_policy(monkeypatch, demo_paths, flags, expected):
    module = _tool(monkeypatch, "vos_inference_ddp")
    predictor = _inference_build(module, _split_args(*demo_paths) + flags)
    assert predictor.memory_policy.describe().startswith(expected), predictor.memory_policy.describe()
    assert predictor.memory_dtype == torch.bfloat16 and predictor.batch_objects is True
    if "sam2long" in expected:
        assert predictor.memory_policy.hypotheses == 2


def test_vos_inference_builds_the_config_policy_unless_switched(monkeypatch, demo_paths, rcms_config):
    module = _tool(monkeypatch, "vos_inference")
    config, checkpoint = demo_paths
    assert _inference_build(module, _split_args(config, checkpoint)).memory_policy.describe() == "sam2.1"
    switched = _inference_build(module, _split_args(config, checkpoint) + ["--num_prev_frames_to_promote", "4"])
    assert switched.memory_policy.describe() == PUBLISHED_RCMS
    assert _inference_build(module, _split_args(rcms_config, checkpoint)).memory_policy.describe() == PUBLISHED_RCMS
    off = _inference_build(module, _split_args(rcms_config, checkpoint) + ["--num_prev_frames_to_promote", "0"])
    assert off.memory_policy.describe() == "sam2.1"


@pytest.mark.parametrize("extra, rcms_desc", [
    ([], PUBLISHED_RCMS),
    (["--num_prev_frames_to_promote", "2", "--low_quality_threshold", "0.5"], "rcms(N=2, tau=0.5, rearm=None, cap=None)"),
])
def test_compare_policies_runs_each_policy_it_names(monkeypatch, tmp_path, demo_paths, rcms_config, extra, rcms_desc):
    """Each row's child process (its command line, parsed and built as the child does) runs
    exactly its policy, on a config that names another one (rcms) too."""
    from sam2.inference.worker import build_predictor

    module = _tool(monkeypatch, "compare_policies")
    _, checkpoint = demo_paths
    args = module.build_parser().parse_args(["--split", str(tmp_path), "--config", rcms_config,
                                             "--checkpoint", checkpoint, *extra])
    expected = {"sam2.1": "sam2.1", "rcms": rcms_desc, "samurai": "samurai(", "dam4sam": "dam4sam(",
                "sam2long": "sam2long(", "rcms+samurai": f"{rcms_desc} + samurai(",
                "rcms+dam4sam": f"{rcms_desc} + dam4sam("}
    assert set(expected) == set(module.DEFAULT_POLICIES)
    described = {}
    for policy in module.DEFAULT_POLICIES:
        child = module.build_parser().parse_args(
            module.child_arguments(args, policy, {}, tmp_path / "pred", tmp_path / "report.json"))
        assert child._worker and child.worker_policy == policy
        options = module.worker_options(child, json.loads(child.worker_opts), "cpu")
        predictor = build_predictor(options, torch.device("cpu"))
        described[policy] = predictor.memory_policy.describe()
        assert described[policy].startswith(expected[policy]), (policy, described[policy])
    assert described["sam2.1"] != described["rcms"]  # the two rows cannot be one policy


def test_demo_video_builds_rcms_or_plain_whatever_the_config(demo_paths, rcms_config, monkeypatch, tmp_path):
    from sam2.demo.track import _build_predictor

    module = _tool(monkeypatch, "demo")
    _, checkpoint = demo_paths
    base = ["--video", str(tmp_path), "--box", "1,1,5,5", "--checkpoint", checkpoint]
    for config in (demo_paths[0], rcms_config):
        for flag, expected in (("on", PUBLISHED_RCMS), ("off", "sam2.1")):
            settings = module.track_settings(module.parse_args(base + ["--config", config, "--rcms", flag]))
            assert _build_predictor(settings).memory_policy.describe() == expected, (config, flag)


def test_demo_heldout_runs_name_rcms_and_plain(demo_paths, monkeypatch, tmp_path):
    """The held-out demo's two inference runs: plain SAM 2.1 and RCMS (published or given N)."""
    import sam2.inference.app as app
    from sam2.demo.pipeline import DemoSettings, run_predictions
    from sam2.inference.worker import build_predictor

    seen = []

    class _Stop(Exception):
        pass

    def capture(options, *rest, **kw):
        seen.append(build_predictor(options, torch.device("cpu")).memory_policy.describe())
        raise _Stop

    monkeypatch.setattr(app, "run_inference", capture)
    for n, rcms_desc in ((None, PUBLISHED_RCMS), (2, "rcms(N=2, tau=0.6, rearm=None, cap=None)")):
        settings = DemoSettings(output_dir=tmp_path / "out", num_prev_frames_to_promote=n)
        for rcms_on in (False, True):
            with pytest.raises(_Stop):
                run_predictions(settings, tmp_path, Path(demo_paths[1]), rcms_on)
        assert seen[-2:] == ["sam2.1", rcms_desc]
        assert settings.rcms_on_settings() == (2 if n else 4, 0.6)


def test_track_stream_builds_the_config_policy(demo_paths, rcms_config, monkeypatch):
    module = _tool(monkeypatch, "track_stream")
    _, checkpoint = demo_paths
    for config, expected in ((demo_paths[0], "sam2.1"), (rcms_config, PUBLISHED_RCMS)):
        args = module.parse_args(["--source", "x", "--out", "o", "--box", "1,1,5,5", "--config", config,
                                                 "--checkpoint", checkpoint])
        predictor = module._build_predictor(args)
        assert predictor.memory_policy.describe() == expected
        assert predictor.settings.sources["memory_policy"].endswith("memory_policy")
