"""The Upcast SDK: Python clients for the gateway's API and live updates."""

from sdk.client import ApplyReport, AsyncClient, Client
from sdk.errors import (
    BadRequest,
    Conflict,
    ConnectionFailed,
    Forbidden,
    InvalidMonitor,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    UpcastError,
    ValidationFailed,
)
from sdk.live import Subscription, ThreadedSubscription
from sdk.monitors import BulkOutcome, BulkReport

__all__ = [
    "ApplyReport",
    "AsyncClient",
    "BadRequest",
    "BulkOutcome",
    "BulkReport",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "Forbidden",
    "InvalidMonitor",
    "NotFound",
    "RateLimited",
    "ServerError",
    "Subscription",
    "ThreadedSubscription",
    "Unauthorized",
    "UpcastError",
    "ValidationFailed",
]
