"""The controller's report: written through ObjectStoragePath, CSV parses back, HTML is safe and complete."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

from ml_connector.core.reconcile import ParkedRecord
from ml_connector.report import (
    ROW_COLUMNS,
    csv_text,
    render_chart,
    render_detail_csv,
    render_html,
    shown,
    write_report,
)

from tests.reconcile.recon_factories import DAY1, DAY2, PAIR, PERIOD, D, World, order

HOSTILE = "<script>alert('x')</script> & =HYPERLINK(\"http://evil\")"


def messy_world() -> World:
    """One parked order with a hostile reason, one journal missing in the ERP."""
    world = World()
    world.orders.append(order("104", DAY2, [("1", "ZZ-9", "12.00")]))
    world.parked = [ParkedRecord("order", "104", "needs_mapping", HOSTILE, DAY2, D("12.00"), "USD")]
    del world.erp["ECS0000101"]
    return world


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_report_files_are_written_through_object_storage_and_the_csv_parses_back(tmp_path):
    recon = messy_world().reconcile()
    target = tmp_path / "reports" / "nested"  # does not exist yet

    paths = write_report(
        recon, base_path=target.as_uri(), pair=PAIR, period=PERIOD, run_id="manual__2024-03-04"
    )

    stem = f"reconciliation_{PAIR}_2024-03-01_2024-03-03"
    assert paths.csv == (target / f"{stem}.csv").as_uri()
    assert paths.html == (target / f"{stem}.html").as_uri()
    rows = read_csv(target / f"{stem}.csv")
    assert list(rows[0]) == list(ROW_COLUMNS)
    assert len(rows) == len(recon.rows)
    by_key = {(r["day"], r["currency"], r["measure"]): r for r in rows}
    sales = by_key[(DAY1.isoformat(), "USD", "sales")]
    assert (Decimal(sales["store"]), Decimal(sales["state"]), Decimal(sales["erp"])) == (
        D("100.00"),
        D("100.00"),
        D("80.00"),
    )
    assert Decimal(sales["variance_state_erp"]) == D("20.00")
    assert sales["explained"] == "no" and sales["order_ids"] == "101"
    parked_sales = by_key[(DAY2.isoformat(), "USD", "sales")]
    assert parked_sales["explained"] == "yes" and parked_sales["order_ids"] == "104"

    detail = read_csv(target / f"{stem}_detail.csv")
    sections = {r["section"] for r in detail}
    assert sections == {"finding", "document", "parked"}
    [parked] = [r for r in detail if r["section"] == "parked"]
    assert parked["order_ids"] == "104" and parked["status"] == "needs_mapping"
    assert parked["message"] == HOSTILE  # does not start with a formula character: kept verbatim
    [missing] = [r for r in detail if r["section"] == "finding" and r["kind"] == "missing_in_erp"]
    assert missing["order_ids"] == "101" and missing["explained"] == "no"


def test_html_is_self_contained_has_the_chart_and_escapes_hostile_text(tmp_path):
    recon = messy_world().reconcile()

    paths = write_report(recon, base_path=tmp_path.as_uri(), pair=PAIR, period=PERIOD, run_id="run<1>")
    html = Path(paths.html.removeprefix("file://")).read_text(encoding="utf-8")

    assert html.startswith("<!DOCTYPE html>")
    assert "<svg" in html and "<rect" in html
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; =HYPERLINK" in html
    assert "run&lt;1&gt;" in html
    summary = f"{len(recon.variances)} variances, {len(recon.unexplained)} unexplained"
    assert summary in html and len(recon.unexplained) > 0
    assert "ECS0000101" in html and "needs_mapping" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
        "HYPERLINK(&quot;http://evil", ""
    )  # no external resources
    assert str(tmp_path) not in html  # never where the report is stored


def test_a_clean_period_renders_as_clean():
    recon = World().reconcile()

    html = render_html(recon, pair=PAIR, period=PERIOD, run_id="r1")

    assert "0 variances, 0 unexplained" in html
    assert 'class="summary ok"' in html
    assert "3 of 3 documents tie out" in html


def test_the_chart_plots_sales_net_of_refunds_per_day_and_column():
    points = {
        DAY1: {"store": D("113.40"), "state": D("113.40"), "erp": D("93.40")},
        DAY2: {"store": D("-54.25"), "state": D("-54.25"), "erp": D("-54.25")},
    }

    svg = render_chart("USD", points)

    assert svg.count("<rect") == 2 * 3 + 3  # bars + legend swatches
    assert "2024-03-01 ERP: 93.40 USD" in svg
    assert "-54.25" in svg  # negative axis label


def test_csv_text_neutralises_spreadsheet_formulas():
    assert csv_text("=1+1") == "'=1+1"
    assert csv_text("@SUM(A1)") == "'@SUM(A1)"
    assert csv_text("order 100") == "order 100"
    assert csv_text(None) == ""

    world = messy_world()
    world.parked = [ParkedRecord("order", "104", "needs_mapping", "=cmd|' /C calc'!A0", DAY2)]
    detail = list(csv.DictReader(io.StringIO(render_detail_csv(world.reconcile()))))
    [parked] = [r for r in detail if r["section"] == "parked"]
    assert parked["message"] == "'=cmd|' /C calc'!A0"


def test_amounts_are_padded_to_the_minor_unit_but_never_rounded():
    assert str(shown(D("0"), "USD")) == "0.00"
    assert str(shown(D("12.5"), "USD")) == "12.50"
    assert str(shown(D("1.005"), "USD")) == "1.005"  # more precise than the currency: kept as is
    assert str(shown(D("500"), "JPY")) == "500"
    assert str(shown(D("1.2"), "KWD")) == "1.200"
    assert str(shown(D("7"), None)) == "7"


def test_new_measures_have_readable_labels_in_the_csv_and_a_legend_in_the_html():
    from ml_connector.core.model import OrderStatus
    from ml_connector.report import MEASURES, measure_label, render_csv

    world = World()
    world.orders.append(order("120", DAY2, [("1", "HW-9", "10.00")], certificates=(("2", "25.00"),),
                              fees=(("Insurance", "2.00"),), status=OrderStatus.CANCELLED))  # fmt: skip
    recon = world.reconcile()

    rows = list(csv.DictReader(io.StringIO(render_csv(recon, pair=PAIR, run_id="r1"))))
    labels = {r["measure"]: r["label"] for r in rows}
    assert labels["owed"] == "Refunds payable (owed)"
    assert labels["gift_certificates"] == "Gift certificates issued"
    assert labels["fees"] == "Order fees"
    assert labels["returns"] == "Returns"
    assert measure_label("collected:stripe") == "Collected via stripe"
    owed = next(r for r in rows if (r["day"], r["measure"]) == (DAY2.isoformat(), "owed"))
    assert (owed["store"], owed["state"], owed["explained"], owed["order_ids"]) == ("37.00", "0.00", "no", "120")

    html = render_html(recon, pair=PAIR, period=PERIOD, run_id="r1")
    for measure in ("owed", "gift_certificates", "fees", "returns"):
        label, definition = MEASURES[measure]
        assert escape_text(label) in html and escape_text(definition) in html


def escape_text(text: str) -> str:
    from html import escape

    return escape(text)


def test_ledger_amounts_show_at_the_minor_unit_when_nothing_is_lost():
    assert str(shown(D("100.0000"), "USD")) == "100.00"
    assert str(shown(D("1.0050"), "USD")) == "1.0050"
