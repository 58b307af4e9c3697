"""Pulumi entry point (``main: infra/`` in Pulumi.yaml): validate the desired state, then build."""

from infra.program import main

outputs = main()
