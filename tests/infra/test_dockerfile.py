"""The Dockerfile checked without a container builder (CI builds it when one is available):
the base image is pinned, the entry points are real, what it copies exists and is not ignored."""

from __future__ import annotations

import importlib
import inspect
import json
import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

from infra.deploy.scheduled import LAMBDA_ENTRY, TASK_ROOT

ROOT = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def of(kind: str) -> list[str]:
    return [args for word, args in instructions() if word == kind]


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_base_image_is_pinned_and_every_stage_uses_it() -> None:
    (arg,) = [a for a in of("ARG") if a.startswith("BASE_IMAGE=")]
    image = arg.split("=", 1)[1]
    name, _, tag = image.rpartition(":")
    assert name == "public.ecr.aws/lambda/provided" and tag == "al2023", image
    stages = of("FROM")
    assert len(stages) >= 2, "multi-stage: wheels are built apart from the runtime"
    assert all(s.split()[0] == "${BASE_IMAGE}" for s in stages)
    assert instructions()[0][0] == "ARG"  # before the first FROM, so FROM can use it


def test_python_matches_the_projects() -> None:
    requires = pyproject()["project"]["requires-python"]
    assert requires == ">=3.11,<3.12"
    installs = [r for r in of("RUN") if "dnf install" in r]
    assert installs and all("python3.11 " in r for r in installs)


def test_lambda_cmd_names_a_real_handler() -> None:
    (cmd,) = of("CMD")
    assert json.loads(cmd) == [LAMBDA_ENTRY]
    module, _, function = LAMBDA_ENTRY.rpartition(".")
    handler = getattr(importlib.import_module(module), function)
    assert list(inspect.signature(handler).parameters) == ["event", "context"]


def test_entrypoint_is_the_runtime_interface_client_from_the_lambda_extra() -> None:
    (entry,) = of("ENTRYPOINT")
    assert json.loads(entry) == ["/usr/bin/python3.11", "-m", "awslambdaric"]
    (pin,) = pyproject()["project"]["optional-dependencies"]["lambda"]
    assert re.fullmatch(r"awslambdaric==[\d.]+", pin)
    assert any('"headroom[lambda]"' in r for r in of("RUN"))
    assert any('".[lambda]"' in r for r in of("RUN"))


def test_the_ecs_entry_point_is_the_projects_console_script() -> None:
    from infra.deploy.service import serve_command

    assert pyproject()["project"]["scripts"]["headroom"] == "reconciler.cli:main"
    assert serve_command()[0] == "serve"


def _dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _ignored(path: str) -> bool:
    """Docker's rule: the last matching pattern wins; ``!`` re-includes."""
    ignored = False
    for pattern in _dockerignore():
        negate = pattern.startswith("!")
        bare = pattern.lstrip("!").rstrip("/")
        if fnmatch(path, bare) or path.startswith(bare + "/"):
            ignored = not negate
    return ignored


@pytest.mark.parametrize("copy", of("COPY"))
def test_what_it_copies_exists_and_is_in_the_build_context(copy: str) -> None:
    parts = copy.split()
    if parts[0].startswith("--from="):
        assert parts[0] == "--from=build"
        return
    for source in parts[:-1]:
        path = source.rstrip("/")
        assert (ROOT / path).exists(), source
        assert not _ignored(path), f"{source} is excluded by .dockerignore"


def test_packages_and_policies_reach_the_image() -> None:
    copied = {c.split()[0].rstrip("/") for c in of("COPY") if not c.startswith("--from")}
    include = pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    runtime = {p.rstrip("*") for p in include} - {"bench"}  # benchmarks stay out of the image
    assert runtime <= copied
    assert f"policies/ {TASK_ROOT}/policies/" in of("COPY")
    assert not _ignored("policies/examples/default.yaml")
    assert _ignored(".venv") and _ignored(".headroom") and _ignored("tests")
