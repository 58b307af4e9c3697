"""Headroom's own deployment (a Pulumi project of its own, ``infra/deploy/Pulumi.yaml``): the
reconciler as a scheduled Lambda container and ``headroom serve`` on ECS behind a load balancer.
"""
