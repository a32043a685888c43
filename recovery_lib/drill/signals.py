"""Signals during a drill: SIGINT and SIGTERM become KeyboardInterrupt, so the rollbacks in
``Drill.run``'s ``finally`` always run."""
from __future__ import annotations

import signal
import threading
from typing import Any

__all__ = ["install_interrupt_handlers", "restore_signal_handlers"]


def install_interrupt_handlers() -> dict[int, Any]:
    """Turn SIGINT and SIGTERM into KeyboardInterrupt (main thread only), so a drill's
    rollbacks run; returns the previous handlers for :func:`restore_signal_handlers`."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def interrupt(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"received {signal.Signals(signum).name}")

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, interrupt)
    return previous


def restore_signal_handlers(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
