"""What the clients authenticate with: an API key, or a signed-in session.

An API key is sent as it is on every request. A session (``login``) holds an
access token, sent on every request, and a refresh token, traded for a new
pair when the gateway refuses the access token (it expired, or was lost);
the clients do that at most once per request, transparently.

The gateway takes each refresh token once: a second use revokes the whole
session. So when several requests are refused at the same time, only the
first renews; the others see that the token they were sent with is no
longer the current one and are simply sent again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Final

from sdk.calls import API, Call

API_KEY_VARIABLE: Final = "UPCAST_API_KEY"
"""The environment variable an API key is read from when none is given."""

REFRESH_PATH: Final = f"{API}/auth/refresh"


@dataclass(slots=True)
class Credentials:
    api_key: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None

    @classmethod
    def given(cls, api_key: str | None) -> Credentials:
        """``api_key``, or the one in ``$UPCAST_API_KEY``, or none yet."""
        return cls(api_key=api_key or os.environ.get(API_KEY_VARIABLE) or None)

    def headers(self) -> dict[str, str]:
        """The ``Authorization`` header to send, if any."""
        bearer = self.bearer()
        return {"Authorization": f"Bearer {bearer}"} if bearer else {}

    def bearer(self) -> str | None:
        """The access token of a session, else the API key."""
        return self.access_token or self.api_key

    def signed_in(self, document: Any) -> None:
        """Keep the tokens of a login or refresh answer."""
        self.access_token = str(document["access_token"])
        self.refresh_token = str(document["refresh_token"])

    def signed_out(self) -> None:
        self.access_token = None
        self.refresh_token = None

    def renewable(self, refused: Call) -> bool:
        """Whether a session could make ``refused`` pass by renewing its tokens."""
        return self.refresh_token is not None and refused.authenticated

    def renewal(self, sent_with: str | None) -> Call | None:
        """The call that renews the session, unless it was renewed already.

        ``sent_with`` is the token the refused request carried: when it is
        no longer the current one, another request renewed the session in
        the meantime, and sending again is enough.
        """
        if self.refresh_token is None or self.bearer() != sent_with:
            return None
        return refresh_call(self.refresh_token)


def refresh_call(refresh_token: str) -> Call:
    body = {"refresh_token": refresh_token}
    return Call("POST", REFRESH_PATH, body=body, authenticated=False)
