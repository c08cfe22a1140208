"""In-memory tables: rows as the database would store them, and one transaction's view of them.

A stored row is a dict that is never changed in place (an update stores a new dict), with its values as the
SQL side would hand them back: strings as plain ``str`` (a ``StrEnum`` is stored as its value), floats as
``float``, datetimes as timezone-aware UTC (a naive one is refused, like ``UTCDateTime``), JSON encoded
with orjson as the engine does (so a tuple comes back a list, a ``Decimal`` is refused, and every read gets
fresh objects). Inserts and updates check what the schema checks: the key, unique constraints, NOT NULL
and the state columns' allowed values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import orjson

from tests.fakes.schema import TABLES, Col, TableSpec

Key = tuple[Any, ...]
Stored = dict[str, Any]
State = dict[str, dict[Key, Stored]]


class IntegrityViolation(Exception):
    """What the database refuses with an IntegrityError: a taken key, a NULL where none may be, a state
    column's value outside its enum."""


class ReadOnlyTransaction(Exception):
    """A write inside ``Storage.read``: it works by accident on the databases (nothing enforces read
    only), and on SQLite it may fail with a busy database, so the fake refuses it."""


class FakeRow:
    """A row as a repository returns it, read-only like SQLAlchemy's ``Row``: ``row.status``,
    ``row._mapping["status"]``, ``row._asdict()``, ``row[0]``, ``tuple(row)``."""

    __slots__ = ("_data",)
    _data: dict[str, Any]

    def __init__(self, data: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_data", dict(data))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("can't set attribute")

    @property
    def _mapping(self) -> Mapping[str, Any]:
        return MappingProxyType(self._data)

    @property
    def _fields(self) -> tuple[str, ...]:
        return tuple(self._data)

    def _asdict(self) -> dict[str, Any]:
        return dict(self._data)

    def __getitem__(self, index: int) -> Any:
        return tuple(self._data.values())[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._data.values())

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FakeRow):
            return self._data == other._data
        if isinstance(other, tuple):
            return tuple(self._data.values()) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FakeRow({self._data!r})"


def _coerce(table: str, col: Col, value: Any) -> Any:
    """The value as stored (JSON as its encoded bytes)."""
    if col.kind == "json":
        # SQLAlchemy's JSON stores None as the JSON null, so even a NOT NULL column takes it
        return orjson.dumps(value)
    if value is None:
        return None
    where = f"{table}.{col.name}"
    if col.kind == "str":
        if not isinstance(value, str):
            raise TypeError(f"{where}: a string expected, got {value!r}")
        return str(value) if type(value) is not str else value
    if col.kind == "int":
        if not isinstance(value, int):
            raise TypeError(f"{where}: an integer expected, got {value!r}")
        return int(value)
    if col.kind == "float":
        if not isinstance(value, int | float):
            raise TypeError(f"{where}: a number expected, got {value!r}")
        return float(value)
    if col.kind == "money":  # Cents: a Decimal in whole cents
        if not isinstance(value, Decimal) or value != value.quantize(Decimal("0.01")):
            raise TypeError(f"{where}: a Decimal in cents expected, got {value!r}")
        return value.quantize(Decimal("0.01"))
    if col.kind == "bool":
        if not isinstance(value, int):
            raise TypeError(f"{where}: a boolean expected, got {value!r}")
        return bool(value)
    if not isinstance(value, datetime):
        raise TypeError(f"{where}: a datetime expected, got {value!r}")
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(UTC)


_JSON = {name: frozenset(c.name for c in spec.columns if c.kind == "json") for name, spec in TABLES.items()}


def _decoded(spec: TableSpec, stored: Stored) -> dict[str, Any]:
    json = _JSON[spec.name]
    return {
        name: (orjson.loads(value) if name in json and value is not None else value)
        for name, value in stored.items()
    }


