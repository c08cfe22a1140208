"""Batched channels as configuration: file channels (each destination) and email digests validate into the
expected ``FileChannel`` and ``BatchSchedule``, re-validate unchanged, and bad input is refused with the
path of the bad value."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from leadrelay.configuration.load import Objects, build_specs, dump_yaml, load_yaml_text, validate_document
from leadrelay.domain.batches import MAX_BATCH, BatchSchedule
from leadrelay.domain.files import (
    EmailDestination,
    FileFormat,
    FtpDestination,
    S3Destination,
    SftpDestination,
)
from leadrelay.domain.model import ChannelKind, FileChannel
from leadrelay.errors import ConfigError, ConfigProblem

PARTNER = "partners.sunco"
CHANNEL = f"{PARTNER}.channel"
FILE = f"{CHANNEL}.file"
DIGEST = f"{CHANNEL}.email.digest"
ENTITIES = {
    "solar": {
        "fields": {
            "first_name": {"type": "string", "required": True},
            "email": {"type": "email"},
            "phone": {"type": "phone", "required": True},
            "monthly_bill": {"type": "number"},
        }
    }
}
SFTP = {"sftp": {"host": "sftp.buyer.example", "username": "relay", "password": "${SUNCO_SFTP_PASSWORD}"}}


def document(channel: dict[str, Any], *, email: str | None = "buyer@sunco.example", **partner: Any) -> Any:
    body: dict[str, Any] = {"timezone": "America/Chicago", "channel": channel, **partner}
    if email is not None:
        body["email"] = email
    return {"entities": copy.deepcopy(ENTITIES), "partners": {"sunco": body}}


def file(**options: Any) -> dict[str, Any]:
    """A file channel: every 100 leads to SFTP unless ``options`` say otherwise."""
    return {"file": {"schedule": {"count": 100}, "destination": copy.deepcopy(SFTP), **options}}


def digest(**options: Any) -> dict[str, Any]:
    return {"email": {"digest": options}}


def objects(channel: dict[str, Any], **partner: Any) -> Objects:
    return validate_document(document(channel, **partner))


def channel_of(channel: dict[str, Any], **partner: Any) -> FileChannel:
    spec = build_specs(objects(channel, **partner)).partners["sunco"].channel
    assert isinstance(spec, FileChannel)
    return spec


def problems_of(channel: dict[str, Any], **partner: Any) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as caught:
        validate_document(document(channel, **partner))
    return caught.value.problems


def assert_round_trip(found: Objects) -> None:
    """The canonical documents validate to themselves, through YAML too (an export re-applies unchanged)."""
    assert validate_document(copy.deepcopy(found)) == found
    assert validate_document(load_yaml_text(dump_yaml(found))) == found


# ---------------------------------------------------------------- file channels: each destination


def test_sftp_with_a_password_and_every_default() -> None:
    assert channel_of(file()) == FileChannel(
        destination=SftpDestination(
            host="sftp.buyer.example", username="relay", password="${SUNCO_SFTP_PASSWORD}", timeout_s=60.0
        ),
        schedule=BatchSchedule(count=100),
        format=FileFormat(),
        filename="{partner}-{datetime}.csv",
        fields=None,
        max_attempts=8,
        kind=ChannelKind.FILE,
    )


def test_sftp_with_a_key_and_host_checks() -> None:
    destination = {
        "sftp": {
            "host": "${SUNCO_SFTP_HOST}",
            "port": 2222,
            "username": "relay",
            "private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH PRIVATE KEY-----\n",
            "directory": "incoming/leads",
            "known_hosts": "sftp.buyer.example ssh-ed25519 AAAAC3Nza",
            "host_key": "SHA256:0123456789abcdef",
            "timeout": "30s",
        }
    }
    assert channel_of(file(destination=destination)).destination == SftpDestination(
        host="${SUNCO_SFTP_HOST}",
        port=2222,
        username="relay",
        private_key="-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH PRIVATE KEY-----\n",
        directory="incoming/leads",
        known_hosts="sftp.buyer.example ssh-ed25519 AAAAC3Nza",
        host_key="SHA256:0123456789abcdef",
        timeout_s=30.0,
    )


def test_ftp_and_ftps() -> None:
    plain = {"ftp": {"host": "ftp.buyer.example", "username": "relay", "password": "pw"}}
    assert channel_of(file(destination=plain)).destination == FtpDestination(
        host="ftp.buyer.example",
        username="relay",
        password="pw",
        port=21,
        tls=False,
        passive=True,
        timeout_s=60.0,
    )
    ftps = {
        "ftp": {
            "host": "ftp.buyer.example",
            "port": 990,
            "username": "relay",
            "password": "${FTP_PASSWORD}",
            "directory": "in",
            "tls": True,
            "passive": False,
            "ca_cert": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            "timeout": "2m",
        }
    }
    assert channel_of(file(destination=ftps)).destination == FtpDestination(
        host="ftp.buyer.example",
        port=990,
        username="relay",
        password="${FTP_PASSWORD}",
        directory="in",
        tls=True,
        passive=False,
        ca_cert="-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        timeout_s=120.0,
    )


def test_s3_with_keys_or_the_sdks_chain() -> None:
    keyed = {
        "s3": {
            "bucket": "buyer-leads.example",
            "prefix": "relay/",
            "region": "eu-west-1",
            "endpoint_url": "http://127.0.0.1:9000",
            "access_key_id": "AKIAEXAMPLE",
            "secret_access_key": "${S3_SECRET}",
        }
    }
    assert channel_of(file(destination=keyed)).destination == S3Destination(
        bucket="buyer-leads.example",
        prefix="relay/",
        region="eu-west-1",
        endpoint_url="http://127.0.0.1:9000",
        access_key_id="AKIAEXAMPLE",
        secret_access_key="${S3_SECRET}",
        timeout_s=60.0,
    )
    assert channel_of(file(destination={"s3": {"bucket": "buyer-leads"}})).destination == S3Destination(
        bucket="buyer-leads", timeout_s=60.0
    )


def test_email_destination_to_given_or_the_partners_email() -> None:
    given = {
        "email": {"to": ["desk@sunco.example", "boss@sunco.example"], "subject": "Leads {date} ({count})"}
    }
    assert channel_of(file(destination=given)).destination == EmailDestination(
        to=("desk@sunco.example", "boss@sunco.example"), subject="Leads {date} ({count})"
    )
    assert channel_of(file(destination={"email": {}})).destination == EmailDestination(
        to=("buyer@sunco.example",), subject="{count} leads for {partner} ({date})"
    )
    assert channel_of(
        file(destination={"email": {"to": ["desk@sunco.example"]}}), email=None
    ).destination == (EmailDestination(to=("desk@sunco.example",)))


def test_every_format_option_and_the_extension_in_the_file_name() -> None:
    found = channel_of(
        file(
            format="xlsx",
            delimiter=";",
            quoting="all",
            header=False,
            line_ending="lf",
            columns=["lead_id", "received_at", "first_name", "email"],
            fields=["first_name", "email"],
            filename="{partner}_{date}_{count:05d}.{ext}",
            max_attempts=3,
        )
    )
    assert found.format == FileFormat(
        kind="xlsx",
        delimiter=";",
        quoting="all",
        header=False,
        line_ending="lf",
        columns=("lead_id", "received_at", "first_name", "email"),
    )
    assert found.filename == "{partner}_{date}_{count:05d}.xlsx"
    assert (found.fields, found.max_attempts) == (("first_name", "email"), 3)
    assert channel_of(file(filename="leads-{date}.{ext}")).filename == "leads-{date}.csv"
    assert channel_of(file(filename="{{ext}}-{date}.txt")).filename == "{{ext}}-{date}.txt"  # a literal


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ({"cron": "30 8 * * 1-5"}, BatchSchedule(cron="30 8 * * 1-5")),
        ({"cron": "  0   8 * * *  "}, BatchSchedule(cron="0 8 * * *")),  # spacing made canonical
        ({"count": 250}, BatchSchedule(count=250)),
        ({"count": MAX_BATCH}, BatchSchedule(count=MAX_BATCH)),
        ({"idle": "15m"}, BatchSchedule(idle_s=900.0)),
        ({"idle": 90}, BatchSchedule(idle_s=90.0)),
        ({"cron": "0 17 * * *", "count": 500, "idle": "1h"}, BatchSchedule("0 17 * * *", 500, 3600.0)),
    ],
)
def test_file_schedules(schedule: dict[str, Any], expected: BatchSchedule) -> None:
    assert channel_of(file(schedule=schedule)).schedule == expected


def test_a_file_channel_as_a_failover_step() -> None:
    spec = build_specs(
        objects(
            {"webhook": {"url": "https://buyer.example/leads"}},
            failover=[file(schedule={"idle": "10m"}, destination={"s3": {"bucket": "fallback"}})],
        )
    ).partners["sunco"]
    [step] = spec.failover
    assert isinstance(step, FileChannel)
    assert step.destination == S3Destination(bucket="fallback", timeout_s=60.0)
    assert step.schedule == BatchSchedule(idle_s=600.0)


# ---------------------------------------------------------------- email digests


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"every": 50}, BatchSchedule(count=50)),
        ({"hourly": True}, BatchSchedule(cron="0 * * * *")),
        ({"hourly": False, "every": 5}, BatchSchedule(count=5)),
        ({"daily_at": "08:30"}, BatchSchedule(cron="30 8 * * *")),
        ({"daily_at": "00:05"}, BatchSchedule(cron="5 0 * * *")),
        ({"daily_at": "23:59"}, BatchSchedule(cron="59 23 * * *")),
        ({"cron": "0 9 * * mon-fri"}, BatchSchedule(cron="0 9 * * mon-fri")),
        ({"idle": "30m"}, BatchSchedule(idle_s=1800.0)),
        ({"every": 100, "hourly": True}, BatchSchedule(cron="0 * * * *", count=100)),
        ({"every": 20, "idle": "5m"}, BatchSchedule(count=20, idle_s=300.0)),
        ({"daily_at": "17:00", "idle": "2h"}, BatchSchedule(cron="0 17 * * *", idle_s=7200.0)),
        ({"every": 10, "cron": "*/15 * * * *", "idle": "1m"}, BatchSchedule("*/15 * * * *", 10, 60.0)),
    ],
)
def test_digest_schedules(options: dict[str, Any], expected: BatchSchedule) -> None:
    found = channel_of(digest(**options))
    assert found.schedule == expected
    assert found.kind is ChannelKind.EMAIL


def test_a_digest_is_a_csv_file_mailed_to_the_partner() -> None:
    assert channel_of(digest(every=50)) == FileChannel(
        destination=EmailDestination(
            to=("buyer@sunco.example",), subject="{count} leads for {partner} ({date})"
        ),
        schedule=BatchSchedule(count=50),
        format=FileFormat(),
        filename="{partner}-{datetime}.csv",
        fields=None,
        max_attempts=3,
        kind=ChannelKind.EMAIL,
    )


def test_a_digest_with_its_own_recipients_name_subject_columns_and_fields() -> None:
    channel = {
        "email": {
            "to": ["desk@sunco.example"],
            "fields": ["first_name", "phone"],
            "max_attempts": 5,
            "digest": {
                "daily_at": "07:45",
                "filename": "sunco-{date}.csv",
                "subject": "Your {count} leads of {date}",
                "columns": ["lead_id", "first_name", "phone", "source"],
            },
        }
    }
    assert channel_of(channel, email=None) == FileChannel(
        destination=EmailDestination(to=("desk@sunco.example",), subject="Your {count} leads of {date}"),
        schedule=BatchSchedule(cron="45 7 * * *"),
        format=FileFormat(columns=("lead_id", "first_name", "phone", "source")),
        filename="sunco-{date}.csv",
        fields=("first_name", "phone"),
        max_attempts=5,
        kind=ChannelKind.EMAIL,
    )


def test_digest_subjects_may_hold_a_slash() -> None:
    assert channel_of(digest(every=5, subject="Leads 1/2 {date}")).destination == EmailDestination(
        to=("buyer@sunco.example",), subject="Leads 1/2 {date}"
    )


def test_columns_are_not_checked_while_the_entities_are_unknown() -> None:
    data = document(digest(every=5, columns=["anything"]))
    del data["entities"]
    assert validate_document(data)["partners"]["sunco"]["channel"]["email"]["digest"]["columns"] == [
        "anything"
    ]


# ---------------------------------------------------------------- canonical documents re-validate unchanged


@pytest.mark.parametrize(
    "channel",
    [
        file(),
        file(format="xlsx", filename="{date}.{ext}", columns=["lead_id", "email"], schedule={"idle": "90s"}),
        file(
            destination={"ftp": {"host": "h.example", "username": "u", "password": "${P}", "timeout": "60s"}}
        ),
        file(destination={"s3": {"bucket": "abc", "access_key_id": "A", "secret_access_key": "${S}"}}),
        file(destination={"email": {"to": ["x@y.example"]}}),
        digest(every=5),
        digest(hourly=True, idle="10m"),
        digest(daily_at="08:30"),
        digest(cron="0  8 * * *", columns=["email"]),
    ],
    ids=["sftp", "xlsx", "ftp", "s3", "email", "every", "hourly", "daily_at", "cron"],
)
def test_canonical_documents_validate_to_themselves(channel: dict[str, Any]) -> None:
    assert_round_trip(objects(channel))


def test_canonical_file_documents_fill_in_the_defaults() -> None:
    found = objects(file())["partners"]["sunco"]["channel"]["file"]
    assert found["filename"] == "{partner}-{datetime}.{ext}"
    assert found["schedule"] == {"cron": None, "count": 100, "idle": None}
    assert found["destination"]["sftp"]["timeout"] == "1m"
    assert (found["format"], found["delimiter"], found["quoting"], found["line_ending"]) == (
        "csv",
        ",",
        "minimal",
        "crlf",
    )


# ---------------------------------------------------------------- refused, with the path


BAD = [
    # (channel, partner's email, expected path, expected message fragment)
    (
        file(destination={"sftpp": SFTP["sftp"]}),
        "b@x.example",
        f"{FILE}.destination.sftpp",
        "unknown key; did you mean 'sftp'?",
    ),
    (
        file(destination={"sftp": {"host": "h", "username": "u", "passwd": "p"}}),
        "b@x.example",
        f"{FILE}.destination.sftp.passwd",
        "unknown key; did you mean 'password'?",
    ),
    (
        file(destination={**SFTP, "s3": {"bucket": "abc"}}),
        "b@x.example",
        f"{FILE}.destination",
        "give exactly one destination: 'sftp', 'ftp', 's3' or 'email'",
    ),
    (file(destination={}), "b@x.example", f"{FILE}.destination", "give exactly one destination"),
    ({"file": {"schedule": {"count": 5}}}, "b@x.example", f"{FILE}.destination", "required"),
    ({"file": {"destination": SFTP}}, "b@x.example", f"{FILE}.schedule", "required"),
    (file(shedule={"count": 1}), "b@x.example", f"{FILE}.shedule", "unknown key; did you mean 'schedule'?"),
    (
        file(schedule={"cron": "61 * * * *"}),
        "b@x.example",
        f"{FILE}.schedule.cron",
        "cron expression '61 * * * *' is invalid: Bad minute",
    ),
    (
        file(schedule={"cron": "0 8 * *"}),
        "b@x.example",
        f"{FILE}.schedule.cron",
        "cron expression '0 8 * *' must have five fields: minute hour day month weekday",
    ),
    (file(schedule={"cron": 8}), "b@x.example", f"{FILE}.schedule.cron", "must be a cron expression"),
    (file(schedule={}), "b@x.example", f"{FILE}.schedule", "give at least one of 'cron', 'count' or 'idle'"),
    (file(schedule={"count": 0}), "b@x.example", f"{FILE}.schedule.count", "must be a positive integer"),
    (
        file(schedule={"count": MAX_BATCH + 1}),
        "b@x.example",
        f"{FILE}.schedule",
        f"count must be at most {MAX_BATCH}",
    ),
    (file(schedule={"idle": "0s"}), "b@x.example", f"{FILE}.schedule.idle", "must be more than zero"),
    (file(schedule={"idle": "soon"}), "b@x.example", f"{FILE}.schedule.idle", "invalid duration 'soon'"),
    (
        digest(cron="0 25 * * *"),
        "b@x.example",
        f"{DIGEST}.cron",
        "cron expression '0 25 * * *' is invalid: Bad hour",
    ),
    (
        digest(daily_at="25:00"),
        "b@x.example",
        f"{DIGEST}.daily_at",
        "must be a time of day as HH:MM (24-hour), e.g. '08:00'",
    ),
    (digest(daily_at="08:60"), "b@x.example", f"{DIGEST}.daily_at", "must be a time of day as HH:MM"),
    (digest(daily_at="8am"), "b@x.example", f"{DIGEST}.daily_at", "must be a time of day as HH:MM"),
    (
        digest(daily_at=1110),  # what YAML 1.1 makes of an unquoted 18:30
        "b@x.example",
        f"{DIGEST}.daily_at",
        "must be a time of day in quotes: '18:30', not a number",
    ),
    (digest(every=0), "b@x.example", f"{DIGEST}.every", "must be a positive integer"),
    (digest(every="50"), "b@x.example", f"{DIGEST}.every", "must be a positive integer"),
    (digest(every=MAX_BATCH + 1), "b@x.example", DIGEST, f"every must be at most {MAX_BATCH}"),
    (
        digest(hourly=True, daily_at="08:00"),
        "b@x.example",
        DIGEST,
        "give one of 'hourly', 'daily_at' or 'cron' (with 'every' or 'idle' if you like)",
    ),
    (digest(daily_at="08:00", cron="0 9 * * *"), "b@x.example", DIGEST, "give one of 'hourly', 'daily_at'"),
    (digest(hourly="yes"), "b@x.example", f"{DIGEST}.hourly", "must be true or false"),
    (
        digest(),
        "b@x.example",
        DIGEST,
        "give when the digest goes out: 'every' (leads), 'hourly', 'daily_at', 'cron' or 'idle'",
    ),
    (digest(hourly=False), "b@x.example", DIGEST, "give when the digest goes out"),
    (digest(evry=5), "b@x.example", f"{DIGEST}.evry", "unknown key; did you mean 'every'?"),
    (digest(every=5), None, f"{CHANNEL}.email.to", "required when the partner has no 'email'"),
    (
        file(columns=["first_name", "frist_name"]),
        "b@x.example",
        f"{FILE}.columns[1]",
        "unknown field 'frist_name'; did you mean 'first_name'?",
    ),
    (
        file(columns=["lead-id"]),
        "b@x.example",
        f"{FILE}.columns[0]",
        "unknown field 'lead-id'; did you mean 'lead_id'?",
    ),
    (
        digest(every=5, columns=["email", "phon"]),
        "b@x.example",
        f"{DIGEST}.columns[1]",
        "unknown field 'phon'; did you mean 'phone'?",
    ),
    (
        file(fields=["emial"]),
        "b@x.example",
        f"{FILE}.fields[0]",
        "unknown field 'emial'; did you mean 'email'?",
    ),
    (file(columns=[]), "b@x.example", f"{FILE}.columns", "name at least one column"),
    (file(columns=["email", "email"]), "b@x.example", f"{FILE}.columns", "column 'email' is listed twice"),
    (
        file(filename="{partnr}-{date}.{ext}"),
        "b@x.example",
        f"{FILE}.filename",
        "file name pattern '{partnr}-{date}.{ext}' has unknown placeholders {partnr}; known: {date}, {time}, "
        "{datetime}, {partner}, {count}, {ext}",
    ),
    (
        file(filename="{ext:>5}"),
        "b@x.example",
        f"{FILE}.filename",
        "{ext} takes no conversion or format spec",
    ),
    (file(filename="{date"), "b@x.example", f"{FILE}.filename", "is malformed"),
    (
        digest(every=5, filename="{partner}-{dat}.csv"),
        "b@x.example",
        f"{DIGEST}.filename",
        "has unknown placeholders {dat}",
    ),
    (
        digest(every=5, filename="{partner}.{ext}"),  # a digest is always CSV: no {ext}
        "b@x.example",
        f"{DIGEST}.filename",
        "has unknown placeholders {ext}",
    ),
    (
        digest(every=5, subject="{cnt} leads"),
        "b@x.example",
        f"{DIGEST}.subject",
        "subject '{cnt} leads' has unknown placeholders {cnt}",
    ),
    (
        file(destination={"email": {"subject": "{lead.first_name}"}}),
        "b@x.example",
        f"{FILE}.destination.email.subject",
        "has unknown placeholders {lead.first_name}",
    ),
    (
        file(filename="out/{date}.{ext}"),
        "b@x.example",
        f"{FILE}.filename",
        "file name pattern 'out/{date}.{ext}' must name a file, not a path: no '/' or '\\'",
    ),
    (
        digest(every=5, filename="../{date}.csv"),
        "b@x.example",
        f"{DIGEST}.filename",
        "must name a file, not a path",
    ),
    (
        file(destination={"email": {}}),
        None,
        f"{FILE}.destination.email.to",
        "required when the partner has no 'email'",
    ),
    (
        file(destination={"email": {"to": []}}),
        "b@x.example",
        f"{FILE}.destination.email.to",
        "must not be empty",
    ),
    (
        file(destination={"sftp": {"host": "h", "username": "u"}}),
        "b@x.example",
        f"{FILE}.destination.sftp",
        "SFTP needs a 'password' or a 'private_key'",
    ),
    (
        file(destination={"sftp": {**SFTP["sftp"], "host_key": "ab:cd"}}),
        "b@x.example",
        f"{FILE}.destination.sftp",
        "host_key must be a fingerprint such as 'SHA256:…'",
    ),
    (
        file(destination={"sftp": {**SFTP["sftp"], "port": 0}}),
        "b@x.example",
        f"{FILE}.destination.sftp.port",
        "must be a port number (1-65535)",
    ),
    (
        file(destination={"sftp": {**SFTP["sftp"], "timeout": "0s"}}),
        "b@x.example",
        f"{FILE}.destination.sftp.timeout",
        "must be more than zero",
    ),
    (
        file(destination={"sftp": {"username": "u", "password": "p"}}),
        "b@x.example",
        f"{FILE}.destination.sftp.host",
        "required",
    ),
    (
        file(destination={"ftp": {"host": "h", "username": "u"}}),
        "b@x.example",
        f"{FILE}.destination.ftp.password",
        "required",
    ),
    (
        file(destination={"s3": {"bucket": "abc", "access_key_id": "AKIA"}}),
        "b@x.example",
        f"{FILE}.destination.s3",
        "give both access_key_id and secret_access_key, or neither",
    ),
    (
        file(destination={"s3": {"bucket": "abc", "secret_access_key": "${S3_SECRET}"}}),
        "b@x.example",
        f"{FILE}.destination.s3",
        "give both access_key_id and secret_access_key, or neither",
    ),
    (
        file(destination={"s3": {"bucket": "Bad_Bucket"}}),
        "b@x.example",
        f"{FILE}.destination.s3.bucket",
        "must be an S3 bucket name: 3-63 lowercase letters",
    ),
    (
        file(quoting="minmal"),
        "b@x.example",
        f"{FILE}.quoting",
        "unknown quoting 'minmal'; did you mean 'minimal'?",
    ),
    (file(quoting=1), "b@x.example", f"{FILE}.quoting", "must be one of: minimal, all, nonnumeric, none"),
    (
        file(line_ending="crl"),
        "b@x.example",
        f"{FILE}.line_ending",
        "unknown line ending 'crl'; did you mean 'crlf'?",
    ),
    (file(line_ending="windows"), "b@x.example", f"{FILE}.line_ending", "unknown line ending 'windows'"),
    (
        file(delimiter=";;"),
        "b@x.example",
        f"{FILE}.delimiter",
        "must be one character other than a quote, a backslash or a newline",
    ),
    (file(delimiter='"'), "b@x.example", f"{FILE}.delimiter", "must be one character other than a quote"),
    (file(delimiter="\n"), "b@x.example", f"{FILE}.delimiter", "must be one character other than a quote"),
    (file(delimiter=""), "b@x.example", f"{FILE}.delimiter", "must be one character other than a quote"),
    (file(format="xls"), "b@x.example", f"{FILE}.format", "unknown file format 'xls'; did you mean 'xlsx'?"),
    (file(max_attempts=0), "b@x.example", f"{FILE}.max_attempts", "must be a positive integer"),
    (file(header="no"), "b@x.example", f"{FILE}.header", "must be true or false"),
]


@pytest.mark.parametrize(
    ("channel", "email", "path", "fragment"), BAD, ids=[f"{case[2]}:{case[3]}" for case in BAD]
)
def test_bad_batched_channels_name_the_path_and_the_problem(
    channel: dict[str, Any], email: str | None, path: str, fragment: str
) -> None:
    problems = problems_of(channel, email=email)
    assert any(p.path == path and fragment in p.message for p in problems), problems


def test_a_bad_file_channel_in_a_failover_step_is_named_by_its_step() -> None:
    problems = problems_of(
        {"webhook": {"url": "https://buyer.example/leads"}},
        failover=[file(destination={"email": {}}), file(), file(schedule={"cron": "bad"})],
        email=None,
    )
    assert {(p.path, p.message) for p in problems} == {
        (f"{PARTNER}.failover[0].file.destination.email.to", "required when the partner has no 'email'"),
        (
            f"{PARTNER}.failover[2].file.schedule.cron",
            "cron expression 'bad' must have five fields: minute hour day month weekday",
        ),
    }


def test_every_problem_of_a_file_channel_is_reported_at_once() -> None:
    problems = problems_of(
        file(
            quoting="minmal",
            schedule={"cron": "61 * * * *"},
            destination={"s3": {"bucket": "abc", "access_key_id": "A"}},
            filename="a/b",
        )
    )
    assert {p.path for p in problems} == {
        f"{FILE}.quoting",
        f"{FILE}.schedule.cron",
        f"{FILE}.destination.s3",
        f"{FILE}.filename",
    }


def test_a_missing_recipient_is_reported_with_the_other_problems_of_the_file_channel() -> None:
    problems = problems_of(file(schedule={"cron": "bad"}, destination={"email": {}}), email=None)
    assert {p.path for p in problems} == {f"{FILE}.schedule.cron", f"{FILE}.destination.email.to"}
