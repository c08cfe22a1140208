"""Alembic, driven from code: ``leadrelay db upgrade`` and ``serve`` call :func:`upgrade`.

Alembic is imported by the functions that use it (0.2 s): every ``leadrelay`` command imports this module,
and most never migrate."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from leadrelay.adapters.db.engine import Database, normalize_url

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent.parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)
    _forget_old_pages(url)


def _forget_old_pages(url: str) -> None:
    """SQLite: a migration that rewrote personal data (0007: the dedup marks) leaves no earlier page
    versions behind in the write-ahead log or the database file."""
    if not normalize_url(url).startswith("sqlite"):
        return
    db = Database(url)
    try:
        db.forget_old_pages()
    finally:
        db.dispose()


def downgrade(url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)
