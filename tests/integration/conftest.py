"""Fixtures of the integration tests: the real file servers of ``tests/file_servers.py`` on loopback."""

from tests.file_servers import ftp, s3, sftp, silent_port

__all__ = ["ftp", "s3", "sftp", "silent_port"]
