"""Every error status the gateway answers with becomes its own SDK error.

Each error keeps the gateway's message, its status, the fields it named
and whether trying again can help.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sdk import (
    BadRequest,
    Client,
    Conflict,
    Forbidden,
    InvalidMonitor,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    UpcastError,
    ValidationFailed,
)
from sdk.errors import error_for
from tests.gateway_monitors import WAIT, definition, new_id


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (400, BadRequest, False),
        (401, Unauthorized, False),
        (403, Forbidden, False),
        (404, NotFound, False),
        (409, Conflict, False),
        (422, ValidationFailed, False),
        (429, RateLimited, True),
        (500, ServerError, True),
        (503, ServerError, True),
        (418, UpcastError, False),
    ],
)
def test_each_error_status_has_its_class(
    status: int, kind: type[UpcastError], retryable: bool
) -> None:
    error = error_for(status, "refused", [("name", "is taken")], retry_after=3)

    assert type(error) is kind
    assert (error.status, error.message) == (status, "refused")
    assert error.fields == [("name", "is taken")]
    assert error.retryable is retryable


def test_a_refused_definition_is_an_invalid_monitor_and_a_validation_failure() -> None:
    error = error_for(422, "bad", [("interval", "too short")], invalid=InvalidMonitor)

    assert isinstance(error, InvalidMonitor)
    assert isinstance(error, ValidationFailed)
    assert error.fields == [("interval", "too short")]


def test_a_rate_limit_says_how_long_to_wait() -> None:
    error = error_for(429, "slow down", retry_after=2.0)

    assert isinstance(error, RateLimited)
    assert error.retry_after == 2.0
    assert error.fields == []


@pytest.fixture
def owner(gateway_url: str, api_key: str) -> Iterator[Client]:
    with Client(gateway_url, api_key=api_key, timeout=WAIT) as opened:
        yield opened


@pytest.fixture
def reader(owner: Client, gateway_url: str) -> Iterator[Client]:
    """A client with a key of the owner's that may only read monitors."""
    made = owner.create_key(new_id("reader"), ["monitors:read"], expires_in_days=1)
    with Client(gateway_url, api_key=made["key"], timeout=WAIT) as opened:
        yield opened
    owner.revoke_key(made["id"])


@pytest.fixture
def stranger(gateway_url: str) -> Iterator[Client]:
    with Client(gateway_url, api_key="upk_not-a-key-anyone-has", timeout=WAIT) as c:
        yield c


Refusal = Callable[[Client, Client, Client, str], Any]
"""Something an owner, a reader or a stranger asks that the gateway refuses."""


def create_twice(owner: Client, gateway_url: str) -> None:
    body = definition(gateway_url, new_id("twice"), interval=3600)
    owner.create_monitor(body)
    try:
        owner.create_monitor(body)
    finally:
        owner.delete_monitor(body["id"])


CASES: list[Any] = [
    pytest.param(
        lambda owner, reader, stranger, url: owner.list_monitors(state="sideways"),
        BadRequest,
        400,
        "state",
        id="a bad query parameter is a bad request naming it",
    ),
    pytest.param(
        lambda owner, reader, stranger, url: stranger.status(),
        Unauthorized,
        401,
        None,
        id="an unknown key is unauthorized",
    ),
    pytest.param(
        lambda owner, reader, stranger, url: reader.create_monitor(
            definition(url, new_id("forbidden"))
        ),
        Forbidden,
        403,
        None,
        id="a key without the scope is forbidden",
    ),
    pytest.param(
        lambda owner, reader, stranger, url: owner.incident("no-such-incident"),
        NotFound,
        404,
        None,
        id="a missing incident is not found",
    ),
    pytest.param(
        lambda owner, reader, stranger, url: create_twice(owner, url),
        Conflict,
        409,
        None,
        id="an id taken twice is a conflict",
    ),
    pytest.param(
        lambda owner, reader, stranger, url: owner.requeue(2**40),
        Conflict,
        409,
        None,
        id="requeuing what is not a dead letter is a conflict",
    ),
    pytest.param(
        lambda owner, reader, stranger, url: owner.update_monitor(
            new_id("nowhere"), {"retries": 1}
        ),
        NotFound,
        404,
        None,
        id="changing a missing monitor is not found",
    ),
    pytest.param(
        lambda owner, reader, stranger, url: owner.create_monitor(
            definition(url, new_id("invalid"), timeout=-1)
        ),
        InvalidMonitor,
        422,
        "timeout",
        id="a bad definition is an invalid monitor naming the field",
    ),
    pytest.param(
        lambda owner, reader, stranger, url: owner.put_setting(
            "routes", {"id": new_id("route"), "channels": "not a list"}
        ),
        ValidationFailed,
        422,
        "channels",
        id="a bad setting fails validation naming the field",
    ),
    pytest.param(
        lambda owner, reader, stranger, url: owner.create_key("bad", ["no-such-scope"]),
        ValidationFailed,
        422,
        None,
        id="a key with an unknown scope fails validation",
    ),
    pytest.param(
        lambda owner, reader, stranger, url: owner.remove_shard("shard-404"),
        NotFound,
        404,
        None,
        id="removing a missing shard is not found",
    ),
    pytest.param(
        lambda owner, reader, stranger, url: reader.add_shard(),
        Forbidden,
        403,
        None,
        id="adding a shard without admin is forbidden",
    ),
]


@pytest.mark.parametrize(("refusal", "kind", "status", "field"), CASES)
def test_the_gateway_refusal_becomes_its_typed_error(
    owner: Client,
    reader: Client,
    stranger: Client,
    gateway_url: str,
    refusal: Refusal,
    kind: type[UpcastError],
    status: int,
    field: str | None,
) -> None:
    with pytest.raises(kind) as caught:
        refusal(owner, reader, stranger, gateway_url)

    assert type(caught.value) is kind
    assert caught.value.status == status
    assert caught.value.message
    assert not caught.value.retryable
    if field is not None:
        assert field in [name for name, _ in caught.value.fields]
