"""``***`` keeps a stored secret only where it was stored for the same request: a failover step removed,
moved or pointed at another URL (or host) does not carry another buyer's credential; such a ``***`` is
refused with its path, asking for the secret again."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from leadrelay.configuration.secrets import MASK, merge_kept
from leadrelay.errors import ConfigError


def _hook(url: str, token: str) -> dict[str, Any]:
    return {"webhook": {"url": url, "auth": {"bearer": {"token": token}}}}


STORED = {
    "channel": _hook("https://primary.example/leads", "lr1:primary"),
    "failover": [
        _hook("https://buyer-a.example/leads", "lr1:A"),
        _hook("https://buyer-b.example/leads", "lr1:B"),
    ],
}


def _masked() -> dict[str, Any]:
    doc = copy.deepcopy(STORED)
    for step in [doc["channel"], *doc["failover"]]:
        step["webhook"]["auth"]["bearer"]["token"] = MASK
    return doc


def _token(step: dict[str, Any]) -> str:
    return str(step["webhook"]["auth"]["bearer"]["token"])


def test_the_same_requests_keep_their_secrets() -> None:
    doc = _masked()
    merge_kept("partners", "acme", doc, STORED)
    assert [_token(s) for s in [doc["channel"], *doc["failover"]]] == ["lr1:primary", "lr1:A", "lr1:B"]


@pytest.mark.parametrize("edit", ["remove the first step", "swap the steps", "point the step elsewhere"])
def test_a_mask_whose_request_changed_is_refused(edit: str) -> None:
    doc = _masked()
    if edit == "remove the first step":
        del doc["failover"][0]
    elif edit == "swap the steps":
        doc["failover"].reverse()
    else:
        doc["failover"][0]["webhook"]["url"] = "https://buyer-c.example/leads"
    with pytest.raises(ConfigError) as refused:
        merge_kept("partners", "acme", doc, STORED)
    paths = [p.path for p in refused.value.problems]
    assert paths[0] == "partners.acme.failover[0].webhook.auth.bearer.token"
    assert "give the secret again" in refused.value.problems[0].message
    assert "lr1:A" not in str(doc["failover"][0])
    assert "lr1:B" not in str(doc["failover"][0])


def test_a_file_destination_keeps_its_password_only_for_the_same_host_and_user() -> None:
    def sftp(host: str, password: str) -> dict[str, Any]:
        destination = {"sftp": {"host": host, "username": "leads", "password": password}}
        return {"channel": {"file": {"destination": destination}}}

    kept = sftp("sftp.buyer.example", MASK)
    merge_kept("partners", "filer", kept, sftp("sftp.buyer.example", "lr1:pw"))
    assert kept["channel"]["file"]["destination"]["sftp"]["password"] == "lr1:pw"
    with pytest.raises(ConfigError) as refused:
        merge_kept(
            "partners", "filer", sftp("sftp.other.example", MASK), sftp("sftp.buyer.example", "lr1:pw")
        )
    assert [p.path for p in refused.value.problems] == [
        "partners.filer.channel.file.destination.sftp.password"
    ]


def test_every_header_of_an_auth_headers_block_is_kept_for_the_same_url() -> None:
    def hook(secret: str) -> dict[str, Any]:
        auth = {"headers": {"username": secret, "X-Key": secret}}
        return {"channel": {"webhook": {"url": "https://buyer.example/leads", "auth": auth}}}

    kept = hook(MASK)
    merge_kept("partners", "acme", kept, hook("lr1:x"))
    assert kept["channel"]["webhook"]["auth"]["headers"] == {"username": "lr1:x", "X-Key": "lr1:x"}
