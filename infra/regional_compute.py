"""RegionalCompute: one region's job fleet (launch template + Auto Scaling group), and,
when DNS failover is on, the Application Load Balancer in front of it."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_aws as aws

from infra import log_delivery
from infra.failover_budget import (
    TARGET_GROUP_HEALTHY_THRESHOLD,
    TARGET_GROUP_INTERVAL_SECONDS,
    TARGET_GROUP_UNHEALTHY_THRESHOLD,
)

# TLS policy for HTTPS listeners: TLS 1.3 and 1.2 only, forward-secret ciphers (ELB User
# Guide, "Security policies for your Application Load Balancer": the recommended default).
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
HTTP_PORT = 80

USER_DATA_TEMPLATE = """#!/bin/bash
# dr-platform standby: a minimal health endpoint the load balancer and Route 53 can probe.
# Replace with your serving stack; keep {path} answering 200 when the node can serve.
set -euo pipefail
mkdir -p /opt/dr-platform/www{dir}
echo ok > /opt/dr-platform/www{path}
cat > /etc/systemd/system/dr-platform-health.service <<'UNIT'
[Unit]
Description=dr-platform health endpoint
After=network-online.target
[Service]
WorkingDirectory=/opt/dr-platform/www
ExecStart=/usr/bin/python3 -m http.server {port} --bind 0.0.0.0
Restart=always
[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now dr-platform-health.service
"""


def user_data(*, port: int, path: str) -> str:
    directory = path.rsplit("/", 1)[0]
    script = USER_DATA_TEMPLATE.format(port=port, path=path, dir=directory)
    return base64.b64encode(script.encode()).decode()


@dataclass(frozen=True)
class LoadBalancing:
    protocol: str  # HTTP or HTTPS: what clients and Route 53 use
    port: int
    health_path: str
    certificate_arn: Optional[pulumi.Input[str]] = None
    # HTTPS only: a port-80 listener that answers 301 to https://host:port/path?query.
    http_redirect: bool = False
    # ALB access logs into this bucket (under alb/<role>), after this policy lets ELB write.
    access_log_bucket: Optional[pulumi.Input[str]] = None
    access_log_policy: Optional[pulumi.Resource] = None
    deletion_protection: bool = False
    web_acl_arn: Optional[pulumi.Input[str]] = None  # an AWS WAF (REGIONAL) web ACL to attach


@dataclass(frozen=True)
class RegionalComputeArgs:
    role: str  # "primary" or "secondary"
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[str]]  # the instances'
    instance_type: str
    ami_parameter: str
    app_port: int
    instance_profile_arn: pulumi.Input[str]
    desired_capacity: int
    max_capacity: int
    load_balancing: Optional[LoadBalancing] = None
    # The internet-facing load balancer's (public) subnets; used only with load_balancing.
    load_balancer_subnet_ids: Optional[pulumi.Input[Sequence[str]]] = None
    # Tags for the group and, through propagate_at_launch, its instances: provider
    # default_tags do not reach Auto Scaling groups (pulumi-aws, autoscaling.Group docs).
    tags: Optional[dict[str, str]] = None


class RegionalCompute(pulumi.ComponentResource):
    def __init__(self, name: str, args: RegionalComputeArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("dr-platform:index:RegionalCompute", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        health_path = args.load_balancing.health_path if args.load_balancing else "/healthz"

        self.instance_sg = aws.ec2.SecurityGroup(
            f"{name}-instances",
            description=f"dr-platform {args.role} job instances",
            vpc_id=args.vpc_id,
            opts=child,
        )
        # Instances reach S3 (and the rest of AWS) over HTTPS only.
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-instances-https-out",
            security_group_id=self.instance_sg.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4="0.0.0.0/0",
            description="HTTPS to AWS APIs (S3 checkpoints)",
            opts=child,
        )

        self.load_balancer: Optional[aws.lb.LoadBalancer] = None
        self.target_group: Optional[aws.lb.TargetGroup] = None
        if args.load_balancing is not None:
            self._load_balancer(name, args, args.load_balancing)

        self.launch_template = aws.ec2.LaunchTemplate(
            f"{name}-template",
            description=f"dr-platform {args.role} job instances",
            # EC2 resolves the AMI from the SSM public parameter at launch: always current,
            # and no lookup at deploy time.
            image_id=f"resolve:ssm:{args.ami_parameter}",
            instance_type=args.instance_type,
            iam_instance_profile={"arn": args.instance_profile_arn},
            vpc_security_group_ids=[self.instance_sg.id],
            metadata_options={"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 1},
            block_device_mappings=[
                {"device_name": "/dev/xvda", "ebs": {"encrypted": "true", "volume_size": 16, "volume_type": "gp3"}}
            ],
            user_data=user_data(port=args.app_port, path=health_path),
            update_default_version=True,
            tag_specifications=[{"resource_type": "instance", "tags": {"dr-platform:role": args.role}}],
            opts=child,
        )

        self.group = aws.autoscaling.Group(
            f"{name}-asg",
            min_size=0 if args.desired_capacity == 0 else 1,
            max_size=args.max_capacity,
            desired_capacity=args.desired_capacity,
            vpc_zone_identifiers=args.subnet_ids,
            launch_template={"id": self.launch_template.id, "version": "$Latest"},
            target_group_arns=[self.target_group.arn] if self.target_group is not None else None,
            health_check_type="ELB" if self.target_group is not None else "EC2",
            health_check_grace_period=120,
            tags=[
                {"key": key, "value": value, "propagate_at_launch": True}
                for key, value in sorted({**(args.tags or {}), "dr-platform:role": args.role}.items())
            ],
            # Scaling the standby up during a failover is the drill's job, not a diff for
            # the next `pulumi up` to revert.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["desiredCapacity"]),
        )

        self.asg_name = self.group.name
        self.lb_dns_name: pulumi.Output[Optional[str]] = (
            self.load_balancer.dns_name if self.load_balancer is not None else pulumi.Output.from_input(None)
        )
        self.lb_zone_id: pulumi.Output[Optional[str]] = (
            self.load_balancer.zone_id if self.load_balancer is not None else pulumi.Output.from_input(None)
        )
        self.register_outputs({"asg_name": self.asg_name, "lb_dns_name": self.lb_dns_name})

    def _load_balancer(self, name: str, args: RegionalComputeArgs, lb: LoadBalancing) -> None:
        child = pulumi.ResourceOptions(parent=self)
        self.lb_sg = aws.ec2.SecurityGroup(
            f"{name}-lb", description=f"dr-platform {args.role} load balancer", vpc_id=args.vpc_id, opts=child
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-lb-in",
            security_group_id=self.lb_sg.id,
            ip_protocol="tcp",
            from_port=lb.port,
            to_port=lb.port,
            cidr_ipv4="0.0.0.0/0",
            description=f"{lb.protocol} from clients and Route 53 health checkers",
            opts=child,
        )
        if lb.http_redirect:
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-lb-in-http",
                security_group_id=self.lb_sg.id,
                ip_protocol="tcp",
                from_port=HTTP_PORT,
                to_port=HTTP_PORT,
                cidr_ipv4="0.0.0.0/0",
                description="HTTP from clients, answered with a redirect to HTTPS",
                opts=child,
            )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-lb-to-instances",
            security_group_id=self.lb_sg.id,
            ip_protocol="tcp",
            from_port=args.app_port,
            to_port=args.app_port,
            referenced_security_group_id=self.instance_sg.id,
            description="to the job instances",
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-instances-from-lb",
            security_group_id=self.instance_sg.id,
            ip_protocol="tcp",
            from_port=args.app_port,
            to_port=args.app_port,
            referenced_security_group_id=self.lb_sg.id,
            description="from the load balancer only",
            opts=child,
        )
        alb: dict = {}
        if lb.access_log_bucket is not None:
            alb["access_logs"] = {"bucket": lb.access_log_bucket, "prefix": f"{log_delivery.ALB_PREFIX}", "enabled": True}
        self.load_balancer = aws.lb.LoadBalancer(
            f"{name}-alb",
            load_balancer_type="application",
            internal=False,
            security_groups=[self.lb_sg.id],
            subnets=args.load_balancer_subnet_ids if args.load_balancer_subnet_ids is not None else args.subnet_ids,
            drop_invalid_header_fields=True,
            enable_deletion_protection=lb.deletion_protection,
            **alb,
            # ELB test-writes to the log bucket when access logs are turned on.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[lb.access_log_policy] if lb.access_log_policy is not None else None
            ),
        )
        if lb.web_acl_arn is not None:
            aws.wafv2.WebAclAssociation(
                f"{name}-waf", resource_arn=self.load_balancer.arn, web_acl_arn=lb.web_acl_arn, opts=child
            )
        self.target_group = aws.lb.TargetGroup(
            f"{name}-tg",
            port=args.app_port,
            protocol="HTTP",
            target_type="instance",
            vpc_id=args.vpc_id,
            health_check={
                "enabled": True,
                "path": lb.health_path,
                "matcher": "200-399",
                "interval": TARGET_GROUP_INTERVAL_SECONDS,
                "healthy_threshold": TARGET_GROUP_HEALTHY_THRESHOLD,
                "unhealthy_threshold": TARGET_GROUP_UNHEALTHY_THRESHOLD,
            },
            deregistration_delay=30,
            opts=child,
        )
        listener: dict = {
            "load_balancer_arn": self.load_balancer.arn,
            "port": lb.port,
            "protocol": lb.protocol,
            "default_actions": [{"type": "forward", "target_group_arn": self.target_group.arn}],
        }
        if lb.protocol == "HTTPS":
            if lb.certificate_arn is None:
                raise ValueError(f"{name}: an HTTPS listener needs a certificate")
            listener.update(certificate_arn=lb.certificate_arn, ssl_policy=TLS_POLICY)
        aws.lb.Listener(f"{name}-listener", **listener, opts=child)
        if lb.http_redirect:
            aws.lb.Listener(
                f"{name}-listener-http",
                load_balancer_arn=self.load_balancer.arn,
                port=HTTP_PORT,
                protocol="HTTP",
                default_actions=[{
                    "type": "redirect",
                    "redirect": {"protocol": "HTTPS", "port": str(lb.port), "status_code": "HTTP_301"},
                }],
                opts=child,
            )
