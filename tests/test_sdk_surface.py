"""The SDK covers the whole API, with the same methods on both clients.

The gateway's OpenAPI document lists every operation it serves; each must
have its method here, so a route added without one fails these tests.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import pytest

from sdk import AsyncClient, Client

OPERATIONS: dict[str, str] = {
    # monitors
    "create_monitor": "create_monitor",
    "list_monitors": "list_monitors",
    "get_monitor": "get_monitor",
    "update_monitor": "update_monitor",
    "replace_monitor": "replace_monitor",
    "delete_monitor": "delete_monitor",
    "pause_monitor": "pause",
    "resume_monitor": "resume",
    "bulk": "bulk",
    "apply": "apply",
    "export_monitors": "export_monitors",
    "results": "results",
    "status": "status",
    "events": "events",
    "overview": "overview",
    # reports and the engine
    "uptime_report": "uptime_report",
    "summary_report": "summary",
    "engine": "engine",
    "add_shard": "add_shard",
    "remove_shard": "remove_shard",
    # alerting
    "list_incidents": "incidents",
    "get_incident": "incident",
    "acknowledge": "acknowledge",
    "resolve": "resolve_incident",
    "add_note": "add_note",
    "send_test": "send_test",
    "deliveries": "deliveries",
    "outbox": "outbox",
    "requeue": "requeue",
    "public_status_page": "public_status_page",
    **{
        f"{collection}_{verb}": method
        for collection in (
            "channels",
            "routes",
            "escalation_policies",
            "maintenance",
            "slos",
            "status_pages",
        )
        for verb, method in (
            ("listing", "settings"),
            ("create", "create_setting"),
            ("read", "get_setting"),
            ("replace", "put_setting"),
            ("delete", "delete_setting"),
        )
    },
    # analytics
    "analysis": "analysis",
    "baselines": "baselines",
    "failing_together": "failing_together",
    "slo_status": "slo_status",
    # accounts
    "login": "login",
    "refresh": "refresh",
    "logout": "logout",
    "me": "me",
    "own_preferences": "preferences",
    "replace_own_preferences": "put_preferences",
    "change_password": "change_password",
    "own_sessions": "sessions",
    "revoke_own_session": "revoke_session",
    "list_users": "users",
    "create_user": "create_user",
    "get_user": "get_user",
    "update_user": "update_user",
    "delete_user": "delete_user",
    "user_sessions": "user_sessions",
    "revoke_user_sessions": "revoke_user_sessions",
    "list_keys": "keys",
    "create_key": "create_key",
    "revoke_key": "revoke_key",
    "activity": "activity",
    # who is watching live updates
    "presence": "presence",
    # the gateway's description of itself
    "document": "openapi",
    "page": "docs",
    "style": "docs_style",
}
"""Every operationId of the OpenAPI document, and the SDK method for it."""


@pytest.fixture
def document(gateway_url: str, api_key: str) -> dict[str, Any]:
    with Client(gateway_url, api_key=api_key) as upcast:
        return upcast.openapi()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for methods in document["paths"].values():
        for entry in methods.values():
            yield entry["operationId"], entry


def public_methods(cls: type) -> dict[str, Any]:
    return {
        name: member
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


def test_every_operation_of_the_openapi_document_has_a_method(
    document: dict[str, Any],
) -> None:
    served = {operation_id for operation_id, _ in operations(document)}

    missing = sorted(served - OPERATIONS.keys())
    gone = sorted(OPERATIONS.keys() - served)

    assert missing == [], "operations without an SDK method"
    assert gone == [], "SDK methods for operations the gateway no longer serves"


@pytest.mark.parametrize("client", [AsyncClient, Client])
@pytest.mark.parametrize("method", sorted(set(OPERATIONS.values())))
def test_each_client_has_the_method_of_an_operation(client: type, method: str) -> None:
    assert method in public_methods(client)


def test_every_paged_operation_can_be_read_page_by_page(
    document: dict[str, Any],
) -> None:
    paged = [
        OPERATIONS[operation_id]
        for operation_id, entry in operations(document)
        if any(param["name"] == "cursor" for param in entry["parameters"])
    ]

    iterators = {f"iter_{method.removeprefix('list_')}" for method in paged}

    assert len(iterators) >= 10
    assert iterators <= public_methods(AsyncClient).keys()
    assert iterators <= public_methods(Client).keys()


def test_both_clients_have_the_same_methods_with_the_same_parameters() -> None:
    asynchronous, blocking = public_methods(AsyncClient), public_methods(Client)

    assert asynchronous.keys() == blocking.keys()
    for name, method in asynchronous.items():
        assert (
            inspect.signature(method).parameters
            == inspect.signature(blocking[name]).parameters
        ), name


def test_the_async_client_awaits_calls_and_iterates_lists_asynchronously() -> None:
    methods = public_methods(AsyncClient)

    iterators = {name for name in methods if name.startswith("iter_")}
    plain = {"subscribe"} | iterators
    awaited = {name for name in methods if inspect.iscoroutinefunction(methods[name])}

    assert awaited == methods.keys() - plain
    for name in iterators:
        assert "AsyncIterator" in str(
            inspect.signature(methods[name]).return_annotation
        )
