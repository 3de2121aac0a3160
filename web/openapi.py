"""The API's OpenAPI 3.1 document, made from the routes themselves.

Each handler under ``/api/v1`` carries what the document needs: its scope
(``web.access.requires``) and an ``Operation`` (``documented``): a summary,
its query parameters, its request body and its answers, as pydantic models
or JSON schemas. ``openapi_document`` walks the app's routes and builds the
document from them, so a route cannot exist without being documented (a
test holds every route to it) and the document cannot describe a route
that is gone.

Answers are described as they are: every error has the one shape of
``web.errors`` and is listed for the statuses the route can answer with;
lists are pages with a ``next_cursor``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

import pydantic
from sanic import Sanic

from web.access import PUBLIC, SCOPES, SIGNED_IN, declared_scope

Handler = TypeVar("Handler", bound=Callable[..., Any])

OPERATION_ATTRIBUTE: Final = "__upcast_operation__"
API_PREFIX: Final = "/api/v1"
VERSION: Final = "1"

Schema = dict[str, Any]
Described = type[pydantic.BaseModel] | Schema
"""A body or an answer: a pydantic model, or a JSON schema written out."""


@dataclass(frozen=True, slots=True)
class Param:
    """A query parameter."""

    name: str
    schema: Schema
    description: str
    required: bool = False


@dataclass(frozen=True, slots=True)
class Operation:
    """What the document says of one route.

    ``answers`` maps each success status to what it answers with (None for
    no body); ``errors`` lists the error statuses beyond those every
    route has (400, 401, 403, 429, 500).
    """

    summary: str
    tag: str
    answers: Mapping[int, Described | None]
    params: Sequence[Param] = ()
    body: Described | None = None
    body_required: bool = True
    errors: Sequence[int] = ()
    description: str = ""
    deprecated_on: str | None = None
    """A date (``2027-06-30``) from when the route is deprecated."""
    sunset_on: str | None = None
    """A date after which the route may be gone."""
    headers: Mapping[int, Mapping[str, str]] = field(default_factory=dict)
    """Response headers by status: name to description."""
    media_type: str = "application/json"
    """What the success answers are: JSON, or a page or style sheet."""
    other_media_types: Sequence[str] = ()
    """Other media types the success answers may come as, with the same schema
    (an export as YAML or as JSON)."""
    body_alternatives: Mapping[str, Described] = field(default_factory=dict)
    """Media types the body may also be sent as, beside JSON, with the schema
    of each."""


def documented(operation: Operation) -> Callable[[Handler], Handler]:
    """Attach ``operation`` to a route's handler."""

    def attach(handler: Handler) -> Handler:
        setattr(handler, OPERATION_ATTRIBUTE, operation)
        return handler

    return attach


def operation_of(handler: object) -> Operation | None:
    found = getattr(handler, OPERATION_ATTRIBUTE, None)
    return found if isinstance(found, Operation) else None


# Parameters many routes share.

LIMIT: Final = Param(
    "limit",
    {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
    "how many items a page holds",
)
CURSOR: Final = Param(
    "cursor",
    {"type": "string", "maxLength": 500},
    "where the page starts: the next_cursor of the page before",
)
MOMENT: Final = {
    "oneOf": [{"type": "number"}, {"type": "string", "format": "date-time"}]
}
SINCE: Final = Param("since", MOMENT, "from this moment (unix seconds or ISO 8601)")
UNTIL: Final = Param("until", MOMENT, "up to this moment (unix seconds or ISO 8601)")


def sort_param(fields: Sequence[str], default: str) -> Param:
    """``sort``: one of ``fields``, descending with a leading ``-``."""
    choices = [*fields, *(f"-{name}" for name in fields)]
    return Param(
        "sort",
        {"type": "string", "enum": choices, "default": default},
        "the order of the items; a leading - reverses it",
    )


# Shapes many answers share.


class ErrorField(pydantic.BaseModel):
    field: str
    problem: str


class ErrorDetail(pydantic.BaseModel):
    status: int
    message: str
    fields: list[ErrorField]


class ErrorBody(pydantic.BaseModel):
    """Every error: what went wrong, and each bad field with its problem."""

    error: ErrorDetail


COMMON_ERRORS: Final = (400, 401, 403, 429, 500)

_ERROR_TEXT: Final = {
    400: "the request is malformed; the message names the parameter",
    401: "no credentials, or credentials wrong, expired or revoked",
    403: "the caller lacks the scope or role this needs",
    404: "nothing is there",
    409: "the request clashes with what is stored",
    422: "a field is not valid; every problem is listed",
    429: "too many requests; Retry-After says when to come back",
    500: "the server failed; the error was logged",
    503: "the platform is not ready",
}


def page_of(key: str, item: Described) -> Schema:
    """A page of items under ``key``, with the cursor of the next page."""
    return {
        "type": "object",
        "required": [key, "next_cursor"],
        "properties": {
            key: {"type": "array", "items": _inline(item)},
            "next_cursor": {"type": ["string", "null"]},
        },
    }


def list_of(key: str, item: Described) -> Schema:
    """All items under ``key``, without paging."""
    return {
        "type": "object",
        "required": [key],
        "properties": {key: {"type": "array", "items": _inline(item)}},
    }


def _inline(item: Described) -> Any:
    # A model stays a class here; the document replaces it by a reference.
    return item


# The document.


def openapi_document(app: Sanic[Any, Any], *, server: str = "") -> Schema:
    """The OpenAPI document of every route of ``app`` under ``/api/v1``."""
    models: dict[str, type[pydantic.BaseModel]] = {"ErrorBody": ErrorBody}
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes:
        path = "/" + route.path.lstrip("/")
        if not path.startswith(API_PREFIX):
            continue
        operation = operation_of(route.handler)
        if operation is None:
            continue
        for method in sorted(route.methods):
            if method in ("HEAD", "OPTIONS"):
                continue
            entry = _operation_entry(route, method, operation, models)
            paths.setdefault(openapi_path(path), {})[method.lower()] = entry
    schemas: dict[str, Any] = {}
    for name, model in sorted(models.items()):
        generated = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for nested_name, nested in generated.pop("$defs", {}).items():
            schemas[nested_name] = nested
        schemas[name] = generated
    document: Schema = {
        "openapi": "3.1.0",
        "info": {
            "title": "Upcast API",
            "version": VERSION,
            "description": "Monitors, their results and state, incidents, alert "
            "settings, analyses, and the accounts that use them.",
        },
        "paths": {
            path: dict(sorted(methods.items()))
            for path, methods in sorted(paths.items())
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an access token from /auth/login, or an API "
                    "key (upk_...)",
                }
            },
        },
        "tags": [{"name": tag} for tag in _tags(paths)],
    }
    if server:
        document["servers"] = [{"url": server}]
    return document


