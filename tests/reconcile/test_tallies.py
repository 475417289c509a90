"""Tallies: the home page's sums and counts, kept by the database with every statement that writes what they
count, whatever door wrote it; folded without a writer ever waiting for another; proven by the nightly's
``home_tallies`` check, which finds a tally forged or left behind and heals it with an audit row."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice import jobs
from backoffice.models import Figure, JobStatus, RunMode, tallies
from backoffice.models.types import Month
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.reconcile.engine import run
from backoffice.services import meter_invoices, meter_lifecycle, meter_payments
from tests.factories import CustomerFactory, MeterFactory, past_the_guards
from tests.jobs.test_fanout import ended
from tests.workers import listening_workers

D = Decimal


def postpaid(code: str):
    meter = MeterFactory()
    meter_lifecycle.assign_meter(meter, CustomerFactory(code=code), Month.of(local_today()).first_day)
    return meter


def figures() -> dict[Figure, Decimal]:
    db.session.rollback()
    return tallies.figures(str(Month.of(local_today())))


def expected() -> dict[tuple[int, str], Decimal]:
    db.session.rollback()
    summed = tallies.expected()
    rows = db.session.execute(sa.select(summed.c.figure, summed.c.period, summed.c.value))
    return {(figure, period): D(value) for figure, period, value in rows if value}


def kept() -> dict[tuple[int, str], Decimal]:
    db.session.rollback()
    held = tallies.kept()
    rows = db.session.execute(sa.select(held.c.figure, held.c.period, held.c.value))
    return {(figure, period): D(value) for figure, period, value in rows if value}


def discrepancies(run_id: int) -> list[tuple]:
    return db.session.execute(
        sa.text(
            "SELECT entity_id, period, stored, expected FROM reconciliation_discrepancies "
            "WHERE run_id = :r ORDER BY entity_id"
        ),
        {"r": run_id},
    ).all()


def test_what_the_billing_writes_is_tallied_and_the_check_finds_it_clean(app):
    today = local_today()
    meter = postpaid("C0001")
    meter_invoices.add_invoice(meter, "INV-1", D("500000"), today, today)
    meter_payments.add_payment(meter, D("100000"), today)
    meter_invoices.withdraw_invoice(
        meter_invoices.add_invoice(meter, "INV-2", D("70000"), today, today), "Issued twice"
    )
    shown = figures()
    assert (shown[Figure.OWED], shown[Figure.OWING], shown[Figure.INVOICED]) == (D("400000"), 1, D("500000"))
    assert kept() == expected()
    assert run(RunMode.VERIFY, checks=["home_tallies"]).mismatched == 0


def test_a_row_written_by_sql_is_tallied_as_the_application_s_are(app):
    """The triggers are the database's: an UPDATE by hand, of many rows at once, moves the tallies as well."""
    for code in ("C0001", "C0002", "C0003"):
        CustomerFactory(code=code)
    db.session.commit()
    db.session.execute(sa.text("UPDATE customers SET amount_due = 1000, status = 'suspended'"))
    db.session.execute(sa.text("DELETE FROM customers WHERE code = 'C0003'"))
    db.session.commit()
    shown = figures()
    assert (shown[Figure.OWED], shown[Figure.OWING], shown[Figure.SUSPENDED]) == (D("2000"), 2, 2)
    assert kept() == expected()


def test_changes_are_folded_once_64_wait_and_a_figure_is_the_same_before_and_after(app):
    customer = CustomerFactory(code="C0001")
    db.session.commit()
    for due in range(1, 70):
        db.session.execute(
            sa.text("UPDATE customers SET amount_due = :due WHERE id = :id"), {"due": due, "id": customer.id}
        )
        db.session.commit()
    waiting = db.session.scalar(sa.text("SELECT count(*) FROM tally_changes"))
    assert waiting < 64
    assert figures()[Figure.OWED] == D("69") and kept() == expected()


