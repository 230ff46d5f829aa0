"""Checks at the edges of the tools: names read from files, outputs apart from inputs, regular files.

Every tool of the project goes through these before it does any work:

* :func:`check_entry_name`: a video (or other) name read from a list file, a meta file, a
  folder listing or a zip is one plain path component (no ``..``, no separator, not absolute,
  no NUL / newline / control character, not hidden), so it cannot point outside the folders the
  user named;
* :func:`check_outputs_apart`: no output path is the same as, inside, or around an input path
  (symlinks resolved), so an output can never replace an input;
* :func:`check_output_folder`: an output folder that exists is a folder (not a file);
* :func:`claim_output_folder`: a tool writes only into a new, empty or its own (marked) folder;
* :func:`read_regular_text`: a list or meta file is a regular file (a FIFO, a device or a
  folder is refused instead of blocking or reading forever).
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Mapping, Optional, Union

from sam2.utils.atomic_files import atomic_output

PathLike = Union[str, os.PathLike]

__all__ = [
    "UnsafePathError",
    "check_entry_name",
    "claim_output_folder",
    "check_output_folder",
    "check_outputs_apart",
    "describe_kind",
    "is_inside",
    "read_regular_text",
]


class UnsafePathError(ValueError):
    """A name or path the tools refuse (the message names the argument or file and the value)."""


def check_entry_name(name: str, source: str) -> str:
    """Return ``name`` when it is one safe path component; else raise :class:`UnsafePathError`.

    Args:
        name: a name read from a list file, a meta file, a folder listing or an archive.
        source: where it was read (e.g. ``"list.txt line 3"``), for the message.
    """
    reason = None
    if not isinstance(name, str) or not name:
        reason = "empty name"
    elif name in (".", ".."):
        reason = "a relative reference to a folder ('.' or '..')"
    elif "/" in name or "\\" in name:
        reason = "contains a path separator ('/' or '\\')"
    elif any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        reason = "contains a control character (NUL, newline, tab, ...)"
    elif name.startswith("."):
        reason = "starts with '.' (hidden names are reserved for temporary files)"
    elif name != name.strip():
        reason = "has leading or trailing white space"
    if reason is not None:
        raise UnsafePathError(f"{source}: refusing the name {name!r}: {reason}")
    return name


def describe_kind(path: PathLike) -> str:
    """What ``path`` is, in words: ``"a regular file"``, ``"a folder"``, ``"a FIFO"``, ..., ``"missing"``."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    for test, words in (
        (stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return words
    return "not a regular file"


def read_regular_text(path: PathLike, what: str, encoding: str = "utf-8") -> str:
    """The text of ``path``, which must be a regular file (opened without blocking on a FIFO).

    Raises:
        FileNotFoundError: ``path`` does not exist (the message names ``what`` and the path).
        UnsafePathError: ``path`` is a folder, a FIFO, a device or a socket.
    """
    kind = describe_kind(path)
    if kind == "missing":
        raise FileNotFoundError(f"{what}: file not found: {path}")
    if kind != "a regular file":
        raise UnsafePathError(f"{what}: {path} is {kind}, not a regular file")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):  # swapped since the check above
            raise UnsafePathError(f"{what}: {path} is not a regular file")
        data = handle.read()
    return data.decode(encoding)


def _resolved(path: PathLike) -> Path:
    return Path(os.path.abspath(Path(path).expanduser())).resolve()


def is_inside(path: PathLike, folder: PathLike) -> bool:
    """True when ``path`` is ``folder`` or lies under it (both resolved, symlinks followed)."""
    return _resolved(path).is_relative_to(_resolved(folder))


def _shown(path: PathLike) -> str:
    real = _resolved(path)
    return f"{path}" if str(real) == os.path.abspath(Path(path).expanduser()) else f"{path} (resolves to {real})"


def check_outputs_apart(outputs: Mapping[str, Optional[PathLike]], inputs: Mapping[str, Optional[PathLike]]) -> None:
    """Refuse any output that is an input, lies inside one, or holds one (symlinks resolved).

    Args:
        outputs: argument name -> output path (folder or file; ``None`` entries are skipped).
        inputs: argument name -> input path (folder or file; ``None`` entries are skipped).

    Raises:
        UnsafePathError: naming both arguments and both paths.
    """
    for out_flag, out in outputs.items():
        if out is None:
            continue
        real_out = _resolved(out)
        for in_flag, inp in inputs.items():
            if inp is None:
                continue
            real_in = _resolved(inp)
            if real_out == real_in:
                relation = "is the same path as"
            elif real_out.is_relative_to(real_in):
                relation = "lies inside"
            elif real_in.is_relative_to(real_out):
                relation = "holds"
            else:
                continue
            raise UnsafePathError(
                f"{out_flag} {_shown(out)} {relation} {in_flag} {_shown(inp)}: outputs must go to a "
                "place apart from the inputs (the tool would write over them); choose another output path"
            )


def check_output_folder(path: PathLike, flag: str) -> None:
    """Refuse an output folder path that exists but is not a folder (or a symlink to one)."""
    kind = describe_kind(path)
    if kind not in ("missing", "a folder"):
        raise UnsafePathError(f"{flag}: {path} exists and is {kind}, not a folder; choose a folder path")


def claim_output_folder(path: PathLike, marker: str, owner: str, flag: str) -> Path:
    """Make ``path`` an output folder of ``owner``: new, empty, or already marked by it.

    A new or empty folder gets the marker file ``marker``; a folder holding the marker is reused
    (its contents were written by ``owner``); any other folder is refused, so a tool that later
    replaces its own sub-folders never deletes anything it did not create.

    Raises:
        UnsafePathError: ``path`` is a file, or a folder of other files (the message says what to do).
    """
    folder = Path(path)
    check_output_folder(folder, flag)
    if folder.is_dir() and not (folder / marker).is_file() and any(folder.iterdir()):
        raise UnsafePathError(
            f"{flag} {folder} already holds files that {owner} did not write; it writes only into a new or "
            f"empty folder, or one it made before (marked by {marker}): choose another {flag}"
        )
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / marker).is_file():
        with atomic_output(folder / marker) as tmp, open(tmp, "w", encoding="utf-8") as handle:
            handle.write(f"written by {owner}; it may replace its own files in this folder\n")
    return folder
