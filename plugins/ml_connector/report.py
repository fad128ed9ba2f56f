"""The controller's reconciliation report: CSV for spreadsheets, one self-contained HTML page to read.

Rendering is pure (``render_*`` return text); ``write_report`` only writes that text through
Airflow's ``ObjectStoragePath`` so the same call lands on local disk (``file:///abs/dir``) or an
object store (``s3://conn_id@bucket/prefix``). Inputs carry no secrets; the report never names the
storage location or any connection either. Every piece of text is escaped for its format: HTML
escaping in the page, and a leading apostrophe in CSV cells that a spreadsheet would run as a formula.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape
from pathlib import Path

from ml_connector.core.model import ZERO
from ml_connector.core.money import minor_unit
from ml_connector.core.reconcile import (
    COLLECTED,
    DISCOUNTS,
    FEES,
    GIFT_CERTIFICATES,
    OTHER,
    OWED,
    REFUNDS,
    RETURNS,
    ROUNDING,
    SALES,
    SHIPPING,
    TAX,
    UNCLASSIFIED,
    Reconciliation,
    ReconRow,
)

Period = tuple[dt.date, dt.date]

ROW_COLUMNS = (
    "pair",
    "run_id",
    "day",
    "currency",
    "measure",
    "label",
    "store",
    "state",
    "erp",
    "variance_store_state",
    "variance_state_erp",
    "explained",
    "explanation",
    "order_ids",
    "refund_ids",
)
DETAIL_COLUMNS = (
    "section",  # finding | document | parked
    "check",
    "kind",
    "day",
    "currency",
    "explained",
    "order_ids",
    "refund_ids",
    "journal_keys",
    "document_ids",
    "status",
    "amount_state",
    "amount_erp",
    "message",
)
ID_SEPARATOR = " "
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CHART_MEASURE = "sales net of refunds (collected - refunded, tax included)"
# Measure -> (label, definition) for the controller: the report's legend and its CSV label column.
MEASURES: dict[str, tuple[str, str]] = {
    SALES: ("Sales", "goods sold: revenue credited, before discounts"),
    GIFT_CERTIFICATES: (
        "Gift certificates issued",
        "certificates sold, and refunds paid onto a certificate: the liability credited, not revenue",
    ),
    DISCOUNTS: ("Discounts", "line and order discounts given: contra-revenue debited"),
    SHIPPING: ("Shipping, handling, wrapping", "charges credited"),
    FEES: ("Order fees", "fees the shopper paid: fee revenue credited"),
    TAX: ("Tax", "tax payable credited"),
    RETURNS: (
        "Returns",
        "sales taken back by a refund, a cancellation or an edit: revenue, charges, fees and tax debited,"
        " net of the discounts credited back (tax included)",
    ),
    REFUNDS: ("Refunds paid", "money returned to the shopper: clearing and store credit credited"),
    COLLECTED: (
        "Collected",
        "money taken: captures net of voids (clearing by gateway; gift certificates and store credit redeemed)",
    ),
    OWED: (
        "Refunds payable (owed)",
        "cash held for cancelled orders, owed to the shopper until refunded: refunds payable credited",
    ),
    ROUNDING: ("Rounding", "what makes a document balance: rounding debited"),
    UNCLASSIFIED: ("Unclassified (ERP)", "ERP lines on an account no journal of the connector uses"),
}


def measure_label(measure: str) -> str:
    """The readable name of a measure, including ``collected:<gateway>`` and ``other:<role>`` rows."""
    if measure in MEASURES:
        return MEASURES[measure][0]
    if measure.startswith(f"{COLLECTED}:"):
        return f"Collected via {measure.split(':', 1)[1]}"
    if measure.startswith(OTHER):
        return f"Other role {measure.removeprefix(OTHER)}"
    return measure


@dataclass(frozen=True, slots=True)
class ReportPaths:
    csv: str  # one row per day / currency / measure
    html: str  # the page a controller reads
    detail_csv: str  # variance detail with ids, per-document checks, parked records


def default_base_path() -> str:
    """``ML_CONNECTOR_REPORTS_URL``, else ``file://$AIRFLOW_HOME/ml_connector_reports``."""
    configured = os.environ.get("ML_CONNECTOR_REPORTS_URL")
    if configured:
        return configured
    home = Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow")
    return (home / "ml_connector_reports").resolve().as_uri()


