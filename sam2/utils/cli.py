"""The command-line convention of the project's own tools (``tools/*.py``, ``examples/*.py``).

The tools that follow the official command line (``tools/vos_inference.py``) keep the official
flags; every other tool spells the flags it shares with the others the same way:

* ``--output DIR``: the output folder (``--out`` and ``--output-dir`` are accepted aliases);
* ``--no-progress``: no progress bar at all (the library's bars obey it too: the tool passes the
  setting down, e.g. ``propagate_in_video(..., progress=False)``);
* ``--device auto|cpu|cuda|cuda:N``: ``auto`` (the default) is CUDA when available, else CPU;
* ``--config`` / ``--checkpoint``: a model from a config and a checkpoint file, or
  ``--model ID``: an official Hugging Face id (``facebook/sam2.1-hiera-tiny``, ...), loaded through
  :mod:`sam2.utils.hub`;
* exit codes: :data:`EXIT_OK` 0 done, :data:`EXIT_FAILED` 1 failed, :data:`EXIT_USAGE` 2 bad
  arguments, :data:`EXIT_INTERRUPTED` 130 interrupted (Ctrl-C).

A tool ends with ``sys.exit(run_main(main))``; its ``main(argv)`` returns an exit code or raises
:class:`ToolError` (message and code) or ``KeyboardInterrupt``.
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: spellings of the output-folder flag: the name first, then the accepted aliases
OUTPUT_FLAGS = ("--output", "--out", "--output-dir")

#: the official model the tools suggest instead of the embedded demo model
SUGGESTED_MODEL_ID = "facebook/sam2.1-hiera-tiny"


class ToolError(Exception):
    """A failure a tool reports as one ``error: ...`` line on stderr and exit code ``code``."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def add_output_flag(parser: argparse.ArgumentParser, *, required: bool = False,
                    default: Optional[str] = None, what: str = "output folder",
                    short: Optional[str] = None) -> None:
    """``--output`` (aliases ``--out``, ``--output-dir``, and ``short`` such as ``-o`` where a tool
    had it) into ``args.output`` (a ``Path`` or None).

    ``default`` is the folder used when the flag is absent, as the help states it (the tool applies
    it; ``args.output`` stays None so the tool can tell).
    """
    if required:
        note = "required"
    else:
        note = f"default: {default}" if default is not None else "default: none"
    flags = OUTPUT_FLAGS + ((short,) if short else ())
    parser.add_argument(*flags, dest="output", type=Path, required=required, default=None,
                        metavar="DIR", help=f"{what} ({note}); --out and --output-dir are aliases")


