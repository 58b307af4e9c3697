"""AWS implementation of the provider contract (boto3, one session factory)."""

from providers.aws.provider import AwsProvider
from providers.aws.session import AwsSessionFactory

__all__ = ["AwsProvider", "AwsSessionFactory"]
