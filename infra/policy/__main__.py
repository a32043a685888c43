"""Entry point the Pulumi CLI runs for ``pulumi preview --policy-pack infra/policy``.

Serves the dr-platform-baseline pack; the rules live in importable modules (``pack.py``).
"""

import sys
from pathlib import Path

from pulumi_policy import PolicyPack

try:
    from infra.policy.pack import pack_arguments
except ImportError:  # the CLI runs this file from infra/policy without the project installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from infra.policy.pack import pack_arguments

PolicyPack(**pack_arguments())
