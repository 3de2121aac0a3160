"""The HTTP notification channels, each sending to a real local receiver.

The receiver is an aiohttp server on 127.0.0.1 that records every request
and answers as the test tells it to: a status, a body, a delay, or an echo
of what it was sent. Configurations point the channels' service URLs at it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict

from engine.errors import ValidationError
from notify.channels import Channel, channel_from_config, kind_names
from notify.channels.pagerduty import PagerDutyChannel
from notify.channels.webhook import WebhookChannel, default_body, verify_signature
from notify.message import FIRING, RESOLVED, TEST, Delivery, Notification
from tests.http_servers import refused_port

KINDS = ("webhook", "slack", "discord", "teams", "telegram", "pagerduty", "opsgenie")

WEBHOOK_SECRET = "whsec-5f1c9a7e2b"
SLACK_TOKEN = "slk0Zx9YwVu8Ts7R"
DISCORD_TOKEN = "dsc-Qp4Lm2Nn8Bv6Cx"
TEAMS_TOKEN = "tms7Hj3Kl9Mn1Bv5"
BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
CHAT_ID = -1001234567
ROUTING_KEY = "R0ut1ngK3yF0rUpc4stT3sts00000001"
OPSGENIE_KEY = "eb243592-faa2-4ba2-a551q-1afdf565c889"

SECRETS: Mapping[str, tuple[str, ...]] = {
    "webhook": (WEBHOOK_SECRET,),
    "slack": (SLACK_TOKEN,),
    "discord": (DISCORD_TOKEN,),
    "teams": (TEAMS_TOKEN,),
    "telegram": (BOT_TOKEN,),
    "pagerduty": (ROUTING_KEY,),
    "opsgenie": (OPSGENIE_KEY,),
}
"""What must never leave a channel, by kind."""

INCIDENT = "web-7:1700000000"

FIRING_PATHS: Mapping[str, str] = {
    "webhook": "/hooks/upcast",
    "slack": f"/services/T0001/B0002/{SLACK_TOKEN}",
    "discord": f"/api/webhooks/1234/{DISCORD_TOKEN}",
    "teams": f"/webhookb2/{TEAMS_TOKEN}",
    "telegram": f"/bot{BOT_TOKEN}/sendMessage",
    "pagerduty": "/v2/enqueue",
    "opsgenie": "/v2/alerts",
}
RESOLVED_PATHS: Mapping[str, str] = {
    **FIRING_PATHS,
    "opsgenie": "/v2/alerts/web-7:1700000000/close?identifierType=alias",
}


def config_for(kind: str, base: str, **changes: Any) -> dict[str, Any]:
    """A valid configuration of ``kind`` whose service lives at ``base``."""
    configs: dict[str, dict[str, Any]] = {
        "webhook": {"url": f"{base}/hooks/upcast", "secret": WEBHOOK_SECRET},
        "slack": {"url": f"{base}/services/T0001/B0002/{SLACK_TOKEN}"},
        "discord": {"url": f"{base}/api/webhooks/1234/{DISCORD_TOKEN}"},
        "teams": {"url": f"{base}/webhookb2/{TEAMS_TOKEN}"},
        "telegram": {"bot_token": BOT_TOKEN, "chat_id": CHAT_ID, "api_url": base},
        "pagerduty": {"routing_key": ROUTING_KEY, "api_url": base},
        "opsgenie": {"api_key": OPSGENIE_KEY, "api_url": base},
    }
    return {"kind": kind, **configs[kind], **changes}


def notification(status: str = FIRING, **changes: Any) -> Notification:
    values: dict[str, Any] = {
        "key": f"n-{status}-1",
        "incident": INCIDENT,
        "status": status,
        "title": "shop.example is down",
        "text": "GET https://shop.example/ answered 503",
        "at": 1_700_000_000.0,
        "severity": "critical",
        "url": "https://upcast.example/monitors/web-7",
        "fields": {"monitor": "web-7", "target": "https://shop.example/"},
    }
    values.update(changes)
    return Notification(**values)


@dataclass(frozen=True)
class Seen:
    """One request as the receiver got it."""

    method: str
    path: str
    headers: CIMultiDict[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A local server standing in for every service; answers as told."""

    url: str
    requests: list[Seen] = field(default_factory=list)
    status: int = 200
    body: str = '{"ok": true}'
    delay: float = 0.0
    echo: bool = False

    def answer(self, status: int, body: str = "", *, delay: float = 0.0) -> None:
        self.status, self.body, self.delay = status, body, delay

    @property
    def last(self) -> Seen:
        assert self.requests, "the receiver got no request"
        return self.requests[-1]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    app = web.Application()
    runner = web.AppRunner(
        app, handler_cancellation=True, access_log=None, shutdown_timeout=0.1
    )
    state = Receiver(url="")

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        state.requests.append(
            Seen(request.method, request.raw_path, CIMultiDict(request.headers), body)
        )
        if state.delay:
            await asyncio.sleep(state.delay)
        if state.echo:
            headers = "\n".join(f"{k}: {v}" for k, v in request.headers.items())
            text = f"{request.raw_path}\n{headers}\n{body.decode()}"
            return web.Response(status=state.status, text=text)
        if state.status == 204:
            return web.Response(status=204)
        return web.Response(
            status=state.status, text=state.body, content_type="application/json"
        )

    app.router.add_route("*", "/{tail:.*}", handle)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield state
    finally:
        await runner.cleanup()


