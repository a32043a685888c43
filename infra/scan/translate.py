"""Pulumi registrations -> the JSON of a Terraform plan (``terraform show -json``), pure logic.

pulumi-aws is bridged from the Terraform AWS provider, so each resource the program registers
has a Terraform counterpart with the same properties under other names. This module renames
them the way the bridge named them, in reverse:

- type tokens: ``aws:<module>/<camelName>:<Class>`` is ``aws_<module>_<snake_name>`` unless the
  bridge mapped it otherwise (``TYPE_OVERRIDES``: ``aws:lb/loadBalancer`` is ``aws_lb``,
  ``aws:ec2/securityGroup`` is ``aws_security_group``, the deprecated ``*V2`` S3 classes are
  the same Terraform resources). The authoritative map is ``renames.resources`` in pulumi-aws
  ``provider/cmd/pulumi-resource-aws/bridge-metadata.json``.
- property names: camelCase to snake_case; a list of blocks that Terraform names in the
  singular (``rule``) the bridge pluralised (``rules``), so lists of objects are singularised
  unless ``PROPERTY_OVERRIDES`` says Terraform's own name is plural (``tag_specifications``).
  Maps (``tags``, ``dimensions``) keep their keys.
- nested objects (blocks with at most one element, flattened by the bridge) become
  one-element block lists, as Terraform's plan JSON writes every block.
- references: an input equal to the id/arn/name of a resource this one depends on is what
  Terraform would plan as an unknown value computed from that resource. It is left out of
  the planned values (``null`` inside a list) and written as ``references`` in the plan's
  ``configuration``, so checkov's graph (which links resources through such references,
  checkov/terraform/plan_parser.py ``_add_references``) can join e.g. a bucket and its
  public access block. Values that merely contain another resource's id (a JSON policy
  naming a bucket ARN) stay known, so policy checks still read them.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from infra.scan.errors import TranslationError

logger = logging.getLogger(__name__)

PROVIDER_NAME = "registry.terraform.io/hashicorp/aws"
FORMAT_VERSION = "1.2"

# Tokens whose Terraform name does not follow aws_<module>_<snake_name>
# (pulumi-aws bridge-metadata.json, renames.resources).
TYPE_OVERRIDES: dict[str, str] = {
    "aws:lb/loadBalancer:LoadBalancer": "aws_lb",
    "aws:alb/loadBalancer:LoadBalancer": "aws_alb",
    "aws:s3/bucketReplicationConfig:BucketReplicationConfig": "aws_s3_bucket_replication_configuration",
    "aws:cloudtrail/trail:Trail": "aws_cloudtrail",
    "aws:autoscaling/tag:Tag": "aws_autoscaling_group_tag",
    "aws:elb/loadBalancer:LoadBalancer": "aws_elb",
    "aws:iam/sshKey:SshKey": "aws_iam_user_ssh_key",
    "aws:ec2/dedicatedHost:DedicatedHost": "aws_ec2_host",
    "aws:ec2/networkInterfaceSecurityGroupAttachment:NetworkInterfaceSecurityGroupAttachment":
        "aws_network_interface_sg_attachment",
    "aws:ec2/securityGroupAssociation:SecurityGroupAssociation": "aws_vpc_endpoint_security_group_association",
    "aws:ec2/peeringConnectionOptions:PeeringConnectionOptions": "aws_vpc_peering_connection_options",
    "aws:cfg/rule:Rule": "aws_config_config_rule",
    "aws:cfg/recorder:Recorder": "aws_config_configuration_recorder",
}
# Modules whose Terraform resources carry no module prefix (aws_instance, aws_security_group,
# aws_launch_template, aws_vpc, aws_subnet, aws_eip, ...), except the names listed beside them.
UNPREFIXED_MODULES: dict[str, frozenset[str]] = {
    "ec2": frozenset({
        "availabilityZoneGroup", "capacityReservation", "carrierGateway", "fleet", "localGatewayRoute",
        "localGatewayRouteTableVpcAssociation", "managedPrefixList", "managedPrefixListEntry",
        "networkInsightsAnalysis", "networkInsightsPath", "serialConsoleAccess", "subnetCidrReservation",
        "tag", "trafficMirrorFilter", "trafficMirrorFilterRule", "trafficMirrorSession", "trafficMirrorTarget",
    }),
}

# (terraform type, Pulumi property) -> Terraform property, where the general rule is wrong.
PROPERTY_OVERRIDES: dict[tuple[str, str], str] = {
    ("aws_autoscaling_group", "vpcZoneIdentifiers"): "vpc_zone_identifier",
    ("aws_launch_template", "tagSpecifications"): "tag_specifications",
    ("aws_launch_template", "blockDeviceMappings"): "block_device_mappings",
    ("aws_launch_template", "networkInterfaces"): "network_interfaces",
    ("aws_launch_template", "elasticGpuSpecifications"): "elastic_gpu_specifications",
    ("aws_instance", "ebsBlockDevices"): "ebs_block_device",
}
# Object-valued properties that are Terraform maps (keys kept verbatim, no block list).
MAP_PROPERTIES = frozenset({"tags", "tagsAll", "dimensions", "parameters", "variables", "environment"})
_IDENTIFIER = re.compile(r"^[a-z][a-zA-Z0-9]*$")

# State attributes (as the mocks return them) another resource may refer to.
REFERABLE = ("arn", "bucket", "name", "keyId", "dnsName", "zoneId", "id")


def snake(name: str) -> str:
    """``versioningConfiguration`` -> ``versioning_configuration`` (``cidrIpv4`` -> ``cidr_ipv4``)."""
    out = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    out = re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"_\1", out)
    return out.lower()


def singular(name: str) -> str:
    """Undo the bridge's pluralisation of the last word: rules->rule, policies->policy, aliases->alias."""
    head, _, word = name.rpartition("_")
    prefix = f"{head}_" if head else ""
    if word.endswith("ies") and len(word) > 3:
        return f"{prefix}{word[:-3]}y"
    if word.endswith("ses") and word[:-2].endswith(("ss", "as", "us", "is")):
        return f"{prefix}{word[:-2]}"
    if word.endswith(("xes", "ches", "shes")):
        return f"{prefix}{word[:-2]}"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return f"{prefix}{word[:-1]}"
    return name


