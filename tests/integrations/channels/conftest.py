"""A real SMTP server (aiosmtpd) on loopback that keeps every message it receives."""

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes
    mail_options: list[str] = field(default_factory=list)  # MAIL FROM's parameters (BODY=8BITMIME)


@dataclass
class Sink:
    """Handler for aiosmtpd: records messages; ``refuse`` maps a recipient to an SMTP reply."""

    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(
            Received(
                str(envelope.mail_from), list(envelope.rcpt_tos), parsed, raw, list(envelope.mail_options)
            )
        )
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class SmtpServer:
    host: str
    port: int
    sink: Sink


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    def text(value: bytes | str) -> str:
        return value.decode() if isinstance(value, bytes) else value

    ok = isinstance(auth_data, LoginPassword) and (text(auth_data.login), text(auth_data.password)) == (
        "shop",
        "s3cret",
    )
    # handled=False: aiosmtpd answers the failure itself (535)
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    sink = Sink()
    port = free_port()
    controller = Controller(
        sink, hostname="127.0.0.1", port=port, authenticator=_authenticate, auth_require_tls=False
    )
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, sink)
    finally:
        controller.stop()
