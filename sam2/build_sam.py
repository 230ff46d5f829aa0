"""Build SAM2 models and video predictors from Hydra configs, with strict checkpoint loading.

Public entry points (same names and meanings as the official ``sam2.build_sam``):

* :func:`build_sam2` -- the image model (``SAM2Base``), used by ``SAM2ImagePredictor``;
* :func:`build_sam2_video_predictor` -- ``SAM2VideoPredictor`` (or its VOS-optimised variant);
* :func:`list_configs` -- the model config names this package ships.

A config is named like ``configs/sam2.1/sam2.1_hiera_b+.yaml``; ``sam2.1/sam2.1_hiera_b+.yaml``,
``sam2.1_hiera_b+.yaml`` (when unambiguous) and the same without ``.yaml`` work too, as does a
filesystem path to a YAML file (which may list this package's configs in its ``defaults``,
e.g. ``- /configs/sam2.1/sam2.1_hiera_t``). Lookup and composition are those of
:mod:`sam2.utils.config_compose` (shared with the training configs): importing this module does
not touch Hydra's global state, and each build composes inside a private Hydra context that
leaves any Hydra application of the caller exactly as it was.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from sam2.utils.config_compose import (
    ConfigError,
    ConfigRef,
    UnknownConfigError,
    compose,
    list_package_configs,
)
from sam2.utils.config_compose import resolve_config as _resolve_config
from sam2.utils.hub import HF_MODEL_ID_TO_FILENAMES  # noqa: F401  (official name, re-exported)

logger = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
DeviceLike = Union[str, torch.device, None]

_VIDEO_PREDICTOR_TARGET = "sam2.sam2_video_predictor.SAM2VideoPredictor"
_VOS_PREDICTOR_TARGET = "sam2.sam2_video_predictor_vos.SAM2VideoPredictorVOS"

# Post-processing the official builders switch on with ``apply_postprocessing=True``.
_IMAGE_POSTPROCESSING: Tuple[str, ...] = (
    # fall back to the multimask outputs when the single-mask output is not stable
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_via_stability=true",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_delta=0.05",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh=0.98",
)
_VIDEO_POSTPROCESSING: Tuple[str, ...] = _IMAGE_POSTPROCESSING + (
    # memories of clicked frames are encoded from the binarised mask the user saw
    "++model.binarize_mask_from_pts_for_mem_enc=true",
    # fill holes up to 8 low-res pixels before upsampling to the video resolution
    "++model.fill_hole_area=8",
)



class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read or does not hold ``{"model": state_dict}``."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint whose state dict does not match the model (strict loading)."""


# --------------------------------------------------------------------------------------
# Configs (found and composed by sam2.utils.config_compose, shared with training)
# --------------------------------------------------------------------------------------
def list_configs() -> List[str]:
    """Names of the model configs shipped with the package, e.g. ``configs/sam2.1/sam2.1_hiera_t.yaml``.

    Building blocks (files or folders starting with ``_``) and training configs are left out.
    """
    return list_package_configs("model")


def resolve_config(config_file: PathLike) -> ConfigRef:
    """Find the model config a user means; raise :class:`UnknownConfigError` listing the choices."""
    return _resolve_config(config_file, "model")


