"""``headroom policy ...``: validate policy files (every error, with field path and line)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from policies.schema import Policy
    from providers.models import InstanceType

__all__ = ["app"]

app = typer.Typer(name="policy", help="Check Headroom policy files.", no_args_is_help=True)


@app.callback()
def _policy() -> None:
    """Check Headroom policy files."""


@app.command()
def validate(
    files: list[Path] = typer.Argument(..., help="Policy YAML files to check."),
    catalog: Path | None = typer.Option(
        None,
        "--catalog",
        help="JSON list of instance types (providers.models.InstanceType): also check instance "
        "families and sizes against it.",
    ),
    region: list[str] = typer.Option(
        [], "--region", help="A region the provider serves (repeat); checks pool names."
    ),
    aws: bool = typer.Option(
        False,
        "--aws",
        help="Read the instance catalog from AWS (EC2 DescribeInstanceTypes in the first "
        "--region, default us-east-1) with the usual credential chain, instead of --catalog.",
    ),
    endpoint_url: str | None = typer.Option(
        None, "--endpoint-url", help="With --aws: an AWS-compatible endpoint (e.g. moto_server)."
    ),
) -> None:
    """Report every problem in each FILE; exit 1 if any file has one.

    Structure, budgets, references and edge-cache node types are always checked; instance
    families and sizes only against a catalog: a --catalog file, or AWS's own with --aws (there
    is no built-in catalog); pool regions only with --region. Google Cloud and Azure region and
    family names are checked against Headroom's tables without credentials (families against
    the catalog instead when one is given); the first line says which of these ran.
    """
    from policies.check import check_against
    from policies.loader import PolicyError, load_policy, locate_issues

    if catalog is not None and aws:
        typer.echo("give --catalog or --aws, not both", err=True)
        raise typer.Exit(2)
    if aws:
        source = f"AWS {region[0] if region else 'us-east-1'}"
        types: dict[str, InstanceType] | None = _aws_catalog(region, endpoint_url)
    else:
        source = str(catalog)
        types = _read_catalog(catalog) if catalog is not None else None
    loaded: list[tuple[Path, Policy | PolicyError]] = []
    for path in files:
        try:
            loaded.append((path, load_policy(path)))
        except PolicyError as exc:
            loaded.append((path, exc))
    named = _cloud_names([p for _, p in loaded if not isinstance(p, PolicyError)])
    catalog_used = source if types is not None else None
    typer.echo(_checks_line(catalog_used, len(types or {}), region, named))
    failed = 0
    for path, policy in loaded:
        if isinstance(policy, PolicyError):
            failed += 1
            for issue in policy.issues:
                typer.echo(str(issue))
            continue
        issues = check_against(policy, types, region, source=str(path))
        if issues:
            failed += 1
            for issue in locate_issues(path.read_text(encoding="utf-8"), issues):
                typer.echo(str(issue))
        else:
            typer.echo(f"{path}: ok ({policy.name})")
    if failed:
        typer.echo(f"{failed} of {len(files)} policy file(s) have problems", err=True)
        raise typer.Exit(1)


def _read_catalog(path: Path) -> dict[str, InstanceType]:
    """The ``--catalog`` file as name -> type; exit 2 when it cannot be read."""
    import json

    from providers.models import InstanceType

    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(rows, list):
            raise ValueError(f"expected a JSON list of instance types, got {type(rows).__name__}")
        return {t.name: t for t in (InstanceType.model_validate(r) for r in rows)}
    except (OSError, ValueError) as exc:
        typer.echo(f"{path}: cannot read catalog: {exc}", err=True)
        raise typer.Exit(2) from exc


def _aws_catalog(regions: list[str], endpoint_url: str | None) -> dict[str, InstanceType]:
    """The instance catalog AWS offers in the first region; exit 2 when AWS cannot be read."""
    from botocore.exceptions import BotoCoreError, ClientError

    from providers.aws.provider import AwsProvider
    from providers.aws.session import AwsSessionFactory
    from providers.base import ProviderError

    where = regions[0] if regions else "us-east-1"
    provider = AwsProvider(factory=AwsSessionFactory(endpoint_url=endpoint_url), regions=[where])
    try:
        found = provider.instance_catalog()
    except (ProviderError, BotoCoreError, ClientError) as exc:
        typer.echo(f"cannot read the instance catalog from AWS in {where}: {exc}", err=True)
        raise typer.Exit(2) from exc
    if not found:
        typer.echo(f"AWS returned no instance types in {where}", err=True)
        raise typer.Exit(2)
    return found


def _cloud_names(policies: list[Policy]) -> dict[str, set[str]]:
    """Which Google Cloud and Azure names the policies write: cloud -> {"regions",
    "families"}, by the shapes ``policies.check_gcp`` and ``policies.check_azure`` read (a GCP
    region ``us-central1`` or zone, a family ``n2-standard`` or bare series ``e2``; an Azure
    region without a dash, a versioned family ``dsv5``)."""
    from policies.actions import ResizeAction
    from policies.check_azure import is_azure_family, is_azure_region
    from policies.check_gcp import GCP_FAMILY, GCP_REGION, GCP_SERIES

    out: dict[str, set[str]] = {}
    for policy in policies:
        for name in policy.pools.regions:
            if GCP_REGION.match(name):
                out.setdefault("gcp", set()).add("regions")
            elif is_azure_region(name):
                out.setdefault("azure", set()).add("regions")
        for action in policy.actions:
            if not isinstance(action, ResizeAction):
                continue
            for family in action.families:
                if GCP_FAMILY.fullmatch(family) or family in GCP_SERIES:
                    out.setdefault("gcp", set()).add("families")
                elif is_azure_family(family):
                    out.setdefault("azure", set()).add("families")
    return out


def _checks_line(
    catalog: str | None,
    n_types: int,
    regions: list[str],
    named: dict[str, set[str]] | None = None,
) -> str:
    """Which checks this run does, so an "ok" is not read as more than it is; for the Google
    Cloud and Azure names the policies write (``named``, from ``_cloud_names``), what each is
    checked against and what is skipped and why."""
    families = (
        f"against {catalog} ({n_types} types)"
        if catalog is not None
        else "skipped (no --catalog or --aws)"
    )
    served = f"against {', '.join(regions)}" if regions else "skipped (no --region)"
    parts = [
        "checks: structure, budgets, references, edge-cache node types",
        f"instance families/sizes: {families}",
        f"pool regions: {served}",
    ]
    named = named or {}
    not_served = ", skipped for the --region names (taken as served)" if regions else ""
    if "regions" in named.get("gcp", ()):
        parts.append(
            "Google Cloud regions: against Headroom's list (2025; a zone is refused)" + not_served
        )
    if "families" in named.get("gcp", ()):
        parts.append(
            "Google Cloud families: "
            + (
                f"against {catalog} only (Headroom's series table skipped: a catalog is given)"
                if catalog is not None
                else "against Headroom's series table (2025)"
            )
        )
    if "regions" in named.get("azure", ()):
        parts.append(
            "Azure regions: near misses of Azure's region list (a name far from all passes)"
            + not_served
        )
    if "families" in named.get("azure", ()):
        parts.append(
            "Azure families: "
            + (
                f"against {catalog} only (the bandwidth table skipped: a catalog is given)"
                if catalog is not None
                else "against the series with a bandwidth figure (vm_bandwidth.json)"
            )
        )
    return "; ".join(parts)
