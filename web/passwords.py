"""Passwords: argon2 hashes, and the policy a new password must meet.

Hashing is argon2id with argon2-cffi's defaults (three passes over 64 MiB,
about a tenth of a second on one core), so a stolen table of hashes is slow
to guess at. The work runs in a thread, so a login does not stall the
gateway's event loop.

The policy refuses, naming every problem at once:

1. fewer than ``MIN_LENGTH`` or more than ``MAX_LENGTH`` characters;
2. a password built on the account's own name;
3. a password that leaked lists are full of: a word of
   ``data/weak_passwords.txt`` once look-alike characters are read as
   letters and leading and trailing digits and symbols are dropped
   (``P@ssw0rd2024!`` is ``password``), keyboard runs, counting, and
   passwords of very few distinct characters;
4. any of the account's last ``HISTORY`` passwords.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.resources
import unicodedata
from collections.abc import Sequence
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from engine.errors import FieldError

MIN_LENGTH: Final = 12
MAX_LENGTH: Final = 256
HISTORY: Final = 5
"""Earlier passwords of an account that a new one may not repeat."""

MIN_DISTINCT: Final = 5
"""The fewest different characters a password may be made of."""

_LOOK_ALIKES: Final = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)

_RUNS: Final = (
    "abcdefghijklmnopqrstuvwxyz",
    "0123456789",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "1qaz2wsx3edc4rfv",
    "qazwsxedcrfv",
)
"""Sequences whose stretches make weak passwords, forwards or backwards."""

_hasher = PasswordHasher()


async def hash_password(password: str) -> str:
    """The argon2id hash of ``password``, computed off the event loop."""
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` is the one ``password_hash`` was made from."""
    return await asyncio.to_thread(_verify, password_hash, password)


async def matches_any(password_hashes: Sequence[str], password: str) -> bool:
    """Whether ``password`` made any of these hashes."""
    for password_hash in password_hashes:
        if await verify_password(password_hash, password):
            return True
    return False


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_problems(password: object, name: str = "") -> list[FieldError]:
    """What is wrong with a new password for the account ``name``; [] if nothing.

    The reuse of earlier passwords is checked by the caller, against the
    account's hashes (``matches_any``).
    """
    if not isinstance(password, str):
        return [FieldError("password", "must be text")]
    problems: list[str] = []
    if len(password) < MIN_LENGTH:
        problems.append(
            f"must be at least {MIN_LENGTH} characters, got {len(password)}"
        )
    if len(password) > MAX_LENGTH:
        problems.append(f"must be at most {MAX_LENGTH} characters")
    weakness = weak_reason(password, name)
    if weakness:
        problems.append(weakness)
    return [FieldError("password", problem) for problem in problems]


def weak_reason(password: str, name: str = "") -> str | None:
    """Why a password is easy to guess, or None."""
    folded = unicodedata.normalize("NFKC", password).casefold()
    if len(set(folded)) < MIN_DISTINCT:
        return f"must use at least {MIN_DISTINCT} different characters"
    core = _trimmed(_trimmed(folded).translate(_LOOK_ALIKES))
    if name and len(name) >= 3 and name.casefold() in core:
        return "must not contain the account's name"
    if core in weak_words() or _letters(core) in weak_words():
        return "is too common: it appears in lists of leaked passwords"
    if _mostly_runs(folded):
        return "must not be a keyboard row or a counting sequence"
    return None


def _trimmed(text: str) -> str:
    """``text`` without the digits and symbols at either end."""
    return text.strip("0123456789!?#%&*.,;:-_+=~^'\"/\\@$ ")


def _letters(text: str) -> str:
    return "".join(character for character in text if character.isalpha())


def _mostly_runs(text: str) -> bool:
    """Whether the text is made, save three characters, of runs of ``_RUNS``."""
    covered = [False] * len(text)
    for run in _RUNS:
        for sequence in (run, run[::-1]):
            for start in range(len(sequence) - 3):
                piece = sequence[start : start + 4]
                found = text.find(piece)
                while found >= 0:
                    covered[found : found + 4] = [True] * 4
                    found = text.find(piece, found + 1)
    return covered.count(False) <= 3


@functools.cache
def weak_words() -> frozenset[str]:
    """The words of ``data/weak_passwords.txt``."""
    text = (
        importlib.resources.files("web")
        .joinpath("data/weak_passwords.txt")
        .read_text(encoding="utf-8")
    )
    return frozenset(
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    )