def add_progress_flag(parser: argparse.ArgumentParser) -> None:
    """``--no-progress`` into ``args.no_progress``."""
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bars (the library's included)")


def add_device_flag(parser: argparse.ArgumentParser) -> None:
    """``--device`` into ``args.device`` (default ``auto``); resolve it with :func:`resolve_device`."""
    parser.add_argument("--device", default="auto",
                        help="torch device: auto, cpu, cuda, cuda:N (default: auto = cuda when available, else cpu)")


def resolve_device(name: str) -> str:
    """The torch device named by ``--device`` (``auto``: ``cuda`` when available, else ``cpu``).

    Raises:
        ToolError (exit code 2): an unknown device name, or CUDA asked for where there is none.
    """
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as exc:
        raise ToolError(f"--device {name!r}: not a torch device ({exc})", EXIT_USAGE) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ToolError(f"--device {name!r}: CUDA is not available on this machine (use cpu or auto)",
                        EXIT_USAGE)
    return str(device)


def add_model_flags(parser: argparse.ArgumentParser, *, config_default: str, checkpoint_default: str,
                    with_model_id: bool = True) -> None:
    """``--config``, ``--checkpoint`` and (``with_model_id``) ``--model`` into ``args.config``,
    ``args.checkpoint``, ``args.model``; all default to None, the help states what None means."""
    from sam2.utils.hub import known_model_ids

    group = parser.add_argument_group("model")
    group.add_argument("--config", default=None, help=f"model config name or path (default: {config_default})")
    group.add_argument("--checkpoint", default=None, help=f"checkpoint file (default: {checkpoint_default})")
    if with_model_id:
        ids = known_model_ids()
        group.add_argument("--model", default=None, metavar="ID",
                           help="an official Hugging Face model id instead of --config/--checkpoint, e.g. "
                                f"{SUGGESTED_MODEL_ID} (downloaded once into the Hugging Face cache; "
                                f"needs the hub extra); one of: {', '.join(ids)}")


def command_with_model(program: str, argv: Sequence[str], model_id: str = SUGGESTED_MODEL_ID) -> str:
    """The command line ``python PROGRAM ARGV`` with ``--config`` / ``--checkpoint`` / ``--model``
    replaced by ``--model MODEL_ID`` (what to run to use an official model instead)."""
    kept: list = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in ("--config", "--checkpoint", "--model"):
            skip = "=" not in arg
            continue
        kept.append(arg)
    return "python " + shlex.join([program, *kept, "--model", model_id])


def run_main(main: Callable[[Optional[Sequence[str]]], Optional[int]],
             argv: Optional[Sequence[str]] = None) -> int:
    """Run a tool's ``main(argv)`` and return its exit code under the convention above.

    ``ToolError`` prints ``error: MESSAGE`` and gives its code; ``KeyboardInterrupt`` prints
    ``interrupted`` and gives 130; ``SystemExit`` (argparse: 2 for bad arguments, 0 for ``--help``)
    gives its code. Any other exception propagates (Python exits with 1 and the traceback).
    """
    try:
        code = main(argv)
    except ToolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SystemExit as exc:
        if exc.code is None:
            return EXIT_OK
        if isinstance(exc.code, int):
            return exc.code
        print(exc.code, file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK if code is None else int(code)


__all__ = [
    "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_INTERRUPTED", "OUTPUT_FLAGS", "SUGGESTED_MODEL_ID",
    "ToolError", "add_output_flag", "add_progress_flag", "add_device_flag", "resolve_device",
    "add_model_flags", "command_with_model", "run_main",
]


#: the one syntax of ``--policy_opt`` (both ``vos_inference_ddp.py`` and ``compare_policies.py``)
POLICY_OPT_METAVAR = "[POLICY:]KEY=VALUE"


def _numbers(text: str, counts: Sequence[int], flag: str) -> list:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{flag} {text!r}: expected comma-separated numbers") from None
    if len(values) not in counts or not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(
            f"{flag} {text!r}: expected {' or '.join(str(c) for c in counts)} finite numbers")
    return values


def parse_click(text: str, flag: str = "--points") -> tuple:
    """``X,Y[,LABEL]`` (label 1 by default) as ``(x, y, label)``, checked by the library's prompt
    rules (clicks only: 1 positive, 0 negative); an ``argparse`` type."""
    from sam2.utils.prompt_checks import CLICK_LABELS, PromptError, check_points

    values = _numbers(text, (2, 3), flag)
    label = values[2] if len(values) == 3 else 1
    try:
        check_points([values[:2]], [label], f"{flag} {text!r}", allowed_labels=CLICK_LABELS)
    except PromptError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return values[0], values[1], int(label)


def parse_box(text: str, flag: str = "--box") -> tuple:
    """``X0,Y0,X1,Y1`` as a tuple of floats, checked by the library's prompt rules; an
    ``argparse`` type."""
    from sam2.utils.prompt_checks import PromptError, check_boxes

    values = _numbers(text, (4,), flag)
    try:
        check_boxes(values, f"{flag} {text!r}")
    except PromptError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return tuple(values)


def parse_policy_opts(items: Sequence[str], policies: Sequence[str]) -> Dict[str, Dict[str, Any]]:
    """``--policy_opt`` values -> ``{policy: {key: value}}`` for each of ``policies``.

    Each item is ``[POLICY:]KEY=VALUE``: ``POLICY`` names one of ``policies`` and may be left out
    when only one policy runs. ``KEY`` is a parameter of that policy (``member.param`` for a
    member of a composed policy); ``VALUE`` is read as JSON when it parses (numbers, booleans,
    null), else as text.

    Raises:
        ValueError: naming the item, when it has no ``=``, no key, an unknown policy, or no
            policy while several run.
    """
    out: Dict[str, Dict[str, Any]] = {p: {} for p in policies}
    for item in items:
        head, eq, raw = item.partition("=")
        policy, colon, key = head.rpartition(":")
        key = key.strip()
        if not eq or not key:
            raise ValueError(f"--policy_opt {item!r}: expected {POLICY_OPT_METAVAR}")
        if not colon:
            if len(out) != 1:
                raise ValueError(f"--policy_opt {item!r}: name the policy ({POLICY_OPT_METAVAR}); "
                                 f"several run: {', '.join(out) or 'none'}")
            policy = next(iter(out))
        policy = policy.strip()
        if policy not in out:
            raise ValueError(f"--policy_opt {item!r}: {policy!r} is not one of the policies run "
                             f"({', '.join(out) or 'none'})")
        try:
            out[policy][key] = json.loads(raw)
        except ValueError:
            out[policy][key] = raw
    return out
