"""Which clouds a command reads, and the provider built for them.

``run``, ``serve`` and ``collect`` take the same options (``--cloud``, ``--gcp-*``,
``--azure-*``) and the Lambda handler the same settings from its environment; both become a
``CloudChoice``, and ``build_provider`` turns that into one provider (a ``MultiProvider`` when
several clouds are chosen). ``--region`` is shared: each cloud takes the names in its own form
(AWS ``us-east-1``, GCP ``us-central1``, Azure ``westeurope``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from providers.base import CloudProvider

__all__ = [
    "AZURE_FLOW_LOGS",
    "AZURE_SUBSCRIPTIONS",
    "CLOUDS",
    "GCP_IMPERSONATE",
    "GCP_KEY",
    "GCP_PROJECT",
    "Cloud",
    "CloudChoice",
    "CloudChoiceError",
    "build_provider",
    "choice_from_env",
    "regions_of",
]

AWS_DEFAULT_REGION = "us-east-1"


class Cloud(StrEnum):
    AWS = "aws"
    GCP = "gcp"
    AZURE = "azure"


class CloudChoiceError(ValueError):
    """The clouds chosen and their settings do not fit together; the message says the fix."""


_SHAPES = {
    Cloud.AWS: re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$"),  # us-east-1, us-gov-west-1
    Cloud.GCP: re.compile(r"^[a-z]+-[a-z]+\d+$"),  # us-central1, europe-west1
    Cloud.AZURE: re.compile(r"^[a-z][a-z0-9]*$"),  # westeurope, eastus2
}

CLOUDS = typer.Option(
    [],
    "--cloud",
    help="Cloud to read (repeat for several: aws, gcp, azure). Default: gcp with --gcp-project, "
    "azure with --azure-subscription, else aws.",
)
GCP_PROJECT = typer.Option(
    None,
    "--gcp-project",
    help="Google Cloud project to read (its regions: the GCP --region names, else all), with "
    "Application Default Credentials unless --gcp-key.",
)
GCP_KEY = typer.Option(None, "--gcp-key", help="With --gcp-project: a service-account key file.")
GCP_IMPERSONATE = typer.Option(
    None, "--gcp-impersonate", help="With --gcp-project: a service account to impersonate."
)
AZURE_SUBSCRIPTIONS = typer.Option(
    [],
    "--azure-subscription",
    help="Azure subscription to read (repeatable; its regions: the Azure --region names), with "
    "DefaultAzureCredential.",
)
AZURE_FLOW_LOGS = typer.Option(
    [],
    "--azure-flow-logs",
    help="Storage account Network Watcher writes flow logs to: URL, or REGION=URL when several "
    "Azure regions are read (repeatable).",
)


@dataclass(frozen=True)
class CloudChoice:
    """What ``build_provider`` needs: the clouds, the shared regions, and each cloud's settings.
    ``azure_cursor`` is the file that remembers which flow-log blocks were read."""

    clouds: tuple[Cloud, ...] = ()
    regions: tuple[str, ...] = ()
    endpoint_url: str | None = None
    profile: str | None = None
    accounts: tuple[str, ...] = ()
    role_name: str | None = None
    gcp_project: str | None = None
    gcp_key: str | None = None
    gcp_impersonate: str | None = None
    azure_subscriptions: tuple[str, ...] = ()
    azure_flow_logs: tuple[str, ...] = ()
    azure_cursor: Path | None = None

    def chosen(self) -> tuple[Cloud, ...]:
        """The clouds given, else the one the options name (collect's ``--gcp-project``)."""
        if self.clouds:
            return tuple(dict.fromkeys(self.clouds))
        if self.gcp_project and not self.azure_subscriptions:
            return (Cloud.GCP,)
        if self.azure_subscriptions and not self.gcp_project:
            return (Cloud.AZURE,)
        if self.gcp_project and self.azure_subscriptions:
            raise CloudChoiceError(
                "both --gcp-project and --azure-subscription: add --cloud for each"
            )
        return (Cloud.AWS,)

    def check(self) -> tuple[Cloud, ...]:
        """The chosen clouds, once every setting is known to fit them."""
        chosen = self.chosen()
        given = {
            Cloud.GCP: [n for n, v in _gcp_flags(self) if v],
            Cloud.AZURE: ["--azure-subscription"] * bool(self.azure_subscriptions)
            + ["--azure-flow-logs"] * bool(self.azure_flow_logs),
        }
        for cloud, flags in given.items():
            if flags and cloud not in chosen:
                raise CloudChoiceError(f"{', '.join(flags)} given without --cloud {cloud}")
        if Cloud.GCP in chosen and not self.gcp_project:
            raise CloudChoiceError("--cloud gcp needs --gcp-project")
        if Cloud.AZURE in chosen and not self.azure_subscriptions:
            raise CloudChoiceError("--cloud azure needs --azure-subscription (repeatable)")
        if Cloud.AZURE in chosen and not regions_of(Cloud.AZURE, self.regions):
            raise CloudChoiceError("--cloud azure needs its regions: --region westeurope, ...")
        for region in self.regions:
            if not any(_SHAPES[c].match(region.lower()) for c in chosen):
                clouds = ", ".join(chosen)
                raise CloudChoiceError(f"--region {region} is not a region of {clouds}")
        return chosen


def _gcp_flags(choice: CloudChoice) -> list[tuple[str, str | None]]:
    return [
        ("--gcp-project", choice.gcp_project),
        ("--gcp-key", choice.gcp_key),
        ("--gcp-impersonate", choice.gcp_impersonate),
    ]


def regions_of(cloud: Cloud, regions: Sequence[str]) -> list[str]:
    """The names in ``regions`` that are ``cloud``'s (lower-cased for Azure)."""
    found = [r for r in regions if _SHAPES[cloud].match(r.lower())]
    return [r.lower() for r in found] if cloud is Cloud.AZURE else found


def _flow_logs(values: Sequence[str], regions: Sequence[str]) -> list[Any]:
    from providers.azure.flowblobs import FlowLogContainer

    out = []
    for value in values:
        region, sep, url = value.partition("=")
        if not sep:
            if len(regions) != 1:
                raise CloudChoiceError(
                    f"--azure-flow-logs {value}: several Azure regions are read, say which: "
                    "REGION=URL"
                )
            region, url = regions[0], value
        if region.lower() not in regions:
            raise CloudChoiceError(f"--azure-flow-logs {value}: {region} is not a --region")
        out.append(FlowLogContainer(account_url=url, region=region.lower()))
    return out


def build_provider(
    choice: CloudChoice, *, azure_credential: Any = None, azure_transport: Any = None
) -> CloudProvider:
    """The provider for ``choice``; ``azure_credential`` replaces ``DefaultAzureCredential``
    and ``azure_transport`` the HTTP transport (recorded exchanges in tests).

    Raises CloudChoiceError; building a client may raise the contract's ProviderError."""
    built: list[CloudProvider] = []
    for cloud in choice.check():
        regions = regions_of(cloud, choice.regions)
        if cloud is Cloud.AWS:
            from reconciler.runner_cli import aws_provider

            aws: CloudProvider = aws_provider(
                regions or [AWS_DEFAULT_REGION],
                choice.endpoint_url,
                profile=choice.profile,
                accounts=choice.accounts,
                role_name=choice.role_name,
            )
            built.append(aws)
        elif cloud is Cloud.GCP:
            from providers.gcp import connect

            assert choice.gcp_project is not None
            built.append(
                connect(
                    choice.gcp_project,
                    regions,
                    key_path=choice.gcp_key,
                    impersonate=choice.gcp_impersonate,
                )
            )
        else:
            from providers.azure.flowblobs import BlockCursor
            from providers.azure.provider import AzureProvider
            from providers.azure.session import AzureSession, make_credential

            session = AzureSession(
                credential=azure_credential or make_credential("default"),
                subscriptions=list(choice.azure_subscriptions),
                transport=azure_transport,
            )
            built.append(
                AzureProvider(
                    session=session,
                    regions=regions,
                    flow_logs=_flow_logs(choice.azure_flow_logs, regions),
                    cursor=BlockCursor(path=choice.azure_cursor),
                )
            )
    if len(built) == 1:
        return built[0]
    from providers.multi import MultiProvider

    return MultiProvider(built)


def _items(environ: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in environ.get(name, "").split(",") if v.strip())


def choice_from_env(environ: Mapping[str, str]) -> CloudChoice:
    """The Lambda's choice: ``HEADROOM_CLOUD`` (comma-separated), ``HEADROOM_REGIONS``,
    ``HEADROOM_AWS_ENDPOINT_URL``, ``HEADROOM_GCP_PROJECT`` / ``_KEY`` / ``_IMPERSONATE``,
    ``HEADROOM_AZURE_SUBSCRIPTIONS``, ``HEADROOM_AZURE_FLOW_LOGS`` and
    ``HEADROOM_AZURE_CURSOR`` (the block cursor's file; required with flow logs, as a
    Lambda's own disk does not survive: a re-read blob would be counted twice)."""
    try:
        clouds = tuple(Cloud(c.lower()) for c in _items(environ, "HEADROOM_CLOUD"))
    except ValueError:
        raise CloudChoiceError(
            f"HEADROOM_CLOUD={environ.get('HEADROOM_CLOUD')}: use aws, gcp, azure (comma-separated)"
        ) from None
    flow_logs = _items(environ, "HEADROOM_AZURE_FLOW_LOGS")
    cursor = environ.get("HEADROOM_AZURE_CURSOR", "").strip()
    if flow_logs and not cursor:
        raise CloudChoiceError(
            "HEADROOM_AZURE_FLOW_LOGS needs HEADROOM_AZURE_CURSOR: a file on a disk that survives "
            "invocations (an EFS mount), where the flow-log blocks already read are kept"
        )
    return CloudChoice(
        clouds=clouds,
        regions=_items(environ, "HEADROOM_REGIONS"),
        endpoint_url=environ.get("HEADROOM_AWS_ENDPOINT_URL") or None,
        gcp_project=environ.get("HEADROOM_GCP_PROJECT") or None,
        gcp_key=environ.get("HEADROOM_GCP_KEY") or None,
        gcp_impersonate=environ.get("HEADROOM_GCP_IMPERSONATE") or None,
        azure_subscriptions=_items(environ, "HEADROOM_AZURE_SUBSCRIPTIONS"),
        azure_flow_logs=flow_logs,
        azure_cursor=Path(cursor) if cursor else None,
    )