def _override_value(value: Any) -> str:
    """Render a Python value for a Hydra command-line override."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, dict, bool, int, float)) or value is None:
        return json.dumps(value)
    raise TypeError(f"cannot express {value!r} ({type(value).__name__}) as a Hydra override")


def _kwargs_overrides(kwargs: Mapping[str, Any]) -> List[str]:
    return [f"++model.{key}={_override_value(val)}" for key, val in kwargs.items()]


def compose_config(config_file: PathLike, overrides: Sequence[str] = (), allow_any_target: bool = False) -> "Any":
    """Compose and resolve a model config (an ``omegaconf.DictConfig``) with Hydra overrides.

    Every ``_target_`` must pass the allowlist of :mod:`sam2.utils.config_targets` unless
    ``allow_any_target`` (or ``SAM2_ALLOW_ANY_TARGET=1``).

    Raises:
        UnknownConfigError: no such config (the message lists the available ones).
        ConfigError: Hydra cannot compose it, or it has no top-level ``model`` node.
        sam2.utils.config_errors.ConfigTargetError: (a ConfigError) a ``_target_`` outside the allowlist.
    """
    from omegaconf import OmegaConf

    cfg = compose(config_file, overrides, kind="model", allow_any_target=allow_any_target)
    OmegaConf.resolve(cfg)
    if "model" not in cfg:
        raise ConfigError(f"config {os.fspath(config_file)!r} has no top-level 'model' node")
    return cfg


# --------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------
_NUMPY_DATA_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                      "float16", "float32", "float64", "complex64", "complex128")
"""numpy dtypes whose arrays a checkpoint may carry (plain numbers; no object arrays)."""


def _numpy_safe_globals() -> list:
    """numpy's array and scalar reconstruction plus the numeric dtype classes: data only, no code."""
    import numpy as np

    core = np._core if hasattr(np, "_core") else np.core
    return [np.ndarray, np.dtype, core.multiarray._reconstruct, core.multiarray.scalar,
            *(type(np.dtype(name)) for name in _NUMPY_DATA_DTYPES)]


def _torch_load_weights(path: Path) -> Any:
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as first:  # noqa: BLE001 - classified below
        # Training checkpoints may carry numpy arrays (RNG states, counters of any integer or
        # float dtype); allow numpy's array reconstruction (still no arbitrary code) before giving up.
        if "Unsupported global" not in str(first):
            raise
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            return torch.load(str(path), map_location="cpu", weights_only=True)


def read_checkpoint_state_dict(ckpt_path: PathLike) -> Dict[str, torch.Tensor]:
    """Read the ``"model"`` state dict of an official-format checkpoint ``{"model": sd, ...}``.

    Other top-level entries (optimizer, schedulers, ...) are ignored. Raises
    :class:`CheckpointError` naming the file when it is missing, unreadable, or not of this form.
    """
    path = Path(os.fspath(ckpt_path)).expanduser()
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist or is not a file")
    try:
        payload = _torch_load_weights(path)
    except Exception as err:  # noqa: BLE001 - any failure here means "not a checkpoint"
        summary = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"checkpoint {str(path)!r} is not a readable PyTorch checkpoint "
            f"({type(err).__name__}: {summary})"
        ) from err
    if not isinstance(payload, Mapping) or "model" not in payload:
        found = sorted(map(str, payload.keys()))[:20] if isinstance(payload, Mapping) else type(payload).__name__
        raise CheckpointError(
            f"checkpoint {str(path)!r} does not hold a 'model' state dict "
            f"(expected {{'model': state_dict}}, found {found})"
        )
    state = payload["model"]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"checkpoint {str(path)!r}: 'model' is not a mapping of tensors")
    return dict(state)


def _bullet_list(title: str, items: Sequence[str], limit: int = 50) -> str:
    shown = "\n    ".join(items[:limit])
    more = f"\n    ... and {len(items) - limit} more" if len(items) > limit else ""
    return f"  {title} ({len(items)}):\n    {shown}{more}"