Build = Callable[[Mapping[str, Any]], Channel]


@pytest.fixture
async def build() -> AsyncIterator[Build]:
    """Channels from their configurations, every one closed after the test."""
    made: list[Channel] = []

    def make(config: Mapping[str, Any]) -> Channel:
        channel = channel_from_config(config)
        made.append(channel)
        return channel

    yield make
    for channel in made:
        await channel.close()


def test_every_http_channel_kind_is_registered() -> None:
    assert set(KINDS) <= set(kind_names())


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("status", "paths"), [(FIRING, FIRING_PATHS), (RESOLVED, RESOLVED_PATHS)]
)
async def test_channels_post_json_to_their_service_path(
    receiver: Receiver, build: Build, kind: str, status: str, paths: Mapping[str, str]
) -> None:
    channel = build(config_for(kind, receiver.url))

    delivery = await channel.send(notification(status))

    assert delivery.ok, delivery
    assert len(receiver.requests) == 1
    seen = receiver.last
    assert (seen.method, seen.path) == ("POST", paths[kind])
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["User-Agent"] == "Upcast"
    assert isinstance(seen.json(), dict)


@pytest.mark.parametrize("status", [FIRING, RESOLVED, TEST])
async def test_webhook_posts_the_whole_notification_with_its_key(
    receiver: Receiver, build: Build, status: str
) -> None:
    channel = build(config_for("webhook", receiver.url))
    sent = notification(status)

    await channel.send(sent)

    assert receiver.last.json() == {
        "key": sent.key,
        "incident": INCIDENT,
        "status": status,
        "title": "shop.example is down",
        "text": "GET https://shop.example/ answered 503",
        "at": 1_700_000_000.0,
        "severity": "critical",
        "url": "https://upcast.example/monitors/web-7",
        "fields": {"monitor": "web-7", "target": "https://shop.example/"},
    }
    assert receiver.last.json() == default_body(sent)
    assert receiver.last.headers["X-Upcast-Key"] == sent.key


async def test_webhook_sends_the_extra_headers_it_is_given(
    receiver: Receiver, build: Build
) -> None:
    headers = {"Authorization": "Bearer rcv-token-123", "X-Team": "ops"}
    channel = build(config_for("webhook", receiver.url, headers=headers))

    await channel.send(notification())

    assert receiver.last.headers["Authorization"] == "Bearer rcv-token-123"
    assert receiver.last.headers["X-Team"] == "ops"


async def test_webhook_signature_verifies_on_the_receiving_side(
    receiver: Receiver, build: Build
) -> None:
    channel = build(config_for("webhook", receiver.url))

    await channel.send(notification())

    seen = receiver.last
    timestamp = seen.headers["X-Upcast-Timestamp"]
    signature = seen.headers["X-Upcast-Signature"]
    assert timestamp.isdigit()
    assert signature.startswith("sha256=")
    assert verify_signature(WEBHOOK_SECRET, timestamp, seen.body, signature)
    assert not verify_signature("not-the-secret", timestamp, seen.body, signature)
    stale = int(timestamp) + 301
    assert not verify_signature(
        WEBHOOK_SECRET, timestamp, seen.body, signature, now=stale
    )
    assert not verify_signature(WEBHOOK_SECRET, timestamp, seen.body + b" ", signature)


