"""``CheckpointStore``: the store jobs use, assembled from its layers, and its constructors."""
from __future__ import annotations

import os
import threading
import time
import urllib.parse
from typing import Any, Callable, Mapping

from ..backends.local import LocalBackend
from ..backends.memory import MemoryBackend
from ..config import S3Options
from ..errors import ConfigError, InvalidName
from ..failover import FailoverPolicy
from ..names import validate_prefix
from ..platform import Platform, load_platform
from .commits import CommitProtocol
from .replication_status import ReplicationChecks

__all__ = ["CheckpointStore"]

_named_memory: dict[str, "CheckpointStore"] = {}
_named_memory_lock = threading.Lock()


class CheckpointStore(CommitProtocol, ReplicationChecks):
    """Versioned checkpoints in one region, or in a primary region with a secondary.

    Build one with :meth:`memory`, :meth:`local`, :meth:`from_platform` or :meth:`from_url`,
    or pass backends directly (``secondary`` enables failover and replication checks).

    Reads prefer the primary region. When it is unavailable (after bounded retries, or
    while its circuit breaker is open) every read, ``exists`` and listings included, is
    answered by the secondary: what the secondary can serve is what a recovery would get.
    Saves go to the secondary too unless the policy's write failover is off; once this
    store has written there, its listings merge both regions so it keeps seeing its own
    newest versions after the primary returns (other processes rely on two-way
    replication for that).
    """

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def memory(cls) -> "CheckpointStore":
        """A store in this process's memory (tests, throwaway pipelines)."""
        return cls(MemoryBackend())

    @classmethod
    def local(cls, path: str | os.PathLike[str]) -> "CheckpointStore":
        """A store in a local directory (created if needed)."""
        return cls(LocalBackend(path))

    @classmethod
    def from_platform(cls, descriptor: str | os.PathLike[str] | Mapping[str, Any] | Platform | None = None,
                      *, options: S3Options | None = None, session: Any = None,
                      client_factory: Any = None, clock: Callable[[], float] = time.monotonic,
                      manifest_key: bytes | None = None,
                      wall_clock: Callable[[], int] = time.time_ns) -> "CheckpointStore":
        """A store over the platform's replicated buckets, failing over to the secondary.

        ``descriptor``: the descriptor dict, a path to its JSON, or None for the file named
        by ``$DR_PLATFORM``. ``session`` (a boto3 Session) or ``client_factory`` (called
        as ``factory(region_name=..., endpoint_url=..., config=...)``) supply S3 clients;
        by default a boto3 Session is created on first use (standard credential chain).
        """
        from ..backends.s3 import S3Backend  # boto3 is imported only by S3 stores

        platform = load_platform(descriptor)
        options = options or S3Options()
        backends = [
            S3Backend(spec.bucket, region=role, region_name=spec.name,
                      endpoint_url=spec.endpoint_url, kms_key_arn=spec.kms_key_arn,
                      options=options, session=session, client_factory=client_factory)
            for role, spec in (("primary", platform.primary), ("secondary", platform.secondary))
        ]
        policy = FailoverPolicy(["primary", "secondary"], threshold=options.breaker_threshold,
                                cooldown=options.breaker_cooldown,
                                write_failover=options.write_failover, clock=clock)
        return cls(backends[0], backends[1], prefix=platform.checkpoint_prefix, policy=policy,
                   manifest_key=manifest_key, two_way=platform.replication.two_way,
                   wall_clock=wall_clock)

    @classmethod
    def from_url(cls, url: str, *, options: S3Options | None = None, session: Any = None,
                 client_factory: Any = None) -> "CheckpointStore":
        """``memory://`` (a new in-memory store), ``memory://NAME`` (one shared per process
        and name), ``file://PATH`` (local directory; ``file:///abs`` or ``file://rel``) or
        ``s3://bucket/prefix`` (one region, credentials and region from the AWS chain)."""
        if not isinstance(url, str):
            raise ConfigError(f"store URL must be a str, got {type(url).__name__}")
        parsed = urllib.parse.urlsplit(url)
        scheme = parsed.scheme.lower()
        if scheme == "memory":
            name = parsed.netloc + parsed.path
            if not name:
                return cls.memory()
            with _named_memory_lock:
                return _named_memory.setdefault(name, cls.memory())
        if scheme == "file":
            path = urllib.parse.unquote(parsed.netloc + parsed.path)
            if not path:
                raise ConfigError(f"store URL {url!r} has no path; use file:///abs/dir or file://rel/dir")
            return cls.local(path)
        if scheme == "s3":
            from ..backends.s3 import S3Backend

            bucket = parsed.netloc
            if not bucket:
                raise ConfigError(f"store URL {url!r} has no bucket; use s3://bucket/prefix")
            prefix = urllib.parse.unquote(parsed.path.lstrip("/"))
            if prefix and not prefix.endswith("/"):
                prefix += "/"
            try:
                validate_prefix(prefix, what="S3 key prefix")
            except InvalidName as exc:
                raise ConfigError(f"store URL {url!r}: {exc}") from exc
            options = options or S3Options()
            backend = S3Backend(bucket, region="primary", options=options, session=session,
                                client_factory=client_factory)
            policy = FailoverPolicy(["primary"], threshold=options.breaker_threshold,
                                    cooldown=options.breaker_cooldown)
            return cls(backend, prefix=prefix, policy=policy)
        raise ConfigError(
            f"unsupported store URL {url!r}; use memory://, file://PATH or s3://bucket/prefix"
        )
