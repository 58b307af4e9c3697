"""What each command kind changes, typed: one payload model per ``CommandKind``.

A ``Command`` keeps ``before``/``after`` as JSON objects (that is how it is stored, shown and
compared); ``payload_of`` reads its ``after`` as the kind's model, so the fold into the desired
state (``reconciler.actuate.from_commands``) works on typed values and a malformed command is
refused with the field that is wrong.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reconciler.planning.models import Command, CommandKind

__all__ = [
    "CachePayload",
    "Payload",
    "PayloadError",
    "PreallocatePayload",
    "Reservation",
    "ResizePayload",
    "RoutingPayload",
    "ScalePayload",
    "TierPayload",
    "payload_of",
]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ResizePayload(_Payload):
    instance_type: str = Field(min_length=3)


class ScalePayload(_Payload):
    desired: int = Field(ge=0)


class TierPayload(_Payload):
    tier: str | None


class CachePayload(_Payload):
    """Cache nodes in a region; sized from a miss-ratio curve, it also says what it expects
    (hit ratio, cost), which path prefixes it keeps (with their cache TTL) and what to pre-warm."""

    node_type: str
    nodes: int = Field(ge=0)
    expected_hit_ratio: float | None = Field(default=None, ge=0, le=1)
    hourly_usd: float | None = Field(default=None, ge=0)
    hot_prefixes: tuple[str, ...] = ()
    ttl_s: dict[str, int] = Field(default_factory=dict)
    prewarm: tuple[str, ...] = ()


class RoutingPayload(_Payload):
    """Weights per serving region; with a latency objective also the split of each client
    region's requests over serving regions and the request-weighted latency it predicts."""

    weights: dict[str, int]
    split: dict[str, dict[str, float]] | None = None
    latency_ms: float | None = Field(default=None, ge=0)


class Reservation(_Payload):
    """Instances of one type held in one availability zone (a capacity reservation)."""

    zone: str = Field(min_length=2)
    instance_type: str = Field(min_length=3)
    count: int = Field(ge=1)


class PreallocatePayload(_Payload):
    """A tenant group's pre-allocation: the record per metric, and the capacity reservations
    that hold its compute (None: a record only, no zone or type known)."""

    cpu_vcpu: float | None = None
    memory_gib: float | None = None
    network_gbps: float | None = None
    io_mbps: float | None = None
    latency_ms: float | None = None
    reservations: tuple[Reservation, ...] | None = None


Payload = (
    ResizePayload | ScalePayload | TierPayload | CachePayload | RoutingPayload | PreallocatePayload
)

_MODELS: dict[CommandKind, type[_Payload]] = {
    CommandKind.RESIZE: ResizePayload,
    CommandKind.SCALE: ScalePayload,
    CommandKind.BANDWIDTH_TIER: TierPayload,
    CommandKind.EDGE_CACHE: CachePayload,
    CommandKind.ROUTING: RoutingPayload,
    CommandKind.PREALLOCATE: PreallocatePayload,
}


class PayloadError(ValueError):
    """A command's ``after`` does not fit its kind; the message names the field."""


def payload_of(command: Command) -> Payload:
    """``command.after`` as its kind's payload; raises ``PayloadError`` naming the bad field."""
    model = _MODELS[command.kind]
    try:
        return model.model_validate(command.after)  # type: ignore[return-value]
    except ValidationError as exc:
        where = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'after'}: {e['msg']}" for e in exc.errors()
        )
        raise PayloadError(f"{command.kind} {command.target}: {where}") from None
