"""The video predictor's settings are resolved once (sam2.video.tracking.settings): where each value comes
from, which wins, and that a named policy is never changed by another argument."""
from __future__ import annotations

import logging

import pytest
import torch

from sam2.video.policies import ComposedPolicy, PlainSAM2Policy
from sam2.video.policies.rcms import PUBLISHED_N, PUBLISHED_TAU, RCMSPolicy
from sam2.video.tracking.settings import resolve_video_settings

STOCK = {"memory_policy": {"name": "sam2.1", "params": {}},
         "video_predictor": {"memory_dtype": "bfloat16", "batch_objects": True}}


def _rcms(policy) -> tuple:
    return policy.num_prev_frames_to_promote, policy.low_quality_threshold


def test_a_named_policy_is_never_changed_by_rcms_arguments(caplog):
    with caplog.at_level(logging.WARNING, logger="sam2.video.tracking.settings"):
        settings = resolve_video_settings(STOCK, memory_policy="sam2.1", num_prev_frames_to_promote=4)
    assert isinstance(settings.memory_policy, PlainSAM2Policy)
    assert "not used" in caplog.text and "num_prev_frames_to_promote" in caplog.text
    samurai = resolve_video_settings(STOCK, memory_policy="samurai", low_quality_threshold=0.3)
    assert samurai.memory_policy.name == "samurai"


def test_the_older_switch_applies_only_without_a_named_policy():
    on = resolve_video_settings(STOCK, where="cfg", num_prev_frames_to_promote=3)
    assert isinstance(on.memory_policy, RCMSPolicy) and _rcms(on.memory_policy) == (3, PUBLISHED_TAU)
    assert on.sources["memory_policy"] == "argument num_prev_frames_to_promote=3"
    rcms_cfg = {"memory_policy": {"name": "rcms", "params": {}}}
    off = resolve_video_settings(rcms_cfg, where="cfg", num_prev_frames_to_promote=0)
    assert isinstance(off.memory_policy, PlainSAM2Policy)
    assert "RCMS off" in off.sources["memory_policy"]
    published = resolve_video_settings(rcms_cfg)
    assert _rcms(published.memory_policy) == (PUBLISHED_N, PUBLISHED_TAU) == (4, 0.6)
    assert isinstance(resolve_video_settings(None).memory_policy, PlainSAM2Policy)


def test_precedence_config_then_spec_then_arguments():
    cfg = {"memory_policy": {"name": "rcms", "params": {"num_prev_frames_to_promote": 2}},
           "rcms": {"low_quality_threshold": 0.3, "max_promoted_frames": 5}}
    settings = resolve_video_settings(cfg, where="cfg", num_prev_frames_to_promote=3)
    policy = settings.memory_policy
    assert (policy.num_prev_frames_to_promote, policy.low_quality_threshold, policy.max_promoted_frames) == (3, 0.3, 5)
    assert settings.sources["num_prev_frames_to_promote"] == "argument"
    assert settings.sources["low_quality_threshold"] == "cfg rcms.low_quality_threshold"
    assert _rcms(resolve_video_settings(cfg).memory_policy) == (2, 0.3)
    with pytest.raises(ValueError, match="given twice"):
        resolve_video_settings(None, memory_policy={"name": "rcms", "params": {"num_prev_frames_to_promote": 2}},
                               num_prev_frames_to_promote=3)


def test_older_rcms_block_alone_selects_rcms_and_composed_members_get_the_arguments():
    old = resolve_video_settings({"rcms": {"num_prev_frames_to_promote": 2, "low_quality_threshold": 0.3}})
    assert isinstance(old.memory_policy, RCMSPolicy) and _rcms(old.memory_policy) == (2, 0.3)
    composed = resolve_video_settings(STOCK, memory_policy="rcms+samurai", low_quality_threshold=0.5).memory_policy
    assert isinstance(composed, ComposedPolicy)
    assert _rcms(composed.members[0]) == (PUBLISHED_N, 0.5) and composed.members[1].name == "samurai"


def test_dtype_batching_and_bad_values_name_their_source():
    settings = resolve_video_settings({"video_predictor": {"memory_dtype": "float32"}}, where="cfg",
                                      batch_objects=False)
    assert settings.memory_dtype == torch.float32 and settings.batch_objects is False
    assert settings.sources["memory_dtype"] == "cfg video_predictor.memory_dtype"
    assert resolve_video_settings(None).memory_dtype == torch.bfloat16
    line = settings.describe()
    assert "memory_dtype=float32 (cfg video_predictor.memory_dtype)" in line and "batch_objects=False (argument)" in line
    with pytest.raises(ValueError, match="memory_dtype 'int3'.*cfg video_predictor.memory_dtype"):
        resolve_video_settings({"video_predictor": {"memory_dtype": "int3"}}, where="cfg")
    with pytest.raises(ValueError, match="batch_objects must be true or false, got 'yes'"):
        resolve_video_settings(None, batch_objects="yes")
    with pytest.raises(ValueError, match="unknown keys \\['dtype'\\]"):
        resolve_video_settings({"video_predictor": {"dtype": "float32"}})
    with pytest.raises(ValueError, match="num_prev_frames_to_promote must be a non-negative integer"):
        resolve_video_settings(None, memory_policy="rcms", num_prev_frames_to_promote=2.5)
