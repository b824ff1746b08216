"""Mail leaves encrypted (issue 20, point 5): `NOTIFICATIONS_SMTP_TLS=starttls|implicit|none`,
tried against a real SMTP server that speaks TLS with a certificate made here; `none` is
refused outside the local stack, and no mode falls back to plain text."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from cowork.devstack.mailsink import EmlWriter, listening
from cowork.devtools import free_port
from cowork.notifications.app import NotificationsSettings
from cowork.notifications.mail import SmtpConnections

SECRET = "a-production-secret-of-enough-length"


def _self_signed(folder: Path, name: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and its key), valid for a day, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(minutes=5))
                   .not_valid_after(now + timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName(
                       [x509.IPAddress(IPv4Address("127.0.0.1")), x509.DNSName("localhost")]),
                       critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                                  critical=True)
                   .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / f"{name}.pem", folder / f"{name}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return _self_signed(tmp_path / "tls")


def _server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


@contextlib.contextmanager
def tls_sink(tmp_path: Path, certificate: tuple[Path, Path], mode: str
             ) -> Iterator[tuple[int, EmlWriter]]:
    """A sink that takes mail only over TLS: STARTTLS required before MAIL, or TLS from the
    first byte (implicit, port 465 style)."""
    port = free_port()
    context = _server_context(certificate)
    tls: dict[str, Any] = ({"tls_context": context, "require_starttls": True}
                           if mode == "starttls" else {"ssl_context": context})
    with listening(tmp_path / "mail", port, **tls) as writer:
        yield port, writer


def _settings(**values: Any) -> NotificationsSettings:
    # Outside the local stack the webhooks' secrets need their key at rest too.
    return NotificationsSettings(**{"environment": "production", "jwt_secret": SECRET,
                                    "webhook_secret_keys": Fernet.generate_key().decode(),
                                    "smtp_timeout_seconds": 3.0, **values})


def _message() -> MIMEMultipart:
    message = MIMEMultipart("alternative")
    message.attach(MIMEText("Ciao", "plain", "utf-8"))
    message["From"], message["To"] = "noreply@cowork.localhost", "anna@example.org"
    message["Subject"] = "Prenotazione confermata"
    return message


async def _send(settings: NotificationsSettings) -> None:
    connections = SmtpConnections(settings.mail_settings().server)
    try:
        await connections.send(_message())
    finally:
        await connections.close()


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
async def test_mail_goes_out_over_tls_to_a_server_that_requires_it(
        tmp_path: Path, certificate: tuple[Path, Path], mode: str) -> None:
    with tls_sink(tmp_path, certificate, mode) as (port, writer):
        await _send(_settings(smtp_port=port, smtp_tls=mode, smtp_ca_file=certificate[0]))
        assert [m["Subject"] for m in writer.messages] == ["Prenotazione confermata"]
        assert writer.encrypted == [True]


async def test_starttls_is_the_default_outside_the_local_stack(
        tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    with tls_sink(tmp_path, certificate, "starttls") as (port, writer):
        await _send(_settings(smtp_port=port, smtp_ca_file=certificate[0]))
        assert writer.encrypted == [True]


async def test_a_server_without_starttls_gets_no_plain_text_mail(tmp_path: Path) -> None:
    """A man in the middle strips STARTTLS from the EHLO reply: the message is not sent."""
    port = free_port()
    with listening(tmp_path / "mail", port) as writer:
        with pytest.raises(Exception, match=r"(?i)starttls"):
            await _send(_settings(smtp_port=port, smtp_tls="starttls"))
        assert writer.messages == []


async def test_a_certificate_nobody_vouches_for_is_refused(
        tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    with tls_sink(tmp_path, certificate, "implicit") as (port, writer):
        with pytest.raises(aiosmtplib.SMTPConnectError, match=r"(?i)certificate"):
            await _send(_settings(smtp_port=port, smtp_tls="implicit"))
        assert writer.messages == []


def test_plain_smtp_is_refused_outside_the_local_stack_and_the_default_there() -> None:
    with pytest.raises(ValidationError, match="NOTIFICATIONS_SMTP_TLS"):
        _settings(smtp_tls="none")
    assert _settings().smtp_tls == "starttls"
    local = NotificationsSettings(environment="local")
    assert local.smtp_tls == "none"  # the local sink speaks plain SMTP
    assert NotificationsSettings(environment="local", smtp_tls="implicit").smtp_tls == "implicit"