def terraform_type(token: str) -> str:
    """``aws:s3/bucketVersioning:BucketVersioning`` -> ``aws_s3_bucket_versioning``."""
    if token in TYPE_OVERRIDES:
        return TYPE_OVERRIDES[token]
    match = re.fullmatch(r"aws:([a-z0-9]+)/([a-zA-Z0-9]+):([A-Za-z0-9]+)", token)
    if match is None:
        raise TranslationError(f"not a pulumi-aws resource type token: {token!r} (expected aws:<module>/<name>:<Class>)")
    module, name, _ = match.groups()
    if module == "s3" and name.endswith("V2"):
        name = name[:-2]  # v7: BucketV2, BucketVersioningV2, ... are deprecated aliases of the same resources
    if module == "index" or (module in UNPREFIXED_MODULES and name not in UNPREFIXED_MODULES[module]):
        return f"aws_{snake(name)}"
    return f"aws_{module}_{snake(name)}"


def terraform_name(pulumi_name: str) -> str:
    """A Terraform resource name (letters, digits, underscores) for a Pulumi resource name."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", pulumi_name)
    return name if re.match(r"[A-Za-z_]", name) else f"_{name}"


def terraform_property(tf_type: str, key: str, value: Any) -> str:
    if (tf_type, key) in PROPERTY_OVERRIDES:
        return PROPERTY_OVERRIDES[(tf_type, key)]
    name = snake(key)
    if isinstance(value, list) and any(isinstance(v, Mapping) for v in value):
        return singular(name)
    return name


def _is_map(key: str, value: Mapping[str, Any]) -> bool:
    return key in MAP_PROPERTIES or any(not _IDENTIFIER.match(k) for k in value)


def _plain(value: Any) -> Any:
    """Wire numbers are doubles: a whole number goes back to an int, as in Terraform's JSON."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Resource:
    """What the translator needs of one registration (``infra.mockrun.Registration`` has it)."""

    urn: str
    type: str
    name: str
    inputs: Mapping[str, Any]
    state: Mapping[str, Any]
    id: Optional[str]
    dependencies: Sequence[str]
    provider_urn: str


