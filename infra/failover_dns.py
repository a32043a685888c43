"""FailoverDns: a Route 53 health check on the primary and PRIMARY/SECONDARY failover records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from infra.config import DnsConfig


@dataclass(frozen=True)
class Endpoint:
    dns_name: pulumi.Input[str]
    zone_id: pulumi.Input[str]  # the load balancer's canonical hosted zone (for alias records)


@dataclass(frozen=True)
class FailoverDnsArgs:
    dns: DnsConfig
    zone_id: pulumi.Input[str]
    primary: Endpoint
    secondary: Endpoint


class FailoverDns(pulumi.ComponentResource):
    def __init__(self, name: str, args: FailoverDnsArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("dr-platform:index:FailoverDns", name, None, opts)
        dns = args.dns
        child = pulumi.ResourceOptions(parent=self)

        # Interval and type cannot change after creation; Route 53 replaces the check.
        self.health_check = aws.route53.HealthCheck(
            f"{name}-primary-health",
            type=dns.protocol,
            fqdn=args.primary.dns_name,
            port=dns.port,
            resource_path=dns.path,
            request_interval=dns.request_interval,
            failure_threshold=dns.failure_threshold,
            measure_latency=False,
            # HTTPS: send the name in the TLS client_hello (SNI), as an ALB with several
            # certificates needs; Route 53 does not validate the certificate it gets back.
            enable_sni=True if dns.protocol == "HTTPS" else None,
            tags={"Name": f"{dns.record_name} primary"},
            opts=child,
        )
        self.primary_record = self._record(name, "primary", "PRIMARY", args.primary, args, self.health_check.id)
        self.secondary_record = self._record(name, "secondary", "SECONDARY", args.secondary, args, None)
        self.health_check_id = self.health_check.id
        self.register_outputs(
            {
                "health_check_id": self.health_check_id,
                "primary_record": self.primary_record.fqdn,
                "secondary_record": self.secondary_record.fqdn,
            }
        )

    def _record(
        self,
        name: str,
        role: str,
        failover: str,
        endpoint: Endpoint,
        args: FailoverDnsArgs,
        health_check_id: Optional[pulumi.Input[str]],
    ) -> aws.route53.Record:
        dns = args.dns
        common = dict(
            zone_id=args.zone_id,
            name=dns.record_name,
            set_identifier=f"{role}",
            failover_routing_policies=[{"type": failover}],
            health_check_id=health_check_id,
        )
        if dns.alias:
            # The effective TTL is the load balancer's 60 s; evaluate-target-health lets the
            # SECONDARY alias also answer for its own load balancer's health.
            return aws.route53.Record(
                f"{name}-{role}",
                type="A",
                aliases=[{"name": endpoint.dns_name, "zone_id": endpoint.zone_id, "evaluate_target_health": True}],
                **common,
                opts=pulumi.ResourceOptions(parent=self),
            )
        return aws.route53.Record(
            f"{name}-{role}",
            type="CNAME",
            ttl=dns.ttl,
            records=[endpoint.dns_name],
            **common,
            opts=pulumi.ResourceOptions(parent=self),
        )
