"""The engine calls of both clients: shards and actors at work, adding shards.

Adding and removing shards needs the ``admin`` scope.
"""

from __future__ import annotations

from sdk.calls import AsyncSender, Call, Item, Sender, api_path


def _shards(document: Item) -> list[Item]:
    shards: list[Item] = document["shards"]
    return shards


ENGINE = Call("GET", api_path("engine"))
ADD_SHARD = Call("POST", api_path("engine", "shards"))


def remove_shard_call(name: str) -> Call:
    return Call("DELETE", api_path("engine", "shards", name))


class AsyncEngine(AsyncSender):
    """The engine's figures and its shards, for ``AsyncClient``."""

    async def engine(self) -> list[Item]:
        """Each shard's figures: monitors, checks done and per second, lateness."""
        return _shards(await self._object(ENGINE))

    async def engine_overview(self) -> Item:
        """The shards' figures with the platform's ``actors`` and ``storage``."""
        return await self._object(ENGINE)

    async def add_shard(self) -> Item:
        """Start one more shard; its name (``shard``) and the monitors ``moved``."""
        return await self._object(ADD_SHARD)

    async def remove_shard(self, name: str) -> Item:
        """Move a shard's monitors to the others and stop it."""
        return await self._object(remove_shard_call(name))


class Engine(Sender):
    """The same calls as ``AsyncEngine``, for the blocking ``Client``."""

    def engine(self) -> list[Item]:
        return _shards(self._object(ENGINE))

    def engine_overview(self) -> Item:
        return self._object(ENGINE)

    def add_shard(self) -> Item:
        return self._object(ADD_SHARD)

    def remove_shard(self, name: str) -> Item:
        return self._object(remove_shard_call(name))
