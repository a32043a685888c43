"""The ``aws`` fault adapter, call by call, with botocore's Stubber (no endpoint is contacted).

Every client the adapter makes is stubbed: a call the test did not expect, or one with
other parameters, fails the test (Stubber raises on both), and ``assert_no_pending_responses``
fails it when an expected call was not made. Parameters and responses are validated
against botocore's service models, so a call AWS would reject is caught here too.

Facts the adapter relies on (Amazon Route 53 Developer Guide, "How Amazon Route 53
determines whether a health check is healthy",
https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html):
"If more than 18% of health checkers report that an endpoint is healthy, Route 53
considers it healthy. If 18% of health checkers or fewer report that an endpoint is
healthy, Route 53 considers it unhealthy."
"""

from __future__ import annotations

import datetime as dt
import json
from contextlib import contextmanager
from typing import Any, Iterator

import boto3
import pytest
from botocore.stub import Stubber

from recovery_lib import cli
from recovery_lib.drill.adapters.aws import AwsAdapter
from recovery_lib.drill.plan import Fault
from recovery_lib.errors import ConfigError

from .fake_world import descriptor as fake_descriptor

HC = "hc-1"
ZONE = "Z1"
NAME = "app.example.com"


def aws_descriptor(**extra: Any) -> dict[str, Any]:
    desc = fake_descriptor()
    desc.update(extra)
    return desc


@pytest.fixture
def session() -> boto3.session.Session:
    # Credentials that can sign nothing real; Stubber answers before any request is sent.
    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                 region_name="us-east-1")


@contextmanager
def stubbed(adapter: AwsAdapter, service: str, role: str = "primary") -> Iterator[Stubber]:
    stubber = Stubber(adapter.client(service, role))
    with stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def health_check(inverted: bool) -> dict[str, Any]:
    return {"HealthCheck": {"Id": HC, "CallerReference": "ref", "HealthCheckVersion": 1,
                            "HealthCheckConfig": {"Type": "HTTP", "Inverted": inverted}}}


def experiment(exp_id: str, status: str) -> dict[str, Any]:
    return {"id": exp_id, "experimentTemplateId": "EXT-S3", "state": {"status": status}}


FIS = {"templates": {"s3-primary": "EXT-S3", "replication-pause": "EXT-PAUSE"}}


# -- inject / is_injected / revert -----------------------------------------------------------


@pytest.mark.parametrize("fault", [Fault("app-down", region="primary"), Fault("health-check-invert")],
                         ids=["app-down", "health-check-invert"])
def test_health_check_inversion_calls(session, fault):
    adapter = AwsAdapter(aws_descriptor(), session=session)
    with stubbed(adapter, "route53") as route53:
        route53.add_response("update_health_check", health_check(True), {"HealthCheckId": HC, "Inverted": True})
        route53.add_response("get_health_check", health_check(True), {"HealthCheckId": HC})
        route53.add_response("update_health_check", health_check(False), {"HealthCheckId": HC, "Inverted": False})
        route53.add_response("get_health_check", health_check(False), {"HealthCheckId": HC})
        assert adapter.inject(fault) == {"health_check_id": HC}
        assert adapter.is_injected(fault) is True
        adapter.revert(fault, {"health_check_id": HC})
        assert adapter.is_injected(fault) is False


@pytest.mark.parametrize("fault,template", [(Fault("s3", region="primary", mode="blackhole"), "EXT-S3"),
                                            (Fault("replication-pause"), "EXT-PAUSE")],
                         ids=["s3", "replication-pause"])
def test_fis_experiment_calls(session, fault, template):
    adapter = AwsAdapter(aws_descriptor(fis=FIS), session=session)
    with stubbed(adapter, "fis") as fis:
        fis.add_response("start_experiment", {"experiment": experiment("EXP1", "initiating")},
                         {"experimentTemplateId": template, "tags": {"dr-platform": "drill"}})  # clientToken: botocore fills it
        fis.add_response("list_experiments", {"experiments": [experiment("EXP0", "completed"), experiment("EXP1", "running")]},
                         {"experimentTemplateId": template})
        fis.add_response("stop_experiment", {"experiment": experiment("EXP1", "stopping")}, {"id": "EXP1"})
        fis.add_response("list_experiments", {"experiments": [experiment("EXP1", "stopped")]},
                         {"experimentTemplateId": template})
        info = adapter.inject(fault)
        assert info == {"experiment_id": "EXP1"}
        assert adapter.is_injected(fault) is True
        adapter.revert(fault, info)
        assert adapter.is_injected(fault) is False


