"""Whose credentials a drill uses: the operator role (assumed), or the caller's; refusals named."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from recovery_lib import cli
from recovery_lib.drill.adapters.aws import AwsAdapter
from recovery_lib.drill.credentials import access_denied, operator_role_arn, operator_session
from recovery_lib.errors import ConfigError

from .fake_world import descriptor as fake_descriptor

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]}


def with_operator(arn: str = "arn:aws:iam::123456789012:role/drill-operator") -> dict:
    desc = fake_descriptor()
    desc["drill"] = {"operator_role_arn": arn}
    return desc


def test_the_drill_acts_as_the_descriptors_operator_role():
    with mock_aws():
        base = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                     region_name="us-east-1")
        arn = base.client("iam").create_role(RoleName="drill-operator",
                                             AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
        session = operator_session(with_operator(arn), base=base)
        identity = session.client("sts", region_name="us-east-1").get_caller_identity()["Arn"]
    assert identity.endswith(":assumed-role/drill-operator/dr-platform-drill")


def test_without_an_operator_role_the_callers_own_session_is_used():
    base = boto3.session.Session(aws_access_key_id="a", aws_secret_access_key="b", region_name="us-east-1")
    assert operator_session(fake_descriptor(), base=base) is base


@pytest.mark.parametrize("arn", ["arn:aws:iam::123456789012:user/someone", 7, ""])
def test_an_operator_that_is_not_a_role_is_refused(arn):
    with pytest.raises(ConfigError, match="drill.operator_role_arn must be an IAM role ARN"):
        operator_role_arn(with_operator(arn))


@pytest.mark.parametrize("error,status,refused", [
    ({"Code": "AccessDenied", "Message": "no"}, 403, True),
    ({"Code": "", "Message": ""}, 403, True),  # moto's Route 53 / KMS / FIS refusals carry no code
    ({"Code": "NoSuchKey", "Message": "gone"}, 404, False),
])
def test_refusals_name_principal_action_and_resource(error, status, refused):
    exc = ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}}, "UpdateHealthCheck")
    translated = access_denied(exc, "the drill operator role R", "route53:UpdateHealthCheck", "hc-1")
    assert (translated is not None) == refused
    if refused:
        assert str(translated).startswith("AccessDenied: the drill operator role R may not route53:UpdateHealthCheck on hc-1")


def test_a_refused_scaling_fails_with_the_missing_permission_named():
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name="us-east-1")
    adapter = AwsAdapter(with_operator(), session=session)
    with Stubber(adapter.client("autoscaling", "secondary")) as asg:
        asg.add_client_error("set_desired_capacity", service_error_code="AccessDenied", http_status_code=403)
        with pytest.raises(ConfigError, match="the drill operator role arn:aws:iam::123456789012:role/drill-operator "
                                              "may not autoscaling:SetDesiredCapacity"):
            adapter.scale_standby(2)


def test_the_operator_role_is_not_assumed_before_the_plan_is_checked(tmp_path, monkeypatch, capsys):
    made: list[str] = []

    def no_client(self, service_name, *args, **kwargs):
        made.append(service_name)
        raise AssertionError(f"the drill made a {service_name} client before refusing the plan")

    monkeypatch.setattr(boto3.session.Session, "client", no_client)
    platform = tmp_path / "platform.json"
    platform.write_text(json.dumps(with_operator()))
    code = cli.main(["drill", "--platform", str(platform), "--adapter", "aws", "--yes", "--report", str(tmp_path / "r")])
    assert code == 2 and made == [], capsys.readouterr().err
