import gzip
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

from providers.aws.provider import AwsProvider
from providers.aws.requestsources import (
    ALB_DELIVERY_LAG,
    CLOUDFRONT_DELIVERY_LAG,
    RequestLogSource,
    alb_log_key,
    cloudfront_log_key,
    discover_alb_sources,
    origin_region,
)
from providers.aws.session import AwsSessionFactory
from providers.base import AccessDeniedError, NotFoundError, RequestLogProvider
from providers.fake import FakeProvider
from providers.models import RequestLogKind, TimeWindow
from providers.multi import MultiProvider
from tests.providers.test_requestlogs import CF_HEADER, CF_LINES, HTTPS

REGION = "us-east-2"
ACCOUNT = "123456789012"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WINDOW = TimeWindow(start=T0, end=T0 + timedelta(hours=1))


def alb_body(*statuses: int) -> bytes:
    return gzip.compress(
        "\n".join(HTTPS.replace(" 200 200 ", f" {s} 200 ") for s in statuses).encode()
    )


def cf_body(n: int) -> bytes:
    return gzip.compress(("\n".join([CF_HEADER, *CF_LINES[:n]]) + "\n").encode())


def test_key_builders_follow_the_documented_layouts() -> None:
    key = alb_log_key(ACCOUNT, REGION, "app/my-lb/50dc6c495c0c9188", T0, prefix="logs/")
    assert key.startswith(
        f"logs/AWSLogs/{ACCOUNT}/elasticloadbalancing/{REGION}/2026/03/01/"
        f"{ACCOUNT}_elasticloadbalancing_{REGION}_app.my-lb.50dc6c495c0c9188_20260301T1200Z_10.0.0.1_"
    )
    assert key.endswith(".log.gz")
    cf = cloudfront_log_key("E2ABC123", T0, prefix="cf/")
    assert cf.startswith("cf/E2ABC123.2026-03-01-12.") and cf.endswith(".gz")
    assert cloudfront_log_key("E2ABC123", T0, salt="a") != cloudfront_log_key("E2ABC123", T0)


def test_origin_region_from_first_origin_domain() -> None:
    assert origin_region("my-lb-123.us-west-2.elb.amazonaws.com") == "us-west-2"
    assert origin_region("assets.s3.eu-west-1.amazonaws.com") == "eu-west-1"
    assert origin_region("assets.s3.amazonaws.com") is None
    assert origin_region("origin.example.com") is None


def test_alb_source_needs_region_and_account() -> None:
    with pytest.raises(ValueError, match="needs region and account"):
        RequestLogSource(RequestLogKind.ALB, "logs", "p", None, ACCOUNT)


def _alb(region: str, bucket: str, prefix: str) -> str:
    ec2 = boto3.client("ec2", region_name=region)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{region}{z}")
        for i, z in enumerate("ab")
    ]
    elbv2 = boto3.client("elbv2", region_name=region)
    lb = elbv2.create_load_balancer(
        Name="web", Subnets=[s["Subnet"]["SubnetId"] for s in subnets], Type="application"
    )["LoadBalancers"][0]
    elbv2.modify_load_balancer_attributes(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Attributes=[
            {"Key": "access_logs.s3.enabled", "Value": "true"},
            {"Key": "access_logs.s3.bucket", "Value": bucket},
            {"Key": "access_logs.s3.prefix", "Value": prefix},
        ],
    )
    return str(lb["LoadBalancerArn"]).split(":loadbalancer/")[1]


def _distribution(bucket: str, prefix: str, origin: str) -> str:
    cf = boto3.client("cloudfront", region_name="us-east-1")
    config = {
        "CallerReference": origin,
        "Comment": "",
        "Enabled": True,
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": "o",
                    "DomainName": origin,
                    "CustomOriginConfig": {
                        "HTTPPort": 80,
                        "HTTPSPort": 443,
                        "OriginProtocolPolicy": "https-only",
                    },
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": "o",
            "ViewerProtocolPolicy": "allow-all",
            "MinTTL": 0,
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
        },
        "Logging": {
            "Enabled": True,
            "IncludeCookies": False,
            "Bucket": f"{bucket}.s3.amazonaws.com",
            "Prefix": prefix,
        },
    }
    return str(cf.create_distribution(DistributionConfig=config)["Distribution"]["Id"])


