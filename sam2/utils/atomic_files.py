"""One way to write an output file atomically: a temp file in the same folder, then ``os.replace``.

Temp files made by :mod:`tempfile` are private (mode ``0600``, folders ``0700``); before one
becomes an output it gets the mode any new file would get under the user's umask
(:func:`apply_new_file_mode`), so results on a shared machine are as readable as the user's
other files.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


def current_umask() -> int:
    """The process umask, read without changing it where the system allows (Linux ``/proc``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no way to read it without setting it: set and restore at once
    os.umask(mask)
    return mask


def apply_new_file_mode(path: str | os.PathLike, is_dir: bool = False) -> None:
    """Give ``path`` the mode a new file (``0666``) or folder (``0777``) gets under the umask."""
    os.chmod(path, (0o777 if is_dir else 0o666) & ~current_umask())


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temp path beside ``path`` to write to; on success it replaces ``path``.

    The temp name keeps ``path``'s suffix (writers such as PIL and matplotlib pick the format from
    it). On any error, or an interrupt, the temp file is removed and ``path`` is left as it was.
    The file ends with the mode the umask gives new files (not ``mkstemp``'s ``0600``).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    try:
        yield tmp
        apply_new_file_mode(tmp)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, payload: bytes) -> None:
    """Write ``payload`` to ``path`` through a temp file in the same folder and ``os.replace``."""
    with atomic_output(path) as tmp, open(tmp, "wb") as handle:
        handle.write(payload)
