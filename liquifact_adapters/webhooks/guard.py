"""Where a webhook may go: every address a host resolves to must be allowed
(``liquifact_core.webhook_endpoints.address_allowed``), checked when the URL is saved and
again right before each delivery, which then connects to the very address checked (pinned),
so a name re-pointed between the check and the connection (DNS rebinding) cannot reach a
private address.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence

import attrs

from liquifact_core.errors import ValidationError
from liquifact_core.webhook_endpoints import IPAddress, WebhookUrl, address_allowed

Resolver = Callable[[str, int], Sequence[str]]
"""``(host, port)`` -> the addresses (text) it resolves to; OSError when it does not."""


def system_resolver(host: str, port: int) -> Sequence[str]:
    """The operating system's resolver (``getaddrinfo``), TCP addresses only."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def blocked() -> ValidationError:
    return ValidationError.for_field(
        "url",
        "must not point to a private, loopback, link-local or metadata address",
        "WEBHOOK_URL_BLOCKED",
    )


@attrs.frozen
class DnsAddressPolicy:
    """``AddressPolicy`` resolving with ``resolver`` (default: the system's).

    ``allow_loopback``: loopback addresses pass (WEBHOOK_ALLOW_INSECURE_LOOPBACK, for local
    receivers in development and tests). ``resolver`` None: ``system_resolver``, looked up
    when called.
    """

    allow_loopback: bool = False
    resolver: Resolver | None = None

    def check(self, url: WebhookUrl) -> None:
        """ValidationError WEBHOOK_URL_BLOCKED or WEBHOOK_HOST_UNRESOLVED."""
        self.pin(url)

    def pin(self, url: WebhookUrl) -> IPAddress:
        """The address to connect to: the first one the host resolves to, after every one
        passed (one refused address refuses the host: an attacker's name may mix them)."""
        addresses = self._resolve(url)
        for address in addresses:
            if not address_allowed(address, allow_loopback=self.allow_loopback):
                raise blocked()
        return addresses[0]

    def _resolve(self, url: WebhookUrl) -> list[IPAddress]:
        if url.is_ip_literal:
            return [ipaddress.ip_address(url.host)]
        try:
            resolve = self.resolver or system_resolver
            found = [
                ipaddress.ip_address(text.split("%", 1)[0]) for text in resolve(url.host, url.port)
            ]
        except (OSError, UnicodeError, ValueError):
            found = []
        if not found:
            raise ValidationError.for_field(
                "url", "names a host that does not resolve", "WEBHOOK_HOST_UNRESOLVED"
            )
        return found
