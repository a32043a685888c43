"""Storage backends: the few I/O primitives the store needs (see :mod:`.base`)."""
from .base import Backend
from .local import LocalBackend
from .memory import MemoryBackend

__all__ = ["Backend", "LocalBackend", "MemoryBackend"]