def check_state_dict_compatible(
    model: nn.Module, state: Mapping[str, torch.Tensor], source: str
) -> None:
    """Raise :class:`CheckpointMismatchError` unless ``state`` matches ``model`` key for key and shape for shape."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    reshaped = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if not (missing or unexpected or reshaped):
        return
    parts = [f"checkpoint {source!r} does not match the model (strict loading):"]
    if missing:
        parts.append(_bullet_list("missing keys", missing))
    if unexpected:
        parts.append(_bullet_list("unexpected keys", unexpected))
    if reshaped:
        parts.append(_bullet_list("shape mismatches", reshaped))
    raise CheckpointMismatchError("\n".join(parts))


def load_checkpoint(model: nn.Module, ckpt_path: Optional[PathLike]) -> None:
    """Strictly load ``{"model": state_dict}`` from ``ckpt_path`` into ``model`` (no-op for None)."""
    if ckpt_path is None:
        return
    state = read_checkpoint_state_dict(ckpt_path)
    check_state_dict_compatible(model, state, os.fspath(ckpt_path))
    model.load_state_dict(state, strict=True)
    logger.info("loaded checkpoint %s", os.fspath(ckpt_path))


# --------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------
def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _finish(model: nn.Module, ckpt_path: Optional[PathLike], device: DeviceLike, mode: str) -> nn.Module:
    if mode not in ("eval", "train"):
        raise ValueError(f"mode must be 'eval' or 'train', got {mode!r}")
    load_checkpoint(model, ckpt_path)
    model = model.to(_default_device() if device is None else device)
    if mode == "eval":
        model.eval()
    return model


def build_sam2(
    config_file: PathLike,
    ckpt_path: Optional[PathLike] = None,
    device: DeviceLike = None,
    mode: str = "eval",
    hydra_overrides_extra: Sequence[str] = (),
    apply_postprocessing: bool = True,
    allow_any_target: bool = False,
    **kwargs: Any,
) -> nn.Module:
    """Build the SAM2 image model (``SAM2Base``) from a config, optionally loading weights.

    Args:
        config_file: config name or YAML path (see the module docstring).
        ckpt_path: official-format checkpoint ``{"model": state_dict}``, loaded strictly.
        device: target device; ``None`` = CUDA when available, else CPU.
        mode: ``"eval"`` (default) or ``"train"``.
        hydra_overrides_extra: extra Hydra overrides, e.g. ``["++model.num_maskmem=5"]``.
        apply_postprocessing: dynamic multimask fallback via stability (as upstream).
        allow_any_target: let the config name any ``_target_`` (configs are data: by default
            only the package's and torch's module classes, see :mod:`sam2.utils.config_targets`).
        **kwargs: each becomes an override ``++model.<key>=<value>``.

    Returns:
        The model, float32, on ``device``. The config's video settings blocks are not used here.
    """
    from hydra.utils import instantiate

    overrides = list(hydra_overrides_extra)
    if apply_postprocessing:
        overrides += _IMAGE_POSTPROCESSING
    overrides += _kwargs_overrides(kwargs)
    cfg = compose_config(config_file, overrides, allow_any_target)
    model = instantiate(cfg.model, _recursive_=True)
    return _finish(model, ckpt_path, device, mode)


def build_sam2_video_predictor(
    config_file: PathLike,
    ckpt_path: Optional[PathLike] = None,
    device: DeviceLike = None,
    mode: str = "eval",
    hydra_overrides_extra: Sequence[str] = (),
    apply_postprocessing: bool = True,
    vos_optimized: bool = False,
    num_prev_frames_to_promote: Optional[int] = None,
    low_quality_threshold: Optional[float] = None,
    *,
    memory_policy: Any = None,
    rearm_after_present_frames: Optional[int] = None,
    max_promoted_frames: Optional[int] = None,
    memory_dtype: Optional[Union[str, torch.dtype]] = None,
    batch_objects: Optional[bool] = None,
    allow_any_target: bool = False,
    **kwargs: Any,
) -> nn.Module:
    """Build a ``SAM2VideoPredictor`` (``SAM2VideoPredictorVOS`` with ``vos_optimized``).

    The predictor's settings (:class:`~sam2.video.tracking.settings.VideoSettings`: memory policy,
    memory dtype, batching) are resolved once by
    :func:`~sam2.video.tracking.settings.resolve_video_settings` from the config's ``memory_policy``,
    ``video_predictor`` (and older ``rcms``) blocks and the arguments below (``None``: the
    config's value); the values in force and where each came from are logged (INFO).

    Args:
        config_file, ckpt_path, device, mode, hydra_overrides_extra, allow_any_target: as in
            :func:`build_sam2`.
        apply_postprocessing: as upstream: dynamic multimask via stability, binarised click
            masks for the memory encoder, ``fill_hole_area=8``.
        vos_optimized: use the VOS-optimised predictor (``torch.compile`` of the hot modules,
            on CPU and CUDA; see ``sam2.sam2_video_predictor_vos``).
        num_prev_frames_to_promote: RCMS ``N``, a parameter of the policy's ``rcms`` member;
            without ``memory_policy`` it is also the older switch (> 0 turns the config's plain
            SAM 2.1 into RCMS, 0 turns the config's RCMS off). A named policy is never changed
            by it: ``memory_policy="sam2.1"`` stays plain SAM 2.1.
        low_quality_threshold: RCMS ``tau`` (a parameter of the ``rcms`` member).
        memory_policy: a policy name (``"sam2.1"``, ``"rcms"``, see
            :mod:`sam2.video.policies`), ``{"name": ..., "params": {...}}`` or a policy object.
            Config: the ``memory_policy`` block (plain SAM2.1 by default; the ``*_rcms_*``
            configs select RCMS).
        rearm_after_present_frames, max_promoted_frames: RCMS extensions (``rcms`` member).
        memory_dtype, batch_objects: storage dtype of memories and object batching
            (``video_predictor.*``).
        **kwargs: each becomes an override ``++model.<key>=<value>``.
    """
    from hydra.utils import instantiate

    target = _VOS_PREDICTOR_TARGET if vos_optimized else _VIDEO_PREDICTOR_TARGET
    overrides = [f"++model._target_={target}"]
    if vos_optimized:
        overrides.append("++model.compile_image_encoder=True")
    overrides += list(hydra_overrides_extra)
    if apply_postprocessing:
        overrides += _VIDEO_POSTPROCESSING
    overrides += _kwargs_overrides(kwargs)
    cfg = compose_config(config_file, overrides, allow_any_target)
    from sam2.video.tracking.settings import resolve_video_settings

    settings = resolve_video_settings(
        cfg, where=f"config {os.fspath(config_file)!r}", memory_policy=memory_policy,
        num_prev_frames_to_promote=num_prev_frames_to_promote, low_quality_threshold=low_quality_threshold,
        rearm_after_present_frames=rearm_after_present_frames, max_promoted_frames=max_promoted_frames,
        memory_dtype=memory_dtype, batch_objects=batch_objects,
    )
    # partial instantiation: the settings (a policy object, a dtype) stay plain Python objects
    model = instantiate(cfg.model, _recursive_=True, _partial_=True)(settings=settings)
    return _finish(model, ckpt_path, device, mode)


# --------------------------------------------------------------------------------------
# Hugging Face hub ids (the official ``build_sam2_hf`` / ``build_sam2_video_predictor_hf``)
# --------------------------------------------------------------------------------------
def build_sam2_hf(model_id: str, **kwargs: Any) -> nn.Module:
    """:func:`build_sam2` for an official hub id such as ``"facebook/sam2.1-hiera-large"``.

    The id selects the shipped config and the checkpoint file of its hub repository (fetched or
    taken from the local Hugging Face cache; needs the ``hub`` extra). ``**kwargs`` as in
    :func:`build_sam2`. Errors: :class:`sam2.utils.hub.UnknownModelIdError` (lists the known
    ids), :class:`sam2.utils.hub.MissingExtraError`, :class:`sam2.utils.hub.HubDownloadError`.
    """
    from sam2.utils.hub import download_checkpoint

    config, checkpoint = download_checkpoint(model_id)
    return build_sam2(config, checkpoint, **kwargs)


def build_sam2_video_predictor_hf(model_id: str, **kwargs: Any) -> nn.Module:
    """:func:`build_sam2_video_predictor` for an official hub id (see :func:`build_sam2_hf`)."""
    from sam2.utils.hub import download_checkpoint

    config, checkpoint = download_checkpoint(model_id)
    return build_sam2_video_predictor(config, checkpoint, **kwargs)


__all__ = [
    "build_sam2_hf", "build_sam2_video_predictor_hf", "HF_MODEL_ID_TO_FILENAMES",
    "build_sam2", "build_sam2_video_predictor", "list_configs", "resolve_config", "compose_config",
    "load_checkpoint", "read_checkpoint_state_dict", "check_state_dict_compatible", "ConfigRef",
    "ConfigError", "UnknownConfigError", "CheckpointError", "CheckpointMismatchError",
]
