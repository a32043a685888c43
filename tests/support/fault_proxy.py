"""The per-region TCP fault proxy, shared with the sandbox (one implementation).

Kept as an import path for the tests and benchmarks that use it.
"""
from infra.sandbox.fault_proxy import MODES, FaultProxy

__all__ = ["FaultProxy", "MODES"]
