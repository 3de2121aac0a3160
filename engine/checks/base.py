"""The interface every check kind implements."""

from __future__ import annotations

import abc
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from engine.errors import FieldError
from engine.result import Observation


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """The parts of a monitor's definition that a check kind reads."""

    monitor_id: str
    target: str
    options: Mapping[str, Any]
    interval: float
    timeout: float


class Check(abc.ABC):
    """A monitor's check, prepared once from its definition and run many times.

    A kind is a subclass registered under ``kind``. ``prepare`` validates the
    target and options and raises ``ValidationError`` naming every bad field
    (``target``, ``options.method``, ...); ``run`` performs one check and
    either returns an ``Observation`` or raises ``CheckFailure`` with its
    reason. The scheduler enforces the monitor's timeout around ``run``.
    """

    __slots__ = ()

    kind: ClassVar[str]

    @classmethod
    @abc.abstractmethod
    def prepare(cls, spec: CheckSpec) -> Self:
        """Validate ``spec`` and build the check, or raise ``ValidationError``."""

    @abc.abstractmethod
    async def run(self) -> Observation:
        """Check the target once."""

    def next_due(self, now: float) -> float | None:
        """When the next run is due (unix seconds), if not one interval on.

        Kinds whose schedule is not a fixed interval (a push monitor
        following a cron expression) override this.
        """
        return None

    async def close(self) -> None:
        """Release what the check holds (sockets, files) when it is removed."""
        return None


def unknown_options(
    options: Mapping[str, Any], known: Collection[str]
) -> list[FieldError]:
    """A problem for each option a kind does not know, naming those it does."""
    names = ", ".join(known)
    return [
        FieldError(f"options.{key}", f"unknown option; known: {names}")
        for key in options
        if key not in known
    ]
