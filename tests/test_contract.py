"""The API keeps to its OpenAPI document, and the document covers the API.

1. Every route of the gateway under ``/api/v1`` is in the document served
   at ``/api/v1/openapi.json``, with each of its methods, and nothing else
   is.
2. Schemathesis generates requests from that document and sends them to
   the running gateway: every operation that cannot create monitors or
   reach outside this machine (reads, accounts, incidents by made-up ids)
   must answer without a server error, with a documented status, and with
   a body that matches the documented schema. A request the schema allows
   may still be refused with 400 or 422: some rules join two parameters
   (``since`` before ``until``) or read a value's meaning (a duration),
   which a JSON schema cannot say, so that one check is left out.
3. The operations left out of (2), because what they create would run
   checks against made-up targets, answer as documented to real requests.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from sanic import Sanic
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.broken_platform import BrokenPlatform
from tests.conftest import GATEWAY_NAME
from tests.gateway_monitors import WAIT, definition, new_id
from web.accounts import Accounts
from web.app import create_app
from web.openapi import openapi_document, openapi_path

SAFE_WRITES = (
    r"^/api/v1/(auth|users|keys)",
    r"^/api/v1/incidents/\{incident_id\}/",
    r"^/api/v1/outbox/",
    r"^/api/v1/monitors/\{monitor_id\}/(pause|resume)$",
)
"""Writes schemathesis may send with made-up data: none can start checks."""


@pytest.fixture(scope="module")
def document(gateway_url: str, api_key: str) -> dict[str, Any]:
    answer = httpx.get(f"{gateway_url}/api/v1/openapi.json", timeout=WAIT)
    assert answer.status_code == 200
    found: dict[str, Any] = answer.json()
    return found


@pytest.fixture(scope="module")
def gateway_url(_gateway: Any) -> str:
    url: str = _gateway.url
    return url


@pytest.fixture(scope="module")
def api_key(_gateway: Any) -> str:
    key: str = _gateway.api_key
    return key


def safe(method: str, path: str) -> bool:
    return method.upper() == "GET" or any(re.search(p, path) for p in SAFE_WRITES)


def checked_operations() -> list[str]:
    """The labels (``GET /api/v1/monitors``) of the operations generated for.

    Read from a gateway made here, without serving, on a stand-in platform:
    the routes and their documentation are the code's, whatever serves them.
    """
    app = create_app(BrokenPlatform(), name="upcast-contract", accounts=Accounts(None))  # type: ignore[arg-type]
    try:
        made = openapi_document(app)
    finally:
        Sanic.unregister_app(app)
    return sorted(
        f"{method.upper()} {path}"
        for path, methods in made["paths"].items()
        for method in methods
        if safe(method, path)
    )


@pytest.fixture(scope="module")
def contract(document: dict[str, Any]) -> Any:
    return schemathesis.openapi.from_dict(document)


def test_every_route_is_documented_and_every_documented_route_exists(
    document: dict[str, Any],
) -> None:
    app = Sanic.get_app(GATEWAY_NAME)
    served = {
        (openapi_path("/" + route.path), method.lower())
        for route in app.router.routes
        if route.path.startswith("api/v1/")
        for method in route.methods
        if method not in ("HEAD", "OPTIONS")
    }
    documented = {
        (path, method)
        for path, methods in document["paths"].items()
        for method in methods
    }

    assert served == documented
    ids = [e["operationId"] for m in document["paths"].values() for e in m.values()]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("label", checked_operations())
def test_the_gateway_answers_as_its_document_says(
    label: str, contract: Any, gateway_url: str, api_key: str
) -> None:
    operation = contract.find_operation_by_label(label)
    assert operation is not None, f"{label} is not in the served document"

    @settings(
        max_examples=4,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    @given(case=operation.as_strategy())
    def answers_as_documented(case: Any) -> None:
        case.call_and_validate(
            base_url=gateway_url,
            headers={"Authorization": f"Bearer {api_key}"},
            excluded_checks=[positive_data_acceptance],
        )

    answers_as_documented()


@pytest.fixture
async def http(gateway_url: str, api_key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=gateway_url,
        timeout=WAIT,
        headers={"Authorization": f"Bearer {api_key}"},
    ) as client:
        yield client


def conforms(
    document: dict[str, Any], method: str, path: str, answer: httpx.Response
) -> None:
    """Fail unless ``answer`` has a documented status and a body of its schema."""
    operation = document["paths"][path][method]
    documented = operation["responses"].get(str(answer.status_code))
    assert documented is not None, f"{method} {path} answered {answer.status_code}"
    content = documented.get("content")
    if content is None:
        assert not answer.content
        return
    schema = {
        **content["application/json"]["schema"],
        "components": document["components"],
    }
    jsonschema.validate(answer.json(), schema, cls=jsonschema.Draft202012Validator)


@pytest.fixture
def cleanup(gateway_url: str, api_key: str) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    headers = {"Authorization": f"Bearer {api_key}"}
    for monitor_id in made:
        httpx.delete(
            f"{gateway_url}/api/v1/monitors/{monitor_id}", headers=headers, timeout=WAIT
        )


async def test_monitor_writes_answer_as_documented(
    http: httpx.AsyncClient,
    document: dict[str, Any],
    gateway_url: str,
    cleanup: list[str],
) -> None:
    first, second = new_id("contract"), new_id("contract")
    cleanup.extend([first, second])
    body = definition(gateway_url, first)

    answers = [
        ("post", "/api/v1/monitors", await http.post("/api/v1/monitors", json=body)),
        (
            "put",
            "/api/v1/monitors/{monitor_id}",
            await http.put(f"/api/v1/monitors/{first}", json={**body, "retries": 1}),
        ),
        (
            "patch",
            "/api/v1/monitors/{monitor_id}",
            await http.patch(f"/api/v1/monitors/{first}", json={"interval": 0}),
        ),
        (
            "post",
            "/api/v1/apply",
            await http.post(
                "/api/v1/apply", json={"monitors": [definition(gateway_url, second)]}
            ),
        ),
        (
            "post",
            "/api/v1/monitors/bulk",
            await http.post(
                "/api/v1/monitors/bulk",
                json={"operation": "pause", "items": [first, second, "missing-one"]},
            ),
        ),
        (
            "delete",
            "/api/v1/monitors/{monitor_id}",
            await http.delete(f"/api/v1/monitors/{first}"),
        ),
    ]

    assert [answer.status_code for _, _, answer in answers] == [
        201,
        200,
        422,
        200,
        200,
        204,
    ]
    for method, path, answer in answers:
        conforms(document, method, path, answer)


async def test_setting_writes_answer_as_documented(
    http: httpx.AsyncClient, document: dict[str, Any]
) -> None:
    channel = new_id("contract")
    body = {"id": channel, "kind": "webhook", "url": "http://127.0.0.1:9/hook"}

    answers = [
        ("post", "/api/v1/channels", await http.post("/api/v1/channels", json=body)),
        (
            "post",
            "/api/v1/channels",
            await http.post("/api/v1/channels", json=body),
        ),
        (
            "put",
            "/api/v1/channels/{setting_id}",
            await http.put(f"/api/v1/channels/{channel}", json=body),
        ),
        (
            "put",
            "/api/v1/routes/{setting_id}",
            await http.put(
                f"/api/v1/routes/{channel}", json={"id": channel, "channels": ["x"]}
            ),
        ),
        (
            "delete",
            "/api/v1/channels/{setting_id}",
            await http.delete(f"/api/v1/channels/{channel}"),
        ),
    ]

    assert [answer.status_code for _, _, answer in answers] == [201, 409, 200, 422, 204]
    for method, path, answer in answers:
        conforms(document, method, path, answer)


async def test_the_reference_page_lists_every_operation(
    http: httpx.AsyncClient, document: dict[str, Any]
) -> None:
    page = await http.get("/api/v1/docs", headers={"Authorization": ""})
    style = await http.get("/api/v1/docs/style.css")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for methods in document["paths"].values():
        for entry in methods.values():
            assert f"id='{entry['operationId']}'" in page.text
    assert style.status_code == 200
    assert json.dumps(document)
