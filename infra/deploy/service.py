"""ApiService: ``headroom serve --api-only`` on ECS Fargate behind an Application Load Balancer.

The same image as the Lambda with another entry point (``headroom`` instead of the Lambda
runtime). The cycles run in the scheduled Lambda, so the service serves the API over the shared
state database alone: its task role has no AWS permissions at all. ECS injects the database URL
from the secret (the execution role may read that one secret); the load balancer checks
``/healthz``, which answers 503 while the database is unreachable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.deploy import permissions
from infra.deploy.roles import inline_policy, service_role

__all__ = ["API_PORT", "HEALTH_PATH", "ApiService", "ApiServiceArgs", "serve_command"]

COMPONENT_TYPE = "headroom:deploy:ApiService"
API_PORT = 8080
#: The API's unauthenticated health route (reconciler/api/app.py).
HEALTH_PATH = "/healthz"
CONTAINER = "api"


def serve_command() -> list[str]:
    """The container's command after the ``headroom`` entry point."""
    return ["serve", "--api-only", "--host", "0.0.0.0", "--port", str(API_PORT)]


@dataclass(frozen=True)
class ApiServiceArgs:
    image_uri: pulumi.Input[str]
    database_secret_arn: str
    vpc_id: str
    subnet_ids: tuple[str, ...]
    alb_subnet_ids: tuple[str, ...]
    alb_internal: bool
    ingress_cidrs: tuple[str, ...]
    certificate_arn: str | None
    desired_count: int
    cpu: int
    memory_mb: int
    tags: dict[str, str]


