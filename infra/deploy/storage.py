"""HistoryBucket: where the reconciler keeps its Parquet history, and ImageRepository for its
container image. Both hold what the user owns, so both are retained when removed from the
stack: ``pulumi destroy`` releases them and deletes nothing in them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

__all__ = ["HistoryBucket", "HistoryBucketArgs", "ImageRepository"]

BUCKET_TYPE = "headroom:deploy:HistoryBucket"
REPOSITORY_TYPE = "headroom:deploy:ImageRepository"


@dataclass(frozen=True)
class HistoryBucketArgs:
    prefix: str
    tags: dict[str, str]


class HistoryBucket(pulumi.ComponentResource):
    """A private, versioned, encrypted bucket; ``url`` is the history store's ``s3://`` root."""

    bucket: aws.s3.Bucket
    url: pulumi.Output[str]

    def __init__(
        self, name: str, args: HistoryBucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(BUCKET_TYPE, name, None, opts)
        keep = pulumi.ResourceOptions(parent=self, retain_on_delete=True)
        self.bucket = aws.s3.Bucket(
            name, bucket_prefix=f"{name}-", force_destroy=False, tags=args.tags, opts=keep
        )
        on_bucket = pulumi.ResourceOptions.merge(
            keep, pulumi.ResourceOptions(depends_on=[self.bucket])
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=self.bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=on_bucket,
        )
        aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=on_bucket,
        )
        aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=on_bucket,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=self.bucket.id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms"},
                    "bucket_key_enabled": True,
                }
            ],
            opts=on_bucket,
        )
        self.url = pulumi.Output.concat("s3://", self.bucket.bucket, "/", args.prefix)
        self.register_outputs({"bucket": self.bucket.bucket, "url": self.url})


class ImageRepository(pulumi.ComponentResource):
    """A private ECR repository for the Headroom image: immutable tags, scanned on push."""

    repository: aws.ecr.Repository

    def __init__(
        self, name: str, tags: dict[str, str], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(REPOSITORY_TYPE, name, None, opts)
        self.repository = aws.ecr.Repository(
            name,
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[{"encryption_type": "AES256"}],
            force_delete=False,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        self.register_outputs({"url": self.repository.repository_url})
