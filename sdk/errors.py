"""What the SDK raises: one class per way a request to the gateway can fail.

Every error keeps the gateway's ``message``, the HTTP ``status`` (None when
no answer came), the ``fields`` the gateway named as ``(field, problem)``
pairs (empty when it named none), and whether trying again can help
(``retryable``): a refused connection or a 503 can pass, a definition the
server rejected cannot.
"""

from __future__ import annotations

from collections.abc import Iterable


class UpcastError(Exception):
    """A request to the Upcast gateway failed."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        fields: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.fields: list[tuple[str, str]] = list(fields)


class BadRequest(UpcastError):
    """The gateway refused a malformed request (a bad query parameter or body)."""


class Unauthorized(UpcastError):
    """No credentials were sent, or they are wrong, expired or revoked."""


class Forbidden(UpcastError):
    """The credentials are good but lack the scope or role this needs."""


class NotFound(UpcastError):
    """Nothing exists at the address asked for: no such monitor, user, route."""


class Conflict(UpcastError):
    """The request clashes with what is stored: an id or a name is taken."""


class ValidationFailed(UpcastError):
    """The gateway rejected what was sent; ``fields`` names every problem.

    ``fields`` holds ``(field, problem)`` pairs such as
    ``("interval", "must be between 1s and 24h, got 0s")``.
    """

    def __init__(
        self,
        message: str,
        fields: Iterable[tuple[str, str]] = (),
        *,
        status: int | None = 422,
    ) -> None:
        super().__init__(message, status=status, fields=fields)


class InvalidMonitor(ValidationFailed):
    """The gateway rejected a monitor definition (create, change, apply, bulk)."""


class RateLimited(UpcastError):
    """Too many requests; ``retry_after`` says how many seconds to wait.

    The clients wait and try again by themselves; this is raised once their
    retries are spent.
    """

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = 429,
        retry_after: float = 1.0,
        fields: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message, status=status, fields=fields)
        self.retry_after = retry_after


class ServerError(UpcastError):
    """The gateway failed, or is not ready, while handling the request."""

    retryable = True


class ConnectionFailed(UpcastError):
    """The gateway could not be reached, or did not answer in time."""

    retryable = True


_BY_STATUS: dict[int, type[UpcastError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
}


def error_for(
    status: int,
    message: str,
    fields: Iterable[tuple[str, str]] = (),
    *,
    retry_after: float = 1.0,
    invalid: type[ValidationFailed] = ValidationFailed,
) -> UpcastError:
    """The error an answer of ``status`` stands for.

    ``invalid`` is the class a 422 becomes: ``InvalidMonitor`` where the
    request carried monitor definitions.
    """
    if status == 422:
        return invalid(message, fields, status=status)
    if status == 429:
        return RateLimited(message, retry_after=retry_after, fields=fields)
    if status >= 500:
        return ServerError(message, status=status, fields=fields)
    kind = _BY_STATUS.get(status, UpcastError)
    return kind(message, status=status, fields=fields)