def report_stem(pair: str, period: Period) -> str:
    """``reconciliation_<pair>_<from>_<to>``; the pair is reduced to characters safe in any store."""
    safe_pair = re.sub(r"[^A-Za-z0-9_.-]+", "-", pair).strip("-") or "pair"
    return f"reconciliation_{safe_pair}_{period[0].isoformat()}_{period[1].isoformat()}"


def write_report(
    recon: Reconciliation, *, base_path: str, pair: str, period: Period, run_id: str
) -> ReportPaths:
    """Render the report and write its three files under ``base_path``; returns their URLs."""
    from airflow.sdk import ObjectStoragePath  # Airflow only where files are written: rendering stays pure

    base = ObjectStoragePath(base_path)
    if base.protocol in ("file", "local", ""):
        base.mkdir(parents=True, exist_ok=True)  # object stores have no directories to create
    stem = report_stem(pair, period)
    outputs = {
        f"{stem}.csv": render_csv(recon, pair=pair, run_id=run_id),
        f"{stem}_detail.csv": render_detail_csv(recon),
        f"{stem}.html": render_html(recon, pair=pair, period=period, run_id=run_id),
    }
    written = {}
    for name, text in outputs.items():
        target = base / name
        with target.open("w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        written[name] = str(target)
    return ReportPaths(
        csv=written[f"{stem}.csv"], html=written[f"{stem}.html"], detail_csv=written[f"{stem}_detail.csv"]
    )


# --------------------------------------------------------------------------- CSV


def csv_text(value: object) -> str:
    """A text cell a spreadsheet shows as text (no formula injection from a hostile description)."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_PREFIXES) else text


def _ids(values: Iterable[str]) -> str:
    return csv_text(ID_SEPARATOR.join(values))


def shown(value: Decimal, currency: str | None) -> Decimal:
    """At the currency's minor unit (0 -> 0.00, 1.5000 -> 1.50) without ever dropping a non-zero digit."""
    if currency and value == value.quantize(minor_unit(currency)):
        return value.quantize(minor_unit(currency))
    return value


def _amount(value: Decimal | None, currency: str | None = None) -> str:
    return "" if value is None else str(shown(value, currency))


def _write_csv(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def render_csv(recon: Reconciliation, *, pair: str, run_id: str) -> str:
    """One row per day, currency and measure with the three columns, both variances and the ids."""
    return _write_csv(
        ROW_COLUMNS,
        (
            (
                csv_text(pair),
                csv_text(run_id),
                row.day.isoformat(),
                row.currency,
                row.measure,
                measure_label(row.measure),
                _amount(row.store, row.currency),
                _amount(row.state, row.currency),
                _amount(row.erp, row.currency),
                _amount(row.variance_store_state, row.currency),
                _amount(row.variance_state_erp, row.currency),
                "yes" if row.explained else "no",
                csv_text(row.explanation),
                _ids(row.order_ids),
                _ids(row.refund_ids),
            )
            for row in recon.rows
        ),
    )


def render_detail_csv(recon: Reconciliation) -> str:
    """The exceptions with their ids: findings, per-document checks and parked records."""
    rows: list[tuple[str, ...]] = []
    for finding in recon.findings:
        rows.append(
            (
                "finding",
                finding.check.value,
                finding.kind.value,
                finding.day.isoformat(),
                finding.currency,
                "yes" if finding.explained else "no",
                _ids(finding.order_ids),
                _ids(finding.refund_ids),
                _ids(finding.journal_keys),
                _ids(finding.document_ids),
                "",
                "",
                "",
                csv_text(finding.message),
            )
        )
    for doc in recon.documents:
        rows.append(
            (
                "document",
                "state_erp",
                "ties_out" if doc.problem is None else "problem",
                doc.posting_date.isoformat(),
                doc.currency,
                "yes" if doc.explained else "no",
                _ids(doc.order_ids),
                _ids(doc.refund_ids),
                _ids([doc.journal_key] if doc.journal_key else []),
                _ids([doc.document_id] if doc.document_id else []),
                csv_text(doc.status),
                _amount(doc.state_debit, doc.currency),
                _amount(doc.erp_debit, doc.currency),
                csv_text(doc.problem),
            )
        )
    for record in recon.parked:
        is_refund = record.object == "refund"
        rows.append(
            (
                "parked",
                "store_state",
                csv_text(record.status),
                record.posting_day.isoformat() if record.posting_day else "",
                csv_text(record.currency),
                "",
                "" if is_refund else csv_text(record.source_id),
                csv_text(record.source_id) if is_refund else "",
                "",
                "",
                csv_text(record.status),
                _amount(record.amount, record.currency),
                "",
                csv_text(record.reason),
            )
        )
    return _write_csv(DETAIL_COLUMNS, rows)


# --------------------------------------------------------------------------- HTML

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1f2933}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.2rem;margin-top:2rem} h3{font-size:1rem}
.meta{color:#52606d} .summary{padding:.6rem 1rem;border-radius:4px;font-weight:600;display:inline-block}
.ok{background:#e3f9e5;color:#1f6f2b} .bad{background:#ffe3e3;color:#8a1c1c} .warn{background:#fff3c4;color:#7a5b00}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.85rem} th,td{border:1px solid #cbd2d9;padding:.25rem .5rem}
th{background:#f0f4f8;text-align:left} td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.unexplained td{background:#fff5f5} tr.explained td{background:#fffbea}
svg text{font-size:11px;fill:#1f2933}
"""
# (column, legend, colour)
_SERIES = (
    ("store", "store", "#3e7cb1"),
    ("state", "connector journals", "#81a4cd"),
    ("erp", "ERP", "#f2a541"),
)
_LEGEND_STEP = 130


def _money(value: Decimal | None, currency: str | None = None) -> str:
    return "" if value is None else f"{shown(value, currency):,}"


def _cell(text: object, *, numeric: bool = False) -> str:
    css = ' class="num"' if numeric else ""
    return f"<td{css}>{escape('' if text is None else str(text))}</td>"


def _table(headers: Sequence[str], body: Iterable[str]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _status(explained: bool, is_variance: bool) -> tuple[str, str]:
    if not is_variance:
        return "", "ties out"
    return ("explained", "explained") if explained else ("unexplained", "UNEXPLAINED")


def render_html(recon: Reconciliation, *, pair: str, period: Period, run_id: str) -> str:
    """A self-contained page: summary, chart per currency, a table per day, exceptions, parked records."""
    title = f"Reconciliation {pair} {period[0].isoformat()} to {period[1].isoformat()}"
    unexplained = len(recon.unexplained)
    summary_class = "ok" if recon.ok else "bad"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">Posting days {escape(period[0].isoformat())} to {escape(period[1].isoformat())}'
        f" (store timezone) &middot; run {escape(run_id)}</p>",
        f'<p class="summary {summary_class}">{len(recon.variances)} variances, {unexplained} unexplained</p>',
        f'<p class="meta">{len(recon.documents)} ERP documents checked, {len(recon.document_problems)} with '
        f"problems; {len(recon.parked)} parked records</p>",
        "<h2>Store vs ledger per day</h2>",
        *_charts(recon.rows),
        "<h2>Figures per day</h2>",
        _legend(recon.rows),
        *_day_tables(recon.rows),
        "<h2>Variances</h2>",
        _findings_table(recon),
        "<h2>ERP documents</h2>",
        _documents_section(recon),
        "<h2>Parked records</h2>",
        _parked_table(recon),
        "</body></html>",
    ]
    return "\n".join(parts)


def _chart_series(rows: Iterable[ReconRow]) -> dict[str, dict[dt.date, dict[str, Decimal]]]:
    """Per currency and day: collected - refunds in each column."""
    series: dict[str, dict[dt.date, dict[str, Decimal]]] = defaultdict(
        lambda: defaultdict(lambda: {"store": ZERO, "state": ZERO, "erp": ZERO})
    )
    for row in rows:
        if row.measure not in (COLLECTED, REFUNDS):
            continue
        sign = 1 if row.measure == COLLECTED else -1
        point = series[row.currency][row.day]
        point["store"] += sign * row.store
        point["state"] += sign * row.state
        point["erp"] += sign * row.erp
    return series


def _charts(rows: Sequence[ReconRow]) -> list[str]:
    series = _chart_series(rows)
    if not series:
        return ["<p>No figures in this period.</p>"]
    return [render_chart(currency, points) for currency, points in sorted(series.items())]


def render_chart(currency: str, points: dict[dt.date, dict[str, Decimal]]) -> str:
    """Inline SVG grouped bars (store, state, ERP) per day; negative days hang below the zero line."""
    days = sorted(points)
    bar, gap, left, top, height, bottom = 10, 14, 70, 20, 180, 40
    width = max(left + len(days) * (3 * bar + gap) + gap, left + len(_SERIES) * _LEGEND_STEP)
    values = [points[day][name] for day in days for name, _, _ in _SERIES]
    high, low = max([ZERO, *values]), min([ZERO, *values])
    span = (high - low) or Decimal(1)

    def y_of(value: Decimal) -> float:
        return top + float((high - value) / span) * height

    zero_y = y_of(ZERO)
    label = f"{CHART_MEASURE}, {currency}, per posting day: store, connector journals and ERP"
    shapes = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{top + height + bottom}" '
        f'aria-label="{escape(label)}">',
        f"<title>{escape(label)}</title>",
        f'<line x1="{left}" y1="{zero_y:.1f}" x2="{width}" y2="{zero_y:.1f}" stroke="#52606d"/>',
        f'<text x="{left - 6}" y="{y_of(high) + 4:.1f}" text-anchor="end">{escape(_money(high, currency))}</text>',
        f'<text x="{left - 6}" y="{zero_y + 4:.1f}" text-anchor="end">0</text>',
    ]
    if low < 0:
        shapes.append(
            f'<text x="{left - 6}" y="{y_of(low) + 4:.1f}" text-anchor="end">{escape(_money(low, currency))}</text>'
        )
    for index, day in enumerate(days):
        x0 = left + gap + index * (3 * bar + gap)
        for offset, (name, legend, colour) in enumerate(_SERIES):
            value = points[day][name]
            y_value = y_of(value)
            y, h = min(y_value, zero_y), abs(y_value - zero_y)
            tip = f"{day.isoformat()} {legend}: {_money(value, currency)} {currency}"
            shapes.append(
                f'<rect x="{x0 + offset * bar}" y="{y:.1f}" width="{bar - 1}" height="{max(h, 0.5):.1f}" '
                f'fill="{colour}"><title>{escape(tip)}</title></rect>'
            )
        shapes.append(
            f'<text x="{x0 + 1.5 * bar:.1f}" y="{top + height + 16}" text-anchor="middle">'
            f"{escape(day.strftime('%m-%d'))}</text>"
        )
    for offset, (_, legend, colour) in enumerate(_SERIES):
        x = left + offset * _LEGEND_STEP
        shapes.append(f'<rect x="{x}" y="{top + height + 26}" width="10" height="10" fill="{colour}"/>')
        shapes.append(f'<text x="{x + 14}" y="{top + height + 35}">{escape(legend)}</text>')
    shapes.append("</svg>")
    return f"<h3>{escape(currency)}: {escape(CHART_MEASURE)}</h3>" + "".join(shapes)


def _legend(rows: Sequence[ReconRow]) -> str:
    """What each measure shown means, once, above the day tables."""
    shown_measures = sorted({row.measure for row in rows if row.measure in MEASURES}, key=list(MEASURES).index)
    if not shown_measures:
        return ""
    body = ["<tr>" + _cell(MEASURES[m][0]) + _cell(m) + _cell(MEASURES[m][1]) + "</tr>" for m in shown_measures]
    lead = (
        "<p>Store figures are what the store says now. An order is reconciled over its whole life (sale,"
        " adjustments, refunds): when store and journals agree, the store column follows the journals'"
        " days; a difference is shown on the order's latest day in the period.</p>"
    )
    return lead + _table(("measure", "key", "definition"), body)


def _day_tables(rows: Sequence[ReconRow]) -> list[str]:
    by_day: dict[tuple[dt.date, str], list[ReconRow]] = defaultdict(list)
    for row in rows:
        by_day[(row.day, row.currency)].append(row)
    if not by_day:
        return ["<p>No figures in this period.</p>"]
    headers = ("measure", "store", "state", "ERP", "store - state", "state - ERP", "status", "order ids")
    tables = []
    for (day, currency), day_rows in sorted(by_day.items()):
        body = []
        for row in day_rows:
            css, status = _status(row.explained, row.is_variance)
            body.append(
                f'<tr class="{css}">'
                + _cell(measure_label(row.measure))
                + _cell(_money(row.store, currency), numeric=True)
                + _cell(_money(row.state, currency), numeric=True)
                + _cell(_money(row.erp, currency), numeric=True)
                + _cell(_money(row.variance_store_state, currency), numeric=True)
                + _cell(_money(row.variance_state_erp, currency), numeric=True)
                + _cell(status)
                + _cell(" ".join(row.order_ids))
                + "</tr>"
            )
        tables.append(
            f"<h3>{escape(day.isoformat())} &middot; {escape(currency)}</h3>" + _table(headers, body)
        )
    return tables


_BETWEEN = {
    "store_state": "store / journals",
    "detail_summary": "order detail / daily summary",
    "state_erp": "journals / ERP",
}


def _findings_table(recon: Reconciliation) -> str:
    if not recon.findings:
        return '<p class="summary ok">No variances: store, journals and ERP agree.</p>'
    headers = (
        "day",
        "currency",
        "between",
        "kind",
        "status",
        "order ids",
        "refund ids",
        "journal / document",
        "why",
    )
    body = []
    for finding in recon.findings:
        css, status = _status(finding.explained, True)
        between = _BETWEEN.get(finding.check.value, finding.check.value)
        body.append(
            f'<tr class="{css}">'
            + _cell(finding.day.isoformat())
            + _cell(finding.currency)
            + _cell(between)
            + _cell(finding.kind.value)
            + _cell(status)
            + _cell(" ".join(finding.order_ids))
            + _cell(" ".join(finding.refund_ids))
            + _cell(" ".join((*finding.journal_keys, *finding.document_ids)))
            + _cell(finding.message)
            + "</tr>"
        )
    return _table(headers, body)


def _documents_section(recon: Reconciliation) -> str:
    tied = sum(1 for doc in recon.documents if doc.problem is None)
    lead = (
        f"<p>{tied} of {len(recon.documents)} documents tie out to the ERP (same lines and total debits).</p>"
    )
    problems = recon.document_problems
    if not problems:
        return lead
    headers = (
        "posting date",
        "journal",
        "ERP document",
        "status",
        "journal debits",
        "ERP debits",
        "order ids",
        "problem",
    )
    body = []
    for doc in problems:
        css, _ = _status(doc.explained, True)
        body.append(
            f'<tr class="{css}">'
            + _cell(doc.posting_date.isoformat())
            + _cell(doc.journal_key or "")
            + _cell(doc.document_id or "")
            + _cell(doc.status or "")
            + _cell(_money(doc.state_debit, doc.currency), numeric=True)
            + _cell(_money(doc.erp_debit, doc.currency), numeric=True)
            + _cell(" ".join(doc.order_ids))
            + _cell(doc.problem)
            + "</tr>"
        )
    return lead + _table(headers, body)


def _parked_table(recon: Reconciliation) -> str:
    if not recon.parked:
        return "<p>No parked records.</p>"
    headers = ("record", "id", "status", "posting day", "amount", "reason")
    body = [
        "<tr>"
        + _cell(record.object)
        + _cell(record.source_id)
        + _cell(record.status)
        + _cell(record.posting_day.isoformat() if record.posting_day else "")
        + _cell(f"{_money(record.amount, record.currency)} {record.currency or ''}".strip(), numeric=True)
        + _cell(record.reason)
        + "</tr>"
        for record in recon.parked
    ]
    return _table(headers, body)
