"""Ctrl-C as a request to stop at the next safe point, instead of an exception mid-update."""

from __future__ import annotations

import signal
import threading


class StopOnCtrlC:
    """A context manager: the first Ctrl-C sets :attr:`requested`, a second one raises KeyboardInterrupt.

    Outside the main thread (where Python cannot install signal handlers) it does nothing. The
    previous SIGINT handler is restored on exit.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame) -> None:
        if self.requested:
            # A second Ctrl-C: stop at once, the way Python normally does.
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> StopOnCtrlC:
        self.requested = False
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
