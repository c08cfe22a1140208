"""The ``invoicing`` key of partners and sources: its period, its first weekday, a source's clock; bad
values are refused naming the path."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from leadrelay.configuration.schema import PartnerModel, SourceModel
from leadrelay.domain.invoices import Invoicing, PeriodKind, Weekday


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({}, Invoicing()),
        ({"invoicing": {}}, Invoicing()),
        ({"invoicing": {"period": "weekly"}}, Invoicing(PeriodKind.WEEKLY, Weekday.MONDAY)),
        (
            {"invoicing": {"period": "weekly", "week_starts": "sunday"}},
            Invoicing(PeriodKind.WEEKLY, Weekday.SUNDAY),
        ),
    ],
)
def test_a_partners_invoicing(doc: dict[str, Any], expected: Invoicing) -> None:
    assert (
        PartnerModel.model_validate({"timezone": "America/Chicago", **doc}).to_spec("p").invoicing == expected
    )


def test_a_sources_invoicing_names_its_clock() -> None:
    spec = SourceModel.model_validate(
        {"invoicing": {"period": "monthly", "timezone": "Europe/Paris"}}
    ).to_spec("w")
    assert spec.invoicing == Invoicing(PeriodKind.MONTHLY, Weekday.MONDAY, "Europe/Paris")
    assert SourceModel.model_validate({"invoicing": {}}).to_spec("w").invoicing.timezone == "UTC"


@pytest.mark.parametrize(
    ("model", "invoicing", "path", "words"),
    [
        (PartnerModel, {"period": "daily"}, ("invoicing", "period"), "unknown invoicing period"),
        (PartnerModel, {"week_starts": "funday"}, ("invoicing", "week_starts"), "unknown weekday"),
        (
            PartnerModel,
            {"timezone": "UTC"},
            ("invoicing", "timezone"),
            "xtra",
        ),  # a partner's clock is its own
        (SourceModel, {"timezone": "Mars/Olympus"}, ("invoicing", "timezone"), ""),
        (SourceModel, {"period": 7}, ("invoicing", "period"), "must be one of"),
    ],
)
def test_bad_invoicing_is_refused_naming_the_path(
    model: type[PartnerModel] | type[SourceModel], invoicing: Any, path: tuple[str, ...], words: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate({"invoicing": invoicing})
    [error] = caught.value.errors()
    assert error["loc"] == path and words in error["msg"], error
