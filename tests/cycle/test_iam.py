import json
import textwrap
from pathlib import Path

import pytest

from reconciler.iam import AwsCall, generate_policy, iam_action, render_policy, scan_calls

ROOT = Path(__file__).resolve().parents[2]

SAMPLE = """
import polars as pl

class Reader:
    def __init__(self, factory):
        self.ec2 = factory.client("ec2", region_name="eu-west-1")
        self.s3 = factory.client("s3")
        self.cw = factory.client("cloudwatch")

    def run(self):
        pages = self.ec2.get_paginator("describe_instances").paginate()
        self.s3.list_objects_v2(Bucket="b")
        self.s3.head_object(Bucket="b", Key="k")
        self.cw.get_metric_data(MetricDataQueries=[])
        pl.DataFrame().filter(True).select("a")  # not AWS
        self.close()
"""


def test_scan_finds_paginated_and_direct_calls_only(tmp_path: Path) -> None:
    (tmp_path / "reader.py").write_text(textwrap.dedent(SAMPLE))
    calls = scan_calls([tmp_path], tmp_path)
    assert {(c.service, c.operation) for c in calls} == {
        ("ec2", "DescribeInstances"),
        ("s3", "ListObjectsV2"),
        ("s3", "HeadObject"),
        ("cloudwatch", "GetMetricData"),
    }
    assert all(c.where.startswith("reader.py:") for c in calls)


def test_a_shared_method_name_counts_for_the_service_it_is_called_on(tmp_path: Path) -> None:
    (tmp_path / "lb.py").write_text(
        textwrap.dedent(
            """
            def tags(factory, client):
                elbv2 = factory.client("elbv2")
                ec2 = factory.client("ec2")
                elbv2.describe_tags(ResourceArns=[])
                client.describe_tags()  # the receiver names no service: both could be meant
            """
        )
    )
    calls = {(c.service, c.operation, c.where) for c in scan_calls([tmp_path], tmp_path)}
    assert calls == {
        ("elbv2", "DescribeTags", "lb.py:5"),
        ("elbv2", "DescribeTags", "lb.py:6"),
        ("ec2", "DescribeTags", "lb.py:6"),
    }


def test_iam_actions_use_iam_names() -> None:
    assert iam_action("s3", "ListObjectsV2") == "s3:ListBucket"
    assert iam_action("s3", "HeadObject") == "s3:GetObject"
    assert iam_action("cloudwatch", "GetMetricData") == "cloudwatch:GetMetricData"
    assert iam_action("elbv2", "DescribeLoadBalancers") == (
        "elasticloadbalancing:DescribeLoadBalancers"
    )
    policy = generate_policy([AwsCall("s3", "GetObject"), AwsCall("s3", "HeadObject")])
    assert policy["Statement"] == [
        {"Sid": "HeadroomS3", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}
    ]


def test_scan_reports_unparsable_file(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("def (:\n")
    with pytest.raises(ValueError, match="cannot scan .*bad.py"):
        scan_calls([tmp_path])


def test_committed_policy_matches_the_code() -> None:
    committed = ROOT / "docs" / "iam-policy.json"
    assert committed.exists(), "run: python -m reconciler.iam --write"
    assert committed.read_text() == render_policy(ROOT), (
        "docs/iam-policy.json is stale: run python -m reconciler.iam --write"
    )
    json.loads(committed.read_text())