def openapi_path(path: str) -> str:
    """A Sanic path (``/monitors/<monitor_id:str>``) as OpenAPI writes it."""
    return re.sub(r"<([A-Za-z_][A-Za-z0-9_]*)(?::[^>]+)?>", r"{\1}", path)


def _operation_entry(
    route: Any,
    method: str,
    operation: Operation,
    models: dict[str, type[pydantic.BaseModel]],
) -> dict[str, Any]:
    scope = declared_scope(route.handler)
    entry: dict[str, Any] = {
        "operationId": _operation_id(route.name, method),
        "summary": operation.summary,
        "tags": [operation.tag],
        "parameters": [
            *_path_params(route),
            *(_query_param(param) for param in operation.params),
        ],
        "responses": _responses(operation, models, scope),
    }
    description = operation.description
    if scope not in (None, PUBLIC, SIGNED_IN):
        description = f"{description}\n\nNeeds the scope `{scope}` ({SCOPES[scope]})."
    elif scope == SIGNED_IN:
        description = f"{description}\n\nAny signed-in caller."
    entry["description"] = description.strip()
    entry["security"] = [] if scope == PUBLIC else [{"bearer": []}]
    if operation.body is not None:
        content = {"application/json": {"schema": _described(operation.body, models)}}
        for media_type, schema in operation.body_alternatives.items():
            content[media_type] = {"schema": _described(schema, models)}
        entry["requestBody"] = {"required": operation.body_required, "content": content}
    if operation.deprecated_on is not None:
        entry["deprecated"] = True
    return entry


def _operation_id(route_name: str, method: str) -> str:
    name = route_name.rsplit(".", 1)[-1]
    return f"{name}" if name else method.lower()


def _path_params(route: Any) -> list[dict[str, Any]]:
    params = []
    for name, kind in re.findall(
        r"<([A-Za-z_][A-Za-z0-9_]*)(?::([^>]+))?>", route.path
    ):
        schema = {"type": "integer"} if kind == "int" else {"type": "string"}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return params


def _query_param(param: Param) -> dict[str, Any]:
    return {
        "name": param.name,
        "in": "query",
        "required": param.required,
        "description": param.description,
        "schema": param.schema,
    }


def _responses(
    operation: Operation,
    models: dict[str, type[pydantic.BaseModel]],
    scope: str | None,
) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, answer in operation.answers.items():
        response: dict[str, Any] = {"description": "success"}
        if answer is not None:
            response["content"] = {
                media_type: {"schema": _described(answer, models)}
                for media_type in (operation.media_type, *operation.other_media_types)
            }
        headers = operation.headers.get(status)
        if headers:
            response["headers"] = {
                name: {"description": text, "schema": {"type": "string"}}
                for name, text in headers.items()
            }
        responses[str(status)] = response
    errors = set(COMMON_ERRORS) | set(operation.errors)
    if scope == PUBLIC:
        errors.discard(403)
    for status in sorted(errors):
        responses[str(status)] = {
            "description": _ERROR_TEXT.get(status, "refused"),
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/ErrorBody"}
                }
            },
        }
    return responses


def _described(described: Any, models: dict[str, type[pydantic.BaseModel]]) -> Any:
    """A schema with each model in it replaced by a reference to its component."""
    if isinstance(described, type) and issubclass(described, pydantic.BaseModel):
        models[described.__name__] = described
        return {"$ref": f"#/components/schemas/{described.__name__}"}
    if isinstance(described, dict):
        return {key: _described(value, models) for key, value in described.items()}
    if isinstance(described, list):
        return [_described(value, models) for value in described]
    return described


def _tags(paths: Mapping[str, Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for methods in paths.values():
        for entry in methods.values():
            for tag in entry["tags"]:
                seen.setdefault(tag)
    return list(seen)
