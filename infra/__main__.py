"""dr-platform: replicated checkpoint storage, DNS failover and standby compute in two regions.

This file only reads and validates config, wires the components and exports. Everything
else lives in one module per concept (see docs/platform.md).
"""

from __future__ import annotations

from typing import Any, Optional

import pulumi
import pulumi_aws as aws
from pulumi.runtime import config as runtime_config

from infra.audit_trail import AuditTrail, AuditTrailArgs, trail_arn, trail_name
from infra.certificates import TlsCertificate, TlsCertificateArgs
from infra.checkpoint_bucket import CheckpointBucket, CheckpointBucketArgs
from infra.config import NAMESPACE, PlatformConfig, parse_config
from infra.descriptor import build_descriptor, estimated_failover_seconds, region_entry, worst_case_failover
from infra.drill_operator import DrillOperator, DrillOperatorArgs
from infra.failover_dns import Endpoint, FailoverDns, FailoverDnsArgs
from infra.fault_injection import FaultInjection, FaultInjectionArgs, fis_target_tag
from infra.job_role import JobRole, JobRoleArgs
from infra.maintainer_role import MaintainerRole, MaintainerRoleArgs
from infra.log_bucket import LogBucket, LogBucketArgs, LoggedBucket
from infra.monitoring import ROUTE53_METRICS_REGION, Alerts, AlertsArgs
from infra.regional_compute import LoadBalancing, RegionalCompute, RegionalComputeArgs
from infra.replication import BucketReplication, BucketReplicationArgs
from infra.web_acl import WebAcl, WebAclArgs


def read_raw_config() -> dict[str, Any]:
    """Every ``dr-platform:*`` value the engine passed (so typos are caught, not ignored)."""
    merged: dict[str, Any] = dict(runtime_config.get_config_env())
    merged.update(runtime_config.CONFIG.get())
    prefix = f"{NAMESPACE}:"
    raw = {key[len(prefix):]: value for key, value in merged.items() if key.startswith(prefix)}
    # Pulumi's flattened form of object values ("dr-platform:dns.ttl") never reaches us;
    # objects arrive as JSON strings, which parse_config decodes.
    return raw


def default_tags(config: PlatformConfig, role: str) -> dict[str, str]:
    return {"project": config.project, "stack": config.stack, "dr-role": role}


def provider(name: str, region: str, role: str, config: PlatformConfig) -> aws.Provider:
    return aws.Provider(name, region=region, default_tags={"tags": default_tags(config, role)})


def network(
    config: PlatformConfig, role: str, prov: aws.Provider
) -> tuple[pulumi.Output[str], pulumi.Output[list], pulumi.Output[list]]:
    """(VPC, instance subnets, load balancer subnets): the configured ones, or the region's default VPC.

    In the default VPC only the default subnets of availability zones that offer the
    instance type qualify (us-east-1e, for one, offers no t3): EC2's instance-type offerings
    are looked up at deploy time, so the Auto Scaling group never lands in such a zone. The
    default subnets are public; the load balancer uses the same ones (it must be in every
    zone its targets are in).
    """
    configured = config.networks.get(role)
    if configured is not None:
        return (
            pulumi.Output.from_input(configured.vpc_id),
            pulumi.Output.from_input(list(configured.subnet_ids)),
            pulumi.Output.from_input(list(configured.public_subnet_ids)),
        )
    opts = pulumi.InvokeOutputOptions(provider=prov)
    vpc = aws.ec2.get_vpc_output(default=True, opts=opts)
    offered = aws.ec2.get_instance_type_offerings_output(
        location_type="availability-zone",
        filters=[{"name": "instance-type", "values": [config.instance_type]}],
        opts=opts,
    )
    subnets = aws.ec2.get_subnets_output(
        filters=[
            {"name": "vpc-id", "values": [vpc.id]},
            {"name": "default-for-az", "values": ["true"]},
            {"name": "availability-zone", "values": offered.locations},
        ],
        opts=opts,
    )
    return vpc.id, subnets.ids, subnets.ids


