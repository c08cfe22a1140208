"""Batched channels as configuration: email digests (``email.digest``) and batch files (``file``).

A schedule is any of ``cron`` (on the partner's wall clock), ``count`` and ``idle``; digests also take the
shorthands ``every: 50`` (leads), ``hourly: true`` and ``daily_at: "08:00"``. Destination secrets (an SFTP
password or key, an FTP password, an S3 secret key) may be literals, stored encrypted and shown as ``***``,
or ``${ENV_VAR}`` references read when the file is sent. Each model's ``to_spec`` gives the domain's value.
"""

from __future__ import annotations

import re
import string
from typing import Annotated, Any, get_args

from pydantic import AfterValidator, BeforeValidator, model_validator

from leadrelay.configuration.values import (
    Attempts,
    Emails,
    EnvText,
    FieldNames,
    PositiveDuration,
    PositiveInt,
    Strict,
    choice,
    parse_duration,
    problem,
)
from leadrelay.domain.batches import MAX_BATCH, BatchSchedule, check_cron
from leadrelay.domain.files import (
    BUILTIN_COLUMNS,
    Destination,
    EmailDestination,
    FileFormat,
    FileKind,
    FtpDestination,
    LineEnding,
    Quoting,
    S3Destination,
    SftpDestination,
    check_pattern,
)
from leadrelay.domain.model import ChannelKind, FileChannel

__all__ = ["BUILTIN_COLUMNS", "DESTINATIONS", "DigestModel", "FileModel", "with_ext"]

DESTINATIONS = ("sftp", "ftp", "s3", "email")
_TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _cron(value: Any) -> str:
    if not isinstance(value, str):
        raise problem("must be a cron expression such as '0 8 * * *' (minute hour day month weekday)")
    try:
        check_cron(value)
    except ValueError as exc:
        raise problem(str(exc)) from None
    return " ".join(value.split())


