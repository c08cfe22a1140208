"""Batch file destination credentials are secrets, on both databases: an SFTP password or private key, an
FTP password and an S3 secret access key written as literals are stored sealed (never in clear in the
database), shown as ``***`` by the admin API and ``export``, kept when ``***`` is applied back, and opened
for delivery; ``${ENV_VAR}`` references are kept as written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from typer.testing import CliRunner

from leadrelay.adapters.crypto import Sealer
from leadrelay.adapters.db import config_store
from leadrelay.adapters.db.engine import Database
from leadrelay.adapters.db.unit_of_work import SqlStorage
from leadrelay.configuration import secrets
from leadrelay.domain.files import FtpDestination, S3Destination, SftpDestination
from leadrelay.domain.model import FileChannel
from leadrelay.entrypoints.cli import app
from leadrelay.errors import ConfigError
from leadrelay.services import configure
from leadrelay.services.config_in_force import ConfigCache
from tests.support import ADMIN, ServerThread, everything_stored, prepare

KEY = "a-test-secret-of-enough-length-0005"
SFTP_PASSWORD = "sftp-Pa55word-leak-check-41"
FTP_PASSWORD = "ftp-Pa55word-leak-check-42"
S3_SECRET = "s3-SecretAccessKey-leak-check-43"
S3_SECRET_2 = "s3-SecretAccessKey-leak-check-44"
PRIVATE_KEY = (
    ed25519.Ed25519PrivateKey.generate()
    .private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    .decode()
)
# the key's base64 lines: a stored copy would show them even where its newlines are escaped
KEY_LINES = tuple(line for line in PRIVATE_KEY.splitlines() if line and not line.startswith("-----"))
SECRET_BITS = (SFTP_PASSWORD, FTP_PASSWORD, S3_SECRET, S3_SECRET_2, *KEY_LINES)

FILER = "partners.filer"
PLACES = {
    # (partner, path of the secret inside its document) → the literal applied
    ("filer", "channel.file.destination.sftp.password"): SFTP_PASSWORD,
    ("filer", "channel.file.destination.sftp.private_key"): PRIVATE_KEY,
    ("filer", "failover[0].file.destination.ftp.password"): FTP_PASSWORD,
    ("filer", "failover[1].file.destination.s3.secret_access_key"): S3_SECRET,
    ("bucket", "channel.file.destination.s3.secret_access_key"): S3_SECRET_2,
}


def file_channel(destination: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"file": {"schedule": {"cron": "30 8 * * 1-5", "count": 100}, "destination": destination, **extra}}


def partners(
    sftp_password: str = SFTP_PASSWORD,
    private_key: str = PRIVATE_KEY,
    ftp_password: str = FTP_PASSWORD,
    s3_secret: str = S3_SECRET,
    s3_secret_2: str = S3_SECRET_2,
) -> dict[str, Any]:
    """Two partners with file channels: SFTP (password and key) failing over to FTP, then S3; and S3."""
    return {
        "filer": {
            "timezone": "America/Chicago",
            "channel": file_channel(
                {
                    "sftp": {
                        "host": "sftp.buyer.example",
                        "username": "relay",
                        "password": sftp_password,
                        "private_key": private_key,
                        "directory": "incoming",
                    }
                }
            ),
            "failover": [
                file_channel(
                    {"ftp": {"host": "ftp.buyer.example", "username": "relay", "password": ftp_password}}
                ),
                file_channel(
                    {
                        "s3": {
                            "bucket": "buyer-leads",
                            "prefix": "relay/",
                            "access_key_id": "AKIAFILERTEST",
                            "secret_access_key": s3_secret,
                        }
                    }
                ),
            ],
        },
        "bucket": {
            "channel": file_channel(
                {
                    "s3": {
                        "bucket": "other-leads",
                        "access_key_id": "AKIABUCKETTEST",
                        "secret_access_key": s3_secret_2,
                    }
                },
                format="xlsx",
            )
        },
    }


def at(doc: dict[str, Any], path: str) -> Any:
    """The value at a dotted path such as ``failover[1].file.destination.s3.secret_access_key``."""
    node: Any = doc
    for part in path.split("."):
        name, _, index = part.partition("[")
        node = node[name]
        if index:
            node = node[int(index.rstrip("]"))]
    return node


def stored_objects(url: str) -> dict[str, Any]:
    db = Database(url)
    try:
        return db.read(config_store.load_objects)
    finally:
        db.dispose()


def live_channels(url: str) -> dict[str, tuple[Any, ...]]:
    """The file channels the workers deliver with: the stored configuration opened with the secret key."""
    db = Database(url)
    try:
        live = SqlStorage(db).read(ConfigCache(sealer=Sealer(db, KEY)).current)
    finally:
        db.dispose()
    return {name: (p.channel, *p.failover) for name, p in live.specs.partners.items()}


def exported(url: str) -> str:
    db = Database(url)
    try:
        return configure.export_yaml(SqlStorage(db))
    finally:
        db.dispose()


def assert_opened_to_the_literals(url: str, sftp_password: str = SFTP_PASSWORD) -> None:
    channels = live_channels(url)
    sftp, ftp, s3 = (c.destination for c in channels["filer"])
    assert all(isinstance(c, FileChannel) for c in (*channels["filer"], *channels["bucket"]))
    assert (
        isinstance(sftp, SftpDestination)
        and isinstance(ftp, FtpDestination)
        and isinstance(s3, S3Destination)
    )
    assert (sftp.password, sftp.private_key) == (sftp_password, PRIVATE_KEY)
    assert ftp.password == FTP_PASSWORD
    assert (s3.access_key_id, s3.secret_access_key) == ("AKIAFILERTEST", S3_SECRET)
    bucket = channels["bucket"][0].destination
    assert isinstance(bucket, S3Destination) and bucket.secret_access_key == S3_SECRET_2


def test_file_destination_secrets_are_sealed_masked_and_kept(db_url: str) -> None:
    prepare(db_url, {"sources": {"web": {}}})  # the admin token
    with ServerThread(db_url, workers=0, secret_key=KEY) as server, server.client() as http:
        applied = http.post("/v1/config", json={"partners": partners()}, headers=ADMIN)
        assert applied.status_code == 200, applied.text
        assert {c["action"] for c in applied.json()["changes"]} == {"created"}
        got = {name: http.get(f"/v1/partners/{name}", headers=ADMIN) for name in ("filer", "bucket")}
        outputs = [
            *(r.text for r in got.values()),
            http.get("/v1/config", headers=ADMIN).text,
            http.get("/v1/partners", headers=ADMIN).text,
            http.get("/v1/audit", headers=ADMIN).text,
        ]
        sealed = stored_objects(db_url)

        # the admin API: secrets as ***, what is not secret readable
        for partner, path in PLACES:
            assert at(got[partner].json(), path) == "***", path
        shown = got["filer"].json()
        assert at(shown, "channel.file.destination.sftp.host") == "sftp.buyer.example"
        assert at(shown, "failover[1].file.destination.s3.access_key_id") == "AKIAFILERTEST"

        # what the API shows, applied back as it is, changes nothing: *** keeps the stored secrets
        again = http.put("/v1/partners/filer", json=shown, headers=ADMIN)
        assert again.status_code == 200 and again.json()["action"] == "unchanged", again.text
        assert stored_objects(db_url) == sealed
        # another change next to *** keeps the secrets too
        shown["price"] = 12
        changed = http.put("/v1/partners/filer", json=shown, headers=ADMIN)
        assert changed.json()["action"] == "updated", changed.text

    for text in outputs:
        assert "***" in text and not any(bit in text for bit in SECRET_BITS)
    stored = everything_stored(db_url)
    assert not any(bit.encode() in stored for bit in SECRET_BITS)
    after = stored_objects(db_url)
    for partner, path in PLACES:
        assert secrets.is_sealed(at(sealed["partners"][partner], path)), path
        assert at(after["partners"][partner], path) == at(sealed["partners"][partner], path)
    assert after["partners"]["filer"]["price"] == 12
    assert_opened_to_the_literals(db_url)

    # export: *** at every place; re-applying the export changes nothing
    text = exported(db_url)
    document = yaml.safe_load(text)
    assert not any(bit in text for bit in SECRET_BITS)
    for partner, path in PLACES:
        assert at(document["partners"][partner], path) == "***", path
    with ServerThread(db_url, workers=0, secret_key=KEY) as server, server.client() as http:
        reapplied = http.post("/v1/config", json={"partners": document["partners"]}, headers=ADMIN)
    assert reapplied.status_code == 200, reapplied.text
    assert {c["action"] for c in reapplied.json()["changes"]} == {"unchanged"}
    assert stored_objects(db_url) == after
    assert_opened_to_the_literals(db_url)


def test_a_new_literal_replaces_the_stored_secret(db_url: str) -> None:
    prepare(db_url, {"sources": {"web": {}}})
    with ServerThread(db_url, workers=0, secret_key=KEY) as server, server.client() as http:
        assert http.post("/v1/config", json={"partners": partners()}, headers=ADMIN).status_code == 200
        before = stored_objects(db_url)["partners"]["filer"]
        shown = http.get("/v1/partners/filer", headers=ADMIN).json()
        shown["channel"]["file"]["destination"]["sftp"]["password"] = "sftp-Rotated-leak-check-45"
        assert http.put("/v1/partners/filer", json=shown, headers=ADMIN).json()["action"] == "updated"
    after = stored_objects(db_url)["partners"]["filer"]
    path = "channel.file.destination.sftp.password"
    assert secrets.is_sealed(at(after, path)) and at(after, path) != at(before, path)
    for other in ("channel.file.destination.sftp.private_key", "failover[0].file.destination.ftp.password"):
        assert at(after, other) == at(before, other)  # untouched secrets keep their ciphertexts
    assert b"sftp-Rotated-leak-check-45" not in everything_stored(db_url)
    assert_opened_to_the_literals(db_url, sftp_password="sftp-Rotated-leak-check-45")


@pytest.mark.sqlite_only
def test_apply_and_export_on_the_command_line(db_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"LEADRELAY_DATABASE_URL": db_url, "LEADRELAY_SECRET_KEY": KEY}
    source = tmp_path / "partners.yaml"
    source.write_text(yaml.safe_dump({"partners": partners()}), encoding="utf-8")
    applied = runner.invoke(app, ["apply", "-f", str(source)], env=env)
    assert applied.exit_code == 0, applied.output
    exported_text = runner.invoke(app, ["export"], env=env)
    assert exported_text.exit_code == 0, exported_text.output
    assert not any(bit in exported_text.stdout for bit in SECRET_BITS)
    document = yaml.safe_load(exported_text.stdout)
    for partner, path in PLACES:
        assert at(document["partners"][partner], path) == "***", path
    assert not any(bit.encode() in everything_stored(db_url) for bit in SECRET_BITS)
    stored = stored_objects(db_url)
    again = tmp_path / "exported.yaml"
    again.write_text(exported_text.stdout, encoding="utf-8")
    reapplied = runner.invoke(app, ["apply", "-f", str(again)], env=env)
    assert reapplied.exit_code == 0, reapplied.output
    assert "created" not in reapplied.stdout and "updated" not in reapplied.stdout
    assert stored_objects(db_url) == stored
    assert_opened_to_the_literals(db_url)


@pytest.mark.sqlite_only
def test_environment_references_are_kept_as_written(db_url: str) -> None:
    refs = {
        "sftp_password": "${FILER_SFTP_PASSWORD}",
        "private_key": "${FILER_SFTP_KEY}",
        "ftp_password": "${FILER_FTP_PASSWORD}",
        "s3_secret": "${FILER_S3_SECRET}",
        "s3_secret_2": "${BUCKET_S3_SECRET}",
    }
    document = {"sources": {"web": {}}, "partners": partners(**refs)}
    prepare(db_url, document)  # no secret key: nothing secret is stored
    expected = dict(zip(PLACES, refs.values(), strict=True))
    stored = stored_objects(db_url)["partners"]
    with ServerThread(db_url, workers=0) as server, server.client() as http:
        shown = {name: http.get(f"/v1/partners/{name}", headers=ADMIN).json() for name in ("filer", "bucket")}
        reapplied = http.post("/v1/config", json={"partners": partners(**refs)}, headers=ADMIN)
    exported_doc = yaml.safe_load(exported(db_url))["partners"]
    for (partner, path), ref in expected.items():
        assert at(stored[partner], path) == ref
        assert at(shown[partner], path) == ref
        assert at(exported_doc[partner], path) == ref
    assert {c["action"] for c in reapplied.json()["changes"]} == {"unchanged"}
    # references are read when a file is sent, not when the configuration is loaded
    sftp = live_channels(db_url)["filer"][0].destination
    assert isinstance(sftp, SftpDestination) and sftp.password == "${FILER_SFTP_PASSWORD}"


@pytest.mark.sqlite_only
def test_a_literal_secret_needs_the_secret_key_and_names_its_place(db_url: str) -> None:
    only_s3 = {"bucket": partners()["bucket"]}
    with pytest.raises(ConfigError) as caught:
        prepare(db_url, {"partners": only_s3})  # prepare applies without a secret key
    [problem] = caught.value.problems
    assert problem.path == "partners.bucket.channel.file.destination.s3.secret_access_key"
    assert "LEADRELAY_SECRET_KEY" in problem.message
    assert S3_SECRET_2.encode() not in everything_stored(db_url)


@pytest.mark.sqlite_only
def test_a_mask_with_no_stored_secret_is_refused_with_its_path(db_url: str) -> None:
    masked = partners(ftp_password="***")
    masked["filer"]["channel"]["file"]["destination"]["sftp"]["password"] = "${FILER_SFTP_PASSWORD}"
    masked["filer"]["channel"]["file"]["destination"]["sftp"]["private_key"] = "${FILER_SFTP_KEY}"
    masked["filer"]["failover"][1]["file"]["destination"]["s3"]["secret_access_key"] = "${FILER_S3_SECRET}"
    with pytest.raises(ConfigError) as caught:
        prepare(db_url, {"partners": {"filer": masked["filer"]}})
    [problem] = caught.value.problems
    assert problem.path == f"{FILER}.failover[0].file.destination.ftp.password"
    assert "none is stored" in problem.message


@pytest.mark.sqlite_only
def test_secret_places_lists_file_destination_credentials_and_keeps_webhooks() -> None:
    doc = partners()["filer"]
    doc["failover"].append(
        {
            "webhook": {
                "url": "https://buyer.example/leads",
                "auth": {"bearer": {"token": "tok"}},
                "headers": {"X-Api-Key": "k", "X-Source": "leadrelay"},
                "signing": {"secret": "whsec_x"},
            }
        }
    )
    doc["failover"].append(file_channel({"email": {"to": ["desk@buyer.example"]}}))
    doc["failover"].append(file_channel({"s3": {"bucket": "no-keys"}}))  # the SDK's chain: no secret
    doc["failover"][0]["file"]["destination"]["sftp"] = None  # canonical documents name every kind
    places = [path for path, _, _ in secrets.secret_places("partners", doc)]
    assert places == [
        "failover[2].webhook.auth.bearer.token",
        "failover[2].webhook.headers.X-Api-Key",
        "failover[2].webhook.signing.secret",
        "channel.file.destination.sftp.password",
        "channel.file.destination.sftp.private_key",
        "failover[0].file.destination.ftp.password",
        "failover[1].file.destination.s3.secret_access_key",
    ]
    masked = secrets.mask("partners", doc)
    assert at(masked, "channel.file.destination.sftp.private_key") == "***"
    assert at(masked, "failover[1].file.destination.s3.access_key_id") == "AKIAFILERTEST"
    assert at(doc, "channel.file.destination.sftp.private_key") == PRIVATE_KEY  # mask works on a copy
    assert list(secrets.secret_places("sources", doc)) == []


def test_without_the_secret_key_a_sealed_password_is_never_sent(db_url: str) -> None:
    """A worker started without LEADRELAY_SECRET_KEY cannot open the stored password: the test delivery
    fails naming the missing key, and no login is tried with the ciphertext."""
    prepare(db_url, {"sources": {"web": {}}})
    with ServerThread(db_url, workers=0, secret_key=KEY) as server, server.client() as http:
        applied = http.post("/v1/config", json={"partners": partners()}, headers=ADMIN)
        assert applied.status_code == 200, applied.text
    with ServerThread(db_url, batch_interval=0.1) as server, server.client() as http:
        r = http.post("/v1/partners/filer/test-delivery?wait=20", headers=ADMIN)
    detail = r.json()
    assert detail["status"] == "failed", detail
    reason = detail["deliveries"][0]["batch"]["attempts"][0]["reason"]
    assert "the stored password cannot be opened (is LEADRELAY_SECRET_KEY set" in reason