def main() -> None:
    aws_config = pulumi.Config("aws")
    config = parse_config(
        read_raw_config(),
        project=pulumi.get_project(),
        stack=pulumi.get_stack(),
        primary_region=aws_config.get("region"),
    )

    primary_provider = provider("primary", config.primary_region, "primary", config)
    secondary_provider = provider("secondary", config.secondary_region, "secondary", config)
    on_primary = pulumi.ResourceOptions(provider=primary_provider)
    on_secondary = pulumi.ResourceOptions(provider=secondary_provider)

    identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=primary_provider))
    partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(provider=primary_provider))

    # -- storage ---------------------------------------------------------------------------
    buckets: dict[str, CheckpointBucket] = {}
    for role, opts in (("primary", on_primary), ("secondary", on_secondary)):
        buckets[role] = CheckpointBucket(
            f"{role}-checkpoints",
            CheckpointBucketArgs(
                role=role,
                kms=config.kms,
                noncurrent_version_days=config.noncurrent_version_days,
                protect=config.protect_data,
                account_id=identity.account_id,
                partition=partition.partition,
                # AWS FIS's aws:s3:bucket-pause-replication only selects buckets by tag
                extra_tags=dict([fis_target_tag(config)]) if config.fis and role == "primary" else {},
            ),
            opts=opts,
        )

    # -- logs and the audit trail --------------------------------------------------------------
    audit_name = trail_name(config.project, config.stack)
    audit_arn = pulumi.Output.all(partition.partition, identity.account_id).apply(
        lambda v: trail_arn(partition=v[0], region=config.primary_region, account_id=v[1], name=audit_name)
    )
    logs: dict[str, LogBucket] = {}
    for role, opts in (("primary", on_primary), ("secondary", on_secondary)):
        logs[role] = LogBucket(
            f"{role}-logs",
            LogBucketArgs(
                role=role,
                region=config.primary_region if role == "primary" else config.secondary_region,
                protect=config.protect_data,
                account_id=identity.account_id,
                partition=partition.partition,
                logged_buckets=[LoggedBucket(buckets[role].bucket_name, buckets[role].bucket_arn)],
                alb_logs=config.dns is not None,
                trail_arn=audit_arn if config.audit_trail and role == "primary" else None,
            ),
            opts=opts,
        )
    audit: Optional[AuditTrail] = None
    if config.audit_trail:
        audit = AuditTrail(
            "audit",
            AuditTrailArgs(
                name=audit_name,
                trail_arn=audit_arn,
                log_bucket_name=logs["primary"].bucket_name,
                log_bucket_policy=logs["primary"].policy,
                checkpoint_bucket_arns=[b.bucket_arn for b in buckets.values()],
                prefix=config.checkpoint_prefix,
                account_id=identity.account_id,
                partition=partition.partition,
                protect=config.protect_data,
            ),
            opts=on_primary,
        )

    replication: Optional[BucketReplication] = None
    if config.replication:
        replication = BucketReplication(
            "replication",
            BucketReplicationArgs(
                primary=buckets["primary"],
                secondary=buckets["secondary"],
                primary_region=config.primary_region,
                secondary_region=config.secondary_region,
                prefix=config.checkpoint_prefix,
                rtc=config.replication_time_control,
                two_way=config.failback,
                secondary_provider=secondary_provider,
            ),
            opts=on_primary,
        )

    job_role = JobRole(
        "jobs",
        JobRoleArgs(
            bucket_arns=[b.bucket_arn for b in buckets.values()],
            key_arns=[b.key.arn for b in buckets.values() if b.key is not None],
            prefix=config.checkpoint_prefix,
        ),
        opts=on_primary,
    )
    # the only principal allowed to delete checkpoint objects (garbage collection)
    maintainer = MaintainerRole(
        "maintainer",
        MaintainerRoleArgs(
            bucket_arns=[b.bucket_arn for b in buckets.values()],
            key_arns=[b.key.arn for b in buckets.values() if b.key is not None],
            prefix=config.checkpoint_prefix,
        ),
        opts=on_primary,
    )

    # -- the stack's hosted zone, TLS certificates and web ACLs -------------------------------
    zone_id: Optional[pulumi.Output[str]] = None
    if config.dns is not None:
        if config.dns.zone_id is not None:
            zone_id = pulumi.Output.from_input(config.dns.zone_id)
        else:
            zone_id = aws.route53.get_zone_output(
                name=config.dns.zone_name, private_zone=False,
                opts=pulumi.InvokeOutputOptions(provider=primary_provider),
            ).zone_id
    certificate_arns: dict[str, pulumi.Input[str]] = dict((config.dns.certificate_arns or {}) if config.dns else {})
    if config.dns is not None and config.dns.protocol == "HTTPS" and not certificate_arns:
        for role, opts in (("primary", on_primary), ("secondary", on_secondary)):
            certificate_arns[role] = TlsCertificate(
                f"{role}-tls",
                TlsCertificateArgs(domain_name=config.dns.record_name, zone_id=zone_id),
                opts=opts,
            ).certificate_arn
    web_acls: dict[str, WebAcl] = {}
    if config.waf:
        for role, opts in (("primary", on_primary), ("secondary", on_secondary)):
            web_acls[role] = WebAcl(
                f"{role}-waf",
                WebAclArgs(
                    role=role,
                    metric_prefix=f"{config.project}-{config.stack}-{role}",
                    region=config.primary_region if role == "primary" else config.secondary_region,
                    account_id=identity.account_id,
                    partition=partition.partition,
                ),
                opts=opts,
            )

    # -- compute ---------------------------------------------------------------------------
    compute: dict[str, RegionalCompute] = {}
    capacities = {"primary": config.primary_capacity, "secondary": config.standby_capacity}
    for role, prov, opts in (
        ("primary", primary_provider, on_primary),
        ("secondary", secondary_provider, on_secondary),
    ):
        vpc_id, subnet_ids, lb_subnet_ids = network(config, role, prov)
        lb = None
        if config.dns is not None:
            lb = LoadBalancing(
                protocol=config.dns.protocol,
                port=config.dns.port,
                health_path=config.dns.path,
                certificate_arn=certificate_arns.get(role),
                http_redirect=config.dns.http_redirect,
                access_log_bucket=logs[role].bucket_name,
                access_log_policy=logs[role].policy,
                deletion_protection=config.protect_data,
                web_acl_arn=web_acls[role].arn if role in web_acls else None,
            )
        compute[role] = RegionalCompute(
            f"{role}-compute",
            RegionalComputeArgs(
                role=role,
                vpc_id=vpc_id,
                subnet_ids=subnet_ids,
                load_balancer_subnet_ids=lb_subnet_ids,
                instance_type=config.instance_type,
                ami_parameter=config.ami_parameter,
                app_port=config.app_port,
                instance_profile_arn=job_role.instance_profile.arn,
                desired_capacity=capacities[role],
                max_capacity=config.max_capacity,
                load_balancing=lb,
                tags=default_tags(config, role),
            ),
            opts=opts,
        )

    # -- DNS failover ----------------------------------------------------------------------
    dns: Optional[FailoverDns] = None
    if config.dns is not None and zone_id is not None:
        dns = FailoverDns(
            "failover",
            FailoverDnsArgs(
                dns=config.dns,
                zone_id=zone_id,
                primary=Endpoint(compute["primary"].lb_dns_name, compute["primary"].lb_zone_id),
                secondary=Endpoint(compute["secondary"].lb_dns_name, compute["secondary"].lb_zone_id),
            ),
            opts=on_primary,
        )

    # -- alerts ----------------------------------------------------------------------------
    route53_provider = None
    if dns is not None and config.primary_region != ROUTE53_METRICS_REGION:
        route53_provider = provider("route53-metrics", ROUTE53_METRICS_REGION, "primary", config)
    replication_metrics = replication is not None and config.replication_time_control
    alerts = Alerts(
        "alerts",
        AlertsArgs(
            primary_region=config.primary_region,
            account_id=identity.account_id,
            partition=partition.partition,
            alert_email=config.alert_email,
            source_bucket=buckets["primary"].bucket_name if replication_metrics else None,
            destination_bucket=buckets["secondary"].bucket_name if replication_metrics else None,
            rule_id="checkpoints-to-secondary" if replication_metrics else None,
            latency_threshold_seconds=config.replication_latency_alarm_seconds,
            health_check_id=dns.health_check_id if dns is not None else None,
            route53_metrics_provider=route53_provider,
            destination_region=config.secondary_region,
            destination_provider=secondary_provider,
        ),
        opts=on_primary,
    )

    # -- drill experiments (AWS FIS) -------------------------------------------------------
    fis: Optional[FaultInjection] = None
    if config.fis:
        fis = FaultInjection(
            "drills",
            FaultInjectionArgs(
                primary_bucket_arn=buckets["primary"].bucket_arn,
                primary_bucket_name=buckets["primary"].bucket_name,
                secondary_bucket_name=buckets["secondary"].bucket_name,
                primary_region=config.primary_region,
                secondary_region=config.secondary_region,
                source_bucket_tag=fis_target_tag(config),
                checkpoint_prefix=config.checkpoint_prefix,
                # Only subnets the platform owns (custom networking); never the default VPC's.
                primary_vpc_id=config.networks["primary"].vpc_id if "primary" in config.networks else None,
                primary_subnet_ids=config.networks["primary"].subnet_ids if "primary" in config.networks else (),
                account_id=identity.account_id,
                partition=partition.partition,
                rpo_seconds=config.rpo_seconds,
                rule_id="checkpoints-to-secondary",
            ),
            opts=on_primary,
        )

    # -- the drill operator: what `recovery drill` assumes, and nothing more --------------------
    operator = DrillOperator(
        "drill-operator",
        DrillOperatorArgs(
            account_id=identity.account_id,
            partition=partition.partition,
            bucket_arns=[b.bucket_arn for b in buckets.values()],
            standby_group_arn=compute["secondary"].group.arn,
            health_check_id=dns.health_check_id if dns is not None else None,
            zone_id=zone_id,
            fis_region=config.primary_region,
            fis_templates=fis.templates if fis is not None else None,
        ),
        opts=on_primary,
    )

    # -- outputs ---------------------------------------------------------------------------
    def descriptor(values: list) -> dict:
        (p_bucket, p_key, p_asg, s_bucket, s_key, s_asg, role_arn, topic_arn, zone, health_check, fis_templates,
         maintainer_arn, operator_arn) = values
        return build_descriptor(
            config,
            primary=region_entry(name=config.primary_region, bucket=p_bucket, kms_key_arn=p_key, asg_name=p_asg),
            secondary=region_entry(name=config.secondary_region, bucket=s_bucket, kms_key_arn=s_key, asg_name=s_asg),
            replication_role_arn=role_arn,
            alerts_topic_arn=topic_arn,
            zone_id=zone,
            health_check_id=health_check,
            fis_templates=fis_templates,
            maintainer_role_arn=maintainer_arn,
            drill_operator_role_arn=operator_arn,
        )

    platform = pulumi.Output.all(
        buckets["primary"].bucket_name,
        buckets["primary"].key_arn,
        compute["primary"].asg_name,
        buckets["secondary"].bucket_name,
        buckets["secondary"].key_arn,
        compute["secondary"].asg_name,
        replication.role_arn if replication is not None else None,
        alerts.topic_arn,
        zone_id,
        dns.health_check_id if dns is not None else None,
        fis.templates if fis is not None else None,
        maintainer.role_arn,
        operator.role_arn,
    ).apply(descriptor)

    pulumi.export("platform", platform)
    for role in ("primary", "secondary"):
        pulumi.export(f"{role}BucketName", buckets[role].bucket_name)
        pulumi.export(f"{role}BucketArn", buckets[role].bucket_arn)
        pulumi.export(f"{role}AsgName", compute[role].asg_name)
        pulumi.export(f"{role}LogBucketName", logs[role].bucket_name)
        if buckets[role].key is not None:
            pulumi.export(f"{role}KmsKeyArn", buckets[role].key_arn)
        if compute[role].load_balancer is not None:
            pulumi.export(f"{role}LoadBalancerDnsName", compute[role].lb_dns_name)
    if replication is not None:
        pulumi.export("replicationRoleArn", replication.role_arn)
    pulumi.export("jobRoleArn", job_role.role_arn)
    pulumi.export("jobInstanceProfileName", job_role.instance_profile.name)
    pulumi.export("maintainerRoleArn", maintainer.role_arn)
    pulumi.export("maintainerInstanceProfileName", maintainer.instance_profile.name)
    pulumi.export("drillOperatorRoleArn", operator.role_arn)
    pulumi.export("alertsTopicArn", alerts.topic_arn)
    pulumi.export("alertsTopicArns", alerts.topic_arns)  # per Region: alarms notify a topic of their own Region
    if audit is not None:
        pulumi.export("auditTrailArn", audit.trail_arn)
    if dns is not None:
        pulumi.export("primaryHealthCheckId", dns.health_check_id)
        pulumi.export("primaryRecordFqdn", dns.primary_record.fqdn)
        pulumi.export("secondaryRecordFqdn", dns.secondary_record.fqdn)
        pulumi.export("estimatedFailoverSeconds", estimated_failover_seconds(config))  # best case
        worst = worst_case_failover(config)
        pulumi.export("worstCaseFailoverSeconds", worst["total"] if worst else None)
        pulumi.export("worstCaseFailoverParts", worst)
    if fis is not None:
        pulumi.export("fisExperimentTemplates", fis.templates)


main()
