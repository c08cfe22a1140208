"""The console's SVG charts, parsed as XML: accessible (role, title and desc it is labelled by, a title on
every bar), bars in proportion to the values, data escaped, and a "No data" chart for nothing to draw."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from leadrelay.entrypoints.web import charts
from leadrelay.entrypoints.web.charts import Bar, CapBar, cap_bars, horizontal_bars, stacked_bars
from leadrelay.services.config_in_force import ConfigCache
from leadrelay.services.dashboard import dashboard_query, dashboard_tx
from tests import dashboard_seed as seeded
from tests.fakes import FakeIds, FakeStorage

NS = {"svg": "http://www.w3.org/2000/svg"}
HOSTILE = '<script>alert("x")</script> & co'


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def bars(root: ET.Element) -> list[ET.Element]:
    return root.findall(".//svg:rect[@class]", NS)


def of_class(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


def texts(root: ET.Element) -> list[str]:
    return [e.text or "" for e in root.iter("{http://www.w3.org/2000/svg}text")]


def check_accessible(root: ET.Element, title: str) -> None:
    assert root.get("role") == "img"
    title_id, desc_id = (root.get("aria-labelledby") or "").split()
    assert root.find(f"svg:title[@id='{title_id}']", NS) is not None
    assert root.find("svg:title", NS).text == title  # type: ignore[union-attr]
    assert (root.find(f"svg:desc[@id='{desc_id}']", NS).text or "").strip()  # type: ignore[union-attr]
    for bar in of_class(root, "bar"):
        assert (bar.findtext("svg:title", namespaces=NS) or "").strip(), "every bar has a title"


def test_stacked_bars_stack_in_proportion() -> None:
    svg = stacked_bars(
        title="Leads per hour",
        desc="leads",
        labels=["09:00", "10:00", "11:00"],
        series=[("accepted", [4, 0, 2]), ("rejected", [4, 1, 0])],
    )
    root = parse(svg)
    check_accessible(root, "Leads per hour")
    drawn = of_class(root, "bar")
    assert len(drawn) == 4  # a zero draws no rect
    heights = {(b.get("class"), int(b.get("data-value") or 0)): float(b.get("height") or 0) for b in drawn}
    tallest = heights[("bar series-accepted", 4)] + heights[("bar series-rejected", 4)]
    for (_cls, value), height in heights.items():
        assert height == pytest.approx(tallest * value / 8, abs=0.01)
    first = [b for b in drawn if b.get("data-value") == "4"]
    accepted, rejected = sorted(first, key=lambda b: b.get("class") or "")
    assert float(rejected.get("y") or 0) + float(rejected.get("height") or 0) == pytest.approx(
        float(accepted.get("y") or 0), abs=0.01
    )  # rejected sits on accepted
    assert [t for t in texts(root) if ":" in t] == ["09:00", "10:00", "11:00"]
    assert {"8", "1", "2"} <= set(texts(root))  # the totals
    assert {"accepted", "rejected"} <= set(texts(root))  # the legend


def test_stacked_bars_refuse_a_series_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="series 'a' has 1 values for 2 labels"):
        stacked_bars(title="t", desc="d", labels=["x", "y"], series=[("a", [1])])


def test_many_hours_label_only_some() -> None:
    labels = [f"{h % 24:02d}:00" for h in range(168)]
    root = parse(stacked_bars(title="t", desc="d", labels=labels, series=[("accepted", [1] * 168)]))
    assert len(of_class(root, "bar")) == 168
    assert len(of_class(root, "axis-label")) <= 12
    assert of_class(root, "total") == []  # too narrow for totals


def test_horizontal_bars_in_proportion_with_their_texts() -> None:
    root = parse(
        horizontal_bars(
            title="Revenue per partner",
            desc="revenue",
            bars=[
                Bar("sunco", Decimal("300.00"), "300.00 USD"),
                Bar("brightpath", 75, "75.00 USD"),
                Bar("v", 0),
            ],
        )
    )
    check_accessible(root, "Revenue per partner")
    widths = [float(b.get("width") or 0) for b in of_class(root, "bar")]
    assert len(widths) == 3
    assert widths[1] == pytest.approx(widths[0] / 4, abs=0.01) and widths[2] == 0
    assert {"sunco", "brightpath", "v", "300.00 USD", "75.00 USD", "0"} <= set(texts(root))


def test_cap_bars_with_a_pacing_marker() -> None:
    root = parse(
        cap_bars(
            title="Cap usage",
            desc="caps",
            caps=[CapBar("brightpath · day", 7, 100, 26), CapBar("sunco · day", 10, 10)],
        )
    )
    check_accessible(root, "Cap usage")
    tracks, used = of_class(root, "track"), of_class(root, "bar")
    assert len(tracks) == len(used) == 2
    track_w = float(tracks[0].get("width") or 0)
    assert float(used[0].get("width") or 0) == pytest.approx(track_w * 0.07, abs=0.01)
    assert float(used[1].get("width") or 0) == pytest.approx(track_w)
    assert "full" in (used[1].get("class") or "")  # sunco at its cap
    [marker] = of_class(root, "pacing-marker")
    x0 = float(tracks[0].get("x") or 0)
    assert float(marker.get("x1") or 0) == pytest.approx(x0 + track_w * 0.26, abs=0.01)
    assert marker.findtext("svg:title", namespaces=NS) == "pacing: 26 allowed so far"
    assert {"7/100 (pacing 26)", "10/10"} <= set(texts(root))


@pytest.mark.parametrize(
    "svg",
    [
        stacked_bars(title=HOSTILE, desc=HOSTILE, labels=[HOSTILE], series=[(HOSTILE, [3])]),
        horizontal_bars(title=HOSTILE, desc=HOSTILE, bars=[Bar(HOSTILE, 3, HOSTILE)]),
        cap_bars(title=HOSTILE, desc=HOSTILE, caps=[CapBar(HOSTILE, 1, 3, 2)]),
    ],
)
def test_data_is_escaped(svg: str) -> None:
    assert "<script>" not in svg
    root = parse(svg)
    assert root.findall(".//svg:script", NS) == []
    assert root.find("svg:title", NS).text == HOSTILE  # type: ignore[union-attr]
    assert HOSTILE in texts(root)
    assert all(HOSTILE in (b.findtext("svg:title", namespaces=NS) or "") for b in of_class(root, "bar"))


@pytest.mark.parametrize(
    "svg",
    [
        stacked_bars(title="Leads", desc="none", labels=["09:00", "10:00"], series=[("accepted", [0, 0])]),
        stacked_bars(title="Leads", desc="none", labels=[], series=[]),
        horizontal_bars(title="Revenue", desc="none", bars=[]),
        horizontal_bars(title="Revenue", desc="none", bars=[Bar("sunco", 0)]),
        cap_bars(title="Caps", desc="none", caps=[]),
    ],
)
def test_nothing_to_draw_says_no_data(svg: str) -> None:
    root = parse(svg)
    assert root.get("role") == "img" and root.find("svg:title", NS) is not None
    assert bars(root) == []
    assert [e.text for e in of_class(root, "no-data")] == ["No data"]


def test_the_dashboards_charts() -> None:
    storage = FakeStorage(ids=FakeIds())
    seeded.seed(storage)
    query = dashboard_query(zone="America/New_York")
    configs = ConfigCache()
    board = storage.read(lambda tx: dashboard_tx(tx, configs.current(tx), query, seeded.NOW))

    leads = parse(charts.leads_chart(board))
    assert leads.get("id") == "leads-per-hour"
    assert len(of_class(leads, "bar")) == 5  # 14:00 UTC: 3 outcomes; 15:00: 2 (accepted, suppressed)
    assert "09:00" in texts(leads) or "10:00" in texts(leads)
    assert "6 leads received in the last 24 hours (America/New_York)" in (
        leads.findtext("svg:desc", namespaces=NS) or ""
    )

    revenue = parse(charts.revenue_chart(board))
    assert next(t for t in texts(revenue) if "USD" in t) == "30.00 USD"  # the most first
    assert parse(charts.sales_chart(board, by="source")).get("id") == "sales-per-source"

    caps = parse(charts.caps_chart(board))
    assert len(of_class(caps, "pacing-marker")) == 1
    assert "brightpath · day" in texts(caps)

    ids = {
        parse(svg).get("id")
        for svg in (charts.revenue_chart(board), charts.revenue_chart(board, by="source"))
    }
    assert len(ids) == 2  # two charts on one page never share an id


def test_hours_of_a_zone_half_an_hour_off_utc_are_labelled_as_they_start() -> None:
    storage = FakeStorage(ids=FakeIds())
    seeded.seed(storage)
    query = dashboard_query(zone="Asia/Kolkata", hours=2)
    configs = ConfigCache()
    board = storage.read(lambda tx: dashboard_tx(tx, configs.current(tx), query, seeded.NOW))
    root = parse(charts.leads_chart(board))
    assert [e.text for e in of_class(root, "axis-label")] == ["19:30", "20:30"]