def _clock(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        # what a YAML 1.1 tool makes of an unquoted 18:30 (the base-60 number 1110)
        raise problem(f"must be a time of day in quotes: '{value // 60:02d}:{value % 60:02d}', not a number")
    if not isinstance(value, str) or not _TIME_RE.match(value):
        raise problem("must be a time of day as HH:MM (24-hour), e.g. '08:00'")
    return value


def _port_number(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise problem("must be a port number (1-65535)")
    return value


def _pattern(what: str, path_safe: bool = True, ext: bool = False) -> Any:
    """Check a name or subject pattern; with ``ext``, ``{ext}`` (the format's extension) is allowed too."""

    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise problem("must be a string")
        checked = value
        try:
            checked = with_ext(value, "ext") if ext else value
            check_pattern(checked, what=what, path_safe=path_safe)
        except ValueError as exc:
            message = str(exc).replace(repr(checked), repr(value))
            if ext and "; known: " in message:
                message += ", {ext}"
            raise problem(message) from None
        return value

    return check


def with_ext(pattern: str, extension: str) -> str:
    """``pattern`` with each ``{ext}`` placeholder replaced by ``extension`` (``{{ext}}`` stays literal).

    ``{ext}`` with a format spec or conversion raises ``ValueError``; a malformed pattern is returned as it
    is, for ``check_pattern`` to say what is wrong with it."""
    try:
        parts = list(string.Formatter().parse(pattern))
    except ValueError:
        return pattern
    out = []
    for literal, name, spec, conversion in parts:
        out.append(literal.replace("{", "{{").replace("}", "}}"))
        if name is None:
            continue
        if name == "ext":
            if spec or conversion:
                raise ValueError(f"file name pattern {pattern!r}: {{ext}} takes no conversion or format spec")
            out.append(extension.replace("{", "{{").replace("}", "}}"))
        else:
            out.append(
                "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            )
    return "".join(out)


def _one_char(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 1 or value in '\r\n"\\':
        raise problem("must be one character other than a quote, a backslash or a newline")
    return value


Cron = Annotated[str, BeforeValidator(_cron)]
Clock = Annotated[str, BeforeValidator(_clock)]
FilePattern = Annotated[str, BeforeValidator(_pattern("file name pattern"))]
FilePatternExt = Annotated[str, BeforeValidator(_pattern("file name pattern", ext=True))]
SubjectPattern = Annotated[str, BeforeValidator(_pattern("subject", path_safe=False))]
Port = Annotated[int, BeforeValidator(_port_number)]  # schema._port allows ${ENV}; destinations do not


class ScheduleModel(Strict):
    """When a batch is cut: any of a cron tick, a count of waiting leads, a quiet period."""

    cron: Cron | None = None
    count: PositiveInt | None = None
    idle: PositiveDuration | None = None

    @model_validator(mode="after")
    def _some(self) -> ScheduleModel:
        if self.cron is None and self.count is None and self.idle is None:
            raise problem("give at least one of 'cron', 'count' or 'idle'")
        if self.count is not None and self.count > MAX_BATCH:
            raise problem(f"count must be at most {MAX_BATCH} (the most leads in one batch)")
        return self

    def to_spec(self) -> BatchSchedule:
        idle_s = parse_duration(self.idle) if self.idle is not None else None
        return BatchSchedule(cron=self.cron, count=self.count, idle_s=idle_s)


class DigestModel(Strict):
    """An email digest: one message with the waiting leads as a CSV attachment and a summary."""

    every: PositiveInt | None = None  # leads
    hourly: bool = False
    daily_at: Clock | None = None  # on the partner's wall clock
    cron: Cron | None = None
    idle: PositiveDuration | None = None
    filename: FilePattern = "{partner}-{datetime}.csv"
    subject: SubjectPattern = "{count} leads for {partner} ({date})"
    columns: Annotated[list[str], AfterValidator(lambda v: _columns(v))] | None = None

    @model_validator(mode="after")
    def _some(self) -> DigestModel:
        given = [self.every is not None, self.hourly, self.daily_at is not None, self.cron is not None]
        if not any(given) and self.idle is None:
            raise problem(
                "give when the digest goes out: 'every' (leads), 'hourly', 'daily_at', 'cron' or 'idle'"
            )
        if sum([self.hourly, self.daily_at is not None, self.cron is not None]) > 1:
            raise problem("give one of 'hourly', 'daily_at' or 'cron' (with 'every' or 'idle' if you like)")
        if self.every is not None and self.every > MAX_BATCH:
            raise problem(f"every must be at most {MAX_BATCH} (the most leads in one digest)")
        return self

    def to_spec(
        self, to: list[str] | None, fields: list[str] | None, max_attempts: int, partner_email: str | None
    ) -> FileChannel:
        """The digest of an email channel (``to``, ``fields``, ``max_attempts``): a CSV file mailed to the
        channel's recipients, else the partner's, on its schedule."""
        return FileChannel(
            destination=EmailDestination(to=_recipients(to, partner_email), subject=self.subject),
            schedule=self.schedule(),
            format=FileFormat(columns=tuple(self.columns) if self.columns else None),
            filename=self.filename,
            fields=tuple(fields) if fields is not None else None,
            max_attempts=max_attempts,
            kind=ChannelKind.EMAIL,
        )

    def schedule(self) -> BatchSchedule:
        """The shorthands as a schedule: ``hourly`` and ``daily_at`` become cron, ``every`` a count."""
        cron = self.cron
        if self.hourly:
            cron = "0 * * * *"
        elif self.daily_at:
            hour, minute = self.daily_at.split(":")
            cron = f"{int(minute)} {int(hour)} * * *"
        idle_s = parse_duration(self.idle) if self.idle is not None else None
        return BatchSchedule(cron=cron, count=self.every, idle_s=idle_s)


def _recipients(to: list[str] | None, partner_email: str | None) -> tuple[str, ...]:
    return tuple(to or ([partner_email] if partner_email else []))


def _columns(value: list[str]) -> list[str]:
    if not value:
        raise problem("name at least one column, or leave 'columns' out for every field")
    seen: set[str] = set()
    for name in value:
        if name in seen:
            raise problem(f"column '{name}' is listed twice")
        seen.add(name)
    return value


class SftpModel(Strict):
    host: EnvText
    port: Port = 22
    username: EnvText
    password: EnvText | None = None
    private_key: EnvText | None = None  # OpenSSH/PEM key text, or a ${ENV_VAR} holding it
    directory: str = "."
    known_hosts: str | None = None
    host_key: str | None = None  # a fingerprint, SHA256:…
    timeout: PositiveDuration = "1m"  # canonical: "60s" validates to "1m"

    @model_validator(mode="after")
    def _credentials(self) -> SftpModel:
        if self.password is None and self.private_key is None:
            raise problem("SFTP needs a 'password' or a 'private_key'")
        if self.host_key is not None and not self.host_key.startswith(("SHA256:", "MD5:")):
            raise problem("host_key must be a fingerprint such as 'SHA256:…' (ssh-keygen -lf key.pub)")
        return self

    def to_spec(self) -> SftpDestination:
        return SftpDestination(
            host=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            private_key=self.private_key,
            directory=self.directory,
            known_hosts=self.known_hosts,
            host_key=self.host_key,
            timeout_s=parse_duration(self.timeout),
        )


class FtpModel(Strict):
    host: EnvText
    port: Port = 21
    username: EnvText
    password: EnvText
    directory: str = "."
    tls: bool = False  # explicit FTPS (AUTH TLS)
    passive: bool = True
    ca_cert: str | None = None  # PEM text of a certificate to trust (a self-signed server)
    timeout: PositiveDuration = "1m"  # canonical: "60s" validates to "1m"

    def to_spec(self) -> FtpDestination:
        return FtpDestination(
            host=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            directory=self.directory,
            tls=self.tls,
            passive=self.passive,
            ca_cert=self.ca_cert,
            timeout_s=parse_duration(self.timeout),
        )


_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _bucket(value: Any) -> str:
    if not isinstance(value, str) or not _BUCKET_RE.match(value):
        raise problem(
            "must be an S3 bucket name: 3-63 lowercase letters, digits, '.' or '-', starting and ending "
            "with a letter or digit"
        )
    return value


class S3Model(Strict):
    bucket: Annotated[str, BeforeValidator(_bucket)]
    prefix: str = ""
    region: str = "us-east-1"
    endpoint_url: str | None = None  # an S3-compatible store (MinIO, R2, …)
    access_key_id: EnvText | None = None
    secret_access_key: EnvText | None = None
    timeout: PositiveDuration = "1m"  # canonical: "60s" validates to "1m"

    @model_validator(mode="after")
    def _pair(self) -> S3Model:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise problem("give both access_key_id and secret_access_key, or neither (the SDK's chain)")
        return self

    def to_spec(self) -> S3Destination:
        return S3Destination(
            bucket=self.bucket,
            prefix=self.prefix,
            region=self.region,
            endpoint_url=self.endpoint_url,
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
            timeout_s=parse_duration(self.timeout),
        )


class MailModel(Strict):
    to: Emails | None = None  # None: the partner's email
    subject: SubjectPattern = "{count} leads for {partner} ({date})"

    def to_spec(self, partner_email: str | None) -> EmailDestination:
        return EmailDestination(to=_recipients(self.to, partner_email), subject=self.subject)


class DestinationModel(Strict):
    sftp: SftpModel | None = None
    ftp: FtpModel | None = None
    s3: S3Model | None = None
    email: MailModel | None = None

    @model_validator(mode="after")
    def _one(self) -> DestinationModel:
        if sum(getattr(self, kind) is not None for kind in DESTINATIONS) != 1:
            raise problem("give exactly one destination: 'sftp', 'ftp', 's3' or 'email'")
        return self

    def to_spec(self, partner_email: str | None) -> Destination | EmailDestination:
        if self.sftp is not None:
            return self.sftp.to_spec()
        if self.ftp is not None:
            return self.ftp.to_spec()
        if self.s3 is not None:
            return self.s3.to_spec()
        assert self.email is not None, "validation: exactly one destination"
        return self.email.to_spec(partner_email)


class FileModel(Strict):
    """Batch files: the format, the name, when a file is cut and where it goes."""

    format: Annotated[FileKind, BeforeValidator(choice("file format", get_args(FileKind)))] = "csv"
    delimiter: Annotated[str, BeforeValidator(_one_char)] = ","
    quoting: Annotated[Quoting, BeforeValidator(choice("quoting", get_args(Quoting)))] = "minimal"
    header: bool = True
    line_ending: Annotated[LineEnding, BeforeValidator(choice("line ending", get_args(LineEnding)))] = "crlf"
    columns: Annotated[list[str], AfterValidator(lambda v: _columns(v))] | None = None
    formula_guard: bool = True  # CSV: text a spreadsheet would run as a formula starts with '
    filename: FilePatternExt = "{partner}-{datetime}.{ext}"  # {ext}: csv or xlsx
    schedule: ScheduleModel
    destination: DestinationModel
    max_attempts: Attempts = 8
    fields: FieldNames | None = None

    def to_spec(self, partner_email: str | None) -> FileChannel:
        fmt = FileFormat(
            kind=self.format,
            delimiter=self.delimiter,
            quoting=self.quoting,
            header=self.header,
            line_ending=self.line_ending,
            columns=tuple(self.columns) if self.columns else None,
            formula_guard=self.formula_guard,
        )
        return FileChannel(
            destination=self.destination.to_spec(partner_email),
            schedule=self.schedule.to_spec(),
            format=fmt,
            filename=with_ext(self.filename, fmt.extension),
            fields=tuple(self.fields) if self.fields is not None else None,
            max_attempts=self.max_attempts,
        )
