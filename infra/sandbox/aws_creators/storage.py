"""Creators of KMS keys, S3 buckets and their configuration, and IAM roles on the emulator."""
from __future__ import annotations

from typing import Any

from infra.sandbox.aws_creators.shapes import EmulatorApi, Handler, api_shape, auto_name, tag_list

__all__ = ["HANDLERS"]


def _kms_key(aws: EmulatorApi, args, region: str, inputs: dict[str, Any]):
    kms = aws.client("kms", region)
    params: dict[str, Any] = {"Description": inputs.get("description", ""),
                              "Tags": [{"TagKey": k, "TagValue": v} for k, v in
                                       {**aws.default_tags(args.provider), **(inputs.get("tags") or {})}.items()]}
    if inputs.get("policy"):
        params["Policy"] = inputs["policy"]
    meta = kms.create_key(**params)["KeyMetadata"]
    if inputs.get("enableKeyRotation"):
        kms.enable_key_rotation(KeyId=meta["KeyId"])
    return meta["KeyId"], {"keyId": meta["KeyId"], "arn": meta["Arn"]}


def _kms_alias(aws: EmulatorApi, args, region, inputs):
    name = inputs.get("name") or auto_name("alias/" + args.name)
    aws.client("kms", region).create_alias(AliasName=name, TargetKeyId=inputs["targetKeyId"])
    account = aws.client("sts", region).get_caller_identity()["Account"]
    return name, {"name": name, "arn": f"arn:aws:kms:{region}:{account}:{name}"}


def _bucket(aws: EmulatorApi, args, region, inputs):
    name = inputs.get("bucket") or auto_name(args.name, lower=True, max_length=63)
    s3 = aws.client("s3", region)
    params: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        params["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**params)
    tags = {**aws.default_tags(args.provider), **(inputs.get("tags") or {})}
    if tags:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tag_list(tags)})
    return name, {"bucket": name, "arn": f"arn:aws:s3:::{name}", "region": region,
                  "bucketDomainName": f"{name}.s3.amazonaws.com",
                  "bucketRegionalDomainName": f"{name}.s3.{region}.amazonaws.com", "tagsAll": tags}


def _versioning(aws, args, region, inputs):
    config = api_shape(inputs["versioningConfiguration"])
    aws.client("s3", region).put_bucket_versioning(Bucket=inputs["bucket"], VersioningConfiguration=config)
    return inputs["bucket"], {}


def _encryption(aws, args, region, inputs):
    rules = api_shape(inputs["rules"])
    aws.client("s3", region).put_bucket_encryption(
        Bucket=inputs["bucket"], ServerSideEncryptionConfiguration={"Rules": rules})
    return inputs["bucket"], {}


def _public_access_block(aws, args, region, inputs):
    keys = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    config = {"BlockPublicAcls": bool(inputs.get(keys[0])), "BlockPublicPolicy": bool(inputs.get(keys[1])),
              "IgnorePublicAcls": bool(inputs.get(keys[2])), "RestrictPublicBuckets": bool(inputs.get(keys[3]))}
    aws.client("s3", region).put_public_access_block(Bucket=inputs["bucket"], PublicAccessBlockConfiguration=config)
    return inputs["bucket"], {}


def _ownership(aws, args, region, inputs):
    rule = api_shape(inputs["rule"])
    aws.client("s3", region).put_bucket_ownership_controls(Bucket=inputs["bucket"], OwnershipControls={"Rules": [rule]})
    return inputs["bucket"], {}


def _bucket_policy(aws, args, region, inputs):
    aws.client("s3", region).put_bucket_policy(Bucket=inputs["bucket"], Policy=inputs["policy"])
    return inputs["bucket"], {}


def _lifecycle(aws, args, region, inputs):
    rules = api_shape(inputs["rules"])
    aws.client("s3", region).put_bucket_lifecycle_configuration(
        Bucket=inputs["bucket"], LifecycleConfiguration={"Rules": rules})
    return inputs["bucket"], {}


def _replication(aws, args, region, inputs):
    rules = api_shape(inputs["rules"])
    aws.client("s3", region).put_bucket_replication(
        Bucket=inputs["bucket"], ReplicationConfiguration={"Role": inputs["role"], "Rules": rules})
    return inputs["bucket"], {}


def _role(aws: EmulatorApi, args, region, inputs):
    name = inputs.get("name") or auto_name(args.name, max_length=64)
    params: dict[str, Any] = {"RoleName": name, "AssumeRolePolicyDocument": inputs["assumeRolePolicy"],
                              "Path": inputs.get("path", "/")}
    if inputs.get("description"):
        params["Description"] = inputs["description"]
    tags = {**aws.default_tags(args.provider), **(inputs.get("tags") or {})}
    if tags:
        params["Tags"] = tag_list(tags)
    role = aws.client("iam", region).create_role(**params)["Role"]
    return name, {"name": name, "arn": role["Arn"], "uniqueId": role["RoleId"]}


def _role_policy(aws, args, region, inputs):
    name = inputs.get("name") or auto_name(args.name, max_length=128)
    aws.client("iam", region).put_role_policy(RoleName=inputs["role"], PolicyName=name, PolicyDocument=inputs["policy"])
    return f"{inputs['role']}:{name}", {"name": name}


def _instance_profile(aws, args, region, inputs):
    name = inputs.get("name") or auto_name(args.name, max_length=128)
    iam = aws.client("iam", region)
    profile = iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    if inputs.get("role"):
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=inputs["role"])
    return name, {"name": name, "arn": profile["Arn"], "uniqueId": profile["InstanceProfileId"]}


def _bucket_logging(aws: EmulatorApi, args, region, inputs):
    status = {"LoggingEnabled": {"TargetBucket": inputs["targetBucket"], "TargetPrefix": inputs.get("targetPrefix", "")}}
    aws.client("s3", region).put_bucket_logging(Bucket=inputs["bucket"], BucketLoggingStatus=status)
    return inputs["bucket"], {}


HANDLERS: dict[str, Handler] = {
    "aws:kms/key:Key": _kms_key,
    "aws:kms/alias:Alias": _kms_alias,
    "aws:s3/bucket:Bucket": _bucket,
    "aws:s3/bucketV2:BucketV2": _bucket,
    "aws:s3/bucketVersioning:BucketVersioning": _versioning,
    "aws:s3/bucketVersioningV2:BucketVersioningV2": _versioning,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": _encryption,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _public_access_block,
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": _ownership,
    "aws:s3/bucketPolicy:BucketPolicy": _bucket_policy,
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _lifecycle,
    "aws:s3/bucketReplicationConfig:BucketReplicationConfig": _replication,
    "aws:iam/role:Role": _role,
    "aws:iam/rolePolicy:RolePolicy": _role_policy,
    "aws:iam/instanceProfile:InstanceProfile": _instance_profile,
    "aws:s3/bucketLogging:BucketLogging": _bucket_logging,
}
