"""Pulumi entry point (``main: infra/`` in Pulumi.yaml): validate the desired state, then build.

Pulumi runs this file with ``infra/`` on ``sys.path``; the repository root is added so
``infra`` imports as a package even where the project is not installed into the virtualenv.
"""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.append(_ROOT)

from infra.program import main  # noqa: E402 - needs the path above

outputs = main()
