"""Tenant webhooks' adapters: the Fernet ``SecretBox``, the DNS ``AddressPolicy`` (SSRF and
DNS-rebinding guard) and the ``webhook_delivery`` job handler (httpx)."""

from liquifact_adapters.webhooks.box import FernetSecretBox, generate_key
from liquifact_adapters.webhooks.delivery import DeliverySettings, WebhookDelivery
from liquifact_adapters.webhooks.guard import DnsAddressPolicy

__all__ = [
    "DeliverySettings",
    "DnsAddressPolicy",
    "FernetSecretBox",
    "WebhookDelivery",
    "generate_key",
]
