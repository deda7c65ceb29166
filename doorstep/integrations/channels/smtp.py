"""SMTP: email through any provider that speaks SMTP (Postmark, SES, Mailgun, SendGrid, a company relay…).

Push only. Per store: host, port, security (``starttls`` on 587, implicit ``tls`` on 465, or ``none`` for a
relay on a trusted network), optional credentials, the From name and address, and a bounce address.

Each message is ``multipart/alternative`` (the plain-text part first, then the HTML, as RFC 2046 orders
them, both UTF-8, sent as they are where that is exact and quoted-printable otherwise: see
:mod:`~doorstep.integrations.channels.body_encoding`), with:

- ``Message-ID: <msg_…@from-domain>``: the message row's id, so a resend after a crash is recognisable;
- ``List-Unsubscribe`` and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058) when messaging
  passes them, which Gmail and Yahoo require of bulk senders;
- ``Auto-Submitted: auto-generated`` (RFC 3834), so auto-responders do not answer;
- the envelope sender (``MAIL FROM``, which becomes ``Return-Path``) set to the bounce address, so bounces
  reach a mailbox that processes them and never a shopper-facing one.

Errors: a 4xx reply, a timeout or a dropped connection is retryable; a 5xx refusal of the recipient, the
sender or the data, or failed authentication, is not. Connections are reused per worker thread and
per configuration (one EHLO/STARTTLS/AUTH for many messages), and reopened when the server closed them.

The mail transaction (MAIL, RCPT, DATA) is written here rather than through ``smtplib.sendmail``: the
addresses are already validated (no address parser per message), the dot-stuffing is a byte replace, and
when the server offers PIPELINING (RFC 2920, as most providers do) the three commands go in one write:
two round trips per message instead of four.
"""

import functools
import re
import secrets
import smtplib
import ssl
import threading
from email.header import Header
from email.utils import format_datetime, formataddr
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict, EmailStr, Field, SecretStr

from doorstep.core import clock
from doorstep.integrations.channels import body_encoding
from doorstep.integrations.channels.protocol import Kind, Outbound, SendFailed, Sent


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, max_length=253, description="SMTP server host name.")
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="starttls (port 587), tls (implicit, port 465) or none (trusted relay only)."
    )
    username: str | None = None
    password: SecretStr | None = None
    from_email: EmailStr
    from_name: str | None = Field(None, max_length=200)
    reply_to: EmailStr | None = None
    bounce_address: EmailStr | None = Field(
        None, description="Envelope sender (Return-Path) for bounces; the From address if empty."
    )
    timeout_seconds: float = Field(20.0, gt=0, le=120)

    def sender_for(self, kind: Kind) -> str:
        return formataddr((self.from_name or "", str(self.from_email)))

    def connection_key(self) -> tuple[str, int, str, str | None, str]:
        secret = self.password.get_secret_value() if self.password else ""
        return (self.host, self.port, self.security, self.username, secret)


def build_message(message: Outbound, config: Config, *, eight_bit: bool = False) -> bytes:
    """The MIME message for one rendered email, as the bytes sent after DATA (pure: no I/O); ``eight_bit``
    when the server takes 8BITMIME (:func:`transact` then says ``BODY=8BITMIME``).

    Written directly rather than through :class:`email.message.EmailMessage`, whose header registry and
    pure-Python encoders cost more per message than rendering it. The output is the same shape: 7-bit
    headers (non-ASCII words RFC 2047-encoded), ``multipart/alternative`` with the text part first, both
    parts UTF-8, sent as they are where :mod:`body_encoding` finds that exact (lines of at most 998 octets)
    and quoted-printable otherwise (``binascii``'s C encoder), CRLF line ends.
    """
    rendered = message.rendered
    if rendered.html is None or rendered.subject is None:
        raise SendFailed("an email needs a subject and an HTML part", retryable=False)
    domain = str(config.from_email).rsplit("@", 1)[1]
    headers: list[tuple[str, str]] = [
        ("From", formataddr((config.from_name or "", str(config.from_email)), charset="utf-8")),
        ("To", message.to),
        ("Subject", rendered.subject),
        ("Date", format_datetime(clock.now())),
        ("Message-ID", f"<{message.message_id}@{domain}>"),
    ]
    if config.reply_to:
        headers.append(("Reply-To", str(config.reply_to)))
    headers.append(("Auto-Submitted", "auto-generated"))
    for name, value in message.headers.items():
        if name.lower() in _OWN_HEADERS:
            continue  # the channel owns these
        headers.append((name, value))
    boundary = _boundary(rendered.text, rendered.html)
    lines = [_header(name, value) for name, value in headers]
    lines += ["MIME-Version: 1.0", f'Content-Type: multipart/alternative; boundary="{boundary}"', ""]
    head = "\r\n".join(lines).encode("ascii")
    return b"".join(
        (
            head,
            f"\r\n--{boundary}\r\n".encode(),
            _part("plain", rendered.text, eight_bit),
            f"\r\n--{boundary}\r\n".encode(),
            _part("html", rendered.html, eight_bit),
            f"\r\n--{boundary}--\r\n".encode(),
        )
    )


