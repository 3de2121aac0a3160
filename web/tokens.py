"""The credentials the gateway hands out, and how each is read back.

- **Access tokens** are JWTs (HS256, signed with a secret every gateway of
  a platform shares through the store), valid for minutes. A gateway checks
  them without asking anyone, which keeps authenticated requests fast.
- **Refresh tokens** are opaque: ``upr_<session>.<generation>.<secret>``.
  The store keeps only the SHA-256 of the latest one of each session. The
  generation in the token tells a stolen, already used token (an older
  generation) from a forged one.
- **API keys** are ``upk_<id>_<secret>``; the store keeps the SHA-256 of
  the secret. Keys and refresh tokens are long random strings, so a fast
  hash is enough; passwords, which people choose, get argon2
  (``web.passwords``).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Final

import jwt

ISSUER: Final = "upcast"
ALGORITHM: Final = "HS256"

REFRESH_PREFIX: Final = "upr_"
KEY_PREFIX: Final = "upk_"

_REFRESH = re.compile(r"upr_([A-Za-z0-9]{16,64})\.(\d{1,12})\.([A-Za-z0-9_-]{20,128})")
_KEY = re.compile(r"upk_([A-Za-z0-9]{8,64})_([A-Za-z0-9_-]{20,128})")
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


class InvalidToken(Exception):
    """A credential that is malformed, forged or expired; the message says which."""


def new_id(length: int = 20) -> str:
    """A random id of lower-case letters and digits (about 100 bits for 20)."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def digest(secret: str) -> str:
    """The SHA-256 of a token or key, in hex: what the store keeps."""
    return hashlib.sha256(secret.encode()).hexdigest()


def same_digest(secret: str, expected: str) -> bool:
    """Whether ``secret`` hashes to ``expected``, compared in constant time."""
    return hmac.compare_digest(digest(secret), expected)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a valid access token says."""

    user_id: str
    session_id: str
    expires_at: float


class AccessTokens:
    """Signs and checks access tokens with one shared secret."""

    def __init__(self, secret: str, lifetime: float) -> None:
        self._secret = secret
        self.lifetime = lifetime

    def issue(self, user_id: str, session_id: str, *, now: float | None = None) -> str:
        issued = time.time() if now is None else now
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": user_id,
            "sid": session_id,
            "iat": int(issued),
            "exp": math.ceil(issued + self.lifetime),
            "typ": "access",
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def read(self, token: str) -> AccessClaims:
        """The claims of a valid token; ``InvalidToken`` saying what is wrong."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "sub", "sid", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the access token has expired; refresh it") from None
        except jwt.PyJWTError:
            raise InvalidToken("the access token is not valid") from None
        if claims.get("typ") != "access":
            raise InvalidToken("the access token is not valid")
        return AccessClaims(
            str(claims["sub"]), str(claims["sid"]), float(claims["exp"])
        )


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """A refresh token taken apart."""

    session_id: str
    generation: int
    text: str

    @classmethod
    def new(cls, session_id: str, generation: int) -> RefreshToken:
        secret = secrets.token_urlsafe(32)
        return cls(
            session_id,
            generation,
            f"{REFRESH_PREFIX}{session_id}.{generation}.{secret}",
        )

    @classmethod
    def parse(cls, text: str) -> RefreshToken:
        found = _REFRESH.fullmatch(text)
        if found is None:
            raise InvalidToken("the refresh token is not valid")
        return cls(found[1], int(found[2]), text)


@dataclass(frozen=True, slots=True)
class KeyText:
    """An API key taken apart: its id, and the secret part the store hashes."""

    key_id: str
    secret: str

    @property
    def text(self) -> str:
        return f"{KEY_PREFIX}{self.key_id}_{self.secret}"

    @classmethod
    def new(cls) -> KeyText:
        return cls(new_id(16), secrets.token_urlsafe(32))

    @classmethod
    def parse(cls, text: str) -> KeyText:
        found = _KEY.fullmatch(text)
        if found is None:
            raise InvalidToken("the API key is not valid")
        return cls(found[1], found[2])
