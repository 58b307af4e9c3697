"""Policy files: the schema operators write, the loader that reports errors with lines, checks."""

from policies.actions import ACTION_TYPES, register_action
from policies.check import check_against
from policies.loader import PolicyError, PolicyIssue, load_policy, parse_policy, validate_file
from policies.schema import Policy

__all__ = [
    "ACTION_TYPES",
    "Policy",
    "PolicyError",
    "PolicyIssue",
    "check_against",
    "load_policy",
    "parse_policy",
    "register_action",
    "validate_file",
]
