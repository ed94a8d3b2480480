"""The mailer of a deployment without SMTP_HOST: every message is logged, none is sent
(the spec's dry-run mode, for local development and CI)."""

from __future__ import annotations

import logging

from liquifact_core.reminders import MailMessage, mask_email

_log = logging.getLogger("liquifact.mail")


class DryRunMailer:
    """``Mailer`` that logs each message at info level (the recipient masked, the subject
    and the plain-text body) and reports it accepted."""

    dry_run = True

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or _log

    def send(self, message: MailMessage) -> None:
        self._log.info(
            "mail_dry_run to=%s subject=%r\n%s",
            mask_email(message.to),
            message.subject,
            message.text,
        )
