"""Server-rendered SVG charts for the console (pure: values in, markup out, no I/O and nothing loaded).

Three charts, each a self-contained ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` it is labelled
by (``aria-labelledby``), visible text labels, and a ``<title>`` on every bar (read by screen readers and
shown as a tooltip). Every text that comes from data is escaped. A chart with nothing to draw still renders,
with a "No data" text and no bars.

- :func:`stacked_bars` — one bar per category (an hour), stacked by series (leads by outcome);
- :func:`horizontal_bars` — one bar per item, lengths proportional to the values (sales, revenue);
- :func:`cap_bars` — one bar per cap window: used out of the limit, with a marker at pacing's allowance.

The ``*_chart`` functions at the end draw a ``services.dashboard_figures.Dashboard``'s figures with them.

Bars carry classes (``bar``, ``series-<name>``, ``pacing-marker`` …) and inline fills from a palette that
stays distinguishable for the common colour blindnesses (Okabe–Ito), so a page may restyle them with CSS.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape
from typing import Literal

from leadrelay.services.dashboard_figures import LEAD_SERIES, Dashboard

PALETTE = ("#0072B2", "#D55E00", "#E69F00", "#CC79A7", "#009E73", "#56B4E9", "#F0E442", "#000000")
_TRACK = "#E5E7EB"
_INK = "#1F2937"
_MARKER = "#B91C1C"
_FONT = 'font-family="system-ui, sans-serif" font-size="11"'
NO_DATA = "No data"
By = Literal["partner", "source"]


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


def _num(value: float) -> str:
    """A coordinate, short: at most two decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "chart"


def _open(chart_id: str, title: str, desc: str, width: int, height: int) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{_attr(chart_id)}" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-labelledby="{_attr(chart_id)}-title {_attr(chart_id)}-desc" {_FONT}>',
        f'<title id="{_attr(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{_attr(chart_id)}-desc">{escape(desc)}</desc>',
    ]


