"""Batch lead files: what a file looks like, what it is called, and where it goes.

Pure values checked when configuration is applied, so a bad pattern or option fails at ``apply`` time and
not at 2 a.m. when the first file is due. Destinations hold secrets (passwords, keys), which never show in
``repr``; the adapters in ``leadrelay.adapters.files`` do the rendering and the uploading.
"""

from __future__ import annotations

import datetime as dt
import re
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = [
    "BUILTIN_COLUMNS",
    "MEDIA_TYPES",
    "PLACEHOLDERS",
    "Destination",
    "EmailDestination",
    "FileFormat",
    "FtpDestination",
    "S3Destination",
    "SftpDestination",
    "UploadError",
    "UploadResult",
    "batch_columns",
    "check_filename",
    "check_pattern",
    "filename",
    "fill",
    "spreadsheet_text",
]

FileKind = Literal["csv", "xlsx"]
Quoting = Literal["minimal", "all", "nonnumeric", "none"]
LineEnding = Literal["crlf", "lf"]

PLACEHOLDERS: tuple[str, ...] = ("date", "time", "datetime", "partner", "count")
"""``{date}`` 2024-05-01, ``{time}`` 142233, ``{datetime}`` 20240501T142233 (the partner's wall clock),
``{partner}`` the partner's name, ``{count}`` the number of leads (``{count:05d}`` pads it)."""

MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
"""The media type of each file kind (a download's Content-Type, a mail attachment's type)."""

_MAX_NAME_BYTES = 255  # the usual file-system limit for one name
_UNSAFE = re.compile(r"[^\w.+=@,-]", re.ASCII)  # anything but letters, digits and harmless punctuation


@dataclass(frozen=True, slots=True)
class UploadResult:
    """Where a batch file went (``sftp://host/dir/file.csv``, ``ftps://…``, ``s3://bucket/key``,
    ``mailto:…``), how big it was and how long sending it took."""

    location: str
    bytes: int
    duration_ms: float


class UploadError(Exception):
    """The upload failed; ``retryable`` says whether trying again later may succeed."""

    def __init__(self, reason: str, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class FileFormat:
    """How leads are written: CSV options (ignored for XLSX except ``header`` and ``columns``)."""

    kind: FileKind = "csv"
    delimiter: str = ","
    quoting: Quoting = "minimal"  # "none" escapes delimiters, quotes and newlines with a backslash
    header: bool = True
    line_ending: LineEnding = "crlf"  # RFC 4180 says CRLF; many Unix importers want LF
    columns: tuple[str, ...] | None = None  # None: see ``batch_columns``
    bold_header: bool = True  # XLSX only
    # CSV only: a text cell a spreadsheet would run as a formula (``=HYPERLINK(…)``, ``+SUM(…)``, ``@x``)
    # starts with ``'`` (``spreadsheet_text``); off for a buyer whose importer reads the file as data
    formula_guard: bool = True

    def __post_init__(self) -> None:
        _one_of("kind", self.kind, ("csv", "xlsx"))
        _one_of("quoting", self.quoting, ("minimal", "all", "nonnumeric", "none"))
        _one_of("line_ending", self.line_ending, ("crlf", "lf"))
        if len(self.delimiter) != 1 or self.delimiter in '\r\n"\\':
            raise ValueError(
                f"delimiter must be one character other than a quote or newline: {self.delimiter!r}"
            )
        if self.columns is not None:
            if not self.columns:
                raise ValueError("columns is empty: name at least one, or leave it out for every field")
            duplicates = sorted({c for c in self.columns if self.columns.count(c) > 1})
            if duplicates:
                raise ValueError(f"columns are named twice: {', '.join(duplicates)}")

    @property
    def extension(self) -> str:
        return self.kind


BUILTIN_COLUMNS = ("lead_id", "received_at", "source")
"""Columns every batch row has besides the lead's fields: its id, when it arrived (UTC), its source. No
entity may have a field of these names (apply refuses it)."""


def batch_columns(
    fmt: FileFormat, fields: Sequence[str] | None, entities: Iterable[Iterable[str]]
) -> tuple[str, ...]:
    """The columns of a batched channel's files: its ``columns``, else the built-in columns and then its
    ``fields``, else every field of ``entities`` (each entity's fields in its order; a partner takes leads
    of any entity). They depend on the configuration only, not on which fields a file's leads have, so
    every file of the channel has the same columns (a lead without a value has an empty cell)."""
    if fmt.columns is not None:
        return fmt.columns
    names = fields if fields is not None else [name for entity in entities for name in entity]
    return tuple(dict.fromkeys([*BUILTIN_COLUMNS, *names]))


@dataclass(frozen=True, slots=True)
class SftpDestination:
    """An SFTP directory. With neither ``known_hosts`` nor ``host_key``, ANY host key is accepted.

    ``known_hosts`` is OpenSSH known_hosts text; ``host_key`` a fingerprint as ``ssh-keygen -l`` prints it
    (``SHA256:…``). ``private_key`` is PEM/OpenSSH key text, used instead of or with ``password``.
    """

    host: str
    username: str
    port: int = 22
    password: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)
    directory: str = "."
    known_hosts: str | None = None
    host_key: str | None = None
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        _check_endpoint(self.host, self.port, self.timeout_s)
        if self.password is None and self.private_key is None:
            raise ValueError("SFTP needs a password or a private_key")
        if self.host_key is not None and not self.host_key.startswith(("SHA256:", "MD5:")):
            raise ValueError("host_key must be a fingerprint such as 'SHA256:…' (ssh-keygen -lf key.pub)")


