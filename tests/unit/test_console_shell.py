"""The console shell's pure parts: where a login may send the browser next, the navigation per role."""

from __future__ import annotations

import pytest

from leadrelay.domain.access import Role
from leadrelay.entrypoints.web.console import _next, navigation


@pytest.mark.parametrize(
    ("target", "where"),
    [
        ("/console", "/console"),
        ("/console/log?status=sold", "/console/log?status=sold"),
        ("https://evil.example/console", "/console"),  # another site: never
        ("//evil.example/console", "/console"),
        ("/v1/config", "/console"),  # only the console's pages
        (None, "/console"),
    ],
)
def test_a_login_sends_the_browser_only_to_a_console_page(target: object, where: str) -> None:
    assert _next(target) == where


@pytest.mark.parametrize(
    ("role", "labels"),
    [
        (
            Role.ADMIN,
            [
                "Dashboard",
                "Distribution log",
                "Audit log",
                "Leads",
                "Simulator",
                "Configuration",
                "Users",
                "Suppression lists",
                "Keys",
                "Settings",
            ],
        ),
        (
            Role.OPERATOR,
            ["Dashboard", "Distribution log", "Audit log", "Leads", "Simulator", "Suppression lists"],
        ),
        (
            Role.VIEWER,
            ["Dashboard", "Distribution log", "Audit log", "Leads", "Simulator", "Suppression lists"],
        ),
        (Role.PARTNER, ["Portal", "Leads", "Returns", "Invoices", "Availability", "Postbacks"]),
        (Role.SOURCE, ["Portal", "Submissions", "Payouts", "API keys", "Posting specification"]),
    ],
)
def test_the_navigation_shows_what_the_role_may_reach(role: Role, labels: list[str]) -> None:
    assert [item.label for item in navigation(role)] == labels
