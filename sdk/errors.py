"""What the SDK raises: one class per way a request to the gateway can fail.

Each error says whether trying again can help (``retryable``): a refused
connection or a 503 can pass, a definition the server rejected cannot.
"""

from __future__ import annotations


class UpcastError(Exception):
    """A request to the Upcast gateway failed."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class BadRequest(UpcastError):
    """The gateway refused a malformed request (a bad query parameter or body)."""


class NotFound(UpcastError):
    """No monitor (or route) exists at the address asked for."""


class Conflict(UpcastError):
    """A monitor with this id exists already."""


class InvalidMonitor(UpcastError):
    """The gateway rejected a definition; ``fields`` names every problem.

    ``fields`` holds ``(field, problem)`` pairs such as
    ``("interval", "must be between 1s and 24h, got 0s")``.
    """

    def __init__(
        self,
        message: str,
        fields: list[tuple[str, str]],
        *,
        status: int | None = 422,
    ) -> None:
        super().__init__(message, status=status)
        self.fields = fields


class ServerError(UpcastError):
    """The gateway failed, or is not ready, while handling the request."""

    retryable = True


class ConnectionFailed(UpcastError):
    """The gateway could not be reached, or did not answer in time."""

    retryable = True
