"""Tenant webhook endpoints over a SQL session, written once for SQLite and PostgreSQL
(``liquifact_core.ports.WebhookRepository``). Table ``tenant_webhooks`` (migration 0009):
one row per tenant; the secret column holds only what the ``SecretBox`` sealed.
"""

from __future__ import annotations

from typing import ClassVar

from liquifact_adapters.sql.repositories import ConstraintViolation, Session
from liquifact_adapters.sql.rows import Params, Row, RowConverter
from liquifact_core.errors import concurrent_update
from liquifact_core.webhook_endpoints import WebhookEndpoint

UPSERT_WEBHOOK = """
INSERT INTO tenant_webhooks (tenant_id, url, host, sealed_secret, secret_rotated_at, updated_at)
VALUES (:tenant_id, :url, :host, :sealed_secret, :secret_rotated_at, :updated_at)
ON CONFLICT (tenant_id) DO UPDATE SET
    url = excluded.url, host = excluded.host, sealed_secret = excluded.sealed_secret,
    secret_rotated_at = excluded.secret_rotated_at, updated_at = excluded.updated_at
"""
INSERT_WEBHOOK = """
INSERT INTO tenant_webhooks (tenant_id, url, host, sealed_secret, secret_rotated_at, updated_at)
VALUES (:tenant_id, :url, :host, :sealed_secret, :secret_rotated_at, :updated_at)
"""
SELECT_WEBHOOK = """
SELECT tenant_id, url, host, sealed_secret, secret_rotated_at, updated_at
FROM tenant_webhooks WHERE tenant_id = :tenant_id
"""
DELETE_WEBHOOK = "DELETE FROM tenant_webhooks WHERE tenant_id = :tenant_id"


class SqlWebhookRepository:
    """``WebhookRepository`` over a SQL session; a dialect names its converter and
    statements."""

    rows: ClassVar[RowConverter]
    INSERT: ClassVar[str]
    UPSERT: ClassVar[str]
    SELECT: ClassVar[str]
    SELECT_FOR_WRITE: ClassVar[str]
    DELETE: ClassVar[str]

    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, tenant_id: str) -> WebhookEndpoint | None:
        return self._read(tenant_id, self.SELECT)

    def lock(self, tenant_id: str) -> WebhookEndpoint | None:
        return self._read(tenant_id, self.SELECT_FOR_WRITE)

    def add(self, endpoint: WebhookEndpoint) -> None:
        self._session.check_tenant(endpoint.tenant_id)
        try:
            self._session.write(self.INSERT, self._params(endpoint))
        except ConstraintViolation as violation:
            if violation.kind in ("primary_key", "unique"):
                raise concurrent_update() from None
            raise

    def put(self, endpoint: WebhookEndpoint) -> None:
        self._session.check_tenant(endpoint.tenant_id)
        self._session.write(self.UPSERT, self._params(endpoint))

    def _read(self, tenant_id: str, statement: str) -> WebhookEndpoint | None:
        self._session.check_tenant(tenant_id)
        found = self._session.fetch_all(statement, {"tenant_id": tenant_id})
        return self._endpoint(found[0]) if found else None

    def _params(self, endpoint: WebhookEndpoint) -> Params:
        rotated = endpoint.secret_rotated_at
        return {
            "tenant_id": endpoint.tenant_id,
            "url": endpoint.url,
            "host": endpoint.host,
            "sealed_secret": endpoint.sealed_secret,
            "secret_rotated_at": None if rotated is None else self.rows.timestamp_to_sql(rotated),
            "updated_at": self.rows.timestamp_to_sql(endpoint.updated_at),
        }

    def remove(self, tenant_id: str) -> bool:
        self._session.check_tenant(tenant_id)
        return self._session.write(self.DELETE, {"tenant_id": tenant_id}) > 0

    def _endpoint(self, row: Row) -> WebhookEndpoint:
        rotated = row["secret_rotated_at"]
        sealed = row["sealed_secret"]
        return WebhookEndpoint(
            tenant_id=str(row["tenant_id"]),
            url=str(row["url"]),
            host=str(row["host"]),
            updated_at=self.rows.timestamp_from_sql(row["updated_at"]),
            sealed_secret=None if sealed is None else str(sealed),
            secret_rotated_at=None if rotated is None else self.rows.timestamp_from_sql(rotated),
        )
