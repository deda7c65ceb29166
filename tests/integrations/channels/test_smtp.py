"""SMTP channel against a real aiosmtpd server on loopback: the MIME a mailbox receives, and the errors."""

import dataclasses
import re
import smtplib
from collections.abc import Iterator

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from pydantic import SecretStr

from doorstep.integrations.channels import smtp
from doorstep.integrations.channels.protocol import Kind, Outbound, SendFailed
from doorstep.messaging import render
from doorstep.messaging.context import sample_context
from tests.integrations.channels.conftest import Sink, SmtpServer, free_port

UNSUBSCRIBE = "https://track.example/u/msg_0123/abc"


@pytest.fixture
def channel() -> Iterator[smtp.Smtp]:
    instance = smtp.Smtp()
    yield instance
    instance.close()


def config(server: SmtpServer, **overrides: object) -> smtp.Config:
    fields: dict[str, object] = {
        "host": server.host, "port": server.port, "security": "none", "from_email": "orders@acme.example",
        "from_name": "Acme Outfitters", "bounce_address": "bounces@mail.acme.example",
        "reply_to": "help@acme.example",
    }  # fmt: skip
    fields.update(overrides)
    return smtp.Config.model_validate(fields)


def outbound(to: str = "ana@example.com", message_id: str = "msg_0123456789abcdef01234567") -> Outbound:
    context = sample_context(base_url="https://track.example")
    pixel = "https://track.example/e/o/msg_0123/sig.gif"
    context = context.model_copy(update={"links": context.links.model_copy(update={"open_pixel": pixel})})
    rendered = render.render_source(
        render.default_source("shipment.shipped", Kind.email, "pt_BR"),
        kind=Kind.email,
        locale="pt_BR",
        context=context,
    )
    return Outbound(
        message_id=message_id, store_id=1, kind=Kind.email, to=to, sender="Acme Outfitters <orders@acme.example>",
        rendered=rendered,
        headers={"List-Unsubscribe": f"<{UNSUBSCRIBE}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )  # fmt: skip


def test_the_mailbox_receives_a_multipart_message_with_every_header(
    smtp_server: SmtpServer, channel: smtp.Smtp
) -> None:
    # given a rendered Portuguese "shipped" email; when it is sent
    with httpx.Client() as client:
        sent = channel.send(outbound(), config(smtp_server), client=client)

    # then the server received one message, with the bounce address as envelope sender
    (got,) = smtp_server.sink.received
    assert got.mail_from == "bounces@mail.acme.example"
    assert got.rcpt_tos == ["ana@example.com"]
    mail = got.message
    assert mail["Message-ID"] == "<msg_0123456789abcdef01234567@acme.example>" == sent.provider_message_id
    assert mail["From"] == "Acme Outfitters <orders@acme.example>"
    assert mail["To"] == "ana@example.com"
    assert mail["Reply-To"] == "help@acme.example"
    assert mail["Subject"] == "Seu pedido #1042 está a caminho"  # encoded on the wire, decoded here
    assert mail["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Date"]
    # and the body is multipart/alternative: plain text first, then HTML, both UTF-8
    assert mail.get_content_type() == "multipart/alternative"
    text_part, html_part = mail.iter_parts()
    assert text_part.get_content_type() == "text/plain"
    assert text_part.get_content_charset() == "utf-8"
    assert html_part.get_content_type() == "text/html"
    assert html_part.get_content_charset() == "utf-8"
    text, html = text_part.get_content(), html_part.get_content()
    # and both go as they are (8bit: the server offers 8BITMIME, and the transaction says so)
    assert got.mail_options == ["BODY=8BITMIME"]
    assert text_part["Content-Transfer-Encoding"] == html_part["Content-Transfer-Encoding"] == "8bit"
    assert "Seu pedido está a caminho".encode() in got.raw
    assert "Seu pedido está a caminho" in text
    assert "https://track.example/t/sample-token" in text
    assert "Seu pedido está a caminho" in html
    assert "#1042" in html
    # and no line on the wire is longer than SMTP allows (RFC 5321: 998 characters)
    assert max(len(line) for line in got.raw.split(b"\r\n")) <= 998
    # and headers travel as 7-bit ASCII (non-ASCII words RFC 2047-encoded)
    head = got.raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert b"=?utf-8?" in head


class SevenBitSink(Sink):
    """A server that does not offer 8BITMIME (RFC 6152): it takes 7-bit data only."""

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        return [line for line in responses if "8BITMIME" not in line]


def test_a_server_without_8bitmime_gets_non_ascii_parts_quoted_printable(channel: smtp.Smtp) -> None:
    sink, port = SevenBitSink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with httpx.Client() as client:
            channel.send(outbound(), config(SmtpServer("127.0.0.1", port, sink)), client=client)
    finally:
        controller.stop()
    (got,) = sink.received
    assert got.mail_options == []
    assert got.raw.isascii()
    text_part, html_part = got.message.iter_parts()
    assert (
        text_part["Content-Transfer-Encoding"] == html_part["Content-Transfer-Encoding"] == "quoted-printable"
    )
    assert "Seu pedido está a caminho" in html_part.get_content()
    body = got.raw.split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76


def test_the_html_loads_nothing_from_the_network(smtp_server: SmtpServer, channel: smtp.Smtp) -> None:
    with httpx.Client() as client:
        channel.send(outbound(), config(smtp_server), client=client)
    html = smtp_server.sink.received[0].message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    # no stylesheets, fonts or scripts; the only remote resources are the store's own images and Doorstep links
    assert "<link" not in html
    assert "<script" not in html
    assert "@import" not in html
    assert "fonts.googleapis" not in html
    loads = re.findall(r'src="([^"]+)"', html)
    assert loads == ["https://track.example/e/o/msg_0123/sig.gif"]


def test_connections_are_reused_and_reopened_when_the_server_closed_them(
    smtp_server: SmtpServer, channel: smtp.Smtp
) -> None:
    cfg = config(smtp_server)
    with httpx.Client() as client:
        channel.send(outbound(message_id="msg_1"), cfg, client=client)
        channel.send(outbound(message_id="msg_2"), cfg, client=client)
        # the server drops the connection between two messages (idle timeout): the next send reconnects
        next(iter(channel._connections.open.values())).sock.close()  # type: ignore[union-attr]
        channel.send(outbound(message_id="msg_3"), cfg, client=client)
    ids = [r.message["Message-ID"] for r in smtp_server.sink.received]
    assert ids == ["<msg_1@acme.example>", "<msg_2@acme.example>", "<msg_3@acme.example>"]


def test_authentication(smtp_server: SmtpServer, channel: smtp.Smtp) -> None:
    with httpx.Client() as client:
        channel.send(
            outbound(), config(smtp_server, username="shop", password=SecretStr("s3cret")), client=client
        )
        assert len(smtp_server.sink.received) == 1
        # a wrong password is not worth retrying
        with pytest.raises(SendFailed) as failure:
            channel.send(
                outbound(), config(smtp_server, username="shop", password=SecretStr("nope")), client=client
            )
    assert failure.value.retryable is False
    assert "authentication failed" in failure.value.reason


@pytest.mark.parametrize(
    ("reply", "retryable"),
    [("550 5.1.1 No such user", False), ("452 4.2.2 Mailbox full, try later", True)],
)
def test_a_refused_recipient_is_retryable_only_for_4xx(
    smtp_server: SmtpServer, channel: smtp.Smtp, reply: str, retryable: bool
) -> None:
    smtp_server.sink.refuse["gone@example.com"] = reply
    with httpx.Client() as client, pytest.raises(SendFailed) as failure:
        channel.send(outbound(to="gone@example.com"), config(smtp_server), client=client)
    assert failure.value.retryable is retryable
    assert reply.split()[0] in failure.value.reason
    assert smtp_server.sink.received == []


def test_an_unreachable_server_is_retryable(channel: smtp.Smtp) -> None:
    cfg = smtp.Config(
        host="127.0.0.1",
        port=free_port(),
        security="none",
        from_email="orders@acme.example",
        timeout_seconds=2,
    )
    with httpx.Client() as client, pytest.raises(SendFailed) as failure:
        channel.send(outbound(), cfg, client=client)
    assert failure.value.retryable is True


class PipeliningSink(Sink):
    """A server that offers PIPELINING (RFC 2920), as most providers' servers do."""

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]


@pytest.fixture
def pipelining_server() -> Iterator[SmtpServer]:
    sink = PipeliningSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, sink)
    finally:
        controller.stop()


