"""The Upcast SDK: Python clients for the gateway's API and live updates."""

from sdk.client import ApplyReport, AsyncClient, Client
from sdk.errors import (
    BadRequest,
    Conflict,
    ConnectionFailed,
    InvalidMonitor,
    NotFound,
    ServerError,
    UpcastError,
)
from sdk.live import Subscription, ThreadedSubscription

__all__ = [
    "ApplyReport",
    "AsyncClient",
    "BadRequest",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "InvalidMonitor",
    "NotFound",
    "ServerError",
    "Subscription",
    "ThreadedSubscription",
    "UpcastError",
]
