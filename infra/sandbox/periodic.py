"""A background thread that runs one step every interval until stopped (the emulators' loop)."""

from __future__ import annotations

import logging
import threading
from typing import Callable, Optional

import botocore.exceptions

logger = logging.getLogger(__name__)


class Periodic:
    """Calls ``step()`` every ``interval()`` real seconds on a daemon thread.

    An emulator step that fails against the emulator (a botocore error) is logged and the
    loop goes on; anything else is a bug and ends the thread loudly.
    """

    def __init__(self, name: str, step: Callable[[], None], interval: Callable[[], float]) -> None:
        self.name = name
        self._step = step
        self._interval = interval
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                logger.warning("%s step failed: %s", self.name, exc)
            self._stop.wait(self._interval())
