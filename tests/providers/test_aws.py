"""moto-backed tests of the AWS provider: EC2, S3, CloudWatch Logs, CloudWatch, STS."""

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import polars as pl
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from providers.aws.catalog import collect_catalog, instance_type, parse_performance
from providers.aws.flowformat import format_string
from providers.aws.flowkeys import day_prefixes, flow_log_key, parse_key
from providers.aws.flowsources import CloudWatchFlowSource, S3FlowSource, discover_flow_sources
from providers.aws.flowwrite import FLOW_FIELDS_V5, render_parquet, render_text
from providers.aws.inventory import collect_inventory
from providers.aws.metrics import BATCH, fetch_metrics
from providers.aws.provider import AwsProvider
from providers.aws.session import AwsSessionFactory, translate_error
from providers.base import (
    AccessDeniedError,
    CloudProvider,
    InvalidResponseError,
    NotFoundError,
    ProviderUnavailableError,
    ThrottledError,
)
from providers.models import (
    FLOW_FIELDS_V2,
    MetricName,
    MetricQuery,
    ResourceKind,
    TimeWindow,
)

ACCT = "123456789012"
REGION = "us-east-1"
T0 = datetime(2026, 2, 2, tzinfo=UTC)
WINDOW = TimeWindow(start=T0, end=T0 + timedelta(hours=2))


def records(n: int, eni: str = "eni-1", at: datetime = T0) -> pl.DataFrame:
    ts = int(at.timestamp())
    return pl.DataFrame(
        {
            "version": [5] * n,
            "account_id": [ACCT] * n,
            "interface_id": [eni] * n,
            "srcaddr": ["10.0.0.1"] * n,
            "dstaddr": [f"10.0.0.{i + 2}" for i in range(n)],
            "srcport": [40000] * n,
            "dstport": [443] * n,
            "protocol": [6] * n,
            "packets": [3] * n,
            "bytes": [100 * (i + 1) for i in range(n)],
            "start": [ts] * n,
            "end": [ts + 60] * n,
            "action": ["ACCEPT"] * n,
            "log_status": ["OK"] * n,
        }
    )


def full_records(n: int) -> pl.DataFrame:
    base = records(n)
    extra = {f: pl.lit(None, dtype=pl.String) for f in FLOW_FIELDS_V5 if f not in base.columns}
    return base.with_columns(**extra).with_columns(
        pl.lit(None, dtype=pl.Int32).alias("tcp_flags"),
        pl.lit(None, dtype=pl.Int8).alias("traffic_path"),
        pl.lit("S3").alias("pkt_dst_aws_service"),
    )


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("AccessDenied", 403, AccessDeniedError),
        ("UnauthorizedOperation", 400, AccessDeniedError),
        ("Throttling", 400, ThrottledError),
        ("RequestLimitExceeded", 503, ThrottledError),
        ("NoSuchBucket", 404, NotFoundError),
        ("ResourceNotFoundException", 400, NotFoundError),
        ("InternalError", 500, ProviderUnavailableError),
        ("ValidationError", 400, InvalidResponseError),
    ],
)
def test_client_errors_map_to_provider_errors(code: str, status: int, kind: type) -> None:
    exc = ClientError(
        {
            "Error": {"Code": code, "Message": "nope"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "Op",
    )
    err = translate_error(exc, "DescribeInstances", "eu-west-1")
    assert isinstance(err, kind)
    assert str(err) == f"DescribeInstances in eu-west-1: {code}: nope"


def test_endpoint_errors_are_unavailable() -> None:
    err = translate_error(EndpointConnectionError(endpoint_url="http://x"), "GetMetricData", "r")
    assert isinstance(err, ProviderUnavailableError)
    assert str(err).startswith("GetMetricData in r: endpoint unreachable")


def test_missing_bucket_names_operation_and_region(mocked_aws: None) -> None:
    factory = AwsSessionFactory()
    source = S3FlowSource(bucket="no-such-bucket", account=ACCT, region=REGION, hive=False)
    with pytest.raises(
        NotFoundError,
        match=r"ListObjectsV2 s3://no-such-bucket/AWSLogs/.* in us-east-1: NoSuchBucket",
    ):
        list(source.chunks(factory.client("s3", REGION), WINDOW))


def test_missing_log_group_is_not_found(mocked_aws: None) -> None:
    logs = AwsSessionFactory().client("logs", REGION)
    with pytest.raises(NotFoundError, match="FilterLogEvents /no/group in us-east-1"):
        list(CloudWatchFlowSource("/no/group", REGION).chunks(logs, WINDOW))


def test_assume_role_per_account(mocked_aws: None) -> None:
    factory = AwsSessionFactory(role_name="HeadroomReader")
    session = factory.session("210987654321")
    assert session is factory.session("210987654321")  # cached
    assert session.get_credentials().access_key != factory.base_session.get_credentials().access_key
    assert factory.config.retries == {"mode": "adaptive", "max_attempts": 8}


# --- EC2 ----------------------------------------------------------------------------------


def test_inventory_names_instances_nat_and_load_balancer(mocked_aws: None) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    tags = [{"ResourceType": "instance", "Tags": [{"Key": "app", "Value": "shop"}]}]
    ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=3,
        MaxCount=3,
        InstanceType="m5.large",
        SubnetId=subnet,
        TagSpecifications=tags,
    )
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=eip)["NatGateway"]
    for _ in range(2):  # one load balancer, two ENIs (two AZs)
        ec2.create_network_interface(SubnetId=subnet, Description="ELB app/web/0123456789abcdef")
    ec2.create_network_interface(
        SubnetId=subnet, Description="VPC Endpoint Interface vpce-0a1b2c3d"
    )
    found = collect_inventory(ec2, ACCT, REGION)
    by_kind: dict[ResourceKind, list] = {}
    for r in found:
        by_kind.setdefault(r.kind, []).append(r)
    assert len(by_kind[ResourceKind.INSTANCE]) == 3
    inst = by_kind[ResourceKind.INSTANCE][0]
    assert inst.tags["app"] == "shop" and inst.instance_type == "m5.large"
    assert inst.interfaces[0].private_ips and inst.zone
    [natr] = by_kind[ResourceKind.NAT_GATEWAY]
    assert natr.id == nat["NatGatewayId"]
    assert natr.interfaces[0].private_ips == (nat["NatGatewayAddresses"][0]["PrivateIp"],)
    [lb] = by_kind[ResourceKind.LOAD_BALANCER]
    assert lb.id == "elb:app/web/0123456789abcdef" and len(lb.interfaces) == 2
    assert [r.id for r in by_kind[ResourceKind.VPC_ENDPOINT]] == ["vpce-0a1b2c3d"]


