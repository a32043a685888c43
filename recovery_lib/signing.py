"""Authenticated manifests (optional, off by default): an HMAC-SHA256 key signs each manifest.

The manifest checksum (:mod:`recovery_lib.manifest`) has no key, so anyone who may write
the store's prefix (every job role) can write a manifest that verifies. With a manifest key
set, every manifest the store writes carries ``signature`` = HMAC-SHA256(key, canonical
JSON of the other fields), and a manifest without a signature, or with a wrong one, raises
:class:`~recovery_lib.IntegrityError` on load, like changed content.

Where the key comes from, first match wins:

- ``CheckpointStore(..., manifest_key=b"...")`` (or ``from_platform``/``from_url``);
- the environment variable ``RECOVERY_MANIFEST_KEY``: the key as hex (64+ hex digits) or
  base64 (decoding to 32+ bytes). A KMS data key fits here: generate it with
  ``aws kms generate-data-key --key-spec AES_256`` once per platform, store the *encrypted*
  blob, and decrypt it into the environment of the jobs allowed to sign.

Keys shorter than 32 bytes are refused (ConfigError): RFC 2104 recommends a key at least as
long as the hash output. Readers need the key too; a reader without one cannot tell a
forged manifest from a genuine one, which is why loading a ``pickle`` checkpoint from a store
without a key logs a WARNING (pickle runs code of the writer's choosing).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from typing import Mapping

from .errors import ConfigError, IntegrityError

__all__ = ["SignatureError", "ENV_VAR", "MIN_KEY_BYTES", "key_from_environment", "check_key", "sign", "verify"]

ENV_VAR = "RECOVERY_MANIFEST_KEY"
MIN_KEY_BYTES = 32
_HEX = re.compile(r"^[0-9a-fA-F]+$")


class SignatureError(IntegrityError):
    """A manifest is unsigned or badly signed while a manifest key is set. Unlike damage
    (a checksum mismatch), this is someone writing records; loads never fall back past it."""


def check_key(key: object) -> bytes:
    if not isinstance(key, (bytes, bytearray)):
        raise ConfigError(f"manifest key must be bytes, got {type(key).__name__}")
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"manifest key has {len(key)} bytes; at least {MIN_KEY_BYTES} are "
                          "required (HMAC-SHA256, RFC 2104)")
    return bytes(key)


def key_from_environment(environ: Mapping[str, str] | None = None) -> bytes | None:
    """The key in ``$RECOVERY_MANIFEST_KEY`` (hex or base64), or None when it is unset."""
    value = (os.environ if environ is None else environ).get(ENV_VAR, "").strip()
    if not value:
        return None
    if _HEX.match(value) and len(value) % 2 == 0:
        key = bytes.fromhex(value)
    else:
        try:
            key = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConfigError(f"${ENV_VAR} is neither hex nor base64; set it to e.g. the "
                              "output of `openssl rand -hex 32`") from exc
    try:
        return check_key(key)
    except ConfigError as exc:
        raise ConfigError(f"${ENV_VAR}: {exc}") from None


def sign(key: bytes, canonical: bytes) -> str:
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


def verify(key: bytes, canonical: bytes, signature: object) -> bool:
    return isinstance(signature, str) and hmac.compare_digest(sign(key, canonical), signature)
