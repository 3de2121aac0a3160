"""The email channel against a real SMTP server on 127.0.0.1.

The server is aiosmtpd's ``Controller``, which runs on a thread of its own,
so a test's loop only plays the client. Its handler keeps every mail it is
given and refuses the recipients a test names, with the reply it is told.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from engine.errors import ValidationError
from notify.channels import channel_from_config
from notify.channels.email import EmailChannel
from notify.message import FIRING, Delivery, Notification
from notify.templates import AlertEvent, MonitorFacts, render_notification
from tests.http_servers import refused_port

SENDER = "alerts@upcast.test"
USERNAME = "upcast"
PASSWORD = "s3cret-Pa55"
START = 1714564800.0

# The test server lets clients log in over plain text on 127.0.0.1, and
# aiosmtpd warns about exactly that.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Requiring AUTH while not requiring TLS:UserWarning"
)


@dataclass(frozen=True)
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage


class Mailbox:
    """An aiosmtpd handler that keeps every mail, refusing the addresses it names."""

    def __init__(self, refuse: Mapping[str, str] | None = None) -> None:
        self.refuse = dict(refuse or {})
        self.received: list[Received] = []

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        sender = envelope.mail_from or ""
        self.received.append(Received(sender, list(envelope.rcpt_tos), message))
        return "250 2.0.0 Ok: queued as 4F2A9C"


Authenticator = Callable[[SMTP, Session, Envelope, str, Any], AuthResult]


def accept_only(login: str, password: str) -> Authenticator:
    """An aiosmtpd authenticator that lets one user in with one password."""

    def authenticate(
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        known = isinstance(auth_data, LoginPassword) and (
            auth_data.login == login.encode()
            and auth_data.password == password.encode()
        )
        # Not handled here, so the server itself answers 235 or 535.
        return AuthResult(success=known, handled=False)

    return authenticate


@contextmanager
def smtp_server(handler: Mailbox, **options: Any) -> Iterator[int]:
    """An SMTP server for ``handler`` on 127.0.0.1; yields its port."""
    port = refused_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox(
        {
            "nobody@example.com": "550 5.1.1 <nobody@example.com>: no such user",
            "busy@example.com": "451 4.3.0 mailbox busy, try again later",
        }
    )


@pytest.fixture
def smtp_port(mailbox: Mailbox) -> Iterator[int]:
    with smtp_server(mailbox) as port:
        yield port


@pytest.fixture
def auth_port(mailbox: Mailbox) -> Iterator[int]:
    # Logging in over plain text is only for this test server on 127.0.0.1.
    with smtp_server(
        mailbox,
        authenticator=accept_only(USERNAME, PASSWORD),
        auth_required=True,
        auth_require_tls=False,
    ) as port:
        yield port


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A server that takes the connection and never says a word."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read()
        finally:
            writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


def email_channel(port: int, **fields: Any) -> EmailChannel:
    config: dict[str, Any] = {
        "kind": "email",
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from": f"Upcast <{SENDER}>",
        "to": ["ops@example.com"],
        "timeout": "2s",
    }
    config.update(fields)
    channel = channel_from_config(config)
    assert isinstance(channel, EmailChannel)
    return channel


def firing(channel: EmailChannel, key: str = "api:1714564800:firing") -> Notification:
    """The API monitor down, worded as ``channel`` words it."""
    event = AlertEvent(
        key=key,
        incident="api:1714564800",
        status=FIRING,
        monitor=MonitorFacts("api", "API", "http", "https://api.example.com/health"),
        at=START + 200,
        state="down",
        previous_state="up",
        reason="status",
        message="answered 503: <h1>Service Unavailable</h1>",
        started_at=START,
    )
    return render_notification(event, channel.templates)


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert isinstance(text, EmailMessage)
    assert isinstance(html, EmailMessage)
    return text.get_content(), html.get_content()


async def test_a_notification_arrives_with_its_subject_addresses_and_both_parts(
    smtp_port: int, mailbox: Mailbox
) -> None:
    channel = email_channel(smtp_port, to=["ops@example.com", "Ops Team <team@x.test>"])
    notification = firing(channel)

    delivery = await channel.send(notification)

    assert delivery == Delivery.sent(250, "2.0.0 Ok: queued as 4F2A9C")
    [received] = mailbox.received
    assert received.sender == SENDER
    assert received.recipients == ["ops@example.com", "team@x.test"]
    message = received.message
    assert message["Subject"] == "API is down"
    assert message["From"] == f"Upcast <{SENDER}>"
    assert message["To"] == "ops@example.com, Ops Team <team@x.test>"
    assert message["X-Upcast-Incident"] == "api:1714564800"
    assert message["Auto-Submitted"] == "auto-generated"
    text, html = parts(message)
    assert text.replace("\r\n", "\n") == notification.text + "\n"
    assert "answered 503: <h1>Service Unavailable</h1>" in text
    assert "answered 503: &lt;h1&gt;Service Unavailable&lt;/h1&gt;" in html
    assert "<h1>" not in html


async def test_sending_a_notification_again_keeps_its_message_id(
    smtp_port: int, mailbox: Mailbox
) -> None:
    channel = email_channel(smtp_port)
    notification = firing(channel)

    first = await channel.send(notification)
    again = await channel.send(notification)
    other = await channel.send(firing(channel, key="api:1714564800:resolved"))

    assert first.ok
    assert again.ok
    assert other.ok
    ids = [received.message["Message-ID"] for received in mailbox.received]
    assert re.fullmatch(r"<[0-9a-f]{40}@upcast\.test>", ids[0])
    assert ids[1] == ids[0]
    assert ids[2] != ids[0]


async def test_a_turkish_channel_sends_its_subject_and_text_intact(
    smtp_port: int, mailbox: Mailbox
) -> None:
    channel = email_channel(smtp_port, language="tr")

    delivery = await channel.send(firing(channel))

    assert delivery.ok
    [received] = mailbox.received
    assert received.message["Subject"] == "API \u00e7al\u0131\u015fm\u0131yor"
    text, html = parts(received.message)
    assert "Kesinti ba\u015flang\u0131c\u0131" in text
    assert '<html lang="tr">' in html


async def test_a_subject_template_words_the_subject(
    smtp_port: int, mailbox: Mailbox
) -> None:
    channel = email_channel(
        smtp_port, subject="[{{ status|upper }}] {{ monitor.name }}: {{ reason }}"
    )

    await channel.send(firing(channel))

    assert mailbox.received[0].message["Subject"] == "[FIRING] API: status"


@pytest.mark.parametrize(
    ("recipient", "status", "retryable", "answer"),
    [
        ("nobody@example.com", 550, False, "5.1.1 <nobody@example.com>: no such user"),
        ("busy@example.com", 451, True, "4.3.0 mailbox busy, try again later"),
    ],
)
async def test_a_refused_recipient_is_retried_only_when_the_refusal_is_temporary(
    smtp_port: int,
    mailbox: Mailbox,
    recipient: str,
    status: int,
    retryable: bool,
    answer: str,
) -> None:
    channel = email_channel(smtp_port, to=[recipient])

    delivery = await channel.send(firing(channel))

    assert not delivery.ok
    assert delivery.retryable is retryable
    assert delivery.status == status
    assert delivery.detail == f"recipient: {recipient} refused"
    assert delivery.response == f"{recipient}: {status} {answer}"
    assert mailbox.received == []


async def test_one_refused_recipient_fails_the_delivery_while_the_other_gets_it(
    smtp_port: int, mailbox: Mailbox
) -> None:
    channel = email_channel(smtp_port, to=["ops@example.com", "nobody@example.com"])

    delivery = await channel.send(firing(channel))

    assert not delivery.ok
    assert not delivery.retryable
    assert delivery.status == 550
    assert delivery.detail == "recipient: nobody@example.com refused"
    assert [received.recipients for received in mailbox.received] == [
        ["ops@example.com"]
    ]


async def test_a_closed_port_is_worth_retrying() -> None:
    channel = email_channel(refused_port())

    delivery = await channel.send(firing(channel))

    assert delivery == Delivery.failed("connect: connection refused", retryable=True)


async def test_a_server_that_never_greets_times_out_and_is_worth_retrying(
    silent_port: int,
) -> None:
    channel = email_channel(silent_port, timeout=0.3)

    delivery = await channel.send(firing(channel))

    assert delivery == Delivery.failed("timeout after 300ms", retryable=True)


async def test_the_right_password_logs_in_and_sends(
    auth_port: int, mailbox: Mailbox
) -> None:
    channel = email_channel(auth_port, username=USERNAME, password=PASSWORD)

    delivery = await channel.send(firing(channel))

    assert delivery.ok
    assert len(mailbox.received) == 1


async def test_a_wrong_password_is_not_worth_retrying(
    auth_port: int, mailbox: Mailbox
) -> None:
    channel = email_channel(auth_port, username=USERNAME, password="not-" + PASSWORD)

    delivery = await channel.send(firing(channel))

    assert not delivery.ok
    assert not delivery.retryable
    assert delivery.status == 535
    assert delivery.detail == "auth: the server refused the username or password"
    assert PASSWORD not in delivery.response
    assert mailbox.received == []


async def test_sending_without_logging_in_where_it_is_required_is_refused(
    auth_port: int, mailbox: Mailbox
) -> None:
    channel = email_channel(auth_port)

    delivery = await channel.send(firing(channel))

    assert not delivery.ok
    assert not delivery.retryable
    assert delivery.status == 530
    assert delivery.detail == f"sender: {SENDER} refused"


async def test_starttls_is_required_by_default_and_a_plain_server_is_refused(
    smtp_port: int, mailbox: Mailbox
) -> None:
    channel = email_channel(smtp_port, security="starttls")

    delivery = await channel.send(firing(channel))

    assert delivery == Delivery.failed(
        "smtp: SMTP STARTTLS extension not supported by server", retryable=False
    )
    assert mailbox.received == []


@pytest.mark.parametrize(
    ("security", "port"), [("starttls", 587), ("tls", 465), ("none", 25)]
)
def test_the_port_follows_the_security_unless_given(security: str, port: int) -> None:
    channel = channel_from_config(
        {
            "kind": "email",
            "host": "smtp.example.com",
            "security": security,
            "from": SENDER,
            "to": ["ops@example.com"],
        }
    )

    assert isinstance(channel, EmailChannel)
    assert channel.where == f"smtp://smtp.example.com:{port}"


def test_every_bad_field_is_named_and_the_password_never_quoted() -> None:
    config = {
        "kind": "email",
        "host": "smtp example com",
        "port": 70000,
        "security": "ssl",
        "password": 20240501,
        "from": "alerts",
        "to": ["ops@example.com", "not an address", "ops@", 7],
        "language": "de",
        "subject": "{{ monitor.name }",
        "timeout": "forever",
        "cc": ["x@example.com"],
    }

    with pytest.raises(ValidationError) as caught:
        channel_from_config(config)

    problems = {error.field: error.problem for error in caught.value.errors}
    assert set(problems) == {
        "cc",
        "security",
        "host",
        "port",
        "password",
        "from",
        "to[1]",
        "to[2]",
        "to[3]",
        "language",
        "subject",
        "timeout",
    }
    assert problems["password"] == "must be non-empty text, got a value of type int"
    assert problems["subject"] == "line 1: unexpected '}'"
    assert "20240501" not in str(caught.value)


@pytest.mark.parametrize(
    ("credentials", "field", "problem"),
    [
        ({"username": USERNAME}, "password", "is required when username is given"),
        ({"password": PASSWORD}, "username", "is required when password is given"),
    ],
)
def test_a_username_and_a_password_come_together(
    credentials: dict[str, str], field: str, problem: str
) -> None:
    config: dict[str, Any] = {"kind": "email", "host": "smtp.example.com"}
    config.update({"from": SENDER, "to": ["ops@example.com"], **credentials})

    with pytest.raises(ValidationError) as caught:
        channel_from_config(config)

    assert [(e.field, e.problem) for e in caught.value.errors] == [(field, problem)]
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    ("to", "problem"),
    [
        (None, "is required"),
        ([], "must be a non-empty list of addresses, got []"),
        ("ops@example.com", "must be a non-empty list of addresses"),
        ([f"ops{n}@example.com" for n in range(51)], "must hold at most 50 addresses"),
    ],
)
def test_recipients_must_be_a_short_list(to: Any, problem: str) -> None:
    config: dict[str, Any] = {"kind": "email", "host": "smtp.example.com"}
    config.update({"from": SENDER, "to": to})

    with pytest.raises(ValidationError) as caught:
        channel_from_config(config)

    [error] = caught.value.errors
    assert error.field == "to"
    assert error.problem.startswith(problem)
