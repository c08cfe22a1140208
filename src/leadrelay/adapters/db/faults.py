"""Which database errors are nobody's fault: a deadlock, a restart, a lost connection. Those fail a whole
transaction, and whatever it held is tried again later; any other error (a value out of range, a bad
byte) comes from one item's data, and only that item should fail."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from leadrelay.errors import StorageError


def nobodys_fault(exc: BaseException) -> bool:
    """The driver's word for a database that failed (as raised inside a transaction): a deadlock, a
    restart, a lost connection. Other storage errors come from the data written."""
    return isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def database_failed(exc: BaseException) -> bool:
    """``nobodys_fault``, or the storage's own report of it when a transaction failed (``StorageError``:
    a lost connection, a deadlock, a lock not had, the database closed)."""
    return isinstance(exc, StorageError) or nobodys_fault(exc)
