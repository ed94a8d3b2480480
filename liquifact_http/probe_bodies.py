"""The bodies of the probes (liveness, readiness) and of the API index.

Each is a ``Representation``: the class builds the JSON the route sends and the schema the
OpenAPI document shows (``schemas.response_schema``).
"""

from __future__ import annotations

import attrs

from liquifact_http.response_fields import Representation, out

UP, DOWN = "up", "down"
READY, NOT_READY = "ready", "not_ready"
UNAVAILABLE = "unavailable"


@attrs.frozen
class HealthBody(Representation):
    """Liveness: the process answers."""

    component = "Health"

    status: str = out({"enum": ["ok"]})


@attrs.frozen
class ApiLinks(Representation):
    """Where the main resources of the API are."""

    self_: str = out(wire="self")
    invoices: str = out()
    openapi: str = out()
    docs: str = out()
    health: str = out()


@attrs.frozen
class ApiIndexBody(Representation):
    """The API's name, version and links (``GET /v1``)."""

    component = "ApiIndex"

    name: str = out()
    version: str = out()
    description: str = out()
    links: ApiLinks = out()


@attrs.frozen
class ReadinessCheckBody(Representation):
    """One dependency check: ``latencyMs`` only when up, ``error`` only when down."""

    component = "ReadinessCheck"

    status: str = out({"enum": [UP, DOWN]})
    latency_ms: float | None = out(
        {"minimum": 0, "description": "How long the check took (only when up)."},
        omit_none=True,
    )
    error: str | None = out(
        {
            "enum": [UNAVAILABLE],
            "description": "Why it is down; never a host, user or driver message.",
        },
        omit_none=True,
    )

    @property
    def up(self) -> bool:
        return self.status == UP


@attrs.frozen
class CacheBody(Representation):
    """Whether the response cache is shared by every process (``/ready`` only)."""

    shared: bool = out()
    warning: str | None = out(omit_none=True)


@attrs.frozen
class IndexerBody(Representation):
    """How far behind the escrow indexer is (``/ready`` only; information, never a reason
    to answer 503). Keys are left out while unknown (before the first pass)."""

    lag_ledgers: int | None = out(
        {
            "minimum": 0,
            "description": "The newest ledger known minus the oldest ledger a tenant's indexer "
            "pass reached.",
        },
        omit_none=True,
    )
    last_run_age_seconds: float | None = out(
        {
            "minimum": 0,
            "description": "Seconds since the oldest of the tenants' last committed passes.",
        },
        omit_none=True,
    )


@attrs.frozen
class KycProviderBody(Representation):
    """Who decides KYC (``/ready`` only): ``mock`` when no provider is configured, with the
    mock's policy and a warning; ``http`` when KYC_PROVIDER_URL names one (then the ``kyc``
    check asks it)."""

    provider: str = out({"enum": ["mock", "http"]})
    mock_default_status: str | None = out(
        {
            "enum": ["pending", "verified", "rejected", "exempted"],
            "description": "The mock's status for a subject without a record "
            "(KYC_MOCK_DEFAULT_STATUS).",
        },
        omit_none=True,
    )
    warning: str | None = out(omit_none=True)


@attrs.frozen
class ReadinessBody(Representation):
    """Whether this process can serve requests now, check by check."""

    component = "Readiness"

    status: str = out({"enum": [READY, NOT_READY]})
    checks: dict[str, ReadinessCheckBody] = out(
        {"description": "One entry per check, by name (`database`, ...)."}
    )
    cache: CacheBody | None = out(
        {
            "description": "`/ready` only: whether the response cache is shared by every "
            "process (Redis) or local to this one; `warning` is set when a process that "
            "runs beside others (on PostgreSQL, or one of `liquifact serve --workers N`) "
            "has only a process-local cache."
        },
        omit_none=True,
    )
    indexer: IndexerBody | None = out(
        {
            "description": "`/ready` only: the escrow indexer's lag and last pass age, for "
            "information (staleness never fails readiness)."
        },
        omit_none=True,
    )
    kyc: KycProviderBody | None = out(
        {
            "description": "`/ready` only: which KYC provider decides; the in-memory mock "
            "(no provider configured) is named here with a warning."
        },
        omit_none=True,
    )
