"""What a gateway says of itself: its API document, reference page, presence.

The OpenAPI document lists every operation the gateway serves; the
reference page and its style sheet are the same for people to read, and
come back as text. Presence says who is following live updates now.
"""

from __future__ import annotations

from typing import Any

from sdk.calls import AsyncSender, Call, Item, Sender, api_path

OPENAPI = Call("GET", api_path("openapi.json"))
DOCS = Call("GET", api_path("docs"), answer="text")
DOCS_STYLE = Call("GET", api_path("docs", "style.css"), answer="text")
PRESENCE = Call("GET", api_path("presence"))


def _watching(document: Any) -> list[Item]:
    watching: list[Item] = document["watching"]
    return watching


class AsyncGateway(AsyncSender):
    """The gateway's description of itself, for ``AsyncClient``."""

    async def openapi(self) -> Item:
        """The gateway's OpenAPI 3.1 document."""
        return await self._object(OPENAPI)

    async def docs(self) -> str:
        """The API reference as an HTML page."""
        page: str = await self._send(DOCS)
        return page

    async def docs_style(self) -> str:
        """The reference page's style sheet (CSS)."""
        style: str = await self._send(DOCS_STYLE)
        return style

    async def presence(self) -> list[Item]:
        """Who is following live updates now: ``user_id``, ``name``, ``since``..."""
        return _watching(await self._send(PRESENCE))


class Gateway(Sender):
    """The same calls as ``AsyncGateway``, for the blocking ``Client``."""

    def openapi(self) -> Item:
        return self._object(OPENAPI)

    def docs(self) -> str:
        page: str = self._send(DOCS)
        return page

    def docs_style(self) -> str:
        style: str = self._send(DOCS_STYLE)
        return style

    def presence(self) -> list[Item]:
        return _watching(self._send(PRESENCE))
