"""SME profiles: how an SME presents itself to investors (display name and country).

A profile belongs to one principal: (tenant, subject), the subject being the JWT ``sub`` the
SME's invoices carry as ``sme_id``. The marketplace shows each invoice's issuer from it, and
its folded display name (``search.fold``) is what the marketplace's ``q`` search compares.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from liquifact_core.errors import NotFound
from liquifact_core.rules import Checked, Country, Text, rule_field
from liquifact_core.search import fold

DISPLAY_NAME_MAX = 120


@attrs.frozen
class SmeProfile:
    """The profile of the SME ``subject`` of ``tenant_id``: ``display_name`` (1-120 characters
    under the text rules), ``country`` (ISO 3166-1 alpha-2), and when it last changed."""

    tenant_id: str
    subject: str
    display_name: str
    country: str
    updated_at: datetime

    @property
    def display_name_key(self) -> str:
        """The folded display name the stores keep for searches (``search.fold``)."""
        return fold(self.display_name)


@attrs.frozen
class ProfileUpdate(Checked):
    """An SME's profile as it sends it (``PUT /v1/sme/profile``, ``{displayName, country}``):
    the whole profile, replacing any earlier one."""

    display_name: str = rule_field(Text(1, DISPLAY_NAME_MAX, searchable=True))
    country: str = rule_field(Country())


def profile_not_found() -> NotFound:
    return NotFound("This SME has no profile yet.", code="PROFILE_NOT_FOUND")
