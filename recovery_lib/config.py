"""Options for S3-backed stores: small frozen dataclasses validated when built."""
from __future__ import annotations

import dataclasses
import math

from .errors import ConfigError

__all__ = ["S3Options", "MiB"]

MiB = 1024 * 1024
_S3_MIN_PART = 5 * MiB
_S3_MAX_PART = 5 * 1024 * MiB
RETRY_MODES = ("standard", "adaptive")


@dataclasses.dataclass(frozen=True, kw_only=True)
class S3Options:
    """How a store talks to S3 and when it gives up on a region.

    Timeouts are per socket operation, in seconds. ``metadata_timeout`` is the read timeout
    for small requests (manifests, LIST, HEAD): a region that cannot answer those quickly is
    treated as unavailable. ``read_timeout`` is for content transfers. botocore's defaults
    (60 s connect, 60 s read) would let one stuck endpoint hang a job for minutes.

    ``max_attempts`` is botocore's ``total_max_attempts`` (first try included) for
    ``retry_mode`` ``"standard"`` or ``"adaptive"``. A call that still fails is one
    :class:`~recovery_lib.RegionUnavailable` failure for the region's circuit breaker;
    ``breaker_threshold`` consecutive ones open it for ``breaker_cooldown`` seconds (calls
    then skip the region without waiting), after which one call tries it again (half-open).
    The default threshold is 1 because each counted failure has already been retried
    ``max_attempts`` times by botocore.

    ``write_failover``: when the primary region is unavailable, saves go to the secondary
    (the returned Checkpoint says ``region="secondary"``). When False they raise
    RegionUnavailable instead.

    The multipart settings become s3transfer's ``TransferConfig`` for ``save_file`` /
    ``load_file`` and for saves larger than ``multipart_threshold``.
    """

    connect_timeout: float = 0.5
    read_timeout: float = 10.0
    metadata_timeout: float = 0.5
    retry_mode: str = "standard"
    max_attempts: int = 3
    multipart_threshold: int = 8 * MiB
    multipart_chunksize: int = 8 * MiB
    max_concurrency: int = 10
    write_failover: bool = True
    breaker_threshold: int = 1
    breaker_cooldown: float = 30.0

    def __post_init__(self) -> None:
        for field in ("connect_timeout", "read_timeout", "metadata_timeout", "breaker_cooldown"):
            value = getattr(self, field)
            if (isinstance(value, bool) or not isinstance(value, (int, float))
                    or not math.isfinite(value) or value <= 0):
                raise ConfigError(f"S3Options.{field} must be a positive number of seconds, got {value!r}")
        for field, low in (("max_attempts", 1), ("max_concurrency", 1), ("breaker_threshold", 1),
                           ("multipart_threshold", 1)):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"S3Options.{field} must be an int >= {low}, got {value!r}")
        chunk = self.multipart_chunksize
        if isinstance(chunk, bool) or not isinstance(chunk, int) or not _S3_MIN_PART <= chunk <= _S3_MAX_PART:
            raise ConfigError(
                f"S3Options.multipart_chunksize must be an int between {_S3_MIN_PART} (5 MiB) and "
                f"{_S3_MAX_PART} (5 GiB), S3's part size limits; got {chunk!r}"
            )
        if self.retry_mode not in RETRY_MODES:
            raise ConfigError(
                f"S3Options.retry_mode must be one of {list(RETRY_MODES)}, got {self.retry_mode!r}"
            )
        if not isinstance(self.write_failover, bool):
            raise ConfigError(f"S3Options.write_failover must be a bool, got {self.write_failover!r}")

    @property
    def max_pool_connections(self) -> int:
        """Enough pooled connections for a multipart transfer plus a few small calls."""
        return max(10, self.max_concurrency + 4)
