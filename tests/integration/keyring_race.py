"""What each racing process of ``test_keys.py`` runs: in a module of its own, so that a spawned process
imports only the keyring and the engine (importing the test module, with the test support's servers and
the CLI, took 3 s of CPU a process)."""

from __future__ import annotations

import time

from leadrelay.adapters.crypto import load_keyring
from leadrelay.adapters.db.engine import Database

SECRET = "a test secret that is long enough"


def load_in_process(url: str, start_at: float) -> str:
    """In a fresh process: wait for the common start, load (maybe creating) the ring, seal a value."""
    database = Database(url)
    try:
        time.sleep(max(0.0, start_at - time.time()))
        ring = database.transaction(lambda c: load_keyring(c, SECRET))
        return ring.seal(b"from another process", b"lead")
    finally:
        database.dispose()