def test_a_writer_never_waits_for_a_transaction_that_is_folding(app):
    """One transaction folds and stays open (it holds the fold's lock and its tallies); another writes, is tallied
    and commits meanwhile; both count once the first commits."""
    first, second = CustomerFactory(code="C0001"), CustomerFactory(code="C0002")
    db.session.commit()
    with db.engine.connect() as folding:
        for due in range(1, 66):
            folding.execute(
                sa.text("UPDATE customers SET amount_due = :due WHERE id = :id"), {"due": due, "id": first.id}
            )
        assert folding.scalar(sa.text("SELECT count(*) FROM tally_changes")) < 64  # it folded, and holds the lock
        done = threading.Event()

        def write() -> None:
            with app.app_context(), db.engine.begin() as connection:
                connection.execute(sa.text("SET LOCAL lock_timeout = '5s'"))
                for due in range(1, 70):
                    connection.execute(
                        sa.text("UPDATE customers SET amount_due = :due WHERE id = :id"), {"due": due, "id": second.id}
                    )
            done.set()

        writer = threading.Thread(target=write)
        writer.start()
        writer.join(10)
        assert done.is_set()
        folding.commit()
    shown = figures()
    assert (shown[Figure.OWED], shown[Figure.OWING]) == (D("134"), 2)
    assert kept() == expected()


def test_the_check_finds_a_forged_tally_and_one_left_behind_and_heals_both_with_an_audit_row(app):
    today = local_today()
    meter_invoices.add_invoice(postpaid("C0001"), "INV-1", D("500000"), today, today)
    db.session.execute(sa.text("SELECT tallies_rebuild()"))  # everything folded, to forge a tally by itself
    db.session.execute(sa.text("UPDATE tallies SET value = value + 1 WHERE figure = :f"), {"f": Figure.OWED.value})
    db.session.commit()
    with past_the_guards() as connection:  # no trigger fires: the tallies are left behind
        connection.execute(sa.text("UPDATE invoices SET amount = amount + 10"))
    found = run(RunMode.VERIFY, checks=["home_tallies"])
    month = str(Month.of(today))
    assert discrepancies(found.id) == [
        (Figure.OWED.value, None, D("500001.0000"), D("500000.0000")),
        (Figure.INVOICED.value, month, D("500000.0000"), D("500010.0000")),
    ]
    fixed = run(RunMode.FIX, checks=["home_tallies"])
    assert len(discrepancies(fixed.id)) == 2
    assert kept() == expected()
    assert run(RunMode.VERIFY, checks=["home_tallies"]).mismatched == 0


def test_a_month_s_figures_are_its_own(app):
    meter = MeterFactory()
    meter_lifecycle.assign_meter(meter, CustomerFactory(code="C0001"), date(2026, 1, 1))
    meter_invoices.add_invoice(meter, "INV-1", D("500000"), date(2026, 1, 15), date(2026, 1, 31))
    assert (Figure.INVOICED.value, "2026-01") in kept() and figures()[Figure.INVOICED] == 0


@pytest.mark.production_path("real workers")
def test_a_forged_tally_is_healed_by_a_fix_run_on_real_workers_as_the_runtime_role(app, redis_url):
    today = local_today()
    meter_invoices.add_invoice(postpaid("C0001"), "INV-1", D("500000"), today, today)
    db.session.execute(sa.text("SELECT tallies_rebuild()"))
    db.session.execute(sa.text("UPDATE tallies SET value = value * 2 WHERE figure = :f"), {"f": Figure.INVOICED.value})
    db.session.commit()
    with listening_workers(app, redis_url, 2):
        record, _ = jobs.enqueue("verify", {"fix": True, "checks": ["home_tallies"]})
        record = ended(record.id)
    assert record.status is JobStatus.FINISHED
    assert [row[0] for row in discrepancies(record.run_id)] == [Figure.INVOICED.value]
    assert kept() == expected() and figures()[Figure.INVOICED] == D("500000")