def test_a_revert_without_the_experiment_id_stops_every_running_one_and_tolerates_a_gone_one(session):
    """``recovery drill --revert`` of a journal killed between start_experiment and its record."""
    fault = Fault("s3", region="primary", mode="blackhole")
    adapter = AwsAdapter(aws_descriptor(fis=FIS), session=session)
    with stubbed(adapter, "fis") as fis:
        fis.add_response("list_experiments", {"experiments": [experiment("A", "running"), experiment("B", "pending"),
                                                              experiment("C", "completed")]},
                         {"experimentTemplateId": "EXT-S3"})
        fis.add_client_error("stop_experiment", service_error_code="ResourceNotFoundException",
                             http_status_code=404, expected_params={"id": "A"})
        fis.add_response("stop_experiment", {"experiment": experiment("B", "stopping")}, {"id": "B"})
        adapter.revert(fault, {})


def test_scaling_the_standby_calls(session):
    adapter = AwsAdapter(aws_descriptor(), session=session)
    group = {"AutoScalingGroupName": "secondary-asg", "MinSize": 0, "MaxSize": 2, "DesiredCapacity": 2,
             "DefaultCooldown": 300, "AvailabilityZones": ["us-west-2a"], "HealthCheckType": "ELB",
             "CreatedTime": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
             "Instances": [{"InstanceId": f"i-{n}", "AvailabilityZone": "us-west-2a", "LifecycleState": state,
                            "HealthStatus": "Healthy", "ProtectedFromScaleIn": False}
                           for n, state in enumerate(["InService", "Pending"])]}
    with stubbed(adapter, "autoscaling", "secondary") as asg:
        asg.add_response("set_desired_capacity", {},
                         {"AutoScalingGroupName": "secondary-asg", "DesiredCapacity": 2, "HonorCooldown": False})
        asg.add_response("describe_auto_scaling_groups", {"AutoScalingGroups": [group]},
                         {"AutoScalingGroupNames": ["secondary-asg"]})
        adapter.scale_standby(2)
        assert adapter.standby() == (2, 1)  # a Pending instance is not in service yet


# -- refusing a plan before anything is injected ---------------------------------------------


def test_a_plan_that_needs_fis_is_refused_when_the_descriptor_has_no_templates(session):
    adapter = AwsAdapter(aws_descriptor(), session=session)
    with pytest.raises(ConfigError, match="needs the AWS FIS template 's3-primary'"):
        adapter.check_supported([Fault("app-down", region="primary"), Fault("s3", region="primary", mode="blackhole")])
    assert adapter._clients == {}  # not a single client made, let alone a call
    adapter.check_supported([Fault("app-down", region="primary")])  # health-check inversion needs no FIS


def test_recovery_drill_refuses_an_fis_plan_with_exit_2_before_any_aws_call(tmp_path, monkeypatch, capsys):
    """Mutation: drop the ``check_supported`` call in ``drill.command.run`` (or make
    ``AwsAdapter._template`` return a default). The default plan (a regional outage) needs
    FIS for its S3 black hole and replication pause; the descriptor has no ``fis`` section.
    No boto3 client may even be created."""
    made: list[str] = []

    def no_client(self, service_name, *args, **kwargs):
        made.append(service_name)
        raise AssertionError(f"the drill made a {service_name} client before refusing the plan")

    monkeypatch.setattr(boto3.session.Session, "client", no_client)
    platform = tmp_path / "platform.json"
    platform.write_text(json.dumps(aws_descriptor()))
    report = tmp_path / "report"
    code = cli.main(["drill", "--platform", str(platform), "--adapter", "aws", "--yes", "--report", str(report)])
    _, err = capsys.readouterr()
    assert code == 2, err
    assert "ConfigError" in err and "s3-primary" in err and "dr-platform:fis" in err
    assert made == []
    assert not report.exists()


def test_only_the_primary_health_check_can_be_inverted(session):
    adapter = AwsAdapter(aws_descriptor(), session=session)
    with pytest.raises(ConfigError, match="only the primary's health check"):
        adapter.check_supported([Fault("app-down", region="secondary")])
    no_dns = AwsAdapter(aws_descriptor(dns=None), session=session)
    with pytest.raises(ConfigError, match="needs DNS failover"):
        no_dns.check_supported([Fault("health-check-invert")])


# -- observations: the 18 % rule and TestDNSAnswer --------------------------------------------


