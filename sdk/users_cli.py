"""The ``upcast users`` commands: the first account, made on the store itself.

``upcast users create-owner NAME`` makes the owner of a new installation
before anyone can sign in. It opens the store ``upcast serve`` uses
(``--store`` or ``--data-dir``, as the storage commands pick it), whether
the platform runs or not, and refuses once an owner exists: from then on,
accounts are managed through the API by those allowed to.

The password is asked for twice on a terminal, or read from the first line
of standard input with ``--password-stdin`` (for scripts). With ``--api-key
NAME`` the owner also gets an API key with every scope, printed once, for
the command line (``UPCAST_API_KEY``).
"""

from __future__ import annotations

import argparse
import getpass
import sys

import uvloop

from actors.runtime import Settings
from engine.errors import ValidationError
from sdk.storage_cli import add_store_options
from store import StoreError, open_store
from web.accounts import Accounts
from web.errors import ApiError


def add_user_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Add ``users`` and its subcommands to the ``upcast`` parser's commands."""
    users = commands.add_parser(
        "users",
        help="make the owner account of a new installation",
        description="Make the first account, the owner, directly in the store.",
    )
    subcommands = users.add_subparsers(dest="users_command", required=True)
    owner = subcommands.add_parser(
        "create-owner",
        help="make the owner account (once)",
        description="Make the owner account of a new installation; refused once "
        "an owner exists.",
    )
    owner.add_argument("name", help="the owner's login name")
    owner.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    owner.add_argument(
        "--api-key",
        metavar="NAME",
        help="also make an API key with every scope, named NAME, and print it",
    )
    add_store_options(owner)


def run_users_command(args: argparse.Namespace) -> int:
    """Run ``upcast users create-owner``; its exit status."""
    password = read_password(args.password_stdin)
    if password is None:
        return 2
    url = Settings(data_dir=args.data_dir, store_url=args.store).url
    try:
        return uvloop.run(create_owner(url, args.name, password, args.api_key))
    except StoreError as exc:
        print(f"upcast users create-owner: error: {exc}", file=sys.stderr)
        return 2


def read_password(from_stdin: bool) -> str | None:
    """The new password, typed twice on a terminal or read from stdin."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        print("the two passwords differ; nothing was made", file=sys.stderr)
        return None
    return first


async def create_owner(url: str, name: str, password: str, key_name: str | None) -> int:
    async with open_store(url) as store:
        accounts = Accounts(store)
        try:
            user, key = await accounts.create_owner(name, password, key_name=key_name)
        except ValidationError as exc:
            for error in exc.errors:
                print(f"{error.field}: {error.problem}", file=sys.stderr)
            return 2
        except ApiError as exc:
            print(f"upcast users create-owner: {exc.message}", file=sys.stderr)
            return 1
    print(f"created the owner {user.name}; sign in with this name and password")
    if key is not None:
        print(f"API key (shown only now; export it as UPCAST_API_KEY): {key}")
    return 0
