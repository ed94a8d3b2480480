"""The mailer over SMTP (stdlib ``smtplib``): STARTTLS always, then login when SMTP_USER is
set, one connection per message.

Failures are classified as the spec asks: a reply code 5xx (a refused recipient, sender or
message, failed authentication) is permanent; a 4xx reply, a network error, a timeout, a TLS
failure or a server that does not offer STARTTLS is transient (``MailFailure.permanent``).
Error texts carry the reply code and the server's text, never the password.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import attrs
import certifi

from liquifact_core.reminders import MailFailure, MailMessage
from liquifact_core.rules import is_single_address

DEFAULT_PORT = 587
DEFAULT_FROM = "noreply@liquifact.com"
DEFAULT_TIMEOUT_MS = 10_000


@attrs.frozen
class SmtpSettings:
    """The spec's SMTP_HOST, SMTP_PORT, SMTP_USER, SMTP_PASS and SMTP_FROM, plus the timeout
    of each socket operation (SMTP_TIMEOUT_MS) and a CA bundle for the server's certificate
    (SMTP_TLS_CA_FILE; default: certifi's)."""

    host: str
    port: int = DEFAULT_PORT
    user: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    sender: str = DEFAULT_FROM
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    ca_file: str | None = None


class SmtpMailer:
    """``Mailer`` over SMTP with STARTTLS (see the module docstring)."""

    dry_run = False

    def __init__(self, settings: SmtpSettings, tls: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        self._tls = tls or ssl.create_default_context(cafile=settings.ca_file or certifi.where())

    def send(self, message: MailMessage) -> None:
        if not is_single_address(message.to):
            # A contact stored before it was checked as one address: its To header could
            # name other recipients (an encoded word, a list). Never sent; retrying cannot help.
            raise MailFailure("The recipient is not one plain e-mail address.", permanent=True)
        email = self._compose(message)
        settings = self.settings
        try:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_ms / 1000)
        except (smtplib.SMTPException, OSError) as error:
            raise _transient(error) from None
        try:
            self._deliver(client, email, message)
        finally:
            # Once the message is accepted, a failing QUIT must not make it look unsent.
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()
            client.close()

    def _deliver(self, client: smtplib.SMTP, email: EmailMessage, message: MailMessage) -> None:
        settings = self.settings
        try:
            client.ehlo()
            if not client.has_extn("starttls"):
                raise MailFailure("The mail server does not offer STARTTLS.", permanent=False)
            client.starttls(context=self._tls)
            client.ehlo()
            if settings.user:
                client.login(settings.user, settings.password or "")
            # The envelope names the one recipient given, never what the headers parse to.
            client.send_message(email, to_addrs=[message.to])
        except MailFailure:
            raise
        except smtplib.SMTPRecipientsRefused as refused:
            code, reply = next(iter(refused.recipients.values()))
            raise _answered(code, reply, "The recipient was refused") from None
        except smtplib.SMTPResponseException as error:
            raise _answered(error.smtp_code, error.smtp_error, "The server refused") from None
        except (smtplib.SMTPException, OSError) as error:
            raise _transient(error) from None

    def _compose(self, message: MailMessage) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.settings.sender
        email["To"] = message.to
        email["Subject"] = message.subject
        email["Date"] = formatdate(usegmt=True)
        email["Message-ID"] = make_msgid(domain=self.settings.sender.rpartition("@")[2] or None)
        email.set_content(message.text)
        email.add_alternative(message.html, subtype="html")
        return email


def _answered(code: int, reply: bytes | str, what: str) -> MailFailure:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return MailFailure(f"{what}: SMTP {code} {text}".strip(), permanent=code >= 500, code=code)


def _transient(error: BaseException) -> MailFailure:
    if isinstance(error, TimeoutError):
        return MailFailure("The mail server did not answer in time.", permanent=False)
    # The class name only: socket and TLS messages can name hosts and paths.
    return MailFailure(f"Network error: {type(error).__name__}.", permanent=False)