async def test_webhook_without_a_secret_sends_no_signature(
    receiver: Receiver, build: Build
) -> None:
    config = config_for("webhook", receiver.url)
    del config["secret"]
    channel = build(config)

    await channel.send(notification())

    assert "X-Upcast-Signature" not in receiver.last.headers
    assert "X-Upcast-Timestamp" not in receiver.last.headers
    assert receiver.last.headers["X-Upcast-Key"] == "n-firing-1"


# A request signed at 1_700_000_000 with "s3cret" over b'{"a":1}'.
SIGNED_AT = 1_700_000_000
SIGNED_BODY = b'{"a":1}'
SIGNATURE = "sha256=" + (
    hmac.new(b"s3cret", b"1700000000." + SIGNED_BODY, hashlib.sha256).hexdigest()
)


@pytest.mark.parametrize(
    ("secret", "timestamp", "body", "signature", "now", "valid"),
    [
        ("s3cret", "1700000000", SIGNED_BODY, SIGNATURE, SIGNED_AT + 10, True),
        ("s3cret", SIGNED_AT, SIGNED_BODY, SIGNATURE, SIGNED_AT - 299, True),
        (b"s3cret", "1700000000", SIGNED_BODY, SIGNATURE, SIGNED_AT, True),
        ("wrong", "1700000000", SIGNED_BODY, SIGNATURE, SIGNED_AT, False),
        ("s3cret", "1700000000", b'{"a":2}', SIGNATURE, SIGNED_AT, False),
        ("s3cret", "1700000001", SIGNED_BODY, SIGNATURE, SIGNED_AT, False),
        ("s3cret", "1700000000", SIGNED_BODY, SIGNATURE, SIGNED_AT + 301, False),
        ("s3cret", "1700000000", SIGNED_BODY, SIGNATURE, SIGNED_AT - 301, False),
        ("s3cret", "17e8", SIGNED_BODY, SIGNATURE, SIGNED_AT, False),
        ("s3cret", "1_700_000_000", SIGNED_BODY, SIGNATURE, SIGNED_AT, False),
        ("s3cret", "1700000000", SIGNED_BODY, SIGNATURE[7:], SIGNED_AT, False),
        ("s3cret", "1700000000", SIGNED_BODY, "sha256=\u00e9", SIGNED_AT, False),
    ],
    ids=[
        "fresh",
        "a little early",
        "bytes secret",
        "wrong secret",
        "tampered body",
        "other timestamp",
        "stale",
        "from the future",
        "timestamp not whole seconds",
        "timestamp with underscores",
        "signature without its scheme",
        "signature not ascii",
    ],
)
def test_verify_signature_accepts_only_a_fresh_signature_of_the_same_body(
    secret: str | bytes,
    timestamp: str | int,
    body: bytes,
    signature: str,
    now: float,
    valid: bool,
) -> None:
    assert verify_signature(secret, timestamp, body, signature, now=now) is valid


@pytest.mark.parametrize(
    ("status", "word"), [(FIRING, "Firing"), (RESOLVED, "Resolved"), (TEST, "Test")]
)
async def test_slack_posts_text_with_a_section_and_its_status(
    receiver: Receiver, build: Build, status: str, word: str
) -> None:
    channel = build(config_for("slack", receiver.url))

    await channel.send(notification(status, title="<db> & cache down"))

    body = receiver.last.json()
    assert "&lt;db&gt; &amp; cache down" in body["text"]
    section, context = body["blocks"]
    assert section["type"] == "section"
    assert "&lt;db&gt; &amp; cache down" in section["text"]["text"]
    assert "GET https://shop.example/ answered 503" in section["text"]["text"]
    assert context["elements"][0]["text"].startswith(word)
    assert "<https://upcast.example/monitors/web-7|" in context["elements"][0]["text"]


