"""Google Cloud implementation of the provider contract (google-cloud-compute, REST APIs)."""

from providers.gcp.provider import GcpProvider, connect
from providers.gcp.session import GcpSessionFactory

__all__ = ["GcpProvider", "GcpSessionFactory", "connect"]
