"""Many-row INSERTs on the hot paths, with the driver's executemany and no per-value SQLAlchemy work.

SQLAlchemy Core binds every value of every row through its type's processor and builds an execution
context per statement; on the intake path that costs more than SQLite takes to store the rows. A
``RowWriter`` turns a table's rows into tuples itself, once per row, with one converter per column that
stores exactly what the Core insert would (the same datetime text on SQLite, the same JSON text), and hands
the batch to ``Connection.exec_driver_sql``: still the caller's transaction, events and error wrapping.

A row names columns of the table and nothing else: a key the table does not have is an error, not
silently dropped; a column the row leaves out gets the column's scalar default, else SQL NULL (where
an explicit None in a JSON column is the JSON null, as with SQLAlchemy).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import JSON, Boolean, Connection, Table
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from leadrelay.adapters.db.schema_base import UTCDateTime

Convert = Callable[[Any], Any]
_OMITTED = object()


class UnknownColumn(KeyError):
    """A row names a column its table does not have (a programming error, never input)."""

    def __str__(self) -> str:
        return str(self.args[0])


def _json(none_as_null: bool) -> Convert:
    null = None if none_as_null else "null"  # as SQLAlchemy's JSON type stores a Python None

    def convert(value: Any) -> Any:
        return null if value is None else orjson.dumps(value).decode()

    return convert


_last_datetime: tuple[datetime | None, str | None] = (None, None)


def _sqlite_datetime(value: datetime | None) -> str | None:
    """UTC text in SQLAlchemy's SQLite DATETIME format. A row's timestamps (and often a batch's) are one
    object, so the last conversion is kept (as one tuple: threads may share it)."""
    global _last_datetime
    if value is None:
        return None
    last, text = _last_datetime
    if value is last:
        return text
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    text = value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    _last_datetime = (value, text)
    return text


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("naive datetime")
    return value


def _sqlite_bool(value: Any) -> Any:
    return None if value is None else int(bool(value))


def _converter(column: Any, dialect: str) -> Convert | None:
    kind = column.type
    if isinstance(kind, JSON):
        return _json(bool(kind.none_as_null))
    if isinstance(kind, UTCDateTime):
        return _sqlite_datetime if dialect == "sqlite" else _aware
    if isinstance(kind, Boolean) and dialect == "sqlite":
        return _sqlite_bool
    return None


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    steps: list[tuple[str, Convert | None, Any]]  # per column: name, converter, scalar default or _OMITTED
    converts: list[tuple[int, Convert]]  # the columns whose values need converting


class RowWriter:
    """INSERTs of dict rows into one table (with ``conflict``: ON CONFLICT (those columns) DO UPDATE SET the
    ``update`` columns, or DO NOTHING), and UPDATEs by primary key ``id``."""

    def __init__(self, table: Table, *, conflict: Sequence[str] = (), update: Sequence[str] = ()) -> None:
        self.table = table
        self._names = [c.name for c in table.columns]
        self._known = frozenset(self._names)
        self._defaults: dict[str, Any] = {}
        for c in table.columns:
            default = c.default
            if isinstance(default, ScalarElementColumnDefault):
                self._defaults[c.name] = default.arg
        self._conflict = tuple(conflict)
        self._update = tuple(update)
        self._plans: dict[str, _Plan] = {}
        # a row's values in column order, in C (KeyError when the row leaves a column out)
        getter = operator.itemgetter(*self._names)
        self._all = getter if len(self._names) > 1 else (lambda row: (getter(row),))
        self._updates: dict[tuple[str, frozenset[str]], tuple[str, list[tuple[str, Convert | None]]]] = {}
        self._columns = {c.name: c for c in table.columns}

    def _plan(self, dialect: str) -> _Plan:
        plan = self._plans.get(dialect)
        if plan is None:
            mark = "?" if dialect == "sqlite" else "%s"
            cols = ", ".join(f'"{n}"' for n in self._names)
            sql = f'INSERT INTO "{self.table.name}" ({cols}) VALUES ({", ".join(mark for _ in self._names)})'
            if self._conflict:
                target = ", ".join(f'"{n}"' for n in self._conflict)
                sets = ", ".join(f'"{n}" = excluded."{n}"' for n in self._update)
                sql += f" ON CONFLICT ({target}) " + (f"DO UPDATE SET {sets}" if sets else "DO NOTHING")
            steps = [
                (c.name, _converter(c, dialect), self._defaults.get(c.name, _OMITTED))
                for c in self.table.columns
            ]
            converts = [(i, convert) for i, (_, convert, _) in enumerate(steps) if convert is not None]
            plan = self._plans[dialect] = _Plan(sql, steps, converts)
        return plan

    def tuples(self, dialect: str, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        plan = self._plan(dialect)
        out = []
        for row in rows:
            if not self._known.issuperset(row):
                unknown = sorted(set(row) - self._known)
                raise UnknownColumn(f"{self.table.name} has no column {', '.join(unknown)}")
            try:
                values = list(self._all(row))  # the common case: the row names every column
            except KeyError:
                out.append(self._with_defaults(plan, row))
                continue
            for i, convert in plan.converts:
                values[i] = convert(values[i])
            out.append(tuple(values))
        return out

    @staticmethod
    def _with_defaults(plan: _Plan, row: Mapping[str, Any]) -> tuple[Any, ...]:
        values: list[Any] = []
        for name, convert, default in plan.steps:
            if name in row:
                value = row[name]
            elif default is _OMITTED:  # left out, no default: NULL (a JSON column too)
                values.append(None)
                continue
            else:
                value = default
            values.append(value if convert is None else convert(value))
        return tuple(values)

    def write(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        dialect = conn.dialect.name
        conn.exec_driver_sql(self._plan(dialect).sql, self.tuples(dialect, rows))

    def update(self, conn: Connection, changes: Mapping[str, Mapping[str, Any]]) -> None:
        """``UPDATE … SET … WHERE id = ?`` for ``{row id: {column: value}}``: one executemany per set of
        columns."""
        dialect = conn.dialect.name
        shapes: dict[frozenset[str], list[tuple[str, Mapping[str, Any]]]] = {}
        for row_id, values in changes.items():
            shapes.setdefault(frozenset(values), []).append((row_id, values))
        for keys, rows in shapes.items():
            sql, steps = self._update_plan(dialect, keys)
            params = []
            for row_id, values in rows:
                row = [values[n] if convert is None else convert(values[n]) for n, convert in steps]
                row.append(row_id)
                params.append(tuple(row))
            conn.exec_driver_sql(sql, params)

    def _update_plan(
        self, dialect: str, keys: frozenset[str]
    ) -> tuple[str, list[tuple[str, Convert | None]]]:
        plan = self._updates.get((dialect, keys))
        if plan is None:
            unknown = sorted(keys - self._known)
            if unknown:
                raise UnknownColumn(f"{self.table.name} has no column {', '.join(unknown)}")
            mark = "?" if dialect == "sqlite" else "%s"
            names = sorted(keys)
            sets = ", ".join(f'"{n}" = {mark}' for n in names)
            sql = f'UPDATE "{self.table.name}" SET {sets} WHERE "id" = {mark}'
            steps = [(n, _converter(self._columns[n], dialect)) for n in names]
            plan = self._updates[(dialect, keys)] = (sql, steps)
        return plan