class Tables:
    """One transaction's view of the tables: the committed state under this transaction's own writes. A
    table is copied on its first write; ``written`` is what a commit installs."""

    def __init__(self, committed: State, *, readonly: bool = False) -> None:
        self._committed = committed
        self.written: State = {}
        self.readonly = readonly

    def _rows(self, table: str) -> dict[Key, Stored]:
        got = self.written.get(table)
        return got if got is not None else self._committed[table]

    def _writable(self, table: str) -> dict[Key, Stored]:
        if self.readonly:
            raise ReadOnlyTransaction(f"a write to {table} in a read-only transaction")
        got = self.written.get(table)
        if got is None:
            got = self.written[table] = dict(self._committed[table])
        return got

    # ------------------------------------------------------------ reads

    def row(self, table: str, stored: Stored) -> FakeRow:
        return FakeRow(_decoded(TABLES[table], stored))

    def matches(self, table: str, stored: Stored, where: Mapping[str, object]) -> bool:
        """Whether the stored row's columns equal ``where``'s values (a JSON column's decoded)."""
        json = _JSON[table]
        return all(
            (orjson.loads(stored[name]) if name in json and stored[name] is not None else stored[name])
            == value
            for name, value in where.items()
        )

    def values(self, table: str, stored: Stored) -> dict[str, Any]:
        return _decoded(TABLES[table], stored)

    def stored(self, table: str) -> Iterable[Stored]:
        """The stored rows, in insertion order (what a scan without ORDER BY would see)."""
        return self._rows(table).values()

    def find(self, table: str, *key: Any) -> Stored | None:
        return self._rows(table).get(key)

    def where(self, table: str, test: Callable[[Stored], bool]) -> list[Stored]:
        return [row for row in self._rows(table).values() if test(row)]

    # ------------------------------------------------------------ writes

    def insert(self, table: str, values: Mapping[str, Any]) -> Stored:
        spec = TABLES[table]
        unknown = set(values) - set(spec.names)
        if unknown:
            # the SQL drops them without a word; a fake that did too would hide a misspelt column
            raise KeyError(f"{table} has no columns {sorted(unknown)}")
        row: Stored = {}
        for col in spec.columns:
            if col.name in values:
                row[col.name] = _coerce(table, col, values[col.name])
            else:  # an omitted column is NULL (its SQL default), never the JSON null
                row[col.name] = None if col.default is None else _coerce(table, col, col.default)
        rows = self._writable(table)
        key = tuple(row[name] for name in spec.key)
        if key in rows:
            raise IntegrityViolation(f"{table}: the key {key} is taken")
        self._check(spec, row, rows.values())
        rows[key] = row
        return row

    def update(self, table: str, stored: Stored, changes: Mapping[str, Any]) -> Stored:
        spec = TABLES[table]
        new = dict(stored)
        for name, value in changes.items():
            new[name] = _coerce(table, spec.column(name), value)
        rows = self._writable(table)
        old_key = tuple(stored[name] for name in spec.key)
        key = tuple(new[name] for name in spec.key)
        others = [row for k, row in rows.items() if k != old_key]
        if key != old_key and key in rows:
            raise IntegrityViolation(f"{table}: the key {key} is taken")
        self._check(spec, new, others)
        if key == old_key:
            rows[key] = new
        else:  # a new key: the row moves (to the end of the scan order)
            del rows[old_key]
            rows[key] = new
        return new

    def columns(self, table: str, names: Iterable[str]) -> None:
        """Refuse what the SQL cannot compile: an UPDATE of no column, or of one the table lacks."""
        names = list(names)
        if not names:
            raise ValueError(f"an update of {table} sets no column")
        for name in names:
            TABLES[table].column(name)

    def delete(self, table: str, stored: Stored) -> None:
        spec = TABLES[table]
        del self._writable(table)[tuple(stored[name] for name in spec.key)]

    @staticmethod
    def _check(spec: TableSpec, row: Stored, others: Iterable[Stored]) -> None:
        for col in spec.columns:
            if row[col.name] is None and not col.nullable:
                raise IntegrityViolation(f"{spec.name}.{col.name} may not be NULL")
        for name, states in spec.states.items():
            if row[name] is None and spec.column(name).nullable:  # SQL: a CHECK passes a NULL
                continue
            if row[name] not in {s.value for s in states}:
                raise IntegrityViolation(f"{spec.name}.{name}: {row[name]!r} is not a {states.__name__}")
        for names in spec.unique:
            values = tuple(row[name] for name in names)
            if None in values:  # SQL: NULLs are never equal, so they never clash
                continue
            if any(tuple(other[name] for name in names) == values for other in others):
                raise IntegrityViolation(f"{spec.name}: {names} = {values} is taken")


def empty_state() -> State:
    return {name: {} for name in TABLES}