class ApiService(pulumi.ComponentResource):
    load_balancer: aws.lb.LoadBalancer
    target_group: aws.lb.TargetGroup
    service: aws.ecs.Service

    def __init__(
        self, name: str, args: ApiServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        alb_sg, task_sg = self._security_groups(name, args, child)
        self.load_balancer = aws.lb.LoadBalancer(
            name,
            load_balancer_type="application",
            internal=args.alb_internal,
            subnets=list(args.alb_subnet_ids),
            security_groups=[alb_sg.id],
            drop_invalid_header_fields=True,
            tags=args.tags,
            opts=child,
        )
        self.target_group = aws.lb.TargetGroup(
            f"{name}-tg",
            port=API_PORT,
            protocol="HTTP",
            target_type="ip",
            vpc_id=args.vpc_id,
            deregistration_delay=30,
            health_check={
                "path": HEALTH_PATH,
                "matcher": "200",
                "interval": 30,
                "healthy_threshold": 2,
                "unhealthy_threshold": 3,
            },
            tags=args.tags,
            opts=child,
        )
        tls = args.certificate_arn is not None
        listener = aws.lb.Listener(
            f"{name}-listener",
            load_balancer_arn=self.load_balancer.arn,
            port=443 if tls else 80,
            protocol="HTTPS" if tls else "HTTP",
            certificate_arn=args.certificate_arn,
            ssl_policy="ELBSecurityPolicy-TLS13-1-2-2021-06" if tls else None,
            default_actions=[{"type": "forward", "target_group_arn": self.target_group.arn}],
            opts=child,
        )
        cluster = aws.ecs.Cluster(
            name,
            settings=[{"name": "containerInsights", "value": "enabled"}],
            tags=args.tags,
            opts=child,
        )
        task = self._task_definition(name, args, child)
        self.service = aws.ecs.Service(
            name,
            cluster=cluster.arn,
            task_definition=task.arn,
            desired_count=args.desired_count,
            launch_type="FARGATE",
            network_configuration={
                "subnets": list(args.subnet_ids),
                "security_groups": [task_sg.id],
                "assign_public_ip": False,
            },
            load_balancers=[
                {
                    "target_group_arn": self.target_group.arn,
                    "container_name": CONTAINER,
                    "container_port": API_PORT,
                }
            ],
            health_check_grace_period_seconds=60,
            deployment_circuit_breaker={"enable": True, "rollback": True},
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[listener]),
        )
        self.register_outputs({"url": self.load_balancer.dns_name})

    def _security_groups(
        self, name: str, args: ApiServiceArgs, child: pulumi.ResourceOptions
    ) -> tuple[aws.ec2.SecurityGroup, aws.ec2.SecurityGroup]:
        alb = aws.ec2.SecurityGroup(
            f"{name}-alb-sg",
            vpc_id=args.vpc_id,
            description="Headroom API load balancer",
            tags=args.tags,
            opts=child,
        )
        task = aws.ec2.SecurityGroup(
            f"{name}-task-sg",
            vpc_id=args.vpc_id,
            description="Headroom API tasks: the load balancer in, anything out (the database)",
            egress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}],
            tags=args.tags,
            opts=child,
        )
        port = 443 if args.certificate_arn else 80
        for i, cidr in enumerate(args.ingress_cidrs):
            _tcp_rule(f"{name}-alb-in-{i}", "in", alb, port, child, cidr=cidr)
        _tcp_rule(f"{name}-alb-to-tasks", "out", alb, API_PORT, child, peer=task)
        _tcp_rule(f"{name}-tasks-from-alb", "in", task, API_PORT, child, peer=alb)
        return alb, task

    def _task_definition(
        self, name: str, args: ApiServiceArgs, child: pulumi.ResourceOptions
    ) -> aws.ecs.TaskDefinition:
        execution = service_role(
            f"{name}-execution-role", "ecs-tasks.amazonaws.com", args.tags, child
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-execution",
            role=execution.name,
            policy_arn=permissions.TASK_EXECUTION,
            opts=child,
        )
        secret = permissions.secret_read_policy(args.database_secret_arn)
        inline_policy(f"{name}-database-secret", execution, secret, child)
        # The API reads and writes only the database: its own role is granted nothing.
        task_role = service_role(f"{name}-task-role", "ecs-tasks.amazonaws.com", args.tags, child)
        logs = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/ecs/{name}",
            retention_in_days=30,
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        region = aws.get_region_output().region
        containers = pulumi.Output.all(args.image_uri, logs.name, region).apply(
            lambda v: json.dumps(
                [
                    {
                        "name": CONTAINER,
                        "image": v[0],
                        "essential": True,
                        "entryPoint": ["headroom"],
                        "command": serve_command(),
                        "portMappings": [{"containerPort": API_PORT, "protocol": "tcp"}],
                        "secrets": [
                            {"name": "HEADROOM_DATABASE_URL", "valueFrom": args.database_secret_arn}
                        ],
                        "logConfiguration": {
                            "logDriver": "awslogs",
                            "options": {
                                "awslogs-group": v[1],
                                "awslogs-region": v[2],
                                "awslogs-stream-prefix": CONTAINER,
                            },
                        },
                    }
                ]
            )
        )
        return aws.ecs.TaskDefinition(
            name,
            family=name,
            requires_compatibilities=["FARGATE"],
            network_mode="awsvpc",
            cpu=str(args.cpu),
            memory=str(args.memory_mb),
            execution_role_arn=execution.arn,
            task_role_arn=task_role.arn,
            container_definitions=containers,
            tags=args.tags,
            opts=child,
        )


def _tcp_rule(
    name: str,
    direction: str,
    group: aws.ec2.SecurityGroup,
    port: int,
    opts: pulumi.ResourceOptions,
    *,
    cidr: str | None = None,
    peer: aws.ec2.SecurityGroup | None = None,
) -> None:
    """One TCP port ``in`` to or ``out`` of ``group``, from/to a CIDR block or another group."""
    rule = (
        aws.vpc.SecurityGroupIngressRule if direction == "in" else aws.vpc.SecurityGroupEgressRule
    )
    rule(
        name,
        security_group_id=group.id,
        cidr_ipv4=cidr,
        referenced_security_group_id=peer.id if peer is not None else None,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        opts=opts,
    )
