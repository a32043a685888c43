"""TlsCertificate: an ACM certificate for the failover record, DNS-validated in the stack's zone.

One per region: a load balancer can only use a certificate from its own Region (ACM User
Guide, "Services integrated with ACM"). ACM's DNS validation asks for one CNAME per domain
name; the certificate becomes ISSUED once that record resolves (ACM User Guide, "AWS
Certificate Manager DNS validation",
https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html). The CNAME is the same
for the same domain name in every Region of the account, so both regions' records may write
it (``allow_overwrite``). ``certificate_arn`` comes from the ``CertificateValidation``, so a
listener that uses it waits for issuance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

import pulumi
import pulumi_aws as aws


def _field(option: Mapping[str, Any], name: str) -> Any:
    """A domain-validation option's field: output types are dicts keyed by the Python name;
    the wire (and so Pulumi's mocks) uses the camelCase name."""
    camel = name.split("_")[0] + "".join(part.title() for part in name.split("_")[1:])
    return option[name] if name in option else option[camel]


@dataclass(frozen=True)
class TlsCertificateArgs:
    domain_name: str
    zone_id: pulumi.Input[str]
    validation_ttl: int = 60


class TlsCertificate(pulumi.ComponentResource):
    def __init__(self, name: str, args: TlsCertificateArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("dr-platform:index:TlsCertificate", name, None, opts)
        self.certificate = aws.acm.Certificate(
            f"{name}-cert",
            domain_name=args.domain_name,
            validation_method="DNS",
            # Public certificates are logged for certificate transparency (browsers require it).
            options={"certificate_transparency_logging_preference": "ENABLED"},
            tags={"Name": args.domain_name},
            opts=pulumi.ResourceOptions(parent=self),
        )
        option = self.certificate.domain_validation_options.apply(lambda options: options[0])
        self.validation_record = aws.route53.Record(
            f"{name}-validation",
            zone_id=args.zone_id,
            name=option.apply(lambda o: _field(o, "resource_record_name")),
            type=option.apply(lambda o: _field(o, "resource_record_type")),
            records=[option.apply(lambda o: _field(o, "resource_record_value"))],
            ttl=args.validation_ttl,
            allow_overwrite=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.validation = aws.acm.CertificateValidation(
            f"{name}-validation-wait",
            certificate_arn=self.certificate.arn,
            validation_record_fqdns=[self.validation_record.fqdn],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.certificate_arn = self.validation.certificate_arn
        self.register_outputs({"certificate_arn": self.certificate_arn})
