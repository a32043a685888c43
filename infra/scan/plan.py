"""The program run for a stack under the scan's mocks, as a Terraform plan (``Plan``).

Runs ``infra/__main__.py`` through ``infra.mockrun.run_program`` (the stack's config loaded
as the CLI loads it), then hands the custom resources and the providers to the translator.
"""

from __future__ import annotations

import importlib
import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import Optional

from infra.mockrun import ProgramRun, run_program
from infra.scan.mocks import ScanAws
from infra.scan.translate import Plan, Resource, build_plan

logger = logging.getLogger(__name__)


@lru_cache(maxsize=None)
def taggable(token: str) -> bool:
    """Whether pulumi-aws gives the resource ``tags_all`` (the provider's default tags reach it)."""
    module = token.split(":", 2)[1].split("/", 1)[0]  # aws:<module>/<name>:<Class>
    cls_name = token.rsplit(":", 1)[-1]
    try:
        package = importlib.import_module("pulumi_aws" if module == "index" else f"pulumi_aws.{module}")
    except ImportError:
        return False
    cls = getattr(package, cls_name, None)
    return cls is not None and hasattr(cls, "tags_all")


def plan_of(run: ProgramRun) -> Plan:
    providers = {r.urn: r.inputs for r in run.registrations if r.type.startswith("pulumi:providers:")}
    resources = [
        Resource(
            urn=r.urn, type=r.type, name=r.name, inputs=r.inputs, state=r.state, id=r.id,
            dependencies=r.dependencies, provider_urn=r.provider_urn,
        )
        for r in run.resources()
    ]
    return build_plan(resources, providers, taggable=taggable)


def stack_plan(stack: str, out: Optional[Path] = None) -> Plan:
    """The plan for ``stack``; written to ``out`` as JSON when given."""
    run = run_program(stack, ScanAws())
    plan = plan_of(run)
    logger.info("stack %s: %d resources translated", stack, len(plan.sources))
    if out is not None:
        out.write_text(json.dumps(plan.document, indent=1, sort_keys=True))
    return plan
