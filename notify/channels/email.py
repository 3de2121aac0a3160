"""The ``email`` channel: each notification as one mail, sent over SMTP.

Configuration fields:

``host``, ``port``
    The SMTP server. The port defaults to what ``security`` expects: 587
    for ``starttls``, 465 for ``tls`` and 25 for ``none``.
``security``
    ``starttls`` (the default: connect in plain text, then upgrade, and
    refuse a server that cannot), ``tls`` (TLS from the first byte) or
    ``none`` (plain text throughout, for a relay on a trusted network).
``username``, ``password``
    Given together, or not at all; the password is secret.
``from``, ``to``
    The sender and a list of recipients, each an address such as
    ``ops@example.com`` or ``Ops <ops@example.com>``.
``subject``, ``text``
    Templates for the subject and the body (see ``notify.templates``);
    the defaults of ``language`` when left out.
``language``
    ``en`` or ``tr``.
``timeout``
    How long one attempt may take, from connecting to the server's last
    answer: a number of seconds or a duration such as ``20s``.

Every mail has a plain text part and an HTML part that escapes every
value. Its ``Message-ID`` is made from the notification's key, so a
notification sent again carries the same id and receivers can drop the
repeat; ``X-Upcast-Incident`` names the incident it belongs to.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import socket
import ssl
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from time import perf_counter
from typing import Any, Final, Self

import aiosmtplib

from engine.checks.options import is_hostname
from engine.durations import format_duration
from notify.channels import register
from notify.channels._config import ConfigReader
from notify.channels.base import Channel, log_delivery
from notify.message import Delivery, Notification
from notify.templates import (
    ChannelTemplates,
    RenderError,
    message_id,
    read_templates,
    render_html_body,
)

logger = logging.getLogger(__name__)

FIELDS: Final = (
    "host",
    "port",
    "security",
    "username",
    "password",
    "from",
    "to",
    "subject",
    "text",
    "language",
    "timeout",
)

SECURITY_PORTS: Final = {"starttls": 587, "tls": 465, "none": 25}
"""Each way of securing the connection, and the port it is usually served on."""

MAX_RECIPIENTS: Final = 50
"""The most addresses one channel sends to: a longer list belongs in a mailing list."""

QUIT_SECONDS: Final = 1.0
"""How long a server may take to say goodbye once it has taken the mail."""

RESPONSE_CHARS: Final = 500
"""How much of the server's answer a delivery keeps for the delivery log."""

_LOCAL_PART: Final = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
)
_NAMED_ADDRESS: Final = re.compile(r"(?P<name>[^<>]*?)\s*<(?P<address>[^<>]*)>")

# Asked once: ``socket.getfqdn``, the library's default for EHLO, can wait
# seconds on a resolver that does not answer.
_EHLO_NAME: Final = socket.gethostname() or "localhost"


