"""Where Upcast keeps monitors, results, state changes and events.

``open_store`` picks the backend from a URL: ``sqlite:`` (the embedded
default), ``postgresql://user:password@host:port/database`` (the production
store) or ``mysql://user:password@host:port/database`` (MySQL or MariaDB).
SQLite URLs name a file:

- ``sqlite:///var/lib/upcast/upcast.db``: an absolute path;
- ``sqlite:data/upcast.db``: a path relative to the working directory when
  ``open_store`` is called (it is made absolute then).

Characters that are special in URLs are percent-encoded (``%20`` for a
space). In-memory databases are refused: the reader connections could not see
what the writer wrote.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from store.base import (
    MigrationProgress,
    SchemaTooNewError,
    Store,
    StoreClosedError,
    StoreError,
)
from store.sqlite import SqliteStore

__all__ = [
    "SCHEMES",
    "MigrationProgress",
    "SchemaTooNewError",
    "SqliteStore",
    "Store",
    "StoreClosedError",
    "StoreError",
    "open_store",
]

SCHEMES = ("sqlite", "postgresql", "mysql")
"""The URL schemes ``open_store`` understands (also ``postgres`` and ``mariadb``)."""


def open_store(url: str, *, progress: MigrationProgress | None = None) -> Store:
    """The store a URL names, not yet open: await ``open()`` or use ``async with``.

    ``progress`` hears about each schema migration as ``open`` applies it.
    Errors name the scheme but never repeat the URL, which may hold a password.
    """
    if not isinstance(url, str):
        raise ValueError(f"url: must be text, got {type(url).__name__}")
    scheme, colon, rest = url.partition(":")
    if not colon or not scheme:
        raise ValueError("url: must start with a scheme, one of: " + ", ".join(SCHEMES))
    scheme = scheme.lower()
    if scheme == "sqlite":
        return SqliteStore(_sqlite_path(rest), progress=progress)
    if scheme in ("postgresql", "postgres"):
        from store.postgres import PostgresStore

        return PostgresStore(url, progress=progress)
    if scheme in ("mysql", "mariadb"):
        from store.mysql import MysqlStore

        return MysqlStore(url, progress=progress)
    raise ValueError(
        f"url: unknown store scheme {scheme!r}; supported: {', '.join(SCHEMES)}"
    )


def _sqlite_path(rest: str) -> Path:
    """The file a ``sqlite:`` URL names, made absolute."""
    if "?" in rest or "#" in rest:
        raise ValueError("url: a sqlite URL takes no query or fragment")
    if rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        if authority:
            raise ValueError(
                "url: a sqlite URL names no host; write sqlite:///absolute/path "
                "or sqlite:relative/path"
            )
        rest = slash + path
    path = unquote(rest)
    if not path or path.endswith("/"):
        raise ValueError("url: a sqlite URL must name a database file")
    if path == ":memory:":
        raise ValueError(
            "url: an in-memory SQLite database cannot be shared between the "
            "writer and the readers; name a file"
        )
    return Path(path).absolute()