def test_catalog_reads_network_cards_and_prices(mocked_aws: None) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    wanted = ["m5.large", "c5n.18xlarge", "t3.micro"]
    cat = collect_catalog(ec2, REGION, {"m5.large": 0.096}, types=wanted)
    assert sorted(cat) == sorted(wanted)
    m5 = cat["m5.large"]
    assert (m5.vcpu, m5.memory_gib, m5.baseline_gbps, m5.peak_gbps) == (2, 8.0, 0.75, 10.0)
    assert m5.burstable_network and m5.hourly_price_usd == 0.096
    assert cat["c5n.18xlarge"].baseline_gbps == 100.0 and cat["t3.micro"].hourly_price_usd is None


def test_catalog_falls_back_to_network_performance_text() -> None:
    assert parse_performance("Up to 10 Gigabit") == (1.25, 10.0, True)
    assert parse_performance("25 Gigabit") == (25.0, 25.0, False)
    assert parse_performance("Moderate") == (0.5, 0.5, False)
    raw = {
        "InstanceType": "x1.odd",
        "VCpuInfo": {"DefaultVCpus": 4},
        "MemoryInfo": {"SizeInMiB": 2048},
        "NetworkInfo": {"NetworkPerformance": "Mystery"},
    }
    with pytest.raises(ValueError, match=r"x1.odd: unrecognised NetworkPerformance 'Mystery'"):
        instance_type(raw)


# --- CloudWatch -----------------------------------------------------------------------------


def test_metrics_from_moto_cloudwatch(mocked_aws: None) -> None:
    cw = boto3.client("cloudwatch", region_name=REGION)
    cw.put_metric_data(
        Namespace="AWS/EC2",
        MetricData=[
            {
                "MetricName": "NetworkIn",
                "Dimensions": [{"Name": "InstanceId", "Value": "i-1"}],
                "Timestamp": T0 + timedelta(minutes=5 * k),
                "Value": float(k),
            }
            for k in range(6)
        ],
    )
    queries = [
        MetricQuery(resource_id="i-1", metric=MetricName.NETWORK_IN, stat="Sum"),
        MetricQuery(resource_id="i-1", metric=MetricName.MEMORY_USED_PERCENT),
    ]
    net, mem = fetch_metrics(cw, queries, WINDOW, region=REGION)
    assert net.values == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0] and net.timestamps[0] == T0
    assert mem.metric == MetricName.MEMORY_USED_PERCENT and mem.values == []


