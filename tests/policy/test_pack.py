"""The pack definition the CLI would load, without the CLI."""

from __future__ import annotations

import json
import re
import runpy
from pathlib import Path

import pulumi_policy
import pytest
import yaml
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy

from infra.policy import pack

POLICY_DIR = Path(pack.__file__).resolve().parent
MIRRORED_ID = re.compile(r"CKV2?_AWS_\d+|AWS-\d{4}")

EXPECTED = {
    "s3-bucket-versioning": (StackValidationPolicy, {"CKV_AWS_21", "AWS-0090"}),
    "s3-bucket-encryption": (StackValidationPolicy, {"CKV_AWS_19", "CKV_AWS_145", "AWS-0088", "AWS-0132"}),
    "s3-public-access-block": (
        StackValidationPolicy,
        {"CKV2_AWS_6", "CKV_AWS_53", "CKV_AWS_54", "CKV_AWS_55", "CKV_AWS_56",
         "AWS-0086", "AWS-0087", "AWS-0091", "AWS-0093", "AWS-0094"},
    ),
    "s3-acls-disabled": (StackValidationPolicy, {"CKV2_AWS_65"}),
    "s3-tls-only-policy": (StackValidationPolicy, set()),
    "s3-abort-incomplete-multipart": (StackValidationPolicy, {"CKV2_AWS_61", "CKV_AWS_300"}),
    "s3-cross-region-replication": (StackValidationPolicy, {"CKV_AWS_144"}),
    "s3-replication-kms-rights": (StackValidationPolicy, set()),
    "kms-key-rotation": (ResourceValidationPolicy, {"CKV_AWS_7", "AWS-0065"}),
    "kms-key-policy": (ResourceValidationPolicy, {"CKV2_AWS_64"}),
    "iam-no-wildcard-action": (ResourceValidationPolicy, {"CKV_AWS_63"}),
    "iam-no-wildcard-resource-write": (ResourceValidationPolicy, {"CKV_AWS_355"}),
    "iam-no-passrole-wildcard": (ResourceValidationPolicy, set()),
    "iam-trust-exact-service": (ResourceValidationPolicy, set()),
    "route53-primary-health-check": (StackValidationPolicy, set()),
    "route53-failover-budget": (StackValidationPolicy, set()),
    "replication-alarms-in-metric-region": (StackValidationPolicy, set()),
    "fis-pause-replication-by-tags": (StackValidationPolicy, set()),
    "data-protected-from-deletion": (StackValidationPolicy, set()),
    "checkpoint-bucket-replica": (StackValidationPolicy, set()),
    "checkpoint-delete-only-maintainer": (StackValidationPolicy, set()),
    "drill-operator-least-privilege": (StackValidationPolicy, set()),
}


@pytest.fixture
def served(monkeypatch) -> dict:
    """Run infra/policy/__main__.py with PolicyPack replaced by a recorder (no gRPC server)."""
    captured: dict = {}

    def record(**kwargs):
        captured.update(kwargs)

    monkeypatch.setattr(pulumi_policy, "PolicyPack", record)
    runpy.run_path(str(POLICY_DIR / "__main__.py"), run_name="__main__")
    return captured


def test_main_serves_every_rule_mandatory_by_default(served):
    assert served["name"] == "dr-platform-baseline"
    assert served["enforcement_level"] is EnforcementLevel.MANDATORY
    policies = {p.name: p for p in served["policies"]}
    assert set(policies) == set(EXPECTED)
    for name, (kind, ids) in EXPECTED.items():
        policy = policies[name]
        assert isinstance(policy, kind), name
        # No rule overrides the pack's MANDATORY default; policy config can.
        assert policy.enforcement_level is None, name
        assert ids <= set(MIRRORED_ID.findall(policy.description)), (name, policy.description)
        if not ids:  # a rule no scanner has says so, rather than borrowing an id
            assert "no checkov / trivy id" in policy.description, name


def test_pulumi_policy_yaml_declares_a_python_pack():
    spec = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text())
    assert spec["runtime"]["name"] == "python"
    assert spec["description"]
    assert (POLICY_DIR / spec["runtime"]["options"]["virtualenv"]).resolve() == POLICY_DIR.parents[1] / ".venv"


def test_readme_lists_every_rule_with_its_ids():
    root = POLICY_DIR.parents[1]
    readme = (root / "README.md").read_text()
    assert "pulumi preview --policy-pack infra/policy" in readme
    # a rule's row may live in the README's table or in the docs page of its subject
    lines = readme.splitlines() + [l for page in sorted((root / "docs").glob("*.md"))
                                   for l in page.read_text().splitlines()]
    for name, (_, ids) in EXPECTED.items():
        line = next((l for l in lines if f"`{name}`" in l and "|" in l), None)
        assert line is not None, name
        assert ids <= set(MIRRORED_ID.findall(line)), name


def test_shipped_config_names_only_real_rules_and_properties():
    config = json.loads((POLICY_DIR / "config.json").read_text())
    policies = {p.name: p for p in pack.POLICIES}
    for name, entry in config.items():
        assert name in policies
        assert set(entry) - {"enforcementLevel"} <= set(policies[name].config_schema.properties)
