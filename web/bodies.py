"""Request bodies read into typed models, every problem named by its path.

A model is a pydantic model that forbids unknown fields (``Body``). A bad
body is refused with ``ValidationError`` listing each problem as a field
path and a reason, ``scopes[1]: must be one of ...``, the same shape as a
bad monitor definition.
"""

from __future__ import annotations

from typing import Any, TypeVar

import pydantic
from sanic import Request

from engine.errors import FieldError, ValidationError
from web.params import json_object

Model = TypeVar("Model", bound="Body")


class Body(pydantic.BaseModel):
    """A request body: unknown fields are refused, strings are not coerced."""

    model_config = pydantic.ConfigDict(extra="forbid", strict=True, frozen=True)


def read_body(request: Request, model: type[Model]) -> Model:
    """The request's JSON body as ``model``, or ``ValidationError``."""
    return parse_body(json_object(request), model)


def parse_body(document: dict[str, Any], model: type[Model]) -> Model:
    """``document`` as ``model``, or ``ValidationError`` naming every problem."""
    try:
        return model.model_validate(document)
    except pydantic.ValidationError as exc:
        raise ValidationError(
            [
                FieldError(field_path(error["loc"]), reason(error))
                for error in exc.errors()
            ]
        ) from None


def field_path(location: tuple[int | str, ...]) -> str:
    """``("scopes", 1)`` as ``scopes[1]``, ``("a", "b")`` as ``a.b``."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path or "body"


def reason(error: Any) -> str:
    """A pydantic error in the words the rest of the API uses."""
    kind = error["type"]
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind == "missing":
        return "is required"
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    return message[:1].lower() + message[1:]
