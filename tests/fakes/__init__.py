"""In-memory fakes of the ports of ``leadrelay.services.ports``, for the use cases' unit tests.

``FakeStorage`` is the unit of work (a transaction works on its own view of the tables and commits only
when its function returns); ``FakeTx`` hands out fakes of the repositories, each mirroring the SQL of the
store function it is named after (``tests/unit/test_fakes_contract.py`` runs the same calls on SQLite and
on the fakes and compares the answers). Rows come back as ``FakeRow``: attributes by column name, like
SQLAlchemy's rows. ``FakeClock``, ``FakeIds``, ``FakeSealer`` / ``FakeRing`` and ``FakeDedupKeys`` stand in
for the clock, the ids and the keys.

Use::

    storage, clock = FakeStorage(), FakeClock()
    storage.transaction(lambda tx: tx.leads.insert_leads([lead_row("lead_1")]))
    ...  # the use case, built with storage=storage, clock=clock, ids=FakeIds()
    assert storage.rows("jobs")[0].status == "received"

Deliberately stricter than the SQL: an unknown column in an insert (the SQL drops it silently), a value
of the wrong type (SQLite stores an int given for a string as text), a write inside ``Storage.read``, and
a write transaction opened inside another are refused.

The query objects the service groups added to ``Tx`` are faked in ``queries.py`` (``tx.deferred``,
``tx.holds``, ``tx.erasure``, ``tx.suppression_names``); ``FakeGroupCommits`` runs each submitted item in
one transaction of a ``FakeStorage``, and ``FakeOldPages`` forgets for free.

Not faked: ``Batches`` beyond reading the waiting deliveries, ``BatchQueries``, ``LogQueries`` and
``Erasure.shrink_batch`` (they raise ``NotImplementedError``).
"""

from __future__ import annotations

from leadrelay.services.ports import Clock, DedupKeys, GroupCommits, IdSource, OldPages, Ring, Sealer
from tests.fakes.builders import attempt_row, delivery_row, job_row, lead_row, relay_row
from tests.fakes.clock import START, FakeClock, FakeIds
from tests.fakes.commits import FakeGroupCommit, FakeGroupCommits, FakeOldPages
from tests.fakes.keys import FakeDedupKeys, FakeRing, FakeSealer
from tests.fakes.storage import FakeStorage, FakeTx
from tests.fakes.tables import FakeRow, IntegrityViolation, ReadOnlyTransaction

__all__ = [
    "START",
    "FakeClock",
    "FakeDedupKeys",
    "FakeGroupCommit",
    "FakeGroupCommits",
    "FakeIds",
    "FakeOldPages",
    "FakeRing",
    "FakeRow",
    "FakeSealer",
    "FakeStorage",
    "FakeTx",
    "IntegrityViolation",
    "ReadOnlyTransaction",
    "attempt_row",
    "delivery_row",
    "job_row",
    "lead_row",
    "relay_row",
]


def _conforms(
    clock: FakeClock,
    ids: FakeIds,
    sealer: FakeSealer,
    ring: FakeRing,
    keys: FakeDedupKeys,
    commits: FakeGroupCommits,
    pages: FakeOldPages,
) -> tuple[Clock, IdSource, Sealer, Ring, DedupKeys, GroupCommits, OldPages]:
    """mypy proves here that the fakes implement the ports (the storage's in ``storage.py``)."""
    return clock, ids, sealer, ring, keys, commits, pages
