"""Which versions of a name's history may be served: the lineage rules of unpinned loads."""
from __future__ import annotations

from .. import manifest as mf

__all__ = ["live_versions", "predecessor", "predecessor_of_id"]


def live_versions(versions: list[str]) -> list[str]:
    """Versions (newest first) up to, not including, the newest tombstone."""
    live = []
    for version in versions:
        if mf.is_tombstone(version):
            break
        live.append(version)
    return live


def predecessor(history: list[str], m: mf.Manifest) -> str | None:
    """The version an unpinned load may fall back to when ``m`` cannot be served: for a
    rollback, the version it restored; otherwise the one committed just before it. None
    when that is a deletion (or there is none): the versions before a deletion, and those a
    rollback skipped, were moved away from and are never served unpinned."""
    if m.parent_version is not None:
        target: str | None = m.parent_version
    else:
        older = [v for v in history if mf.order_key(v) < mf.order_key(m.version)]
        target = max(older, key=mf.order_key) if older else None
    if target is None or mf.is_tombstone(target):
        return None
    return target


def predecessor_of_id(history: list[str], version: str) -> str | None:
    older = [v for v in history if mf.order_key(v) < mf.order_key(version)]
    target = max(older, key=mf.order_key) if older else None
    return None if target is None or mf.is_tombstone(target) else target