class RecordingCloudWatch:
    """A recorded-response stand-in: pages by NextToken, answers ids of the batch it got."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def get_metric_data(self, **kwargs):
        self.calls.append(kwargs)
        ids = [q["Id"] for q in kwargs["MetricDataQueries"]]
        half = len(ids) // 2
        page_ids = ids[half:] if kwargs.get("NextToken") else ids[:half]
        results = [
            {"Id": i, "Timestamps": [T0], "Values": [float(i[1:])], "StatusCode": "Complete"}
            for i in page_ids
        ]
        return {
            "MetricDataResults": results,
            **({} if kwargs.get("NextToken") else {"NextToken": "p2"}),
        }


def test_metrics_batch_500_per_call_page_and_map_ids_back() -> None:
    cw = RecordingCloudWatch()
    queries = [
        MetricQuery(resource_id=f"i-{n}", metric=MetricName.CPU_UTILIZATION)
        for n in range(BATCH + 20)
    ]
    got = fetch_metrics(cw, queries, WINDOW)
    assert [len(c["MetricDataQueries"]) for c in cw.calls] == [500, 500, 20, 20]
    assert [bool(c.get("NextToken")) for c in cw.calls] == [False, True, False, True]
    assert [s.resource_id for s in got] == [q.resource_id for q in queries]
    assert [s.values for s in got[:3]] == [[0.0], [1.0], [2.0]] and got[-1].values == [519.0]


def test_metrics_unknown_result_id_is_invalid_response() -> None:
    class Odd:
        def get_metric_data(self, **kwargs):
            return {"MetricDataResults": [{"Id": "zzz", "Timestamps": [], "Values": []}]}

    q = [MetricQuery(resource_id="i-1", metric=MetricName.NETWORK_IN)]
    with pytest.raises(InvalidResponseError, match="GetMetricData in eu-west-1: result id 'zzz'"):
        fetch_metrics(Odd(), q, WINDOW, region="eu-west-1")


class ThrottlingClient:
    def get_metric_data(self, **kwargs):
        raise ClientError(
            {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "GetMetricData"
        )


def test_throttling_surfaces_as_throttled_error() -> None:
    q = [MetricQuery(resource_id="i-1", metric=MetricName.NETWORK_IN)]
    with pytest.raises(
        ThrottledError, match="GetMetricData in us-east-1: Throttling: Rate exceeded"
    ):
        fetch_metrics(ThrottlingClient(), q, WINDOW, region=REGION)


# --- S3 and CloudWatch Logs flow logs --------------------------------------------------------


def test_key_layouts_round_trip() -> None:
    at = datetime(2026, 2, 2, 13, 25, tzinfo=UTC)
    key = flow_log_key(ACCT, REGION, "fl-0abc", at, prefix="logs")
    assert key.startswith(f"logs/AWSLogs/{ACCT}/vpcflowlogs/{REGION}/2026/02/02/")
    assert key.rsplit("/", 1)[1].startswith(f"{ACCT}_vpcflowlogs_{REGION}_fl-0abc_20260202T1325Z_")
    hive = flow_log_key(ACCT, REGION, "fl-0abc", at, hive=True, per_hour=True, parquet=True)
    assert f"aws-account-id={ACCT}/aws-service=vpcflowlogs/aws-region={REGION}/" in hive
    assert "/year=2026/month=02/day=02/hour=13/" in hive and hive.endswith(".log.parquet")
    info = parse_key(hive)
    assert info is not None and (info.flow_log_id, info.at, info.parquet) == ("fl-0abc", at, True)
    assert parse_key("AWSLogs/whatever.txt") is None
    window = TimeWindow(start=at, end=at + timedelta(days=1))
    assert [p.rsplit("/", 4)[1:4] for p in day_prefixes(ACCT, REGION, window)] == [
        ["2026", "02", "02"],
        ["2026", "02", "03"],
    ]


def test_s3_default_text_and_hive_parquet_objects(mocked_aws: None) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="flows")
    v5 = full_records(3)
    put = [
        (flow_log_key(ACCT, REGION, "fl-1", T0 + timedelta(minutes=10)), render_text(records(2))),
        (
            flow_log_key(
                ACCT,
                REGION,
                "fl-2",
                T0 + timedelta(minutes=10),
                hive=True,
                per_hour=True,
                parquet=True,
            ),
            render_parquet(v5),
        ),
        # delivered long after the window: not listed for it
        (flow_log_key(ACCT, REGION, "fl-1", T0 + timedelta(hours=5)), render_text(records(9))),
        # not a flow-log object name: ignored
        (f"AWSLogs/{ACCT}/vpcflowlogs/{REGION}/2026/02/02/aws-logs-write-test", b"hello"),
    ]
    for key, body in put:
        s3.put_object(Bucket="flows", Key=key, Body=body)
    chunks = list(S3FlowSource("flows", ACCT, REGION).chunks(s3, WINDOW))
    assert [c.records.height for c in chunks] == [2, 3]
    assert all(c.source.startswith("s3://flows/AWSLogs/") and "#" in c.source for c in chunks)
    assert chunks[1].records.get_column("pkt_dst_aws_service").to_list() == ["S3"] * 3


def test_s3_custom_log_format_without_header(mocked_aws: None) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="flows")
    fields = ["srcaddr", "dstaddr", "bytes", "start", "end", "log_status", "version"]
    body = render_text(records(4), fields, header=False)
    s3.put_object(Bucket="flows", Key=flow_log_key(ACCT, REGION, "fl-1", T0), Body=body)
    src = S3FlowSource("flows", ACCT, REGION, log_format=format_string(fields), hive=False)
    [chunk] = list(src.chunks(s3, WINDOW))
    assert chunk.records.get_column("bytes").to_list() == [100, 200, 300, 400]
    assert chunk.records.get_column("interface_id").null_count() == 4


def test_cloudwatch_logs_paginated_per_stream(mocked_aws: None) -> None:
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName="/vpc/flows")
    # CloudWatch Logs refuses events older than 14 days: use recent ones.
    recent = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    window = TimeWindow(start=recent - timedelta(minutes=5), end=recent + timedelta(minutes=5))
    ts_ms = int(recent.timestamp() * 1000)
    text = render_text(records(3, at=recent), FLOW_FIELDS_V2, header=False, compress=False)
    text = text.decode()
    for stream in ("eni-1-all", "eni-2-all"):
        logs.create_log_stream(logGroupName="/vpc/flows", logStreamName=stream)
        events = [
            {"timestamp": ts_ms + i, "message": line} for i, line in enumerate(text.splitlines())
        ]
        events.append({"timestamp": ts_ms + 10, "message": "2 oops"})
        logs.put_log_events(logGroupName="/vpc/flows", logStreamName=stream, logEvents=events)
    chunks = list(CloudWatchFlowSource("/vpc/flows", REGION).chunks(logs, window))
    assert [c.records.height for c in chunks] == [3, 3]
    assert [(r.line, r.raw) for r in chunks[0].rejected] == [(4, "2 oops")]
    assert "/vpc/flows/eni-1-all@" in chunks[0].source


def test_provider_discovers_flow_logs_and_meets_the_contract(mocked_aws: None) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="flows")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    fields = [
        "version",
        "interface_id",
        "srcaddr",
        "dstaddr",
        "bytes",
        "start",
        "end",
        "log_status",
    ]
    ec2.create_flow_logs(
        ResourceIds=[vpc],
        ResourceType="VPC",
        TrafficType="ALL",
        LogDestinationType="s3",
        LogDestination="arn:aws:s3:::flows",
        LogFormat=format_string(fields),
    )
    [source] = discover_flow_sources(ec2, ACCT, REGION)
    assert isinstance(source, S3FlowSource) and source.bucket == "flows"
    body = render_text(records(2), fields, header=False)
    boto3.client("s3", region_name=REGION).put_object(
        Bucket="flows", Key=flow_log_key(ACCT, REGION, "fl-9", T0), Body=body
    )
    provider = AwsProvider(AwsSessionFactory(), regions=[REGION])
    assert isinstance(provider, CloudProvider)
    [chunk] = list(provider.flow_records(WINDOW))
    assert chunk.records.get_column("bytes").to_list() == [100, 200] and chunk.rejected == []
    with pytest.raises(ValueError, match="at least one region"):
        AwsProvider(AwsSessionFactory(), regions=[])


def test_instance_catalog_is_fetched_once_per_ttl(
    mocked_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DescribeInstanceTypes pages through every type of the region: a provider that lives
    across cycles (the scheduler, the demo) asks again only after ``catalog_ttl``."""
    import providers.aws.provider as module

    calls: list[str] = []
    real = module.collect_catalog

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append("describe")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "collect_catalog", counted)
    clock = [1000.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: clock[0])
    provider = AwsProvider(AwsSessionFactory(), regions=[REGION], catalog_ttl=timedelta(hours=1))
    first = provider.instance_catalog()
    assert "m6i.large" in first and first["m6i.large"].vcpu == 2
    first.pop("m6i.large")  # a caller's copy: the cached catalog is not changed through it
    clock[0] += 3599
    assert "m6i.large" in provider.instance_catalog() and calls == ["describe"]
    clock[0] += 2
    provider.instance_catalog()
    assert calls == ["describe", "describe"]