@register
class EmailChannel(Channel):
    """Send each notification as a mail through one SMTP server.

    Each send opens its own connection and closes it: notifications are
    rare enough that a kept connection would mostly sit idle until the
    server drops it.
    """

    kind = "email"
    secret_fields = ("password",)

    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: str,
        sender: str,
        recipients: Sequence[str],
        username: str | None = None,
        password: str | None = None,
        templates: ChannelTemplates | None = None,
        timeout: float = 10.0,
    ) -> None:
        if security not in SECURITY_PORTS:
            raise ValueError(f"security must be one of {', '.join(SECURITY_PORTS)}")
        self._host = host
        self._port = port
        self._security = security
        self._sender = sender
        self._recipients = tuple(recipients)
        self._username = username
        self._password = password
        self._templates = templates or ChannelTemplates()
        self._timeout = timeout

    @property
    def where(self) -> str:
        """Where the channel delivers, as logs and ``repr`` may show it."""
        return f"smtp://{self._host}:{self._port}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind} to {self.where}>"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        read = ConfigReader(config, cls.kind, FIELDS, cls.secret_fields)
        security = read.text("security", default="starttls")
        if security not in SECURITY_PORTS:
            read.problem(
                "security",
                f"must be one of {', '.join(SECURITY_PORTS)}, got {security!r}",
            )
            security = "starttls"
        host = _host(read)
        port = _port(read, SECURITY_PORTS[security])
        username = read.text("username") or None
        password = read.text("password") or None
        if (username is None) != (password is None):
            given, missing = (
                ("username", "password") if username else ("password", "username")
            )
            read.problem(missing, f"is required when {given} is given")
        sender = _address(read, "from", read.raw("from"), required=True)
        recipients = _recipients(read)
        templates = read_templates(config, read.errors, title_field="subject")
        timeout = read.timeout()
        read.done()
        return cls(
            host=host,
            port=port,
            security=security,
            sender=sender,
            recipients=recipients,
            username=username,
            password=password,
            templates=templates,
            timeout=timeout,
        )

    async def send(self, notification: Notification) -> Delivery:
        started = perf_counter()
        try:
            message = compose(
                notification,
                sender=self._sender,
                recipients=self._recipients,
                language=self._templates.language,
            )
        except RenderError as exc:
            delivery = Delivery.failed(f"render: {exc}", retryable=False)
        else:
            delivery = self._scrubbed(await self._attempt(message))
        log_delivery(logger, self.kind, self.where, delivery, started)
        return delivery

    async def _attempt(self, message: EmailMessage) -> Delivery:
        """One SMTP conversation, with every way it can end put into a delivery.

        The whole conversation shares the one timeout; the client's own
        timeout, per command, only makes a silent server fail sooner.
        """
        client = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            username=self._username,
            password=self._password,
            local_hostname=_EHLO_NAME,
            timeout=self._timeout,
            use_tls=self._security == "tls",
            start_tls=self._security == "starttls",
        )
        try:
            async with asyncio.timeout(self._timeout):
                await client.connect()
                refused, answer = await client.send_message(
                    message,
                    sender=_envelope_address(self._sender),
                    recipients=[_envelope_address(r) for r in self._recipients],
                )
            await _goodbye(client)
        except TimeoutError:
            return Delivery.failed(
                f"timeout after {format_duration(self._timeout)}", retryable=True
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            return _refused(
                {
                    error.recipient: (error.code, error.message)
                    for error in exc.recipients
                }
            )
        except aiosmtplib.SMTPResponseException as exc:
            return _answered(exc)
        except aiosmtplib.SMTPConnectError as exc:
            return _unreachable(exc)
        except aiosmtplib.SMTPServerDisconnected:
            return Delivery.failed(
                "connect: the server closed the connection", retryable=True
            )
        except aiosmtplib.SMTPException as exc:
            # What is left is a server that cannot do what the channel is
            # set up for (STARTTLS, logging in): trying again will not help.
            return Delivery.failed(f"smtp: {_sentence(exc.message)}", retryable=False)
        except OSError as exc:
            return _unreachable(exc)
        finally:
            client.close()

        if refused:
            return _refused(
                {
                    address: (reply.code, reply.message)
                    for address, reply in refused.items()
                }
            )
        return Delivery.sent(250, answer[:RESPONSE_CHARS])

    def _scrubbed(self, delivery: Delivery) -> Delivery:
        """``delivery`` without the password, should a server ever echo it."""
        secret = self._password
        if not secret or (
            secret not in delivery.detail and secret not in delivery.response
        ):
            return delivery
        return Delivery(
            delivery.ok,
            delivery.retryable,
            delivery.status,
            delivery.detail.replace(secret, "[redacted]"),
            delivery.response.replace(secret, "[redacted]"),
        )


async def _goodbye(client: aiosmtplib.SMTP) -> None:
    """QUIT, briefly: the mail is already handed over, so nothing may fail it now."""
    with contextlib.suppress(aiosmtplib.SMTPException, TimeoutError, OSError):
        async with asyncio.timeout(QUIT_SECONDS):
            await client.quit()


def compose(
    notification: Notification,
    *,
    sender: str,
    recipients: Sequence[str],
    language: str,
) -> EmailMessage:
    """The mail for ``notification``: headers, a text part and an HTML part.

    Raises ``RenderError`` when the HTML body cannot be rendered.
    """
    message = EmailMessage()
    message["Subject"] = _header_text(notification.title)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(notification.at, usegmt=True)
    message["Message-ID"] = message_id(notification.key, _domain(sender))
    message["X-Upcast-Incident"] = _header_text(notification.incident)
    message["X-Upcast-Status"] = notification.status
    # RFC 3834: an automatic message, which vacation replies leave alone.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(notification.text + "\n")
    message.add_alternative(render_html_body(notification, language), subtype="html")
    return message


def _refused(replies: Mapping[str, tuple[int, str]]) -> Delivery:
    """Some recipients refused: worth retrying only if every refusal was temporary.

    A retry goes to every recipient again, the ones that took the mail too;
    the Message-ID stays the same, so their mail software can drop it.
    """
    addresses = ", ".join(replies)
    codes = [code for code, _text in replies.values()]
    answer = "; ".join(
        f"{address}: {code} {text}" for address, (code, text) in replies.items()
    )
    return Delivery.failed(
        f"recipient: {addresses} refused",
        retryable=all(400 <= code < 500 for code in codes),
        status=codes[0],
        response=answer[:RESPONSE_CHARS],
    )


def _answered(exc: aiosmtplib.SMTPResponseException) -> Delivery:
    """A refusal in an SMTP reply: 4xx is temporary, 5xx for good."""
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        detail = "auth: the server refused the username or password"
    elif isinstance(exc, aiosmtplib.SMTPSenderRefused):
        detail = f"sender: {exc.sender} refused"
    elif isinstance(exc, aiosmtplib.SMTPDataError):
        detail = "data: the server refused the message"
    elif isinstance(exc, aiosmtplib.SMTPConnectResponseError):
        detail = "connect: the server refused the connection"
    else:
        detail = f"smtp: the server answered {exc.code}"
    return Delivery.failed(
        detail,
        retryable=400 <= exc.code < 500,
        status=exc.code,
        response=exc.message[:RESPONSE_CHARS],
    )


def _unreachable(exc: BaseException) -> Delivery:
    """The server could not be reached or spoken to: all of it may pass."""
    # The library's own errors carry the socket's error as their cause.
    cause = exc.__cause__ if isinstance(exc, aiosmtplib.SMTPException) else exc
    if isinstance(cause, ssl.SSLCertVerificationError):
        return Delivery.failed(
            f"tls: certificate {cause.verify_message or 'invalid'}", retryable=True
        )
    if isinstance(cause, ssl.SSLError):
        return Delivery.failed(
            f"tls: {cause.reason or 'handshake failed'}", retryable=True
        )
    if isinstance(cause, socket.gaierror):
        return Delivery.failed("dns: could not resolve the host", retryable=True)
    if isinstance(cause, ConnectionRefusedError):
        return Delivery.failed("connect: connection refused", retryable=True)
    if isinstance(cause, OSError):
        reason = cause.strerror or str(cause) or type(cause).__name__
        return Delivery.failed(f"connect: {_sentence(reason)}", retryable=True)
    return Delivery.failed(f"connect: {_sentence(str(exc))}", retryable=True)


def _sentence(text: str) -> str:
    """``text`` fit to follow a colon: a capital dropped, unless it starts "SMTP"."""
    text = text.strip().rstrip(".") or "no reason given"
    if text[1:2].islower():
        return text[:1].lower() + text[1:]
    return text


def _header_text(text: str) -> str:
    # A header is one line: a line break in a title would start a new header.
    return " ".join(text.split())


def _domain(address: str) -> str:
    return _envelope_address(address).rpartition("@")[2] or "upcast.invalid"


def _envelope_address(address: str) -> str:
    """``ops@example.com`` from ``Ops <ops@example.com>`` or from itself."""
    match = _NAMED_ADDRESS.fullmatch(address)
    return match.group("address") if match else address


def _host(read: ConfigReader) -> str:
    host = read.text("host", required=True)
    if host and not (is_hostname(host) or _is_ip(host)):
        read.problem("host", f"must be a host name or an IP address, got {host!r}")
    return host


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _port(read: ConfigReader, default: int) -> int:
    value = read.raw("port")
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        read.problem("port", f"must be a port number from 1 to 65535, got {value!r}")
        return default
    return value


def _recipients(read: ConfigReader) -> tuple[str, ...]:
    value = read.raw("to")
    if value is None:
        read.problem("to", "is required")
        return ()
    if not isinstance(value, list) or not value:
        read.problem("to", f"must be a non-empty list of addresses, got {value!r}")
        return ()
    if len(value) > MAX_RECIPIENTS:
        read.problem(
            "to", f"must hold at most {MAX_RECIPIENTS} addresses, got {len(value)}"
        )
        return ()
    addresses = [
        _address(read, f"to[{index}]", item) for index, item in enumerate(value)
    ]
    return tuple(dict.fromkeys(address for address in addresses if address))


def _address(
    read: ConfigReader, name: str, value: Any, *, required: bool = False
) -> str:
    """An address as headers write it, or "" with the problem recorded.

    A display name is kept (``Ops <ops@example.com>``) and quoted when it
    needs to be; the address itself must be plain ASCII, which every
    server takes.
    """
    if value is None:
        if required:
            read.problem(name, "is required")
        return ""
    shape = "must be an email address such as ops@example.com"
    if not isinstance(value, str) or any(ord(char) < 32 for char in value):
        read.problem(name, f"{shape}, got {value!r}")
        return ""
    text = value.strip()
    match = _NAMED_ADDRESS.fullmatch(text)
    display, address = (
        (match.group("name"), match.group("address")) if match else ("", text)
    )
    local, at, domain = address.strip().rpartition("@")
    if not at or not _LOCAL_PART.fullmatch(local) or len(local) > 64:
        read.problem(name, f"{shape}, got {value!r}")
        return ""
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_domain = ""
    if not (is_hostname(ascii_domain) or _is_ip_literal(ascii_domain)):
        read.problem(name, f"{shape}, got {value!r}")
        return ""
    plain = f"{local}@{ascii_domain}"
    return formataddr((display.strip().strip('"'), plain)) if display.strip() else plain


def _is_ip_literal(domain: str) -> bool:
    # ``ops@[192.0.2.1]``: an address at a host with no name.
    return domain.startswith("[") and domain.endswith("]") and _is_ip(domain[1:-1])
