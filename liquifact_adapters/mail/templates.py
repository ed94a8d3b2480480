"""The maturity reminder's texts, rendered from the template files beside this module
(``templates/maturity_reminder.subject.txt``, ``.txt`` and ``.html``, ``string.Template``
syntax: ``$invoice_number``, ``$amount``, ``$currency``, ``$maturity_date``, ``$when``,
``$link``, ``$opening``, ``$closing``).

Every value is escaped in the HTML body (the invoice number is client text) and none may
break a header line in the subject (control characters are dropped).
"""

from __future__ import annotations

import html
import re
from importlib import resources
from string import Template

from liquifact_core.reminders import RecipientRole, ReminderContent, RenderedMail

_PACKAGE = "liquifact_adapters.mail"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_OPENING = {
    RecipientRole.SME: "An invoice you issued on LiquiFact reaches its maturity date soon. "
    "Please make sure the buyer's payment settles the escrow on time.",
    RecipientRole.INVESTOR: "An invoice you funded on LiquiFact reaches its maturity date soon. "
    "Once it is settled, your principal and yield are paid out from its escrow.",
}
_CLOSING = {
    RecipientRole.SME: "If the buyer has already paid, you can ignore this reminder.",
    RecipientRole.INVESTOR: "No action is needed from you.",
}


def _load(name: str) -> Template:
    text = resources.files(_PACKAGE).joinpath("templates", name).read_text(encoding="utf-8")
    return Template(text)


class FileTemplates:
    """``ReminderTemplates`` from the packaged template files (read once)."""

    def __init__(self) -> None:
        self._subject = _load("maturity_reminder.subject.txt")
        self._text = _load("maturity_reminder.txt")
        self._html = _load("maturity_reminder.html")

    def render(self, content: ReminderContent) -> RenderedMail:
        if content.days_left == 0:
            when = "today"
        elif content.days_left == 1:
            when = "in 1 day"
        else:
            when = f"in {content.days_left} days"
        values = {
            "invoice_number": content.invoice_number,
            "amount": content.amount,
            "currency": content.currency,
            "maturity_date": content.maturity_date.isoformat(),
            "when": when,
            "link": content.link,
            "opening": _OPENING[content.role],
            "closing": _CLOSING[content.role],
        }
        subject = _CONTROL.sub(" ", self._subject.substitute(values)).strip()
        escaped = {name: html.escape(value, quote=True) for name, value in values.items()}
        return RenderedMail(
            subject=subject,
            text=self._text.substitute(values),
            html=self._html.substitute(escaped),
        )