@dataclass(frozen=True, slots=True)
class FtpDestination:
    """An FTP directory; ``tls`` is explicit FTPS (AUTH TLS), with the data channel protected too.

    The server certificate is checked against the system's CAs, or against ``ca_cert`` (PEM text, e.g. a
    self-signed certificate) when given. Plain FTP sends the password in clear text.
    """

    host: str
    username: str
    password: str = field(repr=False)
    port: int = 21
    directory: str = "."
    tls: bool = False
    passive: bool = True
    ca_cert: str | None = None
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        _check_endpoint(self.host, self.port, self.timeout_s)


@dataclass(frozen=True, slots=True)
class S3Destination:
    """An S3 (or S3-compatible, via ``endpoint_url``) bucket; the key is ``prefix/filename``.

    Without keys the SDK's usual chain (environment, profile, instance role) supplies credentials.
    """

    bucket: str
    prefix: str = ""
    region: str = "us-east-1"
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if not self.bucket or "/" in self.bucket:
            raise ValueError(f"bucket must be a bucket name, not {self.bucket!r}")
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("give both access_key_id and secret_access_key, or neither")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be positive")


@dataclass(frozen=True, slots=True)
class EmailDestination:
    """The file as an email attachment; ``subject`` may use the file-name placeholders."""

    to: tuple[str, ...]
    subject: str = "{count} leads for {partner} ({date})"

    def __post_init__(self) -> None:
        if not self.to:
            raise ValueError("an email destination needs at least one recipient in 'to'")
        check_pattern(self.subject, what="subject", path_safe=False)


Destination = SftpDestination | FtpDestination | S3Destination


def check_pattern(pattern: str, *, what: str = "file name pattern", path_safe: bool = True) -> None:
    """Raise ``ValueError`` naming what is wrong with a file-name pattern (unknown placeholders first)."""
    try:
        parts = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        raise ValueError(
            f"{what} {pattern!r} is malformed ({exc}); write a literal brace as {{{{ or }}}}"
        ) from None
    names = [name for _, name, _, _ in parts if name is not None]
    unknown = sorted({name for name in names if name not in PLACEHOLDERS})
    if unknown:
        shown = ", ".join("{" + name + "}" for name in unknown)
        known = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
        raise ValueError(f"{what} {pattern!r} has unknown placeholders {shown}; known: {known}")
    for literal, name, spec, conversion in parts:
        if path_safe and any(c in literal for c in "/\\\0"):
            raise ValueError(f"{what} {pattern!r} must name a file, not a path: no '/' or '\\'")
        if conversion or (spec and "{" in spec):
            raise ValueError(f"{what} {pattern!r}: {{{name}}} takes no conversion or nested field")
    if not pattern.strip():
        raise ValueError(f"{what} is empty")
    _render(pattern, _SAMPLE)  # a bad format spec such as {date:d} fails now, not at delivery time


