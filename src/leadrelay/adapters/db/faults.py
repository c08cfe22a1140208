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


# PostgreSQL's deadlock_detected and serialization_failure: the transaction was chosen to give way, and
# run again it usually goes through (the other one has committed by then)
_GAVE_WAY = ("40P01", "40001")


def deadlocked(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) is the database rolling the transaction back so that
    another could go on: worth running again at once, with the same items."""
    seen: BaseException | None = exc
    for _ in range(8):  # the storage's own error wraps the driver's (raise … from exc)
        if seen is None:
            return False
        code = getattr(getattr(seen, "orig", None), "sqlstate", None) or getattr(seen, "sqlstate", None)
        if code in _GAVE_WAY:
            return True
        seen = seen.__cause__ or seen.__context__
    return False
