"""``headroom policy ...``: validate policy files (every error, with field path and line)."""

from __future__ import annotations

from pathlib import Path

import typer

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
        help="JSON list of instance types (providers.models.InstanceType) for the meaning checks.",
    ),
    region: list[str] = typer.Option(
        [], "--region", help="A region the provider serves (repeat); checks pool names."
    ),
) -> None:
    """Report every problem in each FILE; exit 1 if any file has one."""
    import json

    from policies.check import check_against
    from policies.loader import PolicyError, load_policy, locate_issues
    from providers.models import InstanceType

    types: dict[str, InstanceType] | None = None
    if catalog is not None:
        try:
            rows = json.loads(catalog.read_text(encoding="utf-8"))
            types = {t.name: t for t in (InstanceType.model_validate(r) for r in rows)}
        except (OSError, ValueError) as exc:
            typer.echo(f"{catalog}: cannot read catalog: {exc}", err=True)
            raise typer.Exit(2) from exc
    failed = 0
    for path in files:
        try:
            policy = load_policy(path)
        except PolicyError as exc:
            failed += 1
            for issue in exc.issues:
                typer.echo(str(issue))
            continue
        issues = check_against(policy, types, region, source=str(path)) if types is not None else []
        if issues:
            issues = locate_issues(path.read_text(encoding="utf-8"), issues)
        if issues:
            failed += 1
            for issue in issues:
                typer.echo(str(issue))
        else:
            typer.echo(f"{path}: ok ({policy.name})")
    if failed:
        typer.echo(f"{failed} of {len(files)} policy file(s) have problems", err=True)
        raise typer.Exit(1)
