"""The API's description for people and programs, and its version headers.

``/api/v1/openapi.json`` is the OpenAPI document (``web.openapi``), made
once per gateway from its routes. ``/api/v1/docs`` is the same document as
a page to read: every operation by tag, with its scope, parameters, body
and answers. The page is made on the server, so it needs no script and
keeps to the gateway's strict content security policy.

``install_versioning`` marks the answers of routes documented as
deprecated with ``Deprecation`` (RFC 9745) and ``Sunset`` (RFC 8594)
headers and a link to their documentation, so clients learn of a change
before it happens.
"""

from __future__ import annotations

import datetime
import html
import json
from email.utils import format_datetime
from typing import Any, Final

from sanic import Blueprint, HTTPResponse, Request, Sanic
from sanic.response import BaseHTTPResponse, raw
from sanic.response import html as html_response
from sanic.response import json as json_response

from web.access import public
from web.openapi import Operation, documented, openapi_document, operation_of

PREFIX: Final = "/api/v1"
REFERENCE: Final = "reference"

STYLE: Final = """
body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 980px;
  padding: 1rem 1.5rem; color: #1d2330; background: #fbfbfd; }
h1 { margin-bottom: 0; } h2 { border-bottom: 1px solid #d6dae3; margin-top: 2.5rem; }
.op { border: 1px solid #d6dae3; border-radius: 6px; margin: 1rem 0;
  padding: .5rem 1rem; background: #fff; }
.method { font: bold 13px monospace; padding: 2px 6px; border-radius: 4px;
  color: #fff; background: #4b5563; }
.get { background: #1f6feb; } .post { background: #1a7f37; }
.put, .patch { background: #9a6700; } .delete { background: #cf222e; }
code, pre { font-family: ui-monospace, monospace; font-size: 13px; }
pre { background: #f3f4f7; padding: .5rem; overflow-x: auto; }
table { border-collapse: collapse; } td, th { padding: 2px 10px 2px 0;
  text-align: left; vertical-align: top; }
.deprecated { color: #cf222e; font-weight: bold; }
@media (prefers-color-scheme: dark) {
  body { background: #0d1117; color: #e6edf3; } .op { background: #161b22;
  border-color: #30363d; } pre { background: #0b0f14; } }
"""


def reference_blueprint() -> Blueprint:
    """The routes of the API's description."""
    api = Blueprint("api_v1_reference", url_prefix=PREFIX)

    @api.get("/openapi.json")
    @public
    @documented(
        Operation("This API's OpenAPI document", REFERENCE, {200: {"type": "object"}})
    )
    async def document(request: Request) -> HTTPResponse:
        return json_response(_document(request.app))

    @api.get("/docs")
    @public
    @documented(
        Operation(
            "This API's reference, as a page to read",
            REFERENCE,
            {200: {"type": "string"}},
            media_type="text/html",
        )
    )
    async def page(request: Request) -> HTTPResponse:
        return html_response(_page(request.app))

    @api.get("/docs/style.css")
    @public
    @documented(
        Operation(
            "The reference page's style",
            REFERENCE,
            {200: {"type": "string"}},
            media_type="text/css",
        )
    )
    async def style(request: Request) -> HTTPResponse:
        return raw(
            STYLE.encode(),
            content_type="text/css; charset=utf-8",
            headers={"Cache-Control": "public, max-age=3600"},
        )

    return api


def _document(app: Sanic[Any, Any]) -> dict[str, Any]:
    """The app's document, made on first use: routes do not change once served."""
    made: dict[str, Any] | None = getattr(app.ctx, "openapi", None)
    if made is None:
        made = openapi_document(app)
        app.ctx.openapi = made
    return made


def _page(app: Sanic[Any, Any]) -> str:
    document = _document(app)
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, methods in document["paths"].items():
        for method, entry in methods.items():
            by_tag.setdefault(entry["tags"][0], []).append((method, path, entry))
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<title>Upcast API reference</title>",
        f"<link rel='stylesheet' href='{PREFIX}/docs/style.css'></head><body>",
        "<h1>Upcast API reference</h1>",
        f"<p>Version {html.escape(document['info']['version'])}. Send an access "
        "token or API key as <code>Authorization: Bearer …</code>. The machine-"
        f"readable document is <a href='{PREFIX}/openapi.json'>openapi.json</a>."
        "</p><nav><ul>",
    ]
    parts += [
        f"<li><a href='#{html.escape(tag)}'>{html.escape(tag)}</a></li>"
        for tag in by_tag
    ]
    parts.append("</ul></nav>")
    for tag, operations in by_tag.items():
        parts.append(f"<h2 id='{html.escape(tag)}'>{html.escape(tag)}</h2>")
        for method, path, entry in operations:
            parts.append(_operation_html(method, path, entry))
    parts.append("</body></html>")
    return "".join(parts)


def _operation_html(method: str, path: str, entry: dict[str, Any]) -> str:
    anchor = html.escape(entry["operationId"])
    parts = [
        f"<section class='op' id='{anchor}'>",
        f"<p><span class='method {method}'>{method.upper()}</span> ",
        f"<code>{html.escape(path)}</code> — {html.escape(entry['summary'])}",
    ]
    if entry.get("deprecated"):
        parts.append(" <span class='deprecated'>deprecated</span>")
    parts.append("</p>")
    if entry.get("description"):
        parts.append(f"<p>{html.escape(entry['description'])}</p>")
    if entry["parameters"]:
        parts.append("<table><tr><th>parameter</th><th>in</th><th>schema</th>")
        parts.append("<th>meaning</th></tr>")
        for param in entry["parameters"]:
            parts.append(
                f"<tr><td><code>{html.escape(param['name'])}</code></td>"
                f"<td>{param['in']}</td>"
                f"<td><code>{html.escape(json.dumps(param['schema']))}</code></td>"
                f"<td>{html.escape(param.get('description', ''))}</td></tr>"
            )
        parts.append("</table>")
    body = entry.get("requestBody")
    if body:
        schema = body["content"]["application/json"]["schema"]
        parts.append("<p>Body:</p><pre>")
        parts.append(html.escape(json.dumps(schema, indent=2)))
        parts.append("</pre>")
    answers = ", ".join(sorted(entry["responses"]))
    parts.append(f"<p>Answers: {html.escape(answers)}</p></section>")
    return "".join(parts)


def install_versioning(app: Sanic[Any, Any]) -> None:
    """Add ``Deprecation`` and ``Sunset`` to the answers of deprecated routes."""

    async def mark(request: Request, response: BaseHTTPResponse) -> None:
        route = request.route
        operation = operation_of(route.handler) if route is not None else None
        if operation is None or operation.deprecated_on is None:
            return
        response.headers["Deprecation"] = f"@{_unix(operation.deprecated_on)}"
        if operation.sunset_on is not None:
            sunset = datetime.datetime.fromisoformat(operation.sunset_on)
            response.headers["Sunset"] = format_datetime(
                sunset.replace(tzinfo=datetime.UTC), usegmt=True
            )
        name = route.name.rsplit(".", 1)[-1] if route is not None else ""
        response.headers["Link"] = f'<{PREFIX}/docs#{name}>; rel="deprecation"'

    app.register_middleware(mark, "response")


def _unix(day: str) -> int:
    moment = datetime.datetime.fromisoformat(day).replace(tzinfo=datetime.UTC)
    return int(moment.timestamp())
