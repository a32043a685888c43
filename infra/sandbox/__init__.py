"""The offline sandbox: the real Pulumi program deployed into moto, with the emulators moto lacks.

``python -m infra.sandbox up|down|status`` (see docs/sandbox.md), or in-process::

    from infra.sandbox import Sandbox
    with Sandbox("dr", state_dir, time_scale=10) as sandbox:
        sandbox.platform            # the descriptor, endpoint_url -> the fault proxies
        sandbox.set_s3_fault("primary", "blackhole")
"""

from infra.sandbox.fault_proxy import MODES as S3_FAULT_MODES
from infra.sandbox.fault_proxy import FaultProxy
from infra.sandbox.sandbox import Sandbox

__all__ = ["Sandbox", "FaultProxy", "S3_FAULT_MODES"]
