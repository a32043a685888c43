"""Resource creators for the sandbox's Pulumi mocks: one handler per resource type, each
making the AWS call(s) the provider would make, on the emulator. ``HANDLERS`` maps the
Pulumi type token to its creator."""
from __future__ import annotations

from infra.sandbox.aws_creators import compute, operations, storage
from infra.sandbox.aws_creators.shapes import Handler

__all__ = ["HANDLERS"]

HANDLERS: dict[str, Handler] = {**storage.HANDLERS, **compute.HANDLERS, **operations.HANDLERS}