@dataclass
class Plan:
    """The plan JSON and, per Terraform address, the Pulumi resource it stands for."""

    document: dict[str, Any]
    sources: dict[str, tuple[str, str]] = field(default_factory=dict)  # address -> (Pulumi type, name)


@dataclass(frozen=True)
class _Reference:
    address: str
    attribute: str

    def expressions(self) -> list[str]:
        return [f"{self.address}.{self.attribute}", self.address]


class _Unknown:
    """A value Terraform would only know after apply: the reference that computes it."""

    def __init__(self, ref: _Reference) -> None:
        self.ref = ref


def _convert(tf_type: str, value: Any, lookup: Callable[[Any], Optional[_Reference]], key: str = "") -> Any:
    """Pulumi value -> Terraform value, with ``_Unknown`` where a reference replaces it."""
    if isinstance(value, str):
        ref = lookup(value)
        return _Unknown(ref) if ref is not None else value
    if isinstance(value, Mapping):
        if key and _is_map(key, value):
            return _plain(dict(value))
        return [_block(tf_type, value, lookup)]
    if isinstance(value, list):
        return [_block(tf_type, v, lookup) if isinstance(v, Mapping) else _convert(tf_type, v, lookup) for v in value]
    return _plain(value)


def _block(tf_type: str, obj: Mapping[str, Any], lookup: Callable[[Any], Optional[_Reference]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if value is None:
            continue
        out[terraform_property(tf_type, key, value)] = _convert(tf_type, value, lookup, key)
    return out


def _split(value: Any) -> tuple[Any, Any, Any]:
    """(planned value, configuration expression, after_unknown) for a converted value.

    The planned value is None when it is unknown; the expression None when it holds no reference.
    """
    if isinstance(value, _Unknown):
        return None, {"references": value.ref.expressions()}, True
    if isinstance(value, dict):
        planned, expressions, unknown = {}, {}, {}
        for key, item in value.items():
            p, e, u = _split(item)
            if p is not None:
                planned[key] = p
            if e is not None:
                expressions[key] = e
            if u:
                unknown[key] = u
        return planned, expressions or None, unknown or None
    if isinstance(value, list):
        parts = [_split(item) for item in value]
        if all(isinstance(item, dict) for item in value):  # a block list: expressions per block
            expressions = [e or {} for _, e, _ in parts]
            return [p for p, _, _ in parts], expressions if any(expressions) else None, (
                [u or {} for _, _, u in parts] if any(u for _, _, u in parts) else None
            )
        refs = [r for _, e, _ in parts if e for r in e["references"]]
        planned = [p for p, _, _ in parts]
        unknown = [bool(u) for _, _, u in parts]
        return planned, ({"references": refs} if refs else None), (unknown if any(unknown) else None)
    return value, None, None


def _referable(resource: Resource) -> tuple[dict[str, str], dict[str, str]]:
    """(computed, echoed): value -> attribute, for the attributes of ``resource`` others may refer to.

    A state value that only echoes an input (a bucket setting's ``bucket``) is not something
    the resource computes; a reference prefers the resource that made the value and falls
    back to the echo (``aws_acm_certificate_validation.x.certificate_arn``) only when no
    dependency computes it.
    """
    echoes = {v for v in resource.inputs.values() if isinstance(v, str)}
    computed: dict[str, str] = {}
    for key in REFERABLE:
        value = resource.id if key == "id" else resource.state.get(key)
        if isinstance(value, str) and value and value not in computed and value not in echoes:
            computed[value] = snake(key)
    echoed = {
        value: snake(key)
        for key, value in resource.inputs.items()
        if isinstance(value, str) and value and (key in REFERABLE or key.endswith(("Arn", "Id")))
    }
    return computed, echoed


def build_plan(
    resources: Iterable[Resource],
    providers: Mapping[str, Mapping[str, Any]],
    *,
    taggable: Callable[[str], bool] = lambda token: False,
) -> Plan:
    """The plan for ``resources`` (custom resources only) on ``providers`` (provider URN -> inputs).

    ``taggable(token)`` says whether the resource has Terraform's ``tags_all`` (the provider's
    ``default_tags`` merged with its own ``tags``); Auto Scaling groups, for one, do not.
    """
    resources = list(resources)
    provider_keys = {urn: f"aws.{terraform_name(urn.rsplit('::', 1)[-1])}" for urn in providers}
    addresses: dict[str, str] = {}
    sources: dict[str, tuple[str, str]] = {}
    for r in resources:
        tf_type = terraform_type(r.type)
        base = terraform_name(r.name)
        name, n = base, 1
        while f"{tf_type}.{name}" in sources:
            n += 1
            name = f"{base}_{n}"
        address = f"{tf_type}.{name}"
        addresses[r.urn] = address
        sources[address] = (r.type, r.name)
    by_urn = {r.urn: r for r in resources}
    referable = {r.urn: _referable(r) for r in resources}

    planned_resources: list[dict[str, Any]] = []
    config_resources: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    for r in resources:
        address = addresses[r.urn]
        tf_type, tf_name = address.split(".", 1)
        deps = [d for d in r.dependencies if d in by_urn and d != r.urn]

        def lookup(value: Any, deps: Sequence[str] = deps) -> Optional[_Reference]:
            for kind in (0, 1):  # computed values first, then echoed inputs
                for dep in deps:
                    attribute = referable[dep][kind].get(value)
                    if attribute is not None:
                        return _Reference(addresses[dep], attribute)
            return None

        converted = _block(tf_type, r.inputs, lookup)
        values, expressions, after_unknown = _split(converted)
        if taggable(r.type):
            default_tags = _default_tags(providers.get(r.provider_urn, {}))
            merged = {**default_tags, **(values.get("tags") or {})}
            if merged:
                values["tags_all"] = merged
        referenced = {ref.rsplit(".", 1)[0] for ref in _all_references(expressions or {})}
        depends_on = sorted({addresses[d] for d in deps} - referenced)
        provider_key = provider_keys.get(r.provider_urn, "aws")
        planned_resources.append(
            {
                "address": address,
                "mode": "managed",
                "type": tf_type,
                "name": tf_name,
                "provider_name": PROVIDER_NAME,
                "schema_version": 0,
                "values": values,
                "sensitive_values": {},
            }
        )
        config: dict[str, Any] = {
            "address": address,
            "mode": "managed",
            "type": tf_type,
            "name": tf_name,
            "provider_config_key": provider_key,
            "expressions": expressions or {},
            "schema_version": 0,
        }
        if depends_on:
            config["depends_on"] = depends_on
        config_resources.append(config)
        changes.append(
            {
                "address": address,
                "mode": "managed",
                "type": tf_type,
                "name": tf_name,
                "provider_name": PROVIDER_NAME,
                "change": {
                    "actions": ["create"],
                    "before": None,
                    "after": values,
                    "after_unknown": {**(after_unknown or {}), "id": True},
                    "before_sensitive": False,
                    "after_sensitive": {},
                },
            }
        )
        logger.debug("translated %s %s -> %s", r.type, r.name, address)

    document = {
        "format_version": FORMAT_VERSION,
        "terraform_version": "1.9.0",
        "planned_values": {"root_module": {"resources": planned_resources}},
        "resource_changes": changes,
        "configuration": {
            "provider_config": {key: _provider_config(key, providers[urn]) for urn, key in provider_keys.items()},
            "root_module": {"resources": config_resources},
        },
    }
    return Plan(document=document, sources=sources)


def _all_references(expressions: Any) -> list[str]:
    if isinstance(expressions, dict):
        if "references" in expressions and isinstance(expressions["references"], list):
            return list(expressions["references"])
        return [r for v in expressions.values() for r in _all_references(v)]
    if isinstance(expressions, list):
        return [r for v in expressions for r in _all_references(v)]
    return []


def _default_tags(provider_inputs: Mapping[str, Any]) -> dict[str, Any]:
    value = provider_inputs.get("defaultTags")
    if isinstance(value, str):
        value = json.loads(value)
    if isinstance(value, Mapping):
        return dict(value.get("tags") or {})
    return {}


def _provider_config(key: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    alias = key.split(".", 1)[1]
    expressions: dict[str, Any] = {}
    if inputs.get("region"):
        expressions["region"] = {"constant_value": inputs["region"]}
    tags = _default_tags(inputs)
    if tags:
        expressions["default_tags"] = [{"tags": {"constant_value": tags}}]
    return {"name": "aws", "full_name": PROVIDER_NAME, "alias": alias, "expressions": expressions}