@pytest.mark.parametrize(
    ("status", "colour"),
    [(FIRING, 0xD92D20), (RESOLVED, 0x12B76A), (TEST, 0x2E90FA)],
)
async def test_discord_posts_an_embed_coloured_by_status_and_takes_a_204(
    receiver: Receiver, build: Build, status: str, colour: int
) -> None:
    receiver.answer(204)
    channel = build(config_for("discord", receiver.url))

    delivery = await channel.send(notification(status))

    assert delivery == Delivery.sent(204, "")
    body = receiver.last.json()
    assert body["allowed_mentions"] == {"parse": []}
    (embed,) = body["embeds"]
    assert embed["color"] == colour
    assert embed["description"] == "GET https://shop.example/ answered 503"
    assert embed["url"] == "https://upcast.example/monitors/web-7"
    assert embed["timestamp"] == "2023-11-14T22:13:20+00:00"
    assert body["content"].endswith("shop.example is down")


@pytest.mark.parametrize(
    ("status", "colour"), [(FIRING, "attention"), (RESOLVED, "good"), (TEST, "accent")]
)
async def test_teams_posts_an_adaptive_card(
    receiver: Receiver, build: Build, status: str, colour: str
) -> None:
    receiver.answer(202)
    channel = build(config_for("teams", receiver.url))

    delivery = await channel.send(notification(status))

    assert delivery.ok
    assert delivery.status == 202
    body = receiver.last.json()
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    title, text, facts = card["body"]
    assert title["text"].endswith("shop.example is down")
    assert title["color"] == colour
    assert text["text"] == "GET https://shop.example/ answered 503"
    assert facts["type"] == "FactSet"
    assert card["actions"][0]["url"] == "https://upcast.example/monitors/web-7"


async def test_telegram_sends_the_text_to_its_chat(
    receiver: Receiver, build: Build
) -> None:
    channel = build(config_for("telegram", receiver.url))

    await channel.send(notification())

    body = receiver.last.json()
    assert body["chat_id"] == CHAT_ID
    assert body["text"].startswith("shop.example is down\n\nGET https://shop.example/")
    assert body["text"].endswith("https://upcast.example/monitors/web-7")


async def test_telegram_says_why_it_refused_a_message(
    receiver: Receiver, build: Build
) -> None:
    answer = (
        '{"ok": false, "error_code": 400, "description": "Bad Request: chat not found"}'
    )
    receiver.answer(400, answer)
    channel = build(config_for("telegram", receiver.url))

    delivery = await channel.send(notification())

    assert delivery == Delivery.failed(
        "status 400: Bad Request: chat not found",
        retryable=False,
        status=400,
        response=answer,
    )


async def test_telegram_refusing_in_a_2xx_is_not_a_delivery(
    receiver: Receiver, build: Build
) -> None:
    receiver.answer(200, '{"ok": false, "description": "Forbidden: bot was kicked"}')
    channel = build(config_for("telegram", receiver.url))

    delivery = await channel.send(notification())

    assert not delivery.ok
    assert not delivery.retryable
    assert delivery.detail == "status 200: Forbidden: bot was kicked"


async def test_pagerduty_triggers_an_alert_keyed_by_its_incident(
    receiver: Receiver, build: Build
) -> None:
    receiver.answer(202, '{"status": "success", "dedup_key": "web-7:1700000000"}')
    channel = build(config_for("pagerduty", receiver.url))

    delivery = await channel.send(notification())

    assert delivery.ok
    assert delivery.status == 202
    event = receiver.last.json()
    assert event["routing_key"] == ROUTING_KEY
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == INCIDENT
    assert event["payload"]["summary"] == "shop.example is down"
    assert event["payload"]["source"] == "https://shop.example/"
    assert event["payload"]["severity"] == "critical"
    assert event["payload"]["timestamp"] == "2023-11-14T22:13:20+00:00"
    assert event["payload"]["custom_details"]["monitor"] == "web-7"
    assert event["links"][0]["href"] == "https://upcast.example/monitors/web-7"


async def test_pagerduty_resolves_the_alert_of_the_same_incident(
    receiver: Receiver, build: Build
) -> None:
    channel = build(config_for("pagerduty", receiver.url))

    await channel.send(notification(RESOLVED))

    assert receiver.last.json() == {
        "routing_key": ROUTING_KEY,
        "event_action": "resolve",
        "dedup_key": INCIDENT,
    }


