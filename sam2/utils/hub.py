"""Loading the official SAM 2 / SAM 2.1 checkpoints by their Hugging Face hub id.

``SAM2ImagePredictor.from_pretrained("facebook/sam2.1-hiera-large")`` (and the video predictor's
and the mask generator's) end here: the id names a model config shipped with this package and a
checkpoint file in the hub repository of that id. The file is fetched (or found in the local
cache) by ``huggingface_hub.hf_hub_download``, which honours ``HF_HOME`` / ``HF_HUB_CACHE`` and
``HF_HUB_OFFLINE=1`` as usual.

``huggingface_hub`` is an optional dependency (the ``hub`` extra), imported only when a model is
actually loaded by id; without it the error says ``pip install "sam2-rcms[hub]"``. Without network
and without a cached copy, the error says where the file would come from and how to load a local
checkpoint instead.
"""
from __future__ import annotations

import inspect
import logging
import os
from typing import Any, Callable, Dict, List, Mapping, Tuple

from sam2.utils.extras import MissingExtraError

logger = logging.getLogger(__name__)

#: hub id -> (model config of this package, checkpoint file name in the hub repository)
HF_MODEL_ID_TO_FILENAMES: Dict[str, Tuple[str, str]] = {
    **{
        f"facebook/sam2-hiera-{size}": (f"configs/sam2/sam2_hiera_{short}.yaml", f"sam2_hiera_{stem}.pt")
        for size, short, stem in (
            ("tiny", "t", "tiny"), ("small", "s", "small"),
            ("base-plus", "b+", "base_plus"), ("large", "l", "large"),
        )
    },
    **{
        f"facebook/sam2.1-hiera-{size}": (f"configs/sam2.1/sam2.1_hiera_{short}.yaml", f"sam2.1_hiera_{stem}.pt")
        for size, short, stem in (
            ("tiny", "t", "tiny"), ("small", "s", "small"),
            ("base-plus", "b+", "base_plus"), ("large", "l", "large"),
        )
    },
}

HUB_EXTRA_HINT = 'pip install "sam2-rcms[hub]"'


class UnknownModelIdError(ValueError):
    """A hub id that is not one of the official SAM 2 / SAM 2.1 model ids."""


class HubDownloadError(RuntimeError):
    """The checkpoint of a hub id could neither be downloaded nor found in the local cache."""


def known_model_ids() -> List[str]:
    """The hub ids :func:`resolve_model_id` accepts, in a stable order."""
    return list(HF_MODEL_ID_TO_FILENAMES)


def resolve_model_id(model_id: str) -> Tuple[str, str]:
    """``(config name, checkpoint file name)`` of an official hub id.

    Raises:
        UnknownModelIdError: ``model_id`` is not a known id; the message lists the known ones.
    """
    if not isinstance(model_id, str):
        raise UnknownModelIdError(
            f"the model id must be a string such as 'facebook/sam2.1-hiera-large', got "
            f"{type(model_id).__name__}"
        )
    try:
        return HF_MODEL_ID_TO_FILENAMES[model_id.strip()]
    except KeyError:
        listing = "\n  ".join(known_model_ids())
        raise UnknownModelIdError(
            f"unknown SAM 2 model id {model_id!r}. Known Hugging Face ids:\n  {listing}\n"
            "For other weights, build the model from a config and a local checkpoint: "
            "build_sam2(config_file, ckpt_path)"
        ) from None


def _import_hf_hub_download() -> Callable[..., str]:
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as err:
        raise MissingExtraError(
            "loading a model by its Hugging Face id needs the optional dependency "
            f"'huggingface_hub': {HUB_EXTRA_HINT} (or build the model from a local checkpoint "
            "with build_sam2(config_file, ckpt_path))"
        ) from err
    return hf_hub_download


def _what_to_do(model_id: str, config: str, filename: str) -> str:
    cache = os.environ.get("HF_HUB_CACHE") or os.environ.get("HF_HOME") or "the default Hugging Face cache"
    return (
        f"Either download it where the hub is reachable (huggingface-cli download {model_id} "
        f"{filename}) and copy the cache here (point HF_HOME or HF_HUB_CACHE at it; now: {cache}), "
        f"or load the checkpoint file directly: build_sam2({config!r}, 'path/to/{filename}') "
        "(build_sam2_video_predictor takes the same arguments)"
    )


def _from_hub_package(err: BaseException) -> bool:
    return type(err).__module__.split(".")[0] == "huggingface_hub"


def download_checkpoint(model_id: str) -> Tuple[str, str]:
    """Fetch (or find in the cache) the checkpoint of ``model_id``.

    Returns:
        ``(config name, local checkpoint path)``.
    Raises:
        UnknownModelIdError, MissingExtraError, HubDownloadError (each names what to do).
    """
    config, filename = resolve_model_id(model_id)
    hf_hub_download = _import_hf_hub_download()
    try:
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError:  # older huggingface_hub: the class lives in .utils
        from huggingface_hub.utils import LocalEntryNotFoundError  # type: ignore[no-redef]
    try:
        path = hf_hub_download(repo_id=model_id.strip(), filename=filename)
    except LocalEntryNotFoundError as err:
        raise HubDownloadError(
            f"cannot get {filename!r} of {model_id!r}: the Hugging Face hub is not reachable "
            "(offline mode or no network) and the file is not in the local cache. "
            + _what_to_do(model_id, config, filename)
        ) from err
    except Exception as err:  # connection, HTTP and disk failures
        if not (isinstance(err, OSError) or _from_hub_package(err)):
            raise
        raise HubDownloadError(
            f"cannot get {filename!r} of {model_id!r} from the Hugging Face hub "
            f"({type(err).__name__}: {err}). " + _what_to_do(model_id, config, filename)
        ) from err
    logger.info("checkpoint of %s: %s", model_id, path)
    return config, path


def split_kwargs(
    kwargs: Mapping[str, Any], consumer: Callable[..., Any], builder: Callable[..., Any]
) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Share ``from_pretrained(**kwargs)`` between the model builder and the wrapping class.

    A keyword named in ``consumer``'s signature (e.g. ``points_per_side`` of the mask generator,
    ``mask_threshold`` of the image predictor) goes to the consumer; every other one goes to the
    builder (``device``, ``mode``, ``apply_postprocessing``, ``hydra_overrides_extra``, and model
    settings that become ``++model.<key>=<value>`` overrides).

    Returns:
        ``(builder_kwargs, consumer_kwargs)``.
    """
    def explicit(fn: Callable[..., Any]) -> set:
        return {
            name for name, p in inspect.signature(fn).parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        }

    mine = explicit(consumer) - {"self", "model", "sam_model"}
    theirs = explicit(builder)
    to_builder: Dict[str, Any] = {}
    to_consumer: Dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in mine and key not in theirs:
            to_consumer[key] = value
        else:
            to_builder[key] = value
    return to_builder, to_consumer


__all__ = [
    "HF_MODEL_ID_TO_FILENAMES", "HUB_EXTRA_HINT", "UnknownModelIdError", "MissingExtraError",
    "HubDownloadError", "known_model_ids", "resolve_model_id", "download_checkpoint", "split_kwargs",
]
