"""Pulumi entry point of the deployment project (``infra/deploy/Pulumi.yaml``).

Pulumi runs this file with ``infra/deploy/`` on ``sys.path``; the repository root is added so
``infra`` imports as a package even where the project is not installed into the virtualenv.
"""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.append(_ROOT)

from infra.deploy.program import main  # noqa: E402 - needs the path above

outputs = main()
