"""Locations of the models shipped with the package (config name, checkpoint file, recorded scores).

Two trained models ship in ``sam2/checkpoints`` (record: ``sam2.1_hiera_demo.md``), with the same
architecture and parameter count, at two input sizes:

* 256 px, ``sam2.1_hiera_demo_256.pt`` — **the demo model**: what ``tools/demo.py``, the examples
  and ``tools/track_stream.py`` use by default; trained on synthetic and photographic videos;
* 128 px, ``sam2.1_hiera_demo.pt`` — the recipe's intermediate (synthetic videos only), about
  4x faster; the tests that only need *some* trained weights use it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence


@dataclass(frozen=True)
class ShippedModel:
    """A model in ``sam2/checkpoints``: its config (as ``build_sam2`` takes it) and file name."""

    config: str
    checkpoint_name: str
    image_size: int

    @property
    def checkpoint_path(self) -> Path:
        """Path of the checkpoint inside the installed package (may not exist)."""
        return _CHECKPOINT_DIR / self.checkpoint_name

    @property
    def scores_path(self) -> Path:
        """Scores recorded for it by ``tools/demo.py`` (``<checkpoint stem>_scores.json``)."""
        return _CHECKPOINT_DIR / (Path(self.checkpoint_name).stem + "_scores.json")


_CHECKPOINT_DIR = Path(__file__).resolve().parent.parent / "checkpoints"

#: The shipped models by input size.
SHIPPED_MODELS = {model.image_size: model for model in (
    ShippedModel("configs/sam2.1/sam2.1_hiera_demo_256.yaml", "sam2.1_hiera_demo_256.pt", 256),
    ShippedModel("configs/sam2.1/sam2.1_hiera_demo.yaml", "sam2.1_hiera_demo.pt", 128),
)}

#: Input size of the demo model (the default of every tool).
DEMO_IMAGE_SIZE = 256

#: Config of the demo model, as accepted by ``build_sam2`` / ``build_sam2_video_predictor``.
DEMO_CONFIG = SHIPPED_MODELS[DEMO_IMAGE_SIZE].config

#: How the tools' help states the default of ``--checkpoint``.
DEFAULT_CHECKPOINT_HELP = ("the checkpoint shipped with the config; the demo model's is sam2/checkpoints/"
                           f"{SHIPPED_MODELS[DEMO_IMAGE_SIZE].checkpoint_name}")

#: Seed of the splits the shipped models were trained on (``tools/make_synthetic_mose.py
#: --seed 1000``, synthetic and mixed photographic); held-out splits must use another seed.
DEMO_TRAINING_SEED = 1000


def _shipped(image_size: int) -> ShippedModel:
    try:
        return SHIPPED_MODELS[image_size]
    except KeyError:
        raise ValueError(f"no shipped model with a {image_size}-px input; there are {sorted(SHIPPED_MODELS)}") from None


def demo_checkpoint_path(image_size: int = DEMO_IMAGE_SIZE) -> Path:
    """Path of the shipped checkpoint for that input size (default: the demo model); may not exist."""
    return _shipped(image_size).checkpoint_path


def require_demo_checkpoint(image_size: int = DEMO_IMAGE_SIZE) -> Path:
    """Like :func:`demo_checkpoint_path`, but raise ``FileNotFoundError`` naming the path when it is absent."""
    path = demo_checkpoint_path(image_size)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: the shipped demo checkpoint is missing from this installation; reinstall the "
            "package or pass a checkpoint explicitly (--checkpoint)"
        )
    return path


def shipped_checkpoint_for(config: str) -> Path:
    """The shipped checkpoint that belongs to ``config`` (one of :data:`SHIPPED_MODELS`' configs).

    Raises:
        ValueError: ``config`` is not a shipped model's config (such a model needs its checkpoint
            given explicitly), naming the config.
        FileNotFoundError: the checkpoint is missing from this installation, naming the path.
    """
    for size, model in SHIPPED_MODELS.items():
        if config == model.config:
            return require_demo_checkpoint(size)
    known = ", ".join(m.config for m in SHIPPED_MODELS.values())
    raise ValueError(f"config {config}: no checkpoint ships with it (shipped configs: {known}); "
                     "pass the checkpoint explicitly (--checkpoint)")


def resolve_checkpoint(checkpoint: "str | Path | None", config: str) -> Path:
    """``checkpoint`` when given, else the shipped checkpoint that belongs to ``config``.

    Raises:
        ValueError: no checkpoint given and ``config`` is not a shipped model's config.
        FileNotFoundError: the checkpoint does not exist, naming the path.
    """
    path = Path(checkpoint) if checkpoint is not None else shipped_checkpoint_for(config)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    return path


#: What the demo model was trained on, said to whoever runs it on their own video.
DEMO_MODEL_TRAINING = ("synthetic shapes and a few photographs at 256 px (3 M parameters): it answers "
                       "clicks and boxes on videos like those, but on photographic videos it scores "
                       "below an empty mask")


@dataclass(frozen=True)
class ModelChoice:
    """The model a tool runs: config (as ``build_sam2`` takes it), checkpoint file, hub id if any."""

    config: str
    checkpoint: Path
    model_id: Optional[str] = None

    @property
    def is_shipped_demo_model(self) -> bool:
        """Whether this is one of the embedded models of :data:`SHIPPED_MODELS`."""
        if self.model_id is not None:
            return False
        return any(self.config == m.config and self.checkpoint.resolve() == m.checkpoint_path.resolve()
                   for m in SHIPPED_MODELS.values())


def choose_model(model_id: Optional[str], config: Optional[str], checkpoint: "str | Path | None",
                 default_config: str = DEMO_CONFIG) -> ModelChoice:
    """The model of a tool's ``--model`` / ``--config`` / ``--checkpoint`` flags.

    ``model_id`` (an official Hugging Face id) is fetched into, or found in, the Hugging Face cache
    (:func:`sam2.utils.hub.download_checkpoint`); otherwise ``config`` (default
    ``default_config``) with ``checkpoint`` (default: the shipped checkpoint of that config).

    Raises:
        ValueError: ``model_id`` together with ``config`` / ``checkpoint``, an unknown hub id, or
            no checkpoint for a config that ships none (the message names the flag and value).
        FileNotFoundError: the checkpoint does not exist.
        ImportError, RuntimeError: ``huggingface_hub`` missing, or the file not downloadable
            (see :mod:`sam2.utils.hub`).
    """
    if model_id is not None:
        if config is not None or checkpoint is not None:
            raise ValueError(f"--model {model_id}: give either --model or --config/--checkpoint, not both")
        from sam2.utils.hub import download_checkpoint

        hub_config, path = download_checkpoint(model_id)
        return ModelChoice(hub_config, Path(path), model_id.strip())
    chosen = config if config is not None else default_config
    return ModelChoice(chosen, resolve_checkpoint(checkpoint, chosen))



def choose_tool_model(model_id: Optional[str], config: Optional[str], checkpoint: "str | Path | None",
                      default_config: str = DEMO_CONFIG) -> ModelChoice:
    """:func:`choose_model` for a command-line tool: a bad choice (an unknown id, a config
    without a checkpoint) is a :class:`sam2.utils.cli.ToolError` with exit code 2, a model that
    cannot be had (a missing file, no hub extra, no network and no cached copy) one with exit
    code 1."""
    from sam2.utils import cli

    try:
        return choose_model(model_id, config, checkpoint, default_config)
    except ValueError as exc:
        raise cli.ToolError(str(exc), cli.EXIT_USAGE) from None
    except (OSError, ImportError, RuntimeError) as exc:
        raise cli.ToolError(str(exc)) from None

def demo_model_notice(program: str, argv: Sequence[str]) -> str:
    """One line for a tool that runs the embedded demo model on the user's own video: what the model
    was trained on, and the same command with the official SAM 2.1 tiny model instead."""
    from sam2.utils.cli import command_with_model

    return (f"note: the embedded demo model was trained on {DEMO_MODEL_TRAINING}; for the official "
            f"SAM 2.1 model run: {command_with_model(program, argv)}")
