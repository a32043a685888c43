"""A read-only view of the stack's resources for stack-level rules: joins and regions.

pulumi-aws v7 attaches bucket settings as separate resources that name their bucket by the
``bucket`` property (the bucket name), and replication destinations by bucket ARN, so rules
about one bucket join resources by name/ARN. Works on ``pulumi_policy.PolicyResource``
objects, whether the engine or ``offline.run_pack`` built them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Mapping, Optional, Sequence

from pulumi_policy import PolicyResource

BUCKET = "aws:s3/bucket:Bucket"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
REPLICATION = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
KMS_KEY = "aws:kms/key:Key"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
MANAGED_POLICY = "aws:iam/policy:Policy"
RECORD = "aws:route53/record:Record"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
FIS_TEMPLATE = "aws:fis/experimentTemplate:ExperimentTemplate"
BUCKET_LOGGING = "aws:s3/bucketLogging:BucketLogging"
LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
TRAIL = "aws:cloudtrail/trail:Trail"


def describe(resource: Any) -> str:
    """``aws:s3/bucket:Bucket 'primary-checkpoints-bucket'`` for messages."""
    return f"{resource.resource_type} '{resource.name}'"


def setting(args: Any, key: str, default: Any) -> Any:
    """A policy config value (``--policy-pack-config``), or the default the schema declares."""
    config = args.get_config() or {}
    value = config.get(key)
    return default if value is None else value


def stack_and_project(urn: str) -> tuple[str, str]:
    """``urn:pulumi:<stack>::<project>::<type>::<name>`` -> (stack, project)."""
    parts = urn.split("::")
    stack = parts[0].rsplit(":", 1)[-1] if parts else ""
    project = parts[1] if len(parts) > 1 else ""
    return stack, project


def type_chain(urn: str) -> list[str]:
    """The parent types and the type of a resource, from its URN (``A$B$C``)."""
    parts = urn.split("::")
    return parts[2].split("$") if len(parts) > 2 else []


def enabled(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("status") == "Enabled"


def seq(value: Any) -> list[Any]:
    """A property that is a list (or pulumi_policy's list proxy); [] when absent."""
    if value is None or isinstance(value, (str, bytes, Mapping)):
        return []
    if isinstance(value, Sequence):
        return list(value)
    return []


class StackView:
    def __init__(self, resources: Iterable[PolicyResource]) -> None:
        self.resources = list(resources)
        self._by_type: dict[str, list[PolicyResource]] = defaultdict(list)
        for resource in self.resources:
            self._by_type[resource.resource_type].append(resource)

    def of_type(self, type_: str) -> list[PolicyResource]:
        return list(self._by_type.get(type_, ()))

    @property
    def stack(self) -> str:
        return stack_and_project(self.resources[0].urn)[0] if self.resources else ""

    @property
    def project(self) -> str:
        return stack_and_project(self.resources[0].urn)[1] if self.resources else ""

    # -- buckets ---------------------------------------------------------------------------
    def buckets(self, exempt: Sequence[str] = ()) -> list[PolicyResource]:
        return [b for b in self.of_type(BUCKET) if b.name not in set(exempt)]

    def attached(self, type_: str, bucket: PolicyResource) -> list[PolicyResource]:
        """Resources of ``type_`` whose ``bucket`` property names this bucket (by name or ARN)."""
        keys = {bucket.props.get("bucket"), bucket.props.get("arn")} - {None, ""}
        return [r for r in self.of_type(type_) if r.props.get("bucket") in keys]

    def bucket_named(self, name_or_arn: Any) -> Optional[PolicyResource]:
        for bucket in self.of_type(BUCKET):
            if name_or_arn in (bucket.props.get("bucket"), bucket.props.get("arn")):
                return bucket
        return None

    def log_targets(self) -> dict[str, set[str]]:
        """Buckets AWS services deliver logs into: bucket URN -> the services ("s3", "elb", "cloudtrail")."""
        named: list[tuple[Any, str]] = [(r.props.get("targetBucket"), "s3") for r in self.of_type(BUCKET_LOGGING)]
        named += [((lb.props.get("accessLogs") or {}).get("bucket"), "elb") for lb in self.of_type(LOAD_BALANCER)
                  if (lb.props.get("accessLogs") or {}).get("enabled")]
        named += [(t.props.get("s3BucketName"), "cloudtrail") for t in self.of_type(TRAIL)]
        targets: dict[str, set[str]] = defaultdict(set)
        for name, service in named:
            bucket = self.bucket_named(name) if name else None
            if bucket is not None:
                targets[bucket.urn].add(service)
        return dict(targets)

    def is_versioned(self, bucket: PolicyResource) -> bool:
        return any(
            (v.props.get("versioningConfiguration") or {}).get("status") == "Enabled"
            for v in self.attached(VERSIONING, bucket)
        )

    def sse_rules(self, bucket: PolicyResource) -> list[Mapping[str, Any]]:
        return [
            rule.get("applyServerSideEncryptionByDefault") or {}
            for config in self.attached(ENCRYPTION, bucket)
            for rule in seq(config.props.get("rules"))
        ]

    def kms_key_of(self, bucket: PolicyResource) -> Optional[str]:
        """The KMS key id/ARN of the bucket's default SSE-KMS encryption, if any."""
        for rule in self.sse_rules(bucket):
            if str(rule.get("sseAlgorithm", "")).startswith("aws:kms") and rule.get("kmsMasterKeyId"):
                return rule.get("kmsMasterKeyId")
        return None

    def uses_kms(self, bucket: PolicyResource) -> bool:
        return any(str(r.get("sseAlgorithm", "")).startswith("aws:kms") for r in self.sse_rules(bucket))

    def kms_key(self, key_ref: Any) -> Optional[PolicyResource]:
        """The stack's key for an ARN or key id."""
        for key in self.of_type(KMS_KEY):
            if key_ref in (key.props.get("arn"), key.props.get("keyId"), key.props.get("id")):
                return key
        return None

    # -- replication -----------------------------------------------------------------------
    def replication_edges(self) -> list["Edge"]:
        edges = []
        for config in self.of_type(REPLICATION):
            source = self.bucket_named(config.props.get("bucket"))
            for rule in seq(config.props.get("rules")):
                if rule.get("status") != "Enabled":
                    continue
                destination_arn = (rule.get("destination") or {}).get("bucket")
                edges.append(Edge(config, rule, source, destination_arn, self.bucket_named(destination_arn)))
        return edges

    # -- regions ---------------------------------------------------------------------------
    def region(self, resource: PolicyResource) -> Optional[str]:
        """pulumi-aws v7's per-resource ``region``, else the provider's ``region``."""
        region = resource.props.get("region")
        if region:
            return region
        if resource.provider is not None:
            return resource.provider.props.get("region")
        return None

    # -- IAM -------------------------------------------------------------------------------
    def role_by_arn(self, arn: Any) -> Optional[PolicyResource]:
        for role in self.of_type(ROLE):
            if arn in (role.props.get("arn"), role.props.get("name")):
                return role
        return None

    def role_documents(self, role: PolicyResource) -> list[Any]:
        """Every identity policy document the role gets in this stack (inline, RolePolicy, attached)."""
        names = {role.props.get("name"), role.props.get("id"), role.props.get("arn")} - {None, ""}
        documents = [p.get("policy") for p in seq(role.props.get("inlinePolicies"))]
        documents += [rp.props.get("policy") for rp in self.of_type(ROLE_POLICY) if rp.props.get("role") in names]
        attached = {a.props.get("policyArn") for a in self.of_type(ROLE_POLICY_ATTACHMENT) if a.props.get("role") in names}
        documents += [p.props.get("policy") for p in self.of_type(MANAGED_POLICY) if p.props.get("arn") in attached]
        return [d for d in documents if d]


class Edge:
    """One enabled replication rule: source bucket -> destination bucket (None when outside the stack)."""

    def __init__(
        self,
        config: PolicyResource,
        rule: Mapping[str, Any],
        source: Optional[PolicyResource],
        destination_arn: Any,
        destination: Optional[PolicyResource],
    ) -> None:
        self.config = config
        self.rule = rule
        self.source = source
        self.destination_arn = destination_arn
        self.destination = destination

    @property
    def rule_id(self) -> str:
        return str(self.rule.get("id") or "(no id)")
