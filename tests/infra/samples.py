"""Small desired-state documents for the program and diff tests (plain dicts, as JSON would be)."""

from __future__ import annotations

import copy
from typing import Any


def web_state() -> dict[str, Any]:
    """Two groups, one protected instance, caches in two of three regions, one routed name."""
    return copy.deepcopy(
        {
            "schema_version": 1,
            "groups": [
                {
                    "id": "web",
                    "min_count": 2,
                    "instances": [
                        {
                            "name": "web-1",
                            "region": "us-east-1",
                            "import_id": "i-0aaa",
                            "instance_type": "m5.2xlarge",
                            "current_instance_type": "m5.large",
                            "ami": "ami-123",
                            "subnet_id": "subnet-a",
                        },
                        {
                            "name": "web-db",
                            "region": "us-east-1",
                            "import_id": "i-0bbb",
                            "instance_type": "r6i.4xlarge",
                            "current_instance_type": "r6i.2xlarge",
                            "ami": "ami-123",
                            "protected": True,
                        },
                    ],
                    "scaling_groups": [
                        {
                            "name": "web-asg",
                            "region": "eu-west-1",
                            "import_id": "web-asg-prod",
                            "desired": 4,
                            "min_size": 2,
                            "max_size": 8,
                            "launch_template_id": "lt-0web",
                            "instance_type": "c6in.large",
                            "subnet_ids": ["subnet-e1", "subnet-e2"],
                        }
                    ],
                    "bandwidth_tier": {
                        "tier": "gold",
                        "guaranteed_mbps": 800,
                        "ceiling_mbps": 2000,
                        "priority": 1,
                    },
                },
                {
                    "id": "batch",
                    "min_count": 5,
                    "scaling_groups": [
                        {
                            "name": "batch-asg",
                            "region": "us-east-1",
                            "desired": 1,
                            "min_size": 1,
                            "max_size": 3,
                            "launch_template_id": "lt-0batch",
                            "subnet_ids": ["subnet-a"],
                        }
                    ],
                },
            ],
            "edge_caches": [
                {
                    "region": "us-east-1",
                    "replication_group_id": "edge-use1",
                    "import_id": "edge-use1",
                    "node_type": "cache.r7g.large",
                    "num_nodes": 3,
                    "origin_shield": True,
                    "origin_domain": "use1.origin.example.com",
                },
                {
                    "region": "ap-southeast-2",
                    "replication_group_id": "edge-apse2",
                    "node_type": "cache.r7g.large",
                    "num_nodes": 1,
                    "min_nodes": 2,
                },
            ],
            "cdn": {"name": "site", "default_origin_region": "us-east-1"},
            "routing": [
                {
                    "name": "api",
                    "zone_id": "Z0123",
                    "record_name": "api.example.com",
                    "listener_arn": "arn:aws:globalaccelerator::1:accelerator/a/listener/l",
                    "min_share": 0.1,
                    "regions": [
                        {
                            "region": "us-east-1",
                            "share": 3,
                            "target": "use1.lb.example.com",
                            "record_import_id": "Z0123_api.example.com_CNAME_us-east-1",
                            "endpoint_ids": ["arn:alb/use1"],
                        },
                        {
                            "region": "eu-west-1",
                            "share": 1,
                            "target": "euw1.lb.example.com",
                            "endpoint_ids": ["arn:alb/euw1"],
                        },
                        {
                            "region": "ap-southeast-2",
                            "share": 0.01,
                            "target": "apse2.lb.example.com",
                        },
                    ],
                }
            ],
        }
    )


def minimal_state() -> dict[str, Any]:
    """One ASG without an instance type override, no caches, one routed name without GA."""
    return {
        "schema_version": 1,
        "groups": [
            {
                "id": "api",
                "scaling_groups": [
                    {
                        "name": "api-asg",
                        "region": "us-west-2",
                        "desired": 3,
                        "min_size": 1,
                        "max_size": 6,
                        "launch_template_id": "lt-api",
                        "subnet_ids": ["subnet-w"],
                    }
                ],
            }
        ],
        "routing": [
            {
                "name": "www",
                "zone_id": "Z9",
                "record_name": "www.example.com",
                "regions": [
                    {"region": "us-west-2", "share": 1, "target": "w.example.com"},
                    {"region": "us-east-2", "share": 1, "target": "e.example.com"},
                    {"region": "eu-central-1", "share": 1, "target": "c.example.com"},
                ],
            }
        ],
    }