def _writes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every write the client makes on its SMTP connections, in order."""
    writes: list[bytes] = []
    send = smtplib.SMTP.send

    def counting(self: smtplib.SMTP, data: bytes | str) -> None:
        writes.append(data if isinstance(data, bytes) else data.encode())
        send(self, data)

    monkeypatch.setattr(smtplib.SMTP, "send", counting)
    return writes


def test_a_server_offering_pipelining_gets_mail_rcpt_and_data_in_one_write(
    pipelining_server: SmtpServer, channel: smtp.Smtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = _writes(monkeypatch)
    with httpx.Client() as client:
        channel.send(outbound(message_id="msg_1"), config(pipelining_server), client=client)
        del writes[:]  # the connection's EHLO
        channel.send(outbound(message_id="msg_2"), config(pipelining_server), client=client)
    assert writes[0] == (
        b"MAIL FROM:<bounces@mail.acme.example> BODY=8BITMIME\r\nRCPT TO:<ana@example.com>\r\nDATA\r\n"
    )
    assert len(writes) == 2  # the commands, then the message
    assert [r.message["Message-ID"] for r in pipelining_server.sink.received] == [
        "<msg_1@acme.example>", "<msg_2@acme.example>",
    ]  # fmt: skip


def test_without_pipelining_each_command_waits_for_its_reply(
    smtp_server: SmtpServer, channel: smtp.Smtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = _writes(monkeypatch)
    with httpx.Client() as client:
        channel.send(outbound(), config(smtp_server), client=client)
    assert writes[-4:-1] == [
        b"MAIL FROM:<bounces@mail.acme.example> BODY=8BITMIME\r\n", b"RCPT TO:<ana@example.com>\r\n",
        b"DATA\r\n",
    ]  # fmt: skip
    assert len(smtp_server.sink.received) == 1


@pytest.mark.parametrize("offered", ["smtp_server", "pipelining_server"])
def test_after_a_refused_recipient_the_connection_sends_the_next_message(
    offered: str, channel: smtp.Smtp, request: pytest.FixtureRequest
) -> None:
    server: SmtpServer = request.getfixturevalue(offered)
    server.sink.refuse["gone@example.com"] = "550 5.1.1 No such user"
    with httpx.Client() as client:
        with pytest.raises(SendFailed) as failure:
            channel.send(outbound(to="gone@example.com", message_id="msg_1"), config(server), client=client)
        channel.send(outbound(message_id="msg_2"), config(server), client=client)
    assert "550" in failure.value.reason
    assert len(channel._connections.open) == 1  # the same connection, reset, carried the next message
    assert [(r.rcpt_tos, r.message["Message-ID"]) for r in server.sink.received] == [
        (["ana@example.com"], "<msg_2@acme.example>")
    ]


def test_lines_starting_with_a_dot_arrive_intact(smtp_server: SmtpServer, channel: smtp.Smtp) -> None:
    message = outbound()
    text = ".a line that starts with a dot\n..and two\n.\nthe end"
    message = dataclasses.replace(message, rendered=dataclasses.replace(message.rendered, text=text))
    with httpx.Client() as client:
        channel.send(message, config(smtp_server), client=client)
    (received,) = smtp_server.sink.received
    plain = received.message.get_body(preferencelist=("plain",))
    assert plain is not None
    assert plain.get_content().replace("\r\n", "\n").rstrip("\n") == text
