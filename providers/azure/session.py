"""The one place Azure credentials and SDK clients are built.

``AzureSession`` holds a token credential (``azure-identity``: the default chain, a managed
identity or a service principal), the subscriptions to read, and the client settings every
client gets: azure-core's retry policy (it honours ``Retry-After`` on 429 and 5xx) and, in
tests, a transport serving recorded exchanges. Nothing else in ``providers.azure`` builds a
client or a credential.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from azure.core.credentials import TokenCredential

from providers.azure.errors import azure_errors

__all__ = ["AzureSession", "CredentialKind", "make_credential"]

CredentialKind = Literal["default", "managed_identity", "service_principal"]


def make_credential(
    kind: CredentialKind = "default",
    *,
    tenant_id: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> TokenCredential:
    """A credential of ``kind``: ``default`` is ``DefaultAzureCredential`` (environment,
    workload identity, managed identity, Azure CLI) without interactive prompts;
    ``managed_identity`` takes an optional user-assigned ``client_id``; ``service_principal``
    needs tenant, client id and secret."""
    from azure.identity import (
        ClientSecretCredential,
        DefaultAzureCredential,
        ManagedIdentityCredential,
    )

    with azure_errors("CreateCredential"):
        if kind == "managed_identity":
            return ManagedIdentityCredential(client_id=client_id)
        if kind == "service_principal":
            if not (tenant_id and client_id and client_secret):
                raise ValueError("a service principal needs tenant_id, client_id, client_secret")
            return ClientSecretCredential(tenant_id, client_id, client_secret)
        if kind != "default":
            raise ValueError(f"unknown credential kind {kind!r}")
        return DefaultAzureCredential(exclude_interactive_browser_credential=True)


@dataclass
class AzureSession:
    """Builds the SDK clients; one per process, passed into ``AzureProvider``.

    ``transport`` replaces the HTTP transport of every client (recorded exchanges in tests);
    ``arm_endpoint`` the Resource Manager URL (sovereign clouds).
    """

    credential: TokenCredential
    subscriptions: Sequence[str]
    arm_endpoint: str = "https://management.azure.com"
    retry_total: int = 6
    retry_backoff_factor: float = 0.8
    retry_backoff_max: int = 60
    transport: Any = None
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.subscriptions:
            raise ValueError("AzureSession needs at least one subscription")

    def client_kwargs(self) -> dict[str, Any]:
        """Settings every client gets (retries, and the transport when one is given)."""
        kwargs: dict[str, Any] = {
            "retry_total": self.retry_total,
            "retry_backoff_factor": self.retry_backoff_factor,
            "retry_backoff_max": self.retry_backoff_max,
        }
        if self.transport is not None:
            kwargs["transport"] = self.transport
        return kwargs

    def compute(self, subscription: str) -> Any:
        """A ``ComputeManagementClient`` for ``subscription`` (cached)."""
        from azure.mgmt.compute import ComputeManagementClient

        return self._cached("compute", subscription, ComputeManagementClient)

    def network(self, subscription: str) -> Any:
        """A ``NetworkManagementClient`` for ``subscription`` (cached)."""
        from azure.mgmt.network import NetworkManagementClient

        return self._cached("network", subscription, NetworkManagementClient)

    def metrics(self) -> Any:
        """An Azure Monitor ``MetricsQueryClient`` (subscription-independent)."""
        from azure.monitor.query import MetricsQueryClient

        key = ("metrics", "")
        if key not in self._clients:
            with azure_errors("CreateMetricsQueryClient"):
                self._clients[key] = MetricsQueryClient(
                    self.credential, endpoint=self.arm_endpoint, **self.client_kwargs()
                )
        return self._clients[key]

    def blob_service(self, account_url: str, credential: Any = None) -> Any:
        """A ``BlobServiceClient`` for a storage account; ``credential`` overrides the
        session's token (an account key for the Azurite emulator)."""
        from azure.storage.blob import BlobServiceClient

        key = ("blob", account_url)
        if key not in self._clients:
            with azure_errors("CreateBlobServiceClient"):
                self._clients[key] = BlobServiceClient(
                    account_url, credential=credential or self.credential, **self.client_kwargs()
                )
        return self._clients[key]

    def _cached(self, kind: str, subscription: str, cls: Any) -> Any:
        key = (kind, subscription)
        if key not in self._clients:
            with azure_errors(f"Create{cls.__name__}"):
                self._clients[key] = cls(
                    self.credential,
                    subscription,
                    base_url=self.arm_endpoint,
                    **self.client_kwargs(),
                )
        return self._clients[key]