def _boundary(*parts: str) -> str:
    """A random boundary no part contains (parts sent as they are could, quoted-printable ones never)."""
    while True:
        boundary = f"==============={secrets.token_hex(12)}=="
        if not any(boundary in part for part in parts):
            return boundary


_OWN_HEADERS = frozenset({"from", "to", "subject", "date", "message-id", "reply-to", "auto-submitted"})


def _header(name: str, value: str) -> str:
    """One header line: ASCII values as they are, others RFC 2047-encoded as UTF-8 (folded at 78)."""
    value = " ".join(value.splitlines())  # a header never carries a line break of its own
    if value.isascii() and len(name) + len(value) < 990:  # RFC 5322's 998, with room for ": " and CRLF
        return f"{name}: {value}"
    charset = "us-ascii" if value.isascii() else "utf-8"
    return f"{name}: " + Header(value, charset, header_name=name).encode(linesep="\r\n")


def _part(subtype: str, text: str, eight_bit: bool) -> bytes:
    encoding, body = body_encoding.encode(subtype, text, eight_bit=eight_bit)
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n'
    ).encode() + body


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every connection (loading the CA store costs milliseconds; a context
    is safe to share between threads)."""
    return ssl.create_default_context()


# What an address may hold to be written as it is in MAIL FROM / RCPT TO (anything else, smtplib's path).
_PLAIN_ADDRESS = re.compile(r"[!-;=?-~]+@[A-Za-z0-9.-]+")  # printable ASCII less "<", ">", space


def transact(
    server: smtplib.SMTP, sender: str, recipient: str, data: bytes, *, eight_bit: bool = False
) -> dict[str, tuple[int, bytes]]:
    """One mail transaction on an open connection: ``smtplib.SMTP.sendmail``'s contract (the refused
    recipients, or its exceptions) for one recipient and a message already in CRLF form; ``eight_bit``
    declares ``BODY=8BITMIME`` (RFC 6152), for a server that offers it."""
    mail_options = ["BODY=8BITMIME"] if eight_bit else []
    if not (_PLAIN_ADDRESS.fullmatch(sender) and _PLAIN_ADDRESS.fullmatch(recipient)):
        return server.sendmail(sender, [recipient], data, mail_options=mail_options)
    server.ehlo_or_helo_if_needed()
    commands = (
        " ".join([f"MAIL FROM:<{sender}>", *mail_options]).encode() + b"\r\n",
        f"RCPT TO:<{recipient}>\r\n".encode(),
        b"DATA\r\n",
    )
    if server.has_extn("pipelining"):
        server.send(b"".join(commands))
        replies = [server.getreply() for _ in commands]
    else:  # each command waits for its reply; a refusal stops the transaction there
        replies = []
        for command in commands:
            server.send(command)
            replies.append(server.getreply())
            if replies[-1][0] not in (250, 251, 354):
                break
    (mail_code, mail_reply), *rest = replies
    rcpt_code, rcpt_reply = rest[0] if rest else (0, b"")
    data_code, data_reply = rest[1] if len(rest) > 1 else (0, b"")
    if data_code == 354 and (mail_code != 250 or rcpt_code not in (250, 251)):
        server.send(b".\r\n")  # the server took DATA despite the refusal: end the empty message
        server.getreply()
    if mail_code != 250:
        _abandon(server, mail_code)
        raise smtplib.SMTPSenderRefused(mail_code, mail_reply, sender)
    if rcpt_code not in (250, 251):
        _abandon(server, rcpt_code)
        raise smtplib.SMTPRecipientsRefused({recipient: (rcpt_code, rcpt_reply)})
    if data_code != 354:
        _abandon(server, data_code)
        raise smtplib.SMTPDataError(data_code, data_reply)
    body = data.replace(b"\r\n.", b"\r\n..")  # dot-stuffing (RFC 5321 4.5.2)
    if body.startswith(b"."):
        body = b"." + body
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    server.send(body + b".\r\n")
    code, reply = server.getreply()
    if code != 250:
        _abandon(server, code)
        raise smtplib.SMTPDataError(code, reply)
    return {}


def _abandon(server: smtplib.SMTP, code: int) -> None:
    """After a refusal: close on 421 (the server is going away), else reset for the next transaction."""
    if code == 421:
        server.close()
    else:
        try:
            server.rset()
        except smtplib.SMTPServerDisconnected:
            return  # the next send reconnects


_Config = Config  # inside Smtp, "Config" names the class attribute


class _Connections(threading.local):
    def __init__(self) -> None:
        self.open: dict[tuple[str, int, str, str | None, str], smtplib.SMTP] = {}


class Smtp:
    name = "smtp"
    kinds = frozenset({Kind.email})
    Config: type[BaseModel] = Config

    def __init__(self) -> None:
        self._connections = _Connections()

    def _connect(self, config: _Config) -> smtplib.SMTP:
        server: smtplib.SMTP
        if config.security == "tls":
            server = smtplib.SMTP_SSL(
                config.host, config.port, timeout=config.timeout_seconds, context=_tls_context()
            )
        else:
            server = smtplib.SMTP(config.host, config.port, timeout=config.timeout_seconds)
        try:
            server.ehlo()
            if config.security == "starttls":
                server.starttls(context=_tls_context())
                server.ehlo()
            if config.username and config.password:
                server.login(config.username, config.password.get_secret_value())
        except BaseException:
            server.close()
            raise
        return server

    def _server(self, config: _Config, *, fresh: bool) -> smtplib.SMTP:
        key = config.connection_key()
        server = self._connections.open.get(key)
        if server is not None and fresh:
            self._drop(key)
            server = None
        if server is None:
            server = self._connect(config)
            self._connections.open[key] = server
        return server

    def _drop(self, key: tuple[str, int, str, str | None, str]) -> None:
        server = self._connections.open.pop(key, None)
        if server is not None:
            try:
                server.close()
            except OSError:
                return  # already gone; nothing to close

    def close(self) -> None:
        """Close this thread's open connections (tests, worker shutdown)."""
        for key in list(self._connections.open):
            self._drop(key)

    def send(self, message: Outbound, config: BaseModel, *, client: httpx.Client) -> Sent:
        assert isinstance(config, _Config)
        built: dict[bool, bytes] = {}  # by whether the server takes 8BITMIME
        message_id = f"<{message.message_id}@{str(config.from_email).rsplit('@', 1)[1]}>"
        envelope_from = str(config.bounce_address or config.from_email)
        for fresh in (False, True):  # a reused connection the server closed gets one reconnect
            try:
                server = self._server(config, fresh=fresh)
                eight_bit = server.has_extn("8bitmime")
                if eight_bit not in built:
                    built[eight_bit] = build_message(message, config, eight_bit=eight_bit)
                refused = transact(server, envelope_from, message.to, built[eight_bit], eight_bit=eight_bit)
            except smtplib.SMTPServerDisconnected as exc:
                self._drop(config.connection_key())
                if not fresh:
                    continue
                raise SendFailed(f"the SMTP server closed the connection: {exc}", retryable=True) from exc
            except smtplib.SMTPAuthenticationError as exc:
                self._drop(config.connection_key())
                raise SendFailed(
                    f"SMTP authentication failed ({exc.smtp_code}): check the credentials", retryable=False
                ) from exc
            except smtplib.SMTPRecipientsRefused as exc:
                code, reply = next(iter(exc.recipients.values()))
                raise SendFailed(
                    f"recipient refused ({code}): {_text(reply)}", retryable=400 <= code < 500
                ) from exc
            except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
                raise SendFailed(
                    f"{type(exc).__name__} ({exc.smtp_code}): {_text(exc.smtp_error)}",
                    retryable=400 <= exc.smtp_code < 500,
                ) from exc
            except smtplib.SMTPResponseException as exc:
                self._drop(config.connection_key())
                raise SendFailed(
                    f"SMTP error ({exc.smtp_code}): {_text(exc.smtp_error)}",
                    retryable=400 <= exc.smtp_code < 500,
                ) from exc
            except (smtplib.SMTPException, OSError) as exc:  # connect errors, timeouts, TLS failures
                self._drop(config.connection_key())
                raise SendFailed(
                    f"could not reach the SMTP server: {type(exc).__name__}: {exc}", retryable=True
                ) from exc
            if refused:
                code, reply = next(iter(refused.values()))
                raise SendFailed(f"recipient refused ({code}): {_text(reply)}", retryable=400 <= code < 500)
            return Sent(provider_message_id=message_id)
        raise SendFailed("the SMTP server kept closing the connection", retryable=True)


def _text(reply: bytes | str) -> str:
    return (reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply))[:300]


channel = Smtp()