def _no_data(parts: list[str], width: int, height: int) -> str:
    parts.append(
        f'<text class="no-data" x="{width // 2}" y="{height // 2}" text-anchor="middle" '
        f'fill="{_INK}">{NO_DATA}</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def _text(x: float, y: float, text: str, cls: str, anchor: str = "start") -> str:
    return (
        f'<text class="{cls}" x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}" fill="{_INK}">'
        f"{escape(text)}</text>"
    )


# ---------------------------------------------------------------- stacked bars


def stacked_bars(
    *,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[int]]],
    chart_id: str | None = None,
    width: int = 720,
    height: int = 260,
) -> str:
    """One bar per label, stacked by series (each ``(name, one value per label)``, drawn bottom up in that
    order); bar heights are proportional to the values, the tallest stack filling the plot. Totals above
    the bars and every label under them when they fit, else every n-th label; a legend on top."""
    cid = chart_id or _slug(title)
    parts = _open(cid, title, desc, width, height)
    for name, values in series:
        if len(values) != len(labels):
            raise ValueError(f"series {name!r} has {len(values)} values for {len(labels)} labels")
    totals = [sum(max(0, s[1][i]) for s in series) for i in range(len(labels))]
    top = max(totals, default=0)
    if top <= 0:
        return _no_data(parts, width, height)
    left, right, legend_h, bottom = 8.0, 8.0, 22.0, 20.0
    plot_top, plot_bottom = legend_h + 14.0, height - bottom
    plot_h = plot_bottom - plot_top
    slot = (width - left - right) / len(labels)
    bar_w = max(1.0, slot * 0.8)
    x_legend = left
    parts.append('<g class="legend">')
    for k, (name, _values) in enumerate(series):
        color = PALETTE[k % len(PALETTE)]
        parts.append(f'<rect x="{_num(x_legend)}" y="6" width="10" height="10" fill="{color}"/>')
        parts.append(_text(x_legend + 14, 15, name, "legend-label"))
        x_legend += 14 + 7 * len(name) + 16
    parts.append("</g>")
    classes = [f"bar series-{_attr(_slug(name))}" for name, _values in series]
    every = max(1, -(-len(labels) // 12))  # at most a dozen labels under the bars
    show_totals = slot >= 22
    parts.append('<g class="bars">')
    for i, label in enumerate(labels):
        x = left + i * slot + (slot - bar_w) / 2
        y = plot_bottom
        parts.append(f'<g class="stack" data-label="{_attr(label)}: {totals[i]}">')
        for k, (name, values) in enumerate(series):
            value = max(0, values[i])
            if not value:
                continue
            h = plot_h * value / top
            y -= h
            parts.append(
                f'<rect class="{classes[k]}" x="{_num(x)}" y="{_num(y)}" '
                f'width="{_num(bar_w)}" height="{_num(h)}" fill="{PALETTE[k % len(PALETTE)]}" '
                f'data-value="{value}"><title>{escape(label)}: {escape(name)} {value}</title></rect>'
            )
        if show_totals and totals[i]:
            parts.append(_text(x + bar_w / 2, y - 3, str(totals[i]), "total", "middle"))
        parts.append("</g>")
        if i % every == 0:
            parts.append(_text(x + bar_w / 2, height - 6, label, "axis-label", "middle"))
    parts.append("</g>")
    parts.append(
        f'<line class="axis" x1="{_num(left)}" y1="{_num(plot_bottom)}" x2="{_num(width - right)}" '
        f'y2="{_num(plot_bottom)}" stroke="{_INK}" stroke-width="1"/>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


# ---------------------------------------------------------------- horizontal bars


@dataclass(frozen=True, slots=True)
class Bar:
    """One item of a horizontal bar chart: its label, its value, and the value as shown (money …)."""

    label: str
    value: float | Decimal
    text: str | None = None  # default: the value


def horizontal_bars(
    *,
    title: str,
    desc: str,
    bars: Sequence[Bar],
    chart_id: str | None = None,
    width: int = 480,
    row: int = 24,
) -> str:
    """One row per bar: the label, a bar whose length is proportional to the value (the largest fills the
    track; a value at or below zero draws none), and the value's text."""
    cid = chart_id or _slug(title)
    height = max(60, 8 + row * len(bars))
    parts = _open(cid, title, desc, width, height)
    top = max((float(b.value) for b in bars), default=0.0)
    if not bars or top <= 0:
        return _no_data(parts, width, height)
    label_w, value_w = 130.0, 80.0
    track = width - label_w - value_w - 16
    parts.append('<g class="bars">')
    for i, b in enumerate(bars):
        y = 4 + i * row
        length = track * max(0.0, float(b.value)) / top
        shown = b.text if b.text is not None else str(b.value)
        parts.append(f'<g class="row" data-label="{_attr(b.label)}: {_attr(shown)}">')
        parts.append(_text(label_w - 6, y + row * 0.65, b.label, "bar-label", "end"))
        parts.append(
            f'<rect class="bar" x="{_num(label_w)}" y="{_num(y + 3)}" width="{_num(length)}" '
            f'height="{_num(row - 6)}" fill="{PALETTE[0]}" data-value="{_attr(b.value)}">'
            f"<title>{escape(b.label)}: {escape(shown)}</title></rect>"
        )
        parts.append(_text(label_w + length + 6, y + row * 0.65, shown, "bar-value"))
        parts.append("</g>")
    parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)


# ---------------------------------------------------------------- cap usage


@dataclass(frozen=True, slots=True)
class CapBar:
    """One cap window: ``used`` of ``limit``; ``allowed``: pacing's allowance so far (None: not paced)."""

    label: str
    used: int
    limit: int
    allowed: int | None = None


def cap_bars(
    *,
    title: str,
    desc: str,
    caps: Sequence[CapBar],
    chart_id: str | None = None,
    width: int = 480,
    row: int = 26,
) -> str:
    """One row per cap window: the label, a track standing for the limit, the part used (proportional,
    at most the whole track), a vertical marker at pacing's allowance where paced, and ``used/limit``."""
    cid = chart_id or _slug(title)
    height = max(60, 8 + row * len(caps))
    parts = _open(cid, title, desc, width, height)
    if not caps:
        return _no_data(parts, width, height)
    label_w, value_w = 150.0, 90.0
    track = width - label_w - value_w - 16
    parts.append('<g class="bars">')
    for i, cap in enumerate(caps):
        y = 4 + i * row
        limit = max(cap.limit, 1)
        used_w = track * min(1.0, max(0, cap.used) / limit)
        shown = f"{cap.used}/{cap.limit}"
        full = cap.used >= cap.limit or (cap.allowed is not None and cap.used >= cap.allowed)
        parts.append(f'<g class="row" data-label="{_attr(cap.label)}: {shown}">')
        parts.append(_text(label_w - 6, y + row * 0.65, cap.label, "bar-label", "end"))
        parts.append(
            f'<rect class="track" x="{_num(label_w)}" y="{_num(y + 4)}" width="{_num(track)}" '
            f'height="{_num(row - 8)}" fill="{_TRACK}"/>'
        )
        parts.append(
            f'<rect class="bar{" full" if full else ""}" x="{_num(label_w)}" y="{_num(y + 4)}" '
            f'width="{_num(used_w)}" height="{_num(row - 8)}" fill="{PALETTE[1] if full else PALETTE[0]}" '
            f'data-value="{cap.used}"><title>{escape(cap.label)}: {shown} used</title></rect>'
        )
        if cap.allowed is not None:
            mx = label_w + track * min(1.0, max(0, cap.allowed) / limit)
            parts.append(
                f'<line class="pacing-marker" x1="{_num(mx)}" y1="{_num(y + 1)}" x2="{_num(mx)}" '
                f'y2="{_num(y + row - 1)}" stroke="{_MARKER}" stroke-width="2" data-value="{cap.allowed}">'
                f"<title>pacing: {cap.allowed} allowed so far</title></line>"
            )
            shown += f" (pacing {cap.allowed})"
        parts.append(_text(label_w + track + 6, y + row * 0.65, shown, "bar-value"))
        parts.append("</g>")
    parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)


# ---------------------------------------------------------------- the dashboard's charts


def leads_chart(board: Dashboard, *, chart_id: str = "leads-per-hour") -> str:
    """Leads per hour by outcome at intake, the hours labelled in the dashboard's zone."""
    labels = [h.start.strftime("%H:%M") for h in board.leads]  # 19:30 in a zone half an hour off
    series = [(name, [h.counts[name] for h in board.leads]) for name in LEAD_SERIES]
    total = sum(h.received for h in board.leads)
    desc = (
        f"{total} leads received in the last {len(board.leads)} hours ({board.zone}), per hour, stacked by "
        "outcome: " + ", ".join(f"{name} {sum(values)}" for name, values in series)
    )
    return stacked_bars(title="Leads per hour", desc=desc, labels=labels, series=series, chart_id=chart_id)


def sales_chart(board: Dashboard, *, by: By = "partner", chart_id: str | None = None) -> str:
    """Sales (deliveries sold) per partner or per source, most first."""
    if by == "partner":
        rows = [(p.partner, p.sold) for p in board.partners]
    else:
        rows = [(s.source, s.sold) for s in board.sources]
    rows.sort(key=lambda r: (-r[1], r[0]))
    bars = [Bar(name, sold) for name, sold in rows]
    desc = f"Leads sold per {by} in the last {len(board.leads)} hours: " + (
        ", ".join(f"{b.label} {b.value}" for b in bars) or "none"
    )
    return horizontal_bars(
        title=f"Sales per {by}", desc=desc, bars=bars, chart_id=chart_id or f"sales-per-{by}"
    )


def revenue_chart(board: Dashboard, *, by: By = "partner", chart_id: str | None = None) -> str:
    """Revenue per partner or per source, most first, in the dashboard's currency."""
    if by == "partner":
        money = [(p.partner, p.revenue) for p in board.partners]
    else:
        money = [(s.source, s.revenue) for s in board.sources]
    money.sort(key=lambda r: (-r[1], r[0]))
    bars = [Bar(name, amount, f"{amount:,} {board.currency}") for name, amount in money]
    desc = f"Revenue per {by} in the last {len(board.leads)} hours: " + (
        ", ".join(f"{b.label} {b.text}" for b in bars) or "none"
    )
    return horizontal_bars(
        title=f"Revenue per {by}", desc=desc, bars=bars, chart_id=chart_id or f"revenue-per-{by}"
    )


def caps_chart(board: Dashboard, *, chart_id: str = "cap-usage") -> str:
    """Every cap window in force: used of the limit, with pacing's allowance where paced."""
    caps = [
        CapBar(
            f"{c.partner} · {c.scope + ' · ' if c.scope else ''}{c.period.value}", c.used, c.limit, c.allowed
        )
        for c in board.caps
    ]
    desc = "Cap windows in force now, used of the limit: " + (
        ", ".join(
            f"{c.label} {c.used}/{c.limit}"
            + (f" (pacing allows {c.allowed})" if c.allowed is not None else "")
            for c in caps
        )
        or "no caps configured"
    )
    return cap_bars(title="Cap usage", desc=desc, caps=caps, chart_id=chart_id)
