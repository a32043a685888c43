"""Both stacks, as the real program registers them under mocks, pass every rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pulumi import runtime
from pulumi_policy import EnforcementLevel

from infra.policy import pack
from infra.policy.offline import policy_resources, run_pack

SHIPPED_CONFIG = json.loads((Path(pack.__file__).resolve().parent / "config.json").read_text())


@pytest.mark.parametrize("stack", ["dev", "dr"])
@pytest.mark.parametrize("config", [None, SHIPPED_CONFIG], ids=["defaults", "shipped-config"])
def test_stack_passes_every_rule(stack, config, request):
    run = request.getfixturevalue(stack)
    assert run_pack(run, config=config) == []


def test_the_rules_see_what_they_judge(dr):
    """Guard against a vacuous pass: the joins the stack rules rely on find the resources."""
    from infra.policy.route53 import health_check_of, primary_records
    from infra.policy.stack import BUCKET, StackView

    view = StackView(policy_resources(dr))
    assert view.stack == "dr" and view.project == "dr-platform"
    regions = {b.name: view.region(b) for b in view.of_type(BUCKET)}
    assert regions == {"primary-checkpoints-bucket": "us-east-1", "secondary-checkpoints-bucket": "us-west-2",
                       "primary-logs-bucket": "us-east-1", "secondary-logs-bucket": "us-west-2"}
    assert all(view.is_versioned(b) for b in view.of_type(BUCKET))
    checkpoints = [b for b in view.of_type(BUCKET) if "checkpoints" in b.name]
    assert all(view.kms_key_of(b) for b in checkpoints)
    # The log buckets are found as what AWS services deliver into (and so may use SSE-S3).
    targets = {next(b.name for b in view.of_type(BUCKET) if b.urn == urn): services
               for urn, services in view.log_targets().items()}
    assert targets == {"primary-logs-bucket": {"s3", "elb", "cloudtrail"}, "secondary-logs-bucket": {"s3", "elb"}}
    edges = {(e.source.name, e.destination.name) for e in view.replication_edges()}
    assert edges == {
        ("primary-checkpoints-bucket", "secondary-checkpoints-bucket"),
        ("secondary-checkpoints-bucket", "primary-checkpoints-bucket"),
    }
    (record,) = primary_records(view)
    assert health_check_of(view, record).name == "failover-primary-health"


def test_run_pack_clears_the_stack_config_it_exposed(dr):
    run_pack(dr)
    assert runtime.get_config("dr-platform:rtoSeconds") is None


def test_every_violation_is_mandatory_unless_configured(dev):
    from .conftest import mutated, remove

    broken = mutated(dev, lambda r: remove(r, "aws:s3/bucketVersioning:BucketVersioning"))
    levels = {v.enforcement_level for v in run_pack(broken) if v.policy == "s3-bucket-versioning"}
    assert levels == {EnforcementLevel.MANDATORY}
    advisory = run_pack(broken, config={"s3-bucket-versioning": "advisory"})
    assert {v.enforcement_level for v in advisory if v.policy == "s3-bucket-versioning"} == {EnforcementLevel.ADVISORY}
    disabled = run_pack(broken, config={"all": "disabled"})
    assert disabled == []


def test_region_falls_back_to_the_provider(dev):
    """Without pulumi-aws v7's per-resource region output, the provider's region decides."""
    from infra.policy.stack import BUCKET, StackView

    from .conftest import mutated, set_prop

    def strip(run):
        for registration in run.of_type(BUCKET):
            set_prop(registration, "region", None)

    view = StackView(policy_resources(mutated(dev, strip)))
    assert {b.name: view.region(b) for b in view.of_type(BUCKET)} == {
        "primary-checkpoints-bucket": "us-east-1",
        "secondary-checkpoints-bucket": "us-west-2",
        "primary-logs-bucket": "us-east-1",
        "secondary-logs-bucket": "us-west-2",
    }