def filename(pattern: str, *, partner: str, count: int, now: dt.datetime, tz: str | dt.tzinfo) -> str:
    """The file name for a batch, with dates on the partner's wall clock and every unsafe character gone."""
    check_pattern(pattern)
    return check_filename(_sanitize(_render(pattern, _values(partner, count, now, tz))))


def fill(pattern: str, *, partner: str, count: int, now: dt.datetime, tz: str | dt.tzinfo) -> str:
    """A text pattern (an email subject) with the file-name placeholders filled in, nothing removed."""
    check_pattern(pattern, what="pattern", path_safe=False)
    return _render(pattern, _values(partner, count, now, tz))


def _values(partner: str, count: int, now: dt.datetime, tz: str | dt.tzinfo) -> dict[str, object]:
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime (UTC), not a naive one")
    local = now.astimezone(ZoneInfo(tz) if isinstance(tz, str) else tz)
    return {
        "date": local.strftime("%Y-%m-%d"),
        "time": local.strftime("%H%M%S"),
        "datetime": local.strftime("%Y%m%dT%H%M%S"),
        "partner": partner,
        "count": count,
    }


def check_filename(name: str) -> str:
    """``name`` when it is one plain file name (no directory part, no '..', not hidden); else ValueError."""
    if not name or name in (".", "..") or name.startswith(".") or ".." in name:
        raise ValueError(f"unsafe file name {name!r}: it must not be empty, start with '.' or contain '..'")
    if any(c in name for c in "/\\\0") or any(ord(c) < 32 for c in name):
        raise ValueError(f"unsafe file name {name!r}: no '/', '\\' or control characters")
    if len(name.encode()) > _MAX_NAME_BYTES:
        raise ValueError(f"file name is longer than {_MAX_NAME_BYTES} bytes: {name[:40]!r}…")
    return name


_SAMPLE: dict[str, object] = {
    "date": "2024-01-31",
    "time": "235959",
    "datetime": "20240131T235959",
    "partner": "p",
    "count": 1,
}


def _render(pattern: str, values: dict[str, object]) -> str:
    try:
        return pattern.format(**values)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"file name pattern {pattern!r} cannot be rendered: {exc}") from None


def _sanitize(name: str) -> str:
    """Keep letters, digits and ``._-+=@,``; everything else (spaces, slashes, colons) becomes '_'."""
    name = _UNSAFE.sub("_", name)
    while ".." in name:
        name = name.replace("..", ".")
    name = name.lstrip(".")
    if not name:
        raise ValueError("the file name pattern renders an empty name")
    return name


def _one_of(what: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")


def _check_endpoint(host: str, port: int, timeout_s: float) -> None:
    if not host or any(c.isspace() for c in host):
        raise ValueError(f"host must be a host name or address, not {host!r}")
    if not 0 < port < 65536:
        raise ValueError(f"port must be 1-65535, not {port}")
    if timeout_s <= 0:
        raise ValueError("timeout_s must be positive")


_PLAIN_NUMBER = re.compile(r"[+-][0-9][0-9 .]*")  # +15125551212, -12.50: a number, no formula


def spreadsheet_text(text: str) -> str:
    """Text for a CSV cell that a spreadsheet shows as text and never runs as a formula (a lead's
    ``=HYPERLINK(…)``): one that starts as a formula would is quoted, but for a plain signed number (a
    phone in E.164, an amount), which a spreadsheet reads as the number it is."""
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text