async def test_pagerduty_sends_a_test_as_a_trigger_that_says_so(
    receiver: Receiver, build: Build
) -> None:
    channel = build(config_for("pagerduty", receiver.url, source="upcast-eu-1"))

    await channel.send(notification(TEST))

    event = receiver.last.json()
    assert event["event_action"] == "trigger"
    assert event["payload"]["summary"] == "Test: shop.example is down"
    assert event["payload"]["source"] == "upcast-eu-1"
    assert event["payload"]["custom_details"]["test"] is True


@pytest.mark.parametrize(
    ("severity", "pagerduty", "opsgenie"),
    [
        ("critical", "critical", "P1"),
        ("high", "error", "P2"),
        ("error", "error", "P2"),
        ("Warning", "warning", "P3"),
        ("low", "info", "P4"),
        ("info", "info", "P5"),
        ("unheard-of", "critical", "P1"),
    ],
)
async def test_severity_maps_onto_each_services_levels(
    receiver: Receiver, build: Build, severity: str, pagerduty: str, opsgenie: str
) -> None:
    await build(config_for("pagerduty", receiver.url)).send(
        notification(severity=severity)
    )
    await build(config_for("opsgenie", receiver.url)).send(
        notification(severity=severity)
    )

    first, second = receiver.requests
    assert first.json()["payload"]["severity"] == pagerduty
    assert second.json()["priority"] == opsgenie


async def test_pagerduty_says_why_it_refused_an_event(
    receiver: Receiver, build: Build
) -> None:
    receiver.answer(
        400,
        '{"status": "invalid event", "message": "Event object is invalid",'
        ' "errors": ["Length of \'dedup_key\' is too long"]}',
    )
    channel = build(config_for("pagerduty", receiver.url))

    delivery = await channel.send(notification())

    assert not delivery.retryable
    assert delivery.detail == (
        "status 400: Event object is invalid: Length of 'dedup_key' is too long"
    )


async def test_opsgenie_creates_an_alert_aliased_by_its_incident(
    receiver: Receiver, build: Build
) -> None:
    receiver.answer(202, '{"result": "Request will be processed", "requestId": "r1"}')
    channel = build(config_for("opsgenie", receiver.url))

    delivery = await channel.send(notification())

    assert delivery.ok
    seen = receiver.last
    assert seen.headers["Authorization"] == f"GenieKey {OPSGENIE_KEY}"
    alert = seen.json()
    assert alert["message"] == "shop.example is down"
    assert alert["alias"] == INCIDENT
    assert alert["description"] == "GET https://shop.example/ answered 503"
    assert alert["priority"] == "P1"
    assert alert["tags"] == ["upcast"]
    assert alert["details"]["url"] == "https://upcast.example/monitors/web-7"


async def test_opsgenie_closes_the_alert_by_its_alias(
    receiver: Receiver, build: Build
) -> None:
    channel = build(config_for("opsgenie", receiver.url))

    await channel.send(notification(RESOLVED, incident="db/primary 2"))

    seen = receiver.last
    assert seen.path == "/v2/alerts/db%2Fprimary%202/close?identifierType=alias"
    assert seen.headers["Authorization"] == f"GenieKey {OPSGENIE_KEY}"
    assert seen.json()["source"] == "Upcast"


async def test_opsgenie_tags_a_test_alert_and_says_so(
    receiver: Receiver, build: Build
) -> None:
    channel = build(config_for("opsgenie", receiver.url))

    await channel.send(notification(TEST))

    alert = receiver.last.json()
    assert alert["message"] == "Test: shop.example is down"
    assert alert["tags"] == ["upcast", "test"]


@pytest.mark.parametrize("kind", [kind for kind in KINDS if kind != "webhook"])
async def test_a_test_notification_says_it_is_a_test(
    receiver: Receiver, build: Build, kind: str
) -> None:
    channel = build(config_for(kind, receiver.url))

    await channel.send(notification(TEST))

    assert "Test: shop.example is down" in receiver.last.body.decode()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("status", [200, 202, 204])
async def test_a_2xx_answer_is_a_delivery(
    receiver: Receiver, build: Build, kind: str, status: int
) -> None:
    receiver.answer(status, '{"ok": true}')
    channel = build(config_for(kind, receiver.url))

    delivery = await channel.send(notification())

    expected = "" if status == 204 else '{"ok": true}'
    assert delivery == Delivery.sent(status, expected)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("status", [500, 503, 429])
