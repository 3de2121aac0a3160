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
    AppliedMigration,
    MigrationProgress,
    SchemaStatus,
    SchemaTooNewError,
    Store,
    StoreClosedError,
    StoreError,
)
from store.sqlite import SqliteStore

__all__ = [
    "SCHEMES",
    "AppliedMigration",
    "MigrationProgress",
    "SchemaStatus",
    "SchemaTooNewError",
    "SqliteStore",
    "Store",
    "StoreClosedError",
    "StoreError",
    "open_store",
    "schema_status",
]

SCHEMES = ("sqlite", "postgresql", "mysql")
"""The URL schemes ``open_store`` understands (also ``postgres`` and ``mariadb``)."""


def open_store(
    url: str,
    *,
    progress: MigrationProgress | None = None,
    reading_only: bool = False,
) -> Store:
    """The store a URL names, not yet open: await ``open()`` or use ``async with``.

    ``progress`` hears about each schema migration as ``open`` applies it.
    With ``reading_only`` (a read replica for reports), ``open`` migrates and
    creates nothing, and refuses a database not at this version's schema.
    Errors name the scheme but never repeat the URL, which may hold a password.
    """
    backend, rest = _backend(url)
    if backend == "sqlite":
        if reading_only:
            raise ValueError(
                "url: a SQLite store cannot be opened only to read: it has no "
                "replicas; read from the store itself"
            )
        return SqliteStore(_sqlite_path(rest), progress=progress)
    if backend == "postgresql":
        from store.postgres import PostgresStore

        return PostgresStore(url, progress=progress, reading_only=reading_only)
    from store.mysql import MysqlStore

    return MysqlStore(url, progress=progress, reading_only=reading_only)


async def schema_status(url: str) -> SchemaStatus:
    """Where the database a URL names stands against this version's migrations.

    Only reads: nothing is migrated or created (a missing SQLite file stays
    missing), so operators can look before ``open`` changes anything, and a
    database from a newer version is reported rather than refused. Raises
    ``StoreError`` when the database cannot be reached or read, and
    ``ValueError`` for a bad URL; neither message repeats the URL.
    """
    backend, rest = _backend(url)
    if backend == "sqlite":
        from store.sqlite import read_schema_status as read_sqlite

        return await read_sqlite(_sqlite_path(rest))
    if backend == "postgresql":
        from store.postgres import read_schema_status as read_postgres

        return await read_postgres(url)
    from store.mysql import read_schema_status as read_mysql

    return await read_mysql(url)


def _backend(url: object) -> tuple[str, str]:
    """The backend a URL's scheme names (one of SCHEMES), and what follows it."""
    if not isinstance(url, str):
        raise ValueError(f"url: must be text, got {type(url).__name__}")
    scheme, colon, rest = url.partition(":")
    if not colon or not scheme:
        raise ValueError("url: must start with a scheme, one of: " + ", ".join(SCHEMES))
    scheme = scheme.lower()
    if scheme == "sqlite":
        return "sqlite", rest
    if scheme in ("postgresql", "postgres"):
        return "postgresql", rest
    if scheme in ("mysql", "mariadb"):
        return "mysql", rest
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
