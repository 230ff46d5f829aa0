"""One run per output folder: a lock file holding the writer's pid and host.

``with OutputLock(folder, "tools/vos_inference.py"): ...`` creates ``folder/.sam2-rcms.lock``
atomically (a hard link of a complete temp file, so the lock never exists half-written; an
exclusive create where the file system has no hard links) and removes it on exit. A second run on the same folder stops with :class:`OutputLockedError`, which
names the holder. A lock left by a process that no longer runs (same host, pid gone: a run killed
with ``kill -9``) is recognised as stale and taken over with a warning. A lock from another host
cannot be checked; the message says to remove the file when no run is active there.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Optional

from sam2.utils.atomic_files import apply_new_file_mode

logger = logging.getLogger(__name__)

LOCK_NAME = ".sam2-rcms.lock"

__all__ = ["LOCK_NAME", "OutputLock", "OutputLockedError"]


class OutputLockedError(RuntimeError):
    """Another run writes into the output folder (the message names it and what to do)."""


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


class OutputLock:
    """Exclusive lock of one output folder for the lifetime of a run (see the module doc).

    Args:
        folder: the output folder (created when missing).
        tool: what holds the lock, for the message a second run prints.
    """

    def __init__(self, folder: str | os.PathLike, tool: str) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.tool = tool
        self._held = False

    def _payload(self) -> bytes:
        return json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "tool": self.tool,
                           "started": time.strftime("%Y-%m-%d %H:%M:%S")}).encode("utf-8")

    def _read_holder(self) -> Optional[dict]:
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}
        return doc if isinstance(doc, dict) else {}

    def _is_stale(self, holder: dict) -> bool:
        if holder.get("host") != socket.gethostname():
            return False
        try:
            pid = int(holder.get("pid"))
        except (TypeError, ValueError):
            return False
        return pid != os.getpid() and not _pid_alive(pid)

    def _check_holder(self) -> None:
        """Raise when a live run holds the lock; remove a stale lock (a killed run's)."""
        holder = self._read_holder()
        if holder is None:  # no lock (or released meanwhile)
            return
        if not (holder and self._is_stale(holder)):
            raise OutputLockedError(self._locked_message(holder))
        logger.warning("%s: taking over the lock of process %s (%s), which no longer runs",
                       self.path, holder.get("pid"), holder.get("tool"))
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def _create(self, tmp: str) -> None:
        """Create the lock file from the complete temp file ``tmp``; ``FileExistsError`` if present."""
        try:
            os.link(tmp, self.path)  # atomic and never half-written
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links: exclusive create, then write
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            with os.fdopen(fd, "wb") as handle:
                handle.write(self._payload())

    def acquire(self) -> None:
        """Take the lock or raise :class:`OutputLockedError` (nothing is written into a folder in use)."""
        self._check_holder()
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f"{LOCK_NAME}.", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(self._payload())
            apply_new_file_mode(tmp)
            for _ in range(3):
                try:
                    self._create(tmp)
                    self._held = True
                    return
                except FileExistsError:
                    self._check_holder()  # another run got there first: raises unless it is stale
            raise OutputLockedError(self._locked_message(self._read_holder() or {}))
        finally:
            os.unlink(tmp)

    def _locked_message(self, holder: dict) -> str:
        who = (f"process {holder.get('pid')} on {holder.get('host')} ({holder.get('tool')}, since {holder.get('started')})"
               if holder else "a run whose lock file is unreadable")
        return (f"{self.folder} is in use by {who}: two runs on one output folder would spoil each other's "
                f"output. Wait for it to finish or choose another output folder; if no such run is active, "
                f"delete {self.path}")

    def release(self) -> None:
        """Remove the lock file if this object holds it."""
        if self._held:
            self._held = False
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    def __enter__(self) -> "OutputLock":
        self.acquire()
        return self

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.release()


def claim_and_lock(out: Path, flag: str, inputs: "dict", marker: str, owner: str) -> OutputLock:
    """The demo's way into its output folder ``out`` (named by ``flag``): apart from ``inputs``
    (flag -> path), new, empty or carrying ``marker``, then locked for ``owner``.

    Returns the acquired lock (release it when done).

    Raises:
        sam2.utils.safe_paths.UnsafePathError, OutputLockedError: naming the paths or the holder.
    """
    from sam2.utils.safe_paths import check_outputs_apart, claim_output_folder

    check_outputs_apart({flag: out}, inputs)
    claim_output_folder(out, marker, owner, flag)
    lock = OutputLock(out, owner)
    lock.acquire()
    return lock
