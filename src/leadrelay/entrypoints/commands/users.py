"""`leadrelay users …`: the console's users: create, invite, list, disable, reset a password, and the first
admin of a new installation (`ensure-admin`, which `make run` calls)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer

from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.adapters.passwords import Argon2Passwords
from leadrelay.config import Settings
from leadrelay.domain.access import Role
from leadrelay.entrypoints.commands.common import DbOption, actor, fail, out, print_rows, settings_for
from leadrelay.errors import LeadrelayError, ValidationFailed
from leadrelay.services.users import Accounts

T = TypeVar("T")

users_app = typer.Typer(
    help="Console users: create, invite, list, disable, reset a password.", no_args_is_help=True
)

RoleOption = Annotated[Role, typer.Option("--role", help="admin, operator, viewer, partner or source.")]
NameOption = Annotated[str | None, typer.Option("--name", help="The name shown in the console.")]
PartnerOption = Annotated[str | None, typer.Option("--partner", help="A partner user's partner.")]
SourceOption = Annotated[str | None, typer.Option("--source", help="A source user's source.")]
StdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
]
RandomOption = Annotated[bool, typer.Option("--random-password", help="Make up a password and print it.")]


@contextmanager
def _accounts(database_url: str | None) -> Iterator[tuple[Accounts, Settings]]:
    settings = settings_for(database_url)
    db = Database(settings.database_url)
    try:
        yield Accounts(SqlStorage(db), Argon2Passwords()), settings
    except ValidationFailed as exc:
        problem = exc.problems[0] if exc.problems else None
        if problem is None:
            raise fail(exc.detail) from exc
        name = problem.field if problem.field == "email" else f"--{problem.field}"  # EMAIL is an argument
        raise fail(f"{name}: {problem.error}") from exc
    except LeadrelayError as exc:
        raise fail(exc.detail) from exc
    finally:
        db.dispose()


def _run(database_url: str | None, fn: Callable[[Accounts, Settings], T]) -> T:
    with _accounts(database_url) as (accounts, settings):
        return fn(accounts, settings)


def _tenant(role: Role, partner: str | None, source: str | None) -> str | None:
    if partner and source:
        raise fail("--partner and --source: give one at most")
    if role == Role.PARTNER and not partner:
        raise fail("--partner: a partner user needs the partner's name")
    if role == Role.SOURCE and not source:
        raise fail("--source: a source user needs the source's name")
    if role not in (Role.PARTNER, Role.SOURCE) and (partner or source):
        raise fail(f"--partner/--source: a {role.value} user belongs to no partner or source")
    return partner or source


def _password(from_stdin: bool, random: bool) -> tuple[str | None, bool]:
    """The password and whether it was made up (to print); None: ask on the terminal."""
    import secrets

    if from_stdin and random:
        raise fail("--password-stdin and --random-password: give one at most")
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise fail("--password-stdin: the first line of stdin is empty")
        return line, False
    if random:
        return secrets.token_urlsafe(12), True
    if not sys.stdin.isatty():
        raise fail("no terminal to ask the password on: use --password-stdin or --random-password")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True), False


def console_url(settings: Settings) -> str:
    return f"{settings.base_url()}/console"


@users_app.command("create")
def create(
    email: Annotated[str, typer.Argument(help="The user's email (the login).")],
    role: RoleOption = Role.VIEWER,
    name: NameOption = None,
    partner: PartnerOption = None,
    source: SourceOption = None,
    password_stdin: StdinOption = False,
    random_password: RandomOption = False,
    database_url: DbOption = None,
) -> None:
    """Create a user with a password (asked for, read from stdin, or made up and printed)."""
    tenant = _tenant(role, partner, source)
    password, made_up = _password(password_stdin, random_password)
    view = _run(
        database_url,
        lambda a, _s: a.create_user(
            email, role, password=password, actor=actor(), display_name=name, tenant=tenant
        ),
    )
    out.print(f"created {view['email']} ({view['role']}) as {view['id']}", highlight=False)
    if made_up:
        out.print(f"password: {password}", highlight=False)


@users_app.command("invite")
def invite(
    email: Annotated[str, typer.Argument(help="The user's email (the login).")],
    role: RoleOption = Role.VIEWER,
    name: NameOption = None,
    partner: PartnerOption = None,
    source: SourceOption = None,
    database_url: DbOption = None,
) -> None:
    """Invite a user: prints the link (valid 7 days, once) where they choose their password."""
    tenant = _tenant(role, partner, source)

    def go(accounts: Accounts, settings: Settings) -> str:
        _, token = accounts.invite(email, role, actor=actor(), display_name=name, tenant=tenant)
        return f"{console_url(settings)}/invite/{token}"

    out.print(_run(database_url, go), highlight=False)


def _when(value: Any) -> str:
    return str(value)[:19].replace("T", " ") if value else "-"


@users_app.command("list")
def list_users(database_url: DbOption = None) -> None:
    """The users: email, role, partner or source, last login, disabled."""
    items = _run(database_url, lambda a, _s: a.list_users())
    columns = ("email", "name", "role", "of", "last login", "disabled", "password")
    rows = [
        [
            u["email"],
            u["display_name"],
            u["role"],
            u["tenant"] or "-",
            _when(u["last_login_at"]),
            _when(u["disabled_at"]),
            "set" if u["has_password"] else "invited",
        ]
        for u in items
    ]
    print_rows(columns, rows)


@users_app.command("disable")
def disable(
    email: Annotated[str, typer.Argument(help="The user's email.")], database_url: DbOption = None
) -> None:
    """Disable a user: its logins are refused and its sessions end at once."""
    view = _run(database_url, lambda a, _s: a.disable(email, actor=actor()))
    out.print(f"disabled {view['email']} at {_when(view['disabled_at'])}", highlight=False)


@users_app.command("reset-password")
def reset_password(
    email: Annotated[str, typer.Argument(help="The user's email.")],
    password_stdin: StdinOption = False,
    random_password: RandomOption = False,
    database_url: DbOption = None,
) -> None:
    """Set a new password (asked for, read from stdin, or made up and printed); the user's sessions end."""
    password, made_up = _password(password_stdin, random_password)
    assert password is not None
    view = _run(database_url, lambda a, _s: a.reset_password(email, password, actor=actor()))
    out.print(f"new password set for {view['email']}", highlight=False)
    if made_up:
        out.print(f"password: {password}", highlight=False)


@users_app.command("ensure-admin")
def ensure_admin(
    email: Annotated[str, typer.Option(help="The first admin's email.")] = "admin@localhost",
    database_url: DbOption = None,
) -> None:
    """On an installation without users, create an admin with a random password and print the login;
    with users already, change nothing."""

    def go(accounts: Accounts, settings: Settings) -> None:
        made = accounts.ensure_admin(email, actor=actor())
        url = console_url(settings)
        if made is None:
            out.print(f"console: {url}  (users exist; `leadrelay users list`)", highlight=False)
            return
        view, password = made
        out.print(f"console: {url}", highlight=False)
        out.print(f"first admin login: {view['email']}  password: {password}", highlight=False)

    _run(database_url, go)
