"""``backoffice reconcile``: exit codes, output, JSON shape and CSV export."""

import csv
import json
import re
from datetime import date
from decimal import Decimal

import pytest

from backoffice import jobs
from backoffice.services import wallet
from tests.factories import CustomerFactory, OrderFactory, TargetFactory, corrupt, forged_recharge


@pytest.fixture
def corrupted(app):
    customer = CustomerFactory(code="HOTEL")
    TargetFactory(account_manager=customer.account_manager, period_start=date(2026, 11, 1))
    small = OrderFactory(customer=customer)
    large = OrderFactory(customer=customer)
    OrderFactory(customer=customer)
    corrupt("orders", "grand_total", small.id, "9299999.50")
    corrupt("orders", "grand_total", large.id, "9400000.00")
    return small, large


def test_checks_lists_every_check_with_its_description(runner):
    result = runner.invoke(args=["reconcile", "checks"])
    assert result.exit_code == 0
    assert "order_grand_total" in result.output and "target_achieved" in result.output
    assert "order_month_totals" in result.output and "Order totals by month" in result.output
    assert "Order grand totals" in result.output
    assert "its total price plus additions, less promo and reductions" in result.output


def test_verify_reports_and_exits_1_while_discrepancies_remain(runner, corrupted):
    result = runner.invoke(args=["reconcile", "verify", "--check", "order_grand_total", "--threshold", "1"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any("order_grand_total" in line and " 3 " in line and " 2 " in line for line in lines)
    significant = [line for line in lines if line.strip().startswith("*")]
    assert len(significant) == 1 and "-100000.00" in significant[0]
    first, second = [line for line in lines if "order " in line and "grand_total" in line][:2]
    assert "-100000.00" in first and "0.50" in second


def test_verify_with_fix_heals_and_exits_0(runner, corrupted):
    result = runner.invoke(args=["reconcile", "verify", "--fix"])
    assert result.exit_code == 0, result.output
    assert "Totals" in result.output and "27900000.00" in result.output
    assert runner.invoke(args=["reconcile", "verify"]).exit_code == 0


def test_verify_json_is_one_document_with_decimal_strings(runner, corrupted):
    result = runner.invoke(args=["reconcile", "verify", "--json", "--check", "order_grand_total"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["mode"] == "verify"
    assert document["checks"] == [
        {"check": "order_grand_total", "checked": 3, "mismatched": 2, "fixed": 0, "totals": {}}
    ]
    first = document["discrepancies"][0]
    assert {k: first[k] for k in ("check", "entity_type", "field", "stored", "expected", "difference", "fixed")} == {
        "check": "order_grand_total",
        "entity_type": "order",
        "field": "grand_total",
        "stored": "9400000.00",
        "expected": "9300000.00",
        "difference": "-100000.00",
        "fixed": False,
    }
    assert isinstance(document["run_id"], int)


def test_rebuild_dry_run_writes_nothing_and_rebuild_heals(runner, corrupted):
    dry = runner.invoke(args=["reconcile", "rebuild", "--dry-run", "--json"])
    document = json.loads(dry.stdout)
    assert document["mode"] == "dry-run"
    assert document["checks"][0]["totals"] == {"grand_total": {"before": "27999999.50", "after": "27900000.00"}}
    assert dry.exit_code == 1
    assert runner.invoke(args=["reconcile", "verify", "--check", "order_grand_total"]).exit_code == 1
    rebuilt = runner.invoke(args=["reconcile", "rebuild", "--customer", "HOTEL"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert runner.invoke(args=["reconcile", "verify"]).exit_code == 0


def test_a_run_logs_its_summary_line_as_a_job_does(app, runner, corrupted, caplog):
    args = ["reconcile", "verify", "--check", "order_grand_total"]
    app.config["LOG_FORMAT"] = "json"  # as a collector reads it
    result = runner.invoke(args=[*args, "--json"])
    assert result.exit_code == 1
    run_id = json.loads(result.stdout)["run_id"]
    (line,) = [json.loads(line) for line in result.stderr.splitlines() if "Finished: " in line]
    said = f"Finished: run {run_id} succeeded: 2 mismatched, 0 fixed; 0 recalculations done"
    assert (line["level"], line["logger"], line["message"]) == ("INFO", "backoffice.reconcile", said)
    app.config["LOG_FORMAT"] = "text"
    fixed = runner.invoke(args=[*args, "--fix"])
    (written,) = [line for line in fixed.stderr.splitlines() if "Finished: " in line]
    assert re.search(
        r" INFO \[\d+\] backoffice\.reconcile: Finished: run \d+ succeeded: 2 mismatched, 2 fixed; 0 ", written
    )
    caplog.clear()
    corrupt("orders", "grand_total", corrupted[0].id, "1")
    record, _ = jobs.enqueue("verify", {"checks": ["order_grand_total"]})
    said_by_the_job = [r.getMessage() for r in caplog.records if r.name == "backoffice.jobs"]
    assert [message for message in said_by_the_job if message.startswith("Finished: ")] == [
        f"Finished: run {record.run_id} succeeded: 1 mismatched, 0 fixed; 0 recalculations done"
    ]


def test_csv_export_has_every_discrepancy(runner, corrupted, tmp_path):
    path = tmp_path / "report.csv"
    runner.invoke(args=["reconcile", "verify", "--csv", str(path)])
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0])[:12] == [
        "run_id",
        "check",
        "entity_type",
        "entity_id",
        "period",
        "field",
        "stored",
        "expected",
        "difference",
        "fixed",
        "fixed_at",
        "reason",
    ]
    assert list(rows[0])[12:] == ["entity_key", "entity_name", "field_label"]
    assert [(r["check"], r["difference"], r["fixed"]) for r in rows] == [
        ("order_grand_total", "-100000.00", "no"),
        ("target_achieved", "99999.50", "no"),
        ("order_month_totals", "99999.50", "no"),
        ("order_grand_total", "0.50", "no"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["verify", "--check", "nope"], "Unknown check 'nope'"),
        (["verify", "--from-month", "2026-13"], "--from-month must be YYYY-MM"),
        (["verify", "--from-month", "nov"], "--from-month must be YYYY-MM"),
        (["verify", "--customer", "GHOST"], "Unknown customer code: GHOST"),
        (["verify", "--threshold", "lots"], "Not an amount"),
        (["rebuild", "--check", "nope", "--dry-run"], "Unknown check"),
    ],
)
def test_usage_errors_exit_2_with_one_line(runner, args, message):
    result = runner.invoke(args=["reconcile", *args])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"Error: {result.output.strip().removeprefix('Error: ')}"]
    assert message in result.output


def test_checks_lists_the_customer_status(runner):
    result = runner.invoke(args=["reconcile", "checks"])
    assert "customer_status" in result.output and "below their suspension threshold" in result.output


def test_a_fix_that_would_launder_evidence_says_why_in_the_output_json_and_csv(runner, tmp_path):
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, Decimal("1000"))
    forged = forged_recharge(customer.id, "5000")
    because = f"left unfixed: the ledger chain of HOTEL is broken at movement #{forged}; deal with the ledger first"
    args = ["reconcile", "verify", "--fix", "--check", "customer_wallet"]
    result = runner.invoke(args=args)
    assert result.exit_code == 1 and because in " ".join(result.output.split())
    document = json.loads(runner.invoke(args=[*args, "--json"]).stdout)
    assert {d["reason"] for d in document["discrepancies"]} == {because}
    path = tmp_path / "report.csv"
    runner.invoke(args=[*args, "--csv", str(path)])
    assert {(r["field"], r["fixed"], r["reason"]) for r in csv.DictReader(path.open())} == {
        ("balance", "no", because),
        ("total_recharged", "no", because),
    }


def test_verify_names_each_entity_by_its_code_and_name(runner):
    customer = CustomerFactory(code="C0042", name="PT Sinar Jaya Makmur")
    corrupt("customers", "balance", customer.id, "5.00")
    result = runner.invoke(args=["reconcile", "verify", "--check", "customer_wallet"])
    assert result.exit_code == 1
    assert "C0042 — PT Sinar Jaya Makmur" in result.output


def test_a_postpaid_totals_run_counts_customers_owing_overpaid_clear_and_changed(runner):
    from backoffice.services import meter_invoices, meter_lifecycle, meter_payments
    from tests.factories import MeterFactory

    CustomerFactory(code="PREPAID")  # never held a meter: nothing postpaid to count, not "clear"

    day = date(2026, 11, 2)
    owing, overpaid, clear = (CustomerFactory(code=code) for code in ("OWES", "OVERPAID", "CLEAR"))
    for customer, invoiced, paid in ((owing, "100", "40"), (overpaid, "100", "150"), (clear, "100", "100")):
        meter = MeterFactory()
        meter_lifecycle.assign_meter(meter, customer, day)
        meter_invoices.add_invoice(meter, f"INV-{customer.code}", Decimal(invoiced), day, day)
        meter_payments.add_payment(meter, Decimal(paid), day, "")
    corrupt("customers", "amount_due", owing.id, "1.00")

    verified = runner.invoke(args=["reconcile", "verify", "--check", "customer_meter_totals"])
    assert verified.exit_code == 1
    assert "Customers' amounts due" in verified.output and "customer_meter_totals" in verified.output
    assert "1 with a balance due, 1 with an overpayment, 1 clear; 1 would change." in verified.output

    fixed = runner.invoke(args=["reconcile", "verify", "--fix", "--check", "customer_meter_totals"])
    assert fixed.exit_code == 0, fixed.output
    assert "Postpaid customers: 1 with a balance due, 1 with an overpayment, 1 clear; 1 changed." in fixed.output

    assert "Amounts due: 1; overpayments: 0." in fixed.output

    one = runner.invoke(args=["reconcile", "verify", "--check", "customer_meter_totals", "--customer", "OWES"])
    assert "customers OWES" in one.output
    assert "1 with a balance due, 0 with an overpayment, 0 clear; 0 would change." in one.output


def test_the_largest_discrepancies_are_counted_as_discrepancies_not_as_entities(runner):
    customer = CustomerFactory(code="C0042", name="PT Sinar Jaya Makmur")
    corrupt("customers", "balance", customer.id, "5.00")
    corrupt("customers", "total_spent", customer.id, "7.00")
    result = runner.invoke(args=["reconcile", "verify", "--check", "customer_wallet"])
    assert result.exit_code == 1
    assert "largest discrepancies (2 of 2)" in result.output