def observations(healthy: int, total: int) -> dict[str, Any]:
    checked = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    return {"HealthCheckObservations": [
        {"Region": "us-east-1", "IPAddress": f"15.177.0.{i}",
         "StatusReport": {"Status": "Success: HTTP Status Code 200, OK" if i < healthy
                          else "Failure: Connection timed out.", "CheckedTime": checked}}
        for i in range(total)]}


@pytest.mark.parametrize("healthy,total,expected", [
    (9, 50, False),   # exactly 18 %: unhealthy ("18% ... or fewer")
    (10, 50, True),   # 20 %
    (2, 11, True),    # 18.2 %: more than 18 %
    (1, 6, False),    # 16.7 %
    (3, 16, True),    # 18.75 %: far from a majority, still healthy
    (0, 16, False),
    (16, 16, True),
])
def test_the_18_percent_rule(session, healthy, total, expected):
    """Mutations: ``>`` → ``>=`` (9 of 50), the fraction raised to a majority (3 of 16), or
    the Success prefix test inverted."""
    adapter = AwsAdapter(aws_descriptor(), session=session)
    with stubbed(adapter, "route53") as route53:
        route53.add_response("get_health_check_status", observations(healthy, total), {"HealthCheckId": HC})
        assert adapter.health_check_healthy() is expected


def test_a_health_check_without_observations_counts_as_healthy(session):
    adapter = AwsAdapter(aws_descriptor(), session=session)
    with stubbed(adapter, "route53") as route53:
        route53.add_response("get_health_check_status", {"HealthCheckObservations": []}, {"HealthCheckId": HC})
        assert adapter.health_check_healthy() is True


def record_sets(alias: bool = False) -> dict[str, Any]:
    def record(role: str, target: str) -> dict[str, Any]:
        base = {"Name": f"{NAME}.", "Type": "A" if alias else "CNAME", "Failover": role,
                "SetIdentifier": role.lower()}
        if alias:
            base["AliasTarget"] = {"HostedZoneId": "ZALB", "DNSName": f"{target}.", "EvaluateTargetHealth": True}
        else:
            base.update(TTL=60, ResourceRecords=[{"Value": target}])
        if role == "PRIMARY":
            base["HealthCheckId"] = HC
        return base

    return {"ResourceRecordSets": [
        record("PRIMARY", "primary-alb.us-east-1.elb.amazonaws.com"),
        record("SECONDARY", "secondary-alb.us-west-2.elb.amazonaws.com"),
        {"Name": "other.example.com.", "Type": "CNAME", "TTL": 60, "ResourceRecords": [{"Value": "x"}]},
    ], "IsTruncated": False, "MaxItems": "100"}


def dns_answer(record_type: str, data: list[str]) -> dict[str, Any]:
    return {"Nameserver": "ns-1.awsdns-01.com", "RecordName": NAME, "RecordType": record_type,
            "RecordData": data, "ResponseCode": "NOERROR", "Protocol": "UDP"}


@pytest.mark.parametrize("alias", [False, True], ids=["cname", "alias"])
@pytest.mark.parametrize("answer,expected", [
    (["secondary-alb.us-west-2.elb.amazonaws.com"], "SECONDARY"),
    (["secondary-alb.us-west-2.elb.amazonaws.com."], "SECONDARY"),  # a trailing dot
    (["primary-alb.us-east-1.elb.amazonaws.com"], "PRIMARY"),
    (["somewhere-else.example.net"], "PRIMARY"),  # unknown: never claim a failover
], ids=["secondary", "secondary-dot", "primary", "unknown"])
def test_test_dns_answer_maps_to_the_failover_record(session, alias, answer, expected):
    adapter = AwsAdapter(aws_descriptor(), session=session)
    record_type = "A" if alias else "CNAME"
    with stubbed(adapter, "route53") as route53:
        route53.add_response("list_resource_record_sets", record_sets(alias),
                             {"HostedZoneId": ZONE, "StartRecordName": f"{NAME}."})
        route53.add_response("test_dns_answer", dns_answer(record_type, answer),
                             {"HostedZoneId": ZONE, "RecordName": NAME, "RecordType": record_type})
        assert adapter.dns_answer() == expected


def test_without_dns_the_adapter_reports_primary_and_no_health_check(session):
    adapter = AwsAdapter(aws_descriptor(dns=None), session=session)
    assert adapter.dns_answer() == "PRIMARY"
    assert adapter.health_check_healthy() is None
    assert adapter._clients == {}
