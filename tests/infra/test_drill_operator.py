"""The drill operator role: what `recovery drill` assumes, with only what a drill calls."""

from __future__ import annotations

import json

import pytest

from infra import drill_operator_policy as dop
from infra.mockrun import ProgramRun
from infra.policies import allowed_actions

from .conftest import policy_of

ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


@pytest.mark.parametrize("stack", ["dev", "dr"])
def test_the_operator_may_do_what_a_drill_does_and_nothing_more(stack, request):
    run: ProgramRun = request.getfixturevalue(stack)
    role = run.one("aws:iam/role:Role", "drill-operator-role")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert [s["Principal"] for s in trust["Statement"]] == [{"AWS": "arn:aws:iam::123456789012:root"}]
    policy = policy_of(run.one(ROLE_POLICY, "drill-operator-policy"))
    actions = set(allowed_actions(policy))
    assert actions <= dop.ALL_ACTIONS and not any(a == "*" or a.endswith(":*") for a in actions)
    assert {"autoscaling:SetDesiredCapacity", "s3:GetReplicationConfiguration"} <= actions
    assert not any(a.startswith("s3:") and "Object" in a for a in actions)  # data goes through the job role
    for statement in policy["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if set(statement["Action"]) & dop.MUTATING_ACTIONS:
            assert "*" not in resources, statement
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    standby = run.one("aws:autoscaling/group:Group", "secondary-compute-asg")
    assert by_sid["ScaleStandby"]["Resource"] == [standby.state["arn"]]
    assert ("InvertPrimaryHealthCheck" in by_sid) == (stack == "dr")
    assert ("StartDrillExperiments" in by_sid) == (stack == "dr")
    platform = run.outputs["platform"]
    assert platform["drill"] == {"operator_role_arn": run.outputs["drillOperatorRoleArn"]}
    assert role.state["arn"] == run.outputs["drillOperatorRoleArn"]


def test_the_dr_operator_flips_only_the_primary_health_check_and_starts_only_its_templates(dr):
    policy = policy_of(dr.one(ROLE_POLICY, "drill-operator-policy"))
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    check = dr.outputs["primaryHealthCheckId"]
    assert by_sid["InvertPrimaryHealthCheck"]["Resource"] == [f"arn:aws:route53:::healthcheck/{check}"]
    templates = dr.outputs["fisExperimentTemplates"]
    started = by_sid["StartDrillExperiments"]["Resource"]
    assert sorted(r.rsplit("/", 1)[1] for r in started if ":experiment-template/" in r) == sorted(templates.values())


@pytest.mark.parametrize("bad", [{"bucket_arns": []}, {"standby_group_arn": "*"},
                                 {"fis_template_ids": {"x": "EXT1"}, "fis_region": None}])
def test_bad_inputs_are_refused(bad):
    args = dict(partition="aws", account_id="123456789012", bucket_arns=["arn:aws:s3:::b"],
                standby_group_arn="arn:aws:autoscaling:us-west-2:123456789012:autoScalingGroup:u:autoScalingGroupName/g")
    args.update(bad)
    with pytest.raises(ValueError):
        dop.drill_operator_policy(**args)
