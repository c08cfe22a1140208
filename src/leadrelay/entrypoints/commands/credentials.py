"""`leadrelay admin …` (admin tokens), `leadrelay sources …` (source API keys) and `leadrelay partners
add-key|keys|revoke-key` (partners' own API keys): create, list, revoke.

(`leadrelay keys` is another thing: the data keys that encrypt sensitive lead fields.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

import typer

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.configuration.schema import parse_duration
from leadrelay.domain.access import STAFF_ROLES, Role
from leadrelay.entrypoints.commands.common import DbOption, actor, fail, out, print_rows, settings_for
from leadrelay.errors import LeadrelayError
from leadrelay.services import credentials
from leadrelay.services.ports import Tx

T = TypeVar("T")

admin_app = typer.Typer(help="Admin tokens for the API: create, list, revoke.", no_args_is_help=True)
sources_app = typer.Typer(help="Sources' API keys: add, list, revoke.", no_args_is_help=True)


@contextmanager
def _db(database_url: str | None) -> Iterator[Database]:
    db = Database(settings_for(database_url).database_url)
    try:
        yield db
    except LeadrelayError as exc:
        raise fail(exc.detail) from exc
    finally:
        db.dispose()


def _write(database_url: str | None, fn: Callable[[Tx], T]) -> T:
    with _db(database_url) as db:
        return SqlStorage(db).transaction(fn)


def _read(database_url: str | None, fn: Callable[[Tx], T]) -> T:
    with _db(database_url) as db:
        return SqlStorage(db).read(fn)


def _when(value: Any) -> str:
    return str(value)[:19].replace("T", " ") if value else "-"


def _expiry(text: str | None) -> timedelta | None:
    if text is None or text.lower() == "never":
        return None
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise fail(f"--expires: {exc}") from exc
    if seconds <= 0:
        raise fail("--expires: must be more than zero (or 'never')")
    return timedelta(seconds=seconds)


@admin_app.command("create-token")
def create_token(
    name: Annotated[str, typer.Option(help="Who the token is for (shown in the audit log).")] = "admin",
    expires: Annotated[
        str | None, typer.Option(help="Lifetime, e.g. '30d', '12h' (default: never expires).")
    ] = None,
    role: Annotated[
        Role, typer.Option(help="What the token may do: admin (everything), operator or viewer.")
    ] = Role.ADMIN,
    database_url: DbOption = None,
) -> None:
    """Create an admin API token. It is shown once; only its hash is stored."""
    if role not in STAFF_ROLES:
        raise fail(f"--role: an admin token's role is admin, operator or viewer, not {role.value}")
    lifetime = _expiry(expires)
    token = credentials.new_admin_token()
    now = datetime.now(UTC)
    _write(
        database_url,
        lambda tx: credentials.create_token(
            tx, name, token, actor=actor(), now=now, expires_in=lifetime, role=role
        ),
    )
    out.print(token, highlight=False)


@admin_app.command("tokens")
def list_tokens(database_url: DbOption = None) -> None:
    """Admin tokens (never the tokens themselves): name, expiry, last use, revocation."""
    items = _read(database_url, credentials.list_tokens)
    columns = ("id", "name", "role", "created", "expires", "last used", "revoked")
    keys = ("id", "name", "role", "created_at", "expires_at", "last_used_at", "revoked_at")
    print_rows(columns, [[_when(t[k]) if k.endswith("_at") else t[k] for k in keys] for t in items])


@admin_app.command("revoke-token")
def revoke_token(
    token_id: Annotated[str, typer.Argument(help="The id from `admin tokens`.")],
    database_url: DbOption = None,
) -> None:
    """Revoke an admin token: every server answers 401 to it within a second."""
    now = datetime.now(UTC)
    view = _write(database_url, lambda tx: credentials.revoke_token(tx, token_id, actor=actor(), now=now))
    out.print(f"revoked {view['id']} ({view['name']}) at {_when(view['revoked_at'])}", highlight=False)


KeyOption = Annotated[
    str | None, typer.Option(help="Use this key (at least 16 characters) instead of a new one.")
]


def _print_keys(items: list[dict[str, Any]]) -> None:
    columns = ("id", "prefix", "created", "last used", "revoked")
    keys = ("id", "prefix", "created_at", "last_used_at", "revoked_at")
    print_rows(columns, [[_when(k_[k]) if k.endswith("_at") else k_[k] for k in keys] for k_ in items])


def _checked(key: str | None) -> str | None:
    if key is not None and len(key) < 16:
        raise fail("--key: must be at least 16 characters")
    return key


@sources_app.command("add-key")
def add_key(source: str, key: KeyOption = None, database_url: DbOption = None) -> None:
    """Create an API key for a source. Printed once; only its hash is stored."""
    value = _checked(key) or credentials.new_source_key()
    now = datetime.now(UTC)
    _write(database_url, lambda tx: credentials.create_key(tx, source, value, actor=actor(), now=now))
    out.print(value, highlight=False)


@sources_app.command("keys")
def list_keys(source: str, database_url: DbOption = None) -> None:
    """A source's API keys (never the keys themselves): prefix, creation, last use, revocation."""
    _print_keys(_read(database_url, lambda tx: credentials.list_keys(tx, source)))


@sources_app.command("revoke-key")
def revoke_key(
    source: str,
    key_id: Annotated[str, typer.Argument(help="The id from `sources keys SOURCE`.")],
    database_url: DbOption = None,
) -> None:
    """Revoke one API key of a source: every server answers 401 to it within a second."""
    now = datetime.now(UTC)
    view = _write(database_url, lambda tx: credentials.revoke_key(tx, source, key_id, actor=actor(), now=now))
    out.print(f"revoked {view['id']} of {source} at {_when(view['revoked_at'])}", highlight=False)


# `leadrelay partners …` registers these (entrypoints.commands.partners)


def add_partner_key(
    name: Annotated[str, typer.Argument(help="The partner.")],
    key: KeyOption = None,
    database_url: DbOption = None,
) -> None:
    """Create an API key for partner NAME (its own routes: /v1/partner…). Printed once; only its hash is
    stored."""
    value = _checked(key) or credentials.new_partner_key()
    now = datetime.now(UTC)
    _write(database_url, lambda tx: credentials.create_partner_key(tx, name, value, actor=actor(), now=now))
    out.print(value, highlight=False)


def list_partner_keys(
    name: Annotated[str, typer.Argument(help="The partner.")], database_url: DbOption = None
) -> None:
    """Partner NAME's API keys (never the keys themselves): prefix, creation, last use, revocation."""
    _print_keys(_read(database_url, lambda tx: credentials.list_partner_keys(tx, name)))


def revoke_partner_key(
    name: Annotated[str, typer.Argument(help="The partner.")],
    key_id: Annotated[str, typer.Argument(help="The id from `partners keys NAME`.")],
    database_url: DbOption = None,
) -> None:
    """Revoke one API key of partner NAME: every server answers 401 to it within a second."""
    now = datetime.now(UTC)
    view = _write(
        database_url, lambda tx: credentials.revoke_partner_key(tx, name, key_id, actor=actor(), now=now)
    )
    out.print(f"revoked {view['id']} of {name} at {_when(view['revoked_at'])}", highlight=False)
