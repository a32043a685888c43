"""The API-shape translation every resource creator uses: engine inputs (camelCase) to AWS
API shapes (PascalCase), Pulumi's auto-naming, tag lists, and what a creator needs from the
emulator (:class:`EmulatorApi`), so creators do not depend on ``EmulatorAws`` itself."""
from __future__ import annotations

import secrets
from typing import Any, Callable, Optional, Protocol

import pulumi

__all__ = ["EmulatorApi", "Handler", "UnsupportedResource", "api_shape", "auto_name",
           "int_or_none", "tag_list"]

# engine camelCase key -> API key, where the PascalCase of the key is not the API's spelling
_API_KEYS = {
    "id": "ID",
    "cloudwatchMetricsEnabled": "CloudWatchMetricsEnabled",
    "kmsMasterKeyId": "KMSMasterKeyID",
    "replicaKmsKeyId": "ReplicaKmsKeyID",
    "sseAlgorithm": "SSEAlgorithm",
}


def api_shape(value: Any) -> Any:
    """camelCase engine inputs -> PascalCase API shapes; whole floats (the wire's numbers) -> int."""
    if isinstance(value, dict):
        return {_API_KEYS.get(k, k[:1].upper() + k[1:]): api_shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [api_shape(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def int_or_none(value: Any) -> Optional[int]:
    return None if value is None else int(value)


def auto_name(name: str, *, lower: bool = False, max_length: Optional[int] = None) -> str:
    """Pulumi's auto-naming: ``<logical name>-<7 hex>`` (trimmed to ``max_length``)."""
    suffix = secrets.token_hex(4)[:7]
    base = name.lower() if lower else name
    if max_length is not None:
        base = base[: max_length - len(suffix) - 1].rstrip("-")
    return f"{base}-{suffix}"


def tag_list(tags: Optional[dict[str, str]]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": str(v)} for k, v in (tags or {}).items()]


class UnsupportedResource(Exception):
    """The emulator does not implement (or rejects) what this resource needs."""


class EmulatorApi(Protocol):
    """What a resource creator uses of the emulator: its clients and a provider's default tags."""

    def client(self, service: str, region: str) -> Any: ...

    def default_tags(self, provider_ref: str) -> dict[str, str]: ...


#: Creates one resource on the emulator: ``(emulator, args, region, inputs) -> (id, extra state)``.
Handler = Callable[[EmulatorApi, pulumi.runtime.MockResourceArgs, str, dict[str, Any]], tuple[str, dict[str, Any]]]
