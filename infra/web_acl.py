"""WebAcl: an AWS WAF (REGIONAL) web ACL of AWS managed rule groups, for a region's load balancer.

Rule groups (AWS WAF Developer Guide, "AWS Managed Rules rule groups list"):

- ``AWSManagedRulesCommonRuleSet``: the OWASP-style baseline (core rule set).
- ``AWSManagedRulesKnownBadInputsRuleSet``: request patterns known to be malicious,
  including the Log4j ``Log4JRCE`` rules (CVE-2021-44228).
- ``AWSManagedRulesAmazonIpReputationList``: sources Amazon threat intelligence flags.
- ``AWSManagedRulesAnonymousIpList``: anonymizers (VPNs, Tor, proxies). Its
  ``HostingProviderIPList`` rule blocks cloud hosting providers, i.e. the training jobs that
  call this endpoint from EC2; that one rule is overridden to count.

Managed groups keep their own actions (``override_action: none``). The ACL allows what no
rule blocks. Each group publishes CloudWatch metrics and keeps sampled requests.

Every request the ACL inspects is logged to a CloudWatch Logs group whose name starts with
``aws-waf-logs-`` (AWS WAF Developer Guide, "Sending web ACL traffic logs to an Amazon
CloudWatch Logs log group": the name prefix is required), kept a year, encrypted with a
customer-managed key (CloudWatch Logs User Guide, "Encrypt log data in CloudWatch Logs using
AWS KMS"). The ``authorization`` and ``cookie`` headers are redacted: they carry credentials.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from infra import policies

# (priority, rule group name, rules overridden to COUNT)
MANAGED_RULE_GROUPS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (10, "AWSManagedRulesAmazonIpReputationList", ()),
    (20, "AWSManagedRulesAnonymousIpList", ("HostingProviderIPList",)),
    (30, "AWSManagedRulesKnownBadInputsRuleSet", ()),
    (40, "AWSManagedRulesCommonRuleSet", ()),
)


def managed_rules(metric_prefix: str) -> list[dict]:
    """The web ACL's rules, as pulumi-aws wafv2.WebAcl ``rules`` inputs (a pure function)."""
    rules = []
    for priority, group, counted in MANAGED_RULE_GROUPS:
        statement: dict = {"vendor_name": "AWS", "name": group}
        if counted:
            statement["rule_action_overrides"] = [
                {"name": rule, "action_to_use": {"count": {}}} for rule in counted
            ]
        rules.append({
            "name": group,
            "priority": priority,
            "override_action": {"none": {}},
            "statement": {"managed_rule_group_statement": statement},
            "visibility_config": {
                "cloudwatch_metrics_enabled": True,
                "metric_name": f"{metric_prefix}-{group}",
                "sampled_requests_enabled": True,
            },
        })
    return rules


WAF_LOG_RETENTION_DAYS = 365
REDACTED_HEADERS = ("authorization", "cookie")


def log_group_name(metric_prefix: str) -> str:
    return f"aws-waf-logs-{metric_prefix}"


@dataclass(frozen=True)
class WebAclArgs:
    role: str
    metric_prefix: str  # "<project>-<stack>-<role>": metric names and the log group's name
    region: str
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]


class WebAcl(pulumi.ComponentResource):
    def __init__(self, name: str, args: WebAclArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("dr-platform:index:WebAcl", name, None, opts)
        self.acl = aws.wafv2.WebAcl(
            f"{name}-acl",
            description=f"dr-platform {args.role} load balancer: AWS managed rule groups",
            scope="REGIONAL",
            default_action={"allow": {}},
            rules=managed_rules(args.metric_prefix),
            visibility_config={
                "cloudwatch_metrics_enabled": True,
                "metric_name": f"{args.metric_prefix}-acl",
                "sampled_requests_enabled": True,
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self)
        group_name = log_group_name(args.metric_prefix)
        key = aws.kms.Key(
            f"{name}-logs-key",
            description=f"dr-platform {args.role} WAF logs",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.all(args.account_id, args.partition).apply(
                lambda v: json.dumps(policies.log_group_key_policy(
                    account_id=v[0], partition=v[1], region=args.region, log_group=group_name))
            ),
            opts=child,
        )
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=group_name,
            retention_in_days=WAF_LOG_RETENTION_DAYS,
            kms_key_id=key.arn,
            opts=child,
        )
        aws.wafv2.WebAclLoggingConfiguration(
            f"{name}-logging",
            resource_arn=self.acl.arn,
            log_destination_configs=[self.log_group.arn],
            redacted_fields=[{"single_header": {"name": header}} for header in REDACTED_HEADERS],
            opts=child,
        )
        self.arn = self.acl.arn
        self.register_outputs({"arn": self.arn, "log_group": self.log_group.name})