async def test_a_5xx_or_429_answer_is_worth_retrying(
    receiver: Receiver, build: Build, kind: str, status: int
) -> None:
    receiver.answer(status, "upstream is having a moment\nplease come back")
    channel = build(config_for(kind, receiver.url))

    delivery = await channel.send(notification())

    assert delivery == Delivery.failed(
        f"status {status}",
        retryable=True,
        status=status,
        response="upstream is having a moment\nplease come back",
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("status", [400, 401, 404])
async def test_another_4xx_answer_is_not_worth_retrying(
    receiver: Receiver, build: Build, kind: str, status: int
) -> None:
    receiver.answer(status, '{"message": "no such hook"}')
    channel = build(config_for(kind, receiver.url))

    delivery = await channel.send(notification())

    assert not delivery.ok
    assert not delivery.retryable
    assert delivery.status == status
    assert delivery.detail.startswith(f"status {status}")
    assert delivery.response == '{"message": "no such hook"}'


@pytest.mark.parametrize(
    ("kind", "answer", "detail"),
    [
        ("slack", "invalid_token", "status 403: invalid_token"),
        ("discord", '{"message": "Unknown Webhook"}', "status 403: Unknown Webhook"),
        ("teams", '{"error": {"message": "Flow is off"}}', "status 403: Flow is off"),
        ("opsgenie", '{"message": "Key is not valid"}', "status 403: Key is not valid"),
        ("webhook", "invalid_token", "status 403"),
    ],
)
async def test_a_refusal_quotes_the_services_reason(
    receiver: Receiver, build: Build, kind: str, answer: str, detail: str
) -> None:
    receiver.answer(403, answer)
    channel = build(config_for(kind, receiver.url))

    delivery = await channel.send(notification())

    assert delivery.detail == detail


@pytest.mark.parametrize("kind", KINDS)
async def test_a_refused_connection_is_worth_retrying(build: Build, kind: str) -> None:
    channel = build(config_for(kind, f"http://127.0.0.1:{refused_port()}"))

    delivery = await channel.send(notification())

    assert delivery == Delivery.failed("connect: connection refused", retryable=True)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_receiver_slower_than_the_timeout_is_worth_retrying(
    receiver: Receiver, build: Build, kind: str
) -> None:
    receiver.answer(200, delay=2.0)
    channel = build(config_for(kind, receiver.url, timeout=0.05))

    delivery = await channel.send(notification())

    assert delivery == Delivery.failed("timeout after 50ms", retryable=True)


async def test_the_timeout_is_ten_seconds_unless_configured(
    receiver: Receiver,
) -> None:
    default = WebhookChannel.from_config(config_for("webhook", receiver.url))
    given = WebhookChannel.from_config(
        config_for("webhook", receiver.url, timeout="3s")
    )

    assert default.timeout == 10.0
    assert given.timeout == 3.0


async def test_a_redirect_is_not_followed(receiver: Receiver, build: Build) -> None:
    receiver.answer(302, "")
    channel = build(config_for("slack", receiver.url))

    delivery = await channel.send(notification())

    assert not delivery.ok
    assert not delivery.retryable
    assert delivery.detail == "status 302: redirects are not followed"
    assert len(receiver.requests) == 1


async def test_a_delivery_keeps_only_the_start_of_a_long_answer(
    receiver: Receiver, build: Build
) -> None:
    receiver.answer(500, "\u00e9" * 300 + "x" * 100_000)
    channel = build(config_for("webhook", receiver.url))

    delivery = await channel.send(notification())

    assert delivery.response == "\u00e9" * 300 + "x" * 200


async def test_a_channel_sends_again_after_it_was_closed(
    receiver: Receiver, build: Build
) -> None:
    channel = build(config_for("discord", receiver.url))

    first = await channel.send(notification())
    await channel.close()
    await channel.close()
    second = await channel.send(notification())

    assert first.ok
    assert second.ok
    assert len(receiver.requests) == 2


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("status", [200, 400, 500])
async def test_secrets_never_appear_in_the_channel_its_delivery_or_the_log(
    receiver: Receiver,
    build: Build,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    status: int,
) -> None:
    receiver.answer(status)
    receiver.echo = True
    channel = build(config_for(kind, receiver.url))

    with caplog.at_level(logging.DEBUG, logger="notify"):
        delivery = await channel.send(notification())

    assert receiver.requests, "the receiver should have been reached"
    assert caplog.records, "the delivery should have been logged"
    shown = [repr(channel), str(channel), delivery.detail, delivery.response]
    shown += [record.getMessage() for record in caplog.records]
    for secret in SECRETS[kind]:
        assert not [text for text in shown if secret in text]


async def test_webhook_header_values_stay_out_of_the_delivery(
    receiver: Receiver, build: Build
) -> None:
    receiver.answer(401)
    receiver.echo = True
    headers = {"Authorization": "Bearer rcv-token-123"}
    channel = build(config_for("webhook", receiver.url, headers=headers))

    delivery = await channel.send(notification())

    assert "rcv-token-123" not in delivery.response
    assert "[redacted]" in delivery.response
    assert "rcv-token-123" not in repr(channel)


@pytest.mark.parametrize(
    ("config", "problems"),
    [
        ({"kind": "webhook"}, ["url: is required"]),
        (
            {"kind": "webhook", "url": "ftp://x"},
            ["url: must be an http or https URL, got 'ftp://x'"],
        ),
        (
            {
                "kind": "webhook",
                "url": "https://hooks.example/in",
                "headers": {
                    "Content-Length": "10",
                    "host": "elsewhere",
                    "X-Upcast-Signature": "forged",
                    "Bad Name": "x",
                    "X-Count": 5,
                    "X-Split": "a\r\nb",
                },
                "secret": "",
                "payload": "custom",
                "timeout": -1,
                "retries": 3,
            },
            [
                "retries: unknown field",
                "headers.Content-Length: is set by the channel and cannot be given",
                "headers.host: is set by the channel and cannot be given",
                "headers.X-Upcast-Signature: is set by the channel and cannot be given",
                "headers.Bad Name: is not a valid header name",
                "headers.X-Count: must be text, got a value of type int",
                "headers.X-Split: must not contain line breaks",
                "secret: must be non-empty text, got a value of type str",
                "payload: must be one of default, got 'custom'",
                "timeout: must be above 0s, got -1",
            ],
        ),
        (
            {"kind": "webhook", "url": "http://hooks.example", "headers": ["X-A"]},
            ["headers: must be a mapping of text to text, got a value of type list"],
        ),
        (
            {"kind": "slack", "url": 42, "timeout": "soon"},
            [
                "url: must be an http or https URL, got a value of type int",
                "timeout: must be a duration such as 30s or 5m, got 'soon'",
            ],
        ),
        ({"kind": "discord", "url": None}, ["url: is required"]),
        (
            {"kind": "teams", "url": "https://x.example/hook", "timeout": 120},
            ["timeout: must be at most 1m, got 2m"],
        ),
        (
            {"kind": "telegram"},
            ["bot_token: is required", "chat_id: is required"],
        ),
        (
            {
                "kind": "telegram",
                "bot_token": "nope",
                "chat_id": "my chat",
                "api_url": "api.telegram.org",
            },
            [
                "bot_token: must be a bot token from BotFather, such as "
                "123456:ABC-DEF..., got a value of type str",
                "chat_id: must be a chat's number or a channel's @username, "
                "got 'my chat'",
                "api_url: must be an http or https URL, got 'api.telegram.org'",
            ],
        ),
        (
            {
                "kind": "pagerduty",
                "routing_key": "short",
                "api_url": "https://events.pagerduty.com/?region=eu",
                "source": 3,
            },
            [
                "routing_key: must be the integration key of an Events API v2 "
                "integration, got a value of type str",
                "api_url: must be an http or https URL without a query or "
                "fragment, got 'https://events.pagerduty.com/?region=eu'",
                "source: must be non-empty text, got 3",
            ],
        ),
        (
            {"kind": "opsgenie", "api_key": "key with spaces", "region": "eu"},
            [
                "region: unknown field",
                "api_key: must be the key of an Opsgenie API integration, "
                "got a value of type str",
            ],
        ),
        ({"kind": "pager"}, None),
    ],
    ids=[
        "webhook without url",
        "webhook with ftp url",
        "webhook with every field wrong",
        "webhook headers not a mapping",
        "slack url not text",
        "discord url null",
        "teams timeout too long",
        "telegram without anything",
        "telegram with everything wrong",
        "pagerduty with everything wrong",
        "opsgenie with a bad key and an unknown field",
        "unknown kind",
    ],
)
def test_every_bad_field_is_reported_at_once(
    config: Mapping[str, Any], problems: list[str] | None
) -> None:
    with pytest.raises(ValidationError) as caught:
        channel_from_config(config)

    if problems is None:
        (error,) = caught.value.errors
        assert error.field == "kind"
        assert error.problem.startswith("must be one of ")
        assert "webhook" in error.problem
    else:
        assert [str(error) for error in caught.value.errors] == problems


@pytest.mark.parametrize(
    ("config", "secret"),
    [
        ({"kind": "slack", "url": "hooks.slack.com/services/T/B/leaky1"}, "leaky1"),
        ({"kind": "telegram", "bot_token": "12:leaky2", "chat_id": 1}, "leaky2"),
        ({"kind": "pagerduty", "routing_key": "has spaces leaky3"}, "leaky3"),
        ({"kind": "opsgenie", "api_key": "leaky4!"}, "leaky4"),
        ({"kind": "webhook", "url": "http://h.example", "secret": 7}, "7"),
    ],
)
def test_a_bad_secret_is_never_quoted_back(
    config: Mapping[str, Any], secret: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        channel_from_config(config)

    assert secret not in str(caught.value)


def test_a_channel_refuses_a_configuration_of_another_kind() -> None:
    with pytest.raises(ValidationError) as caught:
        PagerDutyChannel.from_config({"kind": "opsgenie", "routing_key": ROUTING_KEY})

    assert str(caught.value) == "kind: must be 'pagerduty', got 'opsgenie'"


@pytest.mark.parametrize(
    ("kind", "secret_fields"),
    [
        ("webhook", ("secret", "headers")),
        ("slack", ("url",)),
        ("discord", ("url",)),
        ("teams", ("url",)),
        ("telegram", ("bot_token",)),
        ("pagerduty", ("routing_key",)),
        ("opsgenie", ("api_key",)),
    ],
)
async def test_each_channel_names_its_secret_fields(
    build: Build, kind: str, secret_fields: tuple[str, ...]
) -> None:
    channel = build(config_for(kind, "http://127.0.0.1:9"))

    assert channel.secret_fields == secret_fields


@pytest.mark.parametrize("kind", sorted(FIRING_PATHS))
def test_every_channel_takes_its_language_and_templates(kind: str) -> None:
    config = config_for(
        kind,
        "http://127.0.0.1:1",
        language="tr",
        title="{{ monitor.name }} {{ state }}",
        text="{{ reason }}",
    )

    channel = channel_from_config(config)

    assert channel.templates.language == "tr"
    assert channel.templates.title == "{{ monitor.name }} {{ state }}"
    assert channel.templates.text == "{{ reason }}"


@pytest.mark.parametrize("kind", sorted(FIRING_PATHS))
def test_a_bad_template_or_language_is_named_like_any_field(kind: str) -> None:
    config = config_for(
        kind, "http://127.0.0.1:1", language="fr", text="{% for x in %}"
    )

    with pytest.raises(ValidationError) as caught:
        channel_from_config(config)

    assert {error.field for error in caught.value.errors} == {"language", "text"}


@pytest.fixture
async def forward_proxy() -> AsyncIterator[list[str]]:
    """A plain HTTP forward proxy on 127.0.0.1 that lists the URLs it carried."""
    carried: list[str] = []
    app = web.Application()

    async def forward(request: web.Request) -> web.Response:
        carried.append(str(request.url))
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method, str(request.url), data=body, headers=headers
            ) as answer,
        ):
            return web.Response(status=answer.status, body=await answer.read())

    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    proxy_port = runner.addresses[0][1]
    with pytest.MonkeyPatch.context() as patch:
        for name in ("NO_PROXY", "no_proxy", "http_proxy"):
            patch.delenv(name, raising=False)
        patch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy_port}")
        try:
            yield carried
        finally:
            await runner.cleanup()


async def test_http_channels_go_through_the_proxy_the_environment_names(
    receiver: Receiver, build: Build, forward_proxy: list[str]
) -> None:
    channel = build({"kind": "webhook", "url": f"{receiver.url}/hook"})

    delivery = await channel.send(notification())

    assert delivery.ok
    assert forward_proxy == [f"{receiver.url}/hook"]
    assert receiver.last.path == "/hook"
