"""E-mail: the SMTP mailer (STARTTLS, the spec's SMTP_* settings), the dry-run mailer used
when SMTP_HOST is unset, and the maturity reminder's templates."""

from liquifact_adapters.mail.dry_run import DryRunMailer
from liquifact_adapters.mail.smtp import SmtpMailer, SmtpSettings
from liquifact_adapters.mail.templates import FileTemplates

__all__ = ["DryRunMailer", "FileTemplates", "SmtpMailer", "SmtpSettings"]
