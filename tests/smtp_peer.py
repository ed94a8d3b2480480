"""A real SMTP peer for the tests: aiosmtpd on 127.0.0.1 with STARTTLS (a self-signed
certificate for 127.0.0.1, written to a CA file the client trusts) and login, answering each
recipient as scripted by its local part:

* ``ok@...``: 250 (accepted);
* ``flaky@...``: 451 the first time, then 250;
* ``down@...``: 451 every time;
* ``bad@...``: 550 (no such user).

    with SmtpPeer(tmp_path, user="mailer", password="pw") as peer:
        peer.port, peer.ca_file       # SMTP_PORT, SMTP_TLS_CA_FILE
        peer.delivered                # accepted messages (email.message.EmailMessage)
        peer.rcpt_replies             # (address, reply code) of every RCPT TO
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Handler:
    def __init__(self, peer: SmtpPeer) -> None:
        self._peer = peer

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        local = address.partition("@")[0].lower()
        peer = self._peer
        with peer.lock:
            seen = peer.rcpt_count.get(address, 0)
            peer.rcpt_count[address] = seen + 1
            if local == "bad":
                reply = f"550 5.1.1 <{address}>: no such user"
            elif local == "down" or (local == "flaky" and seen == 0):
                reply = "451 4.3.0 Try again later"
            else:
                reply = "250 OK"
            peer.rcpt_replies.append((address, int(reply[:3])))
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self._peer.lock:
            self._peer.delivered.append(message)
            self._peer.tls_used.append(session.ssl is not None)
        return "250 Message accepted"


class SmtpPeer:
    def __init__(self, directory: Path, user: str, password: str) -> None:
        self.cert_file, key_file = _self_signed(directory)
        self.ca_file = str(self.cert_file)
        self.port = _free_port()
        self.lock = threading.Lock()
        self.delivered: list[EmailMessage] = []
        self.rcpt_replies: list[tuple[str, int]] = []
        self.rcpt_count: dict[str, int] = {}
        self.tls_used: list[bool] = []
        self.logins: list[str] = []
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(str(self.cert_file), str(key_file))

        def authenticate(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
                user.encode(),
                password.encode(),
            )
            if ok:
                with self.lock:
                    self.logins.append(user)
            return AuthResult(success=ok)

        self._controller = Controller(
            _Handler(self),
            hostname="127.0.0.1",
            port=self.port,
            tls_context=tls,
            require_starttls=True,
            authenticator=authenticate,
            auth_required=True,
        )

    def __enter__(self) -> SmtpPeer:
        self._controller.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._controller.stop()

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.delivered if m["To"] == address]
