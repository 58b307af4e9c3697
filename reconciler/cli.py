"""The ``headroom`` command. Each capability registers its own sub-commands here."""

from __future__ import annotations

import typer

from reconciler.logs import configure_logging

__all__ = ["app", "main"]

app = typer.Typer(
    name="headroom",
    help="Headroom: bandwidth and capacity for cloud applications before they need it.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root(
    log_level: str = typer.Option("INFO", "--log-level", help="DEBUG, INFO, WARNING or ERROR."),
    json_logs: bool | None = typer.Option(
        None, "--json-logs/--console-logs", help="Log format (default: JSON unless a terminal)."
    ),
) -> None:
    """Headroom: bandwidth and capacity for cloud applications before they need it."""
    configure_logging(log_level, json=json_logs)


@app.command()
def version() -> None:
    """Print Headroom's version."""
    from importlib.metadata import version as dist_version

    typer.echo(dist_version("headroom"))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
