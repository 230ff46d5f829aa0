"""Graceful-stop requests: SIGTERM / SIGUSR1 (what SLURM sends before pre-emption or time-out)
set a flag that the training loop checks after each step."""
from __future__ import annotations

import logging
import signal
import threading
from typing import Iterable

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class StopRequest:
    """A flag set by the stop signals (or by :meth:`request`)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signal_name = ""

    def request(self, reason: str = "request") -> None:
        if not self._event.is_set():
            self.signal_name = reason
            log.warning("stop requested (%s): finishing the current step, saving and exiting", reason)
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def install(self, signals: Iterable[int] = STOP_SIGNALS) -> None:
        """Route ``signals`` to :meth:`request` (main thread only; silently skipped elsewhere)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in signals:
            signal.signal(sig, lambda signum, frame: self.request(signal.Signals(signum).name))
