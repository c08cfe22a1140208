"""Fixtures of the integration tests: the real file servers of ``tests/file_servers.py`` on loopback, and
simulated buyers (``healthy`` answering every post, ``failing`` answering 500 until a test says otherwise)."""

from collections.abc import Iterator

import pytest

from leadrelay.simulate.buyers import BuyersThread
from tests.file_servers import ftp, s3, sftp, silent_port

__all__ = ["failing", "ftp", "healthy", "s3", "sftp", "silent_port"]


@pytest.fixture
def healthy() -> Iterator[BuyersThread]:
    with BuyersThread() as buyers:
        yield buyers


@pytest.fixture
def failing() -> Iterator[BuyersThread]:
    """Every post gets a 500 until the test says otherwise (``set_error_rate``)."""
    with BuyersThread(error_rate=1.0) as buyers:
        yield buyers
