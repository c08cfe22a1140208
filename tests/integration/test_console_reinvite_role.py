"""Inviting a user again before the first invitation is taken up gives the role asked for this time (an
admin who invited bob as admin by mistake re-invites him as a viewer), audited; the first link stops
working."""

from __future__ import annotations

import re

from tests.integration.test_console_admin import PASSWORD, Site, form, tree
from tests.integration.test_console_admin import site as site


def test_a_second_invitation_with_another_role_does_not_hand_out_the_first_role(site: Site) -> None:
    admin = site.client()
    first = form(admin, "/console/users/invite", email="bob@example.com", role="admin")
    assert first.status_code == 200
    first_link = tree(first).xpath('//input[@id="once-value"]/@value')[0]
    # the admin corrects the mistake: bob is to be a viewer
    second = form(admin, "/console/users/invite", email="bob@example.com", role="viewer")
    assert second.status_code == 200, second.text
    link = tree(second).xpath('//input[@id="once-value"]/@value')[0]
    token = link.rsplit("/", 1)[1]

    bob = site.server.client()
    page = bob.get(f"/console/invite/{token}")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    accepted = bob.post(
        f"/console/invite/{token}",
        data={"password": PASSWORD, "password_again": PASSWORD, "csrf_token": csrf.group(1)},
    )
    assert accepted.status_code == 303, accepted.text
    bob = site.client("bob@example.com")
    users_page = bob.get("/console/users")  # admins only
    keys_page = bob.get("/console/keys")  # admins only
    assert users_page.status_code == 403 and keys_page.status_code == 403, (
        "the link of an invitation as viewer made an admin"
    )
    stale = site.server.client().get(f"/console/invite/{first_link.rsplit('/', 1)[1]}")
    assert stale.status_code in (404, 410), stale.status_code


def test_a_second_invitation_for_an_unknown_partner_is_refused_and_changes_nothing(site: Site) -> None:
    admin = site.client()
    assert form(admin, "/console/users/invite", email="carol@example.com", role="viewer").status_code == 200
    refused = form(admin, "/console/users/invite", email="carol@example.com", role="partner", tenant="nobody")
    assert refused.status_code == 422, refused.status_code
    assert "no partner named" in refused.text
    users = admin.get("/console/users").text
    assert "carol@example.com" in users and "nobody" not in users