def test_provider_discovers_alb_and_cloudfront_logs_and_reads_the_window(
    mocked_aws: None,
) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="alb-logs", CreateBucketConfiguration={"LocationConstraint": REGION})
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="cf-logs")
    lb_id = _alb(REGION, "alb-logs", "edge")
    dist = _distribution("cf-logs", "cf/", "web-1.us-east-2.elb.amazonaws.com")
    # ALB: delivered (interval end + lag) inside the window, at its edges, and outside
    inside = alb_log_key(ACCOUNT, REGION, lb_id, T0 - ALB_DELIVERY_LAG, prefix="edge")
    last = alb_log_key(ACCOUNT, REGION, lb_id, T0 + timedelta(minutes=50), prefix="edge")
    too_late = alb_log_key(ACCOUNT, REGION, lb_id, WINDOW.end, prefix="edge")
    too_early = alb_log_key(ACCOUNT, REGION, lb_id, T0 - timedelta(minutes=10), prefix="edge")
    for key, body in [
        (inside, alb_body(200, 201)),
        (last, alb_body(503)),
        (too_late, alb_body(204)),
        (too_early, alb_body(205)),
    ]:
        s3.put_object(Bucket="alb-logs", Key=key, Body=body)
    s3.put_object(Bucket="alb-logs", Key=f"edge/AWSLogs/{ACCOUNT}/ELBAccessLogTestFile", Body=b"x")
    # CloudFront: the hour whose files are due in the window (hour end + lag) and the next
    due_hour = T0 - timedelta(hours=1) - CLOUDFRONT_DELIVERY_LAG
    s3.put_object(
        Bucket="cf-logs", Key=cloudfront_log_key(dist, due_hour, prefix="cf/"), Body=cf_body(3)
    )
    s3.put_object(
        Bucket="cf-logs",
        Key=cloudfront_log_key(dist, due_hour + timedelta(hours=1), prefix="cf/"),
        Body=cf_body(1),
    )
    provider = AwsProvider(AwsSessionFactory(), regions=[REGION], edge_regions={"LAX": "us-west-2"})
    assert isinstance(provider, RequestLogProvider)
    chunks = list(provider.request_records(WINDOW, tenant_field="domain_name"))
    alb = [c for c in chunks if c.kind == RequestLogKind.ALB]
    front = [c for c in chunks if c.kind == RequestLogKind.CLOUDFRONT]
    assert sorted(s for c in alb for s in c.records.get_column("status").to_list()) == [
        200,
        201,
        503,
    ]
    assert all(c.source.startswith("s3://alb-logs/edge/AWSLogs/") and "#" in c.source for c in alb)
    assert alb[0].records.get_column("tenant_raw")[0] == "www.example.com"
    [cf] = front
    assert cf.records.height == 3 and cf.rejected == []
    assert set(cf.records.get_column("serving_region")) == {"us-east-2"}
    assert cf.records.get_column("client_region").to_list()[:2] == ["us-west-2", "us-west-2"]


def test_explicit_sources_skip_discovery(mocked_aws: None) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="central")
    key = cloudfront_log_key("E1", T0 - timedelta(hours=2), prefix="front/")
    s3.put_object(Bucket="central", Key=key, Body=cf_body(2))
    s3.put_object(Bucket="central", Key="front/E1.2026-03-01-09.abc.gz", Body=cf_body(1))
    sources = [RequestLogSource(RequestLogKind.CLOUDFRONT, "central", "front/", "eu-west-1")]
    provider = AwsProvider(AwsSessionFactory(), regions=["us-east-1"], request_sources=sources)
    [chunk] = list(provider.request_records(WINDOW))
    assert chunk.source.startswith(f"s3://central/{key}#")
    assert chunk.records.height == 2
    assert set(chunk.records.get_column("serving_region")) == {"eu-west-1"}


def test_missing_bucket_is_not_found_naming_the_listing(mocked_aws: None) -> None:
    source = RequestLogSource(RequestLogKind.ALB, "gone", "", REGION, ACCOUNT)
    provider = AwsProvider(AwsSessionFactory(), regions=[REGION], request_sources=[source])
    with pytest.raises(NotFoundError, match="ListObjectsV2 s3://gone/AWSLogs/.*NoSuchBucket"):
        list(provider.request_records(WINDOW))


def test_access_denied_is_mapped(aws_credentials: None) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    source = RequestLogSource(RequestLogKind.ALB, "locked", "", REGION, ACCOUNT)
    with Stubber(s3) as stub:
        stub.add_client_error("list_objects_v2", "AccessDenied", "denied", 403)
        with pytest.raises(AccessDeniedError, match="AccessDenied"):
            list(source.chunks(s3, WINDOW))
    elbv2 = boto3.client("elbv2", region_name=REGION)
    with Stubber(elbv2) as stub:
        stub.add_client_error("describe_load_balancers", "AccessDenied", "no", 403)
        with pytest.raises(AccessDeniedError, match="DescribeLoadBalancers"):
            discover_alb_sources(elbv2, ACCOUNT, REGION)


def test_private_tenant_field_is_refused_before_any_call(mocked_aws: None) -> None:
    provider = AwsProvider(AwsSessionFactory(), regions=[REGION], request_sources=[])
    with pytest.raises(ValueError, match="x-forwarded-for"):
        list(provider.request_records(WINDOW, tenant_field="x-forwarded-for"))


def test_fake_and_multi_serve_request_chunks_and_name_the_failing_cloud() -> None:
    from providers.aws.requestlogs import parse_alb_log

    chunk = parse_alb_log(alb_body(200), "s3://b/k#1", REGION, None)
    aws = FakeProvider(name="aws", requests=[chunk])
    other = FakeProvider(name="azure")
    multi = MultiProvider([aws, other])
    assert [c.source for c in multi.request_records(WINDOW, "domain_name")] == ["s3://b/k#1"]
    assert aws.calls[-1].args == (WINDOW, "domain_name")
    other.fail_next("request_records", AccessDeniedError("no logs"))
    with pytest.raises(AccessDeniedError, match="^azure: no logs"):
        list(multi.request_records(WINDOW))
