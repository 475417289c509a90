"""Money moved by hand waits for a second admin by who moves it: the maker's own sum for a customer's day, whichever
door it comes through and however it is sliced.

A table of the rule × the doors (form, command, CSV import, XLSX import, API, job) × the makers (the maker, another
clerk, an admin), a test a cell: a recharge, an adjustment, an opening or a payment recorded by hand passes the
approval limit (Rp50.000 here) with what its maker moved by hand for that customer today, and waits; another clerk's
money is their own; a client's charge through the API is the client's.
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal

import openpyxl
import pytest
import sqlalchemy as sa

from backoffice.models import (
    ApprovalKind,
    ApprovalRequest,
    ApprovalStatus,
    BalanceTransaction,
    Customer,
    HandMove,
    Import,
    ImportStatus,
    Payment,
)
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_date
from backoffice.services import api_clients, approvals, wallet
from tests.approving import adjust_form, requests
from tests.factories import UserFactory, metered_customer, past_the_guards
from tests.logins import log_in
from tests.pages import ENGLISH, flashes, opened, payment_form
from tests.workers import run_worker

D = Decimal
NINE_TRILLION = "9.000.000.000.000"


@pytest.fixture
def held(app, limit):
    """ONE, holding meter M-ONE since January with Rp1.000.000 prepaid (not by hand); the limit Rp50.000."""
    customer, _meter = metered_customer("ONE", date(2026, 1, 1), D("1000.00"), prepaid=D("1000000"), serial="M-ONE")
    return customer


@pytest.fixture
def clerks(app):
    """Two finance clerks: the maker, and another."""
    clerk = UserFactory(email="clerk@example.com", role="finance")
    return clerk, UserFactory(email="other@example.com", role="finance")


def recharge(client, amount: str, key: str):
    """A recharge of ONE typed on its ledger tab by whoever is logged in."""
    url = "/customers/ONE/recharge"
    shown = opened(client, "/customers/ONE?tab=ledger", url)
    typed = {"recharge-amount": amount, "recharge-description": "Transfer BCA", "recharge-idempotency_key": key}
    return client.post(url, data=shown | typed, headers=ENGLISH)


def pay(client, amount: str, reference: str):
    """A payment on M-ONE typed on ONE's billing tab by whoever is logged in, dated today."""
    url, form = payment_form(client, "ONE", "M-ONE", amount, local_today(), reference)
    return client.post(url, data=form, headers=ENGLISH)


def recharges() -> list[D]:
    db.session.rollback()
    return list(
        db.session.scalars(
            sa.select(BalanceTransaction.amount)
            .where(BalanceTransaction.kind == "recharge", BalanceTransaction.created_by_id.is_not(None))
            .order_by(BalanceTransaction.id)
        )
    )


def payments() -> list[D]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(Payment.amount).order_by(Payment.id)))


def kept(maker) -> D:
    """What ``maker`` (none: a command run without a user) moved by hand today, as the database keeps it."""
    db.session.rollback()
    return db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(HandMove.amount), 0)).where(
            HandMove.maker_id.is_not_distinct_from(maker.id if maker else None), HandMove.moved_on == local_today()
        )
    )


# --- Three recharges under the limit in a day: the one that passes it waits ------------------------------------------


def test_three_recharges_under_the_limit_on_the_form_wait_from_the_one_that_passes_it(client, held, clerks):
    clerk, _other = clerks
    log_in(client, clerk)
    assert recharge(client, "20.000", "r-1").status_code == 302
    assert recharge(client, "20.000", "r-2").status_code == 302
    assert recharge(client, "20.000", "r-3").status_code == 302
    assert recharges() == [D("20000.00"), D("20000.00")]
    (asked,) = requests()
    assert (asked.kind, asked.amount, asked.status, asked.requested_by_id) == (
        ApprovalKind.RECHARGE,
        D("20000.00"),
        ApprovalStatus.PENDING,
        clerk.id,
    )
    assert kept(clerk) == D("40000.00")


def test_the_approvals_page_and_my_requests_say_why_a_sliced_recharge_waits(client, held, clerks, checker):
    """The third recharge waits for what its maker moved before it that day, and both pages say so in figures."""
    clerk, _other = clerks
    log_in(client, clerk)
    for key in ("r-1", "r-2", "r-3"):
        recharge(client, "20.000", key)
    (asked,) = requests()
    said = "Rp20.000,00, with the Rp40.000,00 its maker moved by hand for the customer today, is above the approval"
    waits = f'<p class="help waits" id="waits-{asked.id}">{said}'
    assert waits in client.get("/approvals/mine", headers=ENGLISH).get_data(as_text=True)
    log_in(client, checker)
    assert waits in client.get("/approvals", headers=ENGLISH).get_data(as_text=True)


def test_a_request_asked_on_an_earlier_day_says_that_day(client, held, clerks):
    """What its maker had moved is of the day it was asked on, named as that day once it is past."""
    clerk, _other = clerks
    log_in(client, clerk)
    for key in ("r-1", "r-2", "r-3"):
        recharge(client, "20.000", key)
    (asked,) = requests()
    with past_the_guards() as connection:
        for table, moment in (("approval_requests", "requested_at"), ("hand_moves", "created_at")):
            connection.execute(sa.text(f"UPDATE {table} SET {moment} = {moment} - interval '1 day'"))
        connection.execute(sa.text("UPDATE hand_moves SET moved_on = moved_on - 1"))
    db.session.expire_all()
    yesterday = named_date(local_today() - timedelta(days=1))
    said = approvals.waits_because([db.session.get(ApprovalRequest, asked.id)])[asked.id]
    assert f"with the Rp40.000,00 its maker had moved by hand for the customer on {yesterday}" in said


def test_three_recharges_under_the_limit_by_command_wait_from_the_one_that_passes_it(runner, held):
    said = [runner.invoke(args=["ledger", "recharge", "ONE", "20.000"], env={"BACKOFFICE_LANGUAGE": "en"})]
    said += [runner.invoke(args=["ledger", "recharge", "ONE", "20.000"], env={"BACKOFFICE_LANGUAGE": "en"})]
    said += [runner.invoke(args=["ledger", "recharge", "ONE", "20.000"], env={"BACKOFFICE_LANGUAGE": "en"})]
    assert [result.exit_code for result in said] == [0, 0, 1]
    assert "Rp20.000,00, with the Rp40.000,00 adjusted today without approval, is above the approval limit" in (
        said[2].output
    )
    assert kept(None) == D("40000.00")


def test_a_recharge_and_an_adjustment_of_one_admin_count_together(client, held, maker):
    log_in(client, maker)
    assert recharge(client, "30.000", "r-1").status_code == 302
    sent = client.post("/customers/ONE/adjust", data=adjust_form("30.000"), headers=ENGLISH, follow_redirects=True)
    assert "This amount needs a second admin&#39;s approval" in sent.get_data(as_text=True)
    assert [r.kind for r in requests()] == [ApprovalKind.ADJUSTMENT]
    assert kept(maker) == D("30000.00")


# --- Another clerk's money is their own ------------------------------------------------------------------------------


def test_another_clerk_s_recharges_count_for_them_not_for_the_maker(client, held, clerks):
    clerk, other = clerks
    log_in(client, clerk)
    assert recharge(client, "40.000", "a-1").status_code == 302
    log_in(client, other)
    assert recharge(client, "40.000", "b-1").status_code == 302  # their own 40.000: within
    log_in(client, clerk)
    assert recharge(client, "20.000", "a-2").status_code == 302  # the maker's 60.000: waits
    assert recharges() == [D("40000.00"), D("40000.00")]
    assert [(r.kind, r.requested_by_id) for r in requests()] == [(ApprovalKind.RECHARGE, clerk.id)]
    assert (kept(clerk), kept(other)) == (D("40000.00"), D("40000.00"))


def test_an_admin_approving_a_clerk_s_request_moves_nothing_by_hand(client, held, clerks, maker, checker):
    clerk, _other = clerks
    log_in(client, clerk)
    recharge(client, "60.000", "a-1")
    (asked,) = requests()
    approvals.approve(asked.id, checker)
    assert recharges() == [D("60000.00")]
    assert (kept(clerk), kept(checker)) == (0, 0)
    log_in(client, checker)
    assert recharge(client, "50.000", "c-1").status_code == 302  # the checker's own day starts from nothing
    assert recharges() == [D("60000.00"), D("50000.00")]


# --- A payment of any size: by every door -----------------------------------------------------------------------------


def test_a_nine_trillion_payment_on_the_form_waits_and_posts_once_approved(client, held, clerks, checker):
    clerk, _other = clerks
    log_in(client, clerk)
    sent = pay(client, NINE_TRILLION, "TRF-9T")
    assert sent.status_code == 302
    assert "request #" in flashes(client.get(sent.location))[-1]
    assert payments() == []
    (asked,) = requests()
    assert (asked.kind, asked.amount, asked.requested_by_id) == (ApprovalKind.PAYMENT, D("9000000000000.00"), clerk.id)
    log_in(client, checker)
    listed = client.get("/approvals", headers=ENGLISH).get_data(as_text=True)
    assert "is above the approval limit (Rp50.000,00)" in listed
    url = f"/approvals/{asked.id}/approve"
    assert client.post(url, data=opened(client, "/approvals", url)).status_code == 302
    assert payments() == [D("9000000000000.00")]
    assert kept(clerk) == kept(checker) == 0


def _payments_file(kind: str, amount: str, reference: str) -> tuple[str, bytes]:
    rows = [["Meter serial", "Payment reference", "Amount", "Paid on"], ["M-ONE", reference, amount, ""]]
    rows[1][3] = local_today().isoformat()
    if kind == "csv":
        return "payments.csv", "".join(";".join(row) + "\n" for row in rows).encode()
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return "payments.xlsx", out.getvalue()


def imported(client, kind: str, amount: str, reference: str) -> Import:
    """A file of payments uploaded on the Imports page and run there by whoever is logged in: the import as it ends."""
    name, content = _payments_file(kind, amount, reference)
    sent = client.post(
        "/imports", data={"kind": "payments", "file": (io.BytesIO(content), name)}, content_type="multipart/form-data"
    )
    assert client.post(sent.headers["Location"] + "/run").status_code == 302
    db.session.rollback()
    return db.session.scalar(sa.select(Import).order_by(Import.id.desc()))


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_a_nine_trillion_payment_imported_by_a_clerk_waits_whole(client, held, clerks, kind):
    clerk, _other = clerks
    log_in(client, clerk)
    assert imported(client, kind, NINE_TRILLION, "TRF-9T").status == ImportStatus.WAITING
    assert payments() == []
    assert [(r.kind, r.requested_by_id) for r in requests()] == [(ApprovalKind.IMPORT, clerk.id)]


def waits_by_command(runner, tmp_path, amount: str, maker) -> None:
    """A file of one payment imported by ``backoffice import payments`` in ``maker``'s name: it waits, writing
    nothing."""
    name, content = _payments_file("csv", amount, "TRF-1")
    path = tmp_path / name
    path.write_bytes(content)
    result = runner.invoke(
        args=["import", "payments", str(path), "--user", maker.email], env={"BACKOFFICE_LANGUAGE": "en"}
    )
    assert result.exit_code != 0 and "waits for a second admin's approval (request #" in result.output, result.output
    assert payments() == []
    assert db.session.scalar(sa.select(Import.status)) == ImportStatus.WAITING


def test_a_nine_trillion_payment_imported_by_command_waits_whole(runner, tmp_path, held, maker):
    waits_by_command(runner, tmp_path, NINE_TRILLION, maker)


# --- Sliced across doors: the maker's day is one day, whichever door --------------------------------------------------


def test_a_payment_on_the_form_counts_with_the_maker_s_recharge(client, held, clerks):
    clerk, _other = clerks
    log_in(client, clerk)
    assert recharge(client, "30.000", "r-1").status_code == 302
    assert pay(client, "30.000", "TRF-1").status_code == 302
    assert payments() == []
    assert [(r.kind, r.amount) for r in requests()] == [(ApprovalKind.PAYMENT, D("30000.00"))]
    assert "with the Rp30.000,00 its maker moved by hand for the customer today" in requests()[0].reason


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_an_import_within_the_limit_waits_for_what_its_maker_moved_by_hand_today(client, held, clerks, kind):
    clerk, other = clerks
    log_in(client, clerk)
    assert recharge(client, "30.000", "r-1").status_code == 302
    log_in(client, other)
    assert imported(client, kind, "30.000", "TRF-1").status == ImportStatus.DONE  # another clerk's 30.000: within
    assert payments() == [D("30000.00")]
    log_in(client, clerk)
    assert imported(client, kind, "30.000", "TRF-2").status == ImportStatus.WAITING  # the maker's 60.000
    assert payments() == [D("30000.00")]
    assert (kept(clerk), kept(other)) == (D("30000.00"), D("30000.00"))


def test_a_command_s_import_counts_with_the_admin_s_recharge(client, runner, tmp_path, held, maker):
    log_in(client, maker)
    assert recharge(client, "30.000", "r-1").status_code == 302
    waits_by_command(runner, tmp_path, "30.000", maker)


@pytest.mark.production_path("real workers")
def test_an_import_run_by_a_worker_keeps_the_rule_as_the_runtime_role(app, client, held, clerks, redis_url):
    clerk, other = clerks

    def run(amount: str, reference: str) -> ImportStatus:
        name, content = _payments_file("csv", amount, reference)
        sent = client.post(
            "/imports",
            data={"kind": "payments", "file": (io.BytesIO(content), name)},
            content_type="multipart/form-data",
        )
        run_worker(app, redis_url, approval_above=app.config["APPROVAL_ABOVE"])  # the check
        assert client.post(sent.headers["Location"] + "/run").status_code == 302
        run_worker(app, redis_url, approval_above=app.config["APPROVAL_ABOVE"])
        db.session.rollback()
        return db.session.scalar(sa.select(Import.status).order_by(Import.id.desc()).limit(1))

    log_in(client, clerk)
    assert recharge(client, "30.000", "r-1").status_code == 302
    assert run("30.000", "TRF-1") == ImportStatus.WAITING
    log_in(client, other)
    assert run("30.000", "TRF-2") == ImportStatus.DONE
    assert payments() == [D("30000.00")]
    assert (kept(clerk), kept(other)) == (D("30000.00"), D("30000.00"))


def test_an_opening_imported_counts_as_its_maker_s_money_moved_by_hand(runner, tmp_path, held, maker):
    day = local_today().replace(day=1).isoformat()
    path = tmp_path / "saldo.csv"
    path.write_text(f"Customer code;Opening balance;Cut-over date\nONE;30.000;{day}\n")
    assert runner.invoke(args=["import", "balances", str(path), "--user", maker.email]).exit_code == 0
    assert kept(maker) == D("30000.00")
    with pytest.raises(wallet.NeedsApproval, match="with the Rp30.000,00 adjusted today"):
        wallet.recharge(held, D("30000"), user=maker)


# --- A client's charge through the API is the client's ---------------------------------------------------------------


def test_a_client_s_charges_through_the_api_are_never_money_moved_by_hand(app, held, maker):
    token = api_clients.issue("portal", by=maker)[1]
    for key in ("k-1", "k-2", "k-3"):
        answer = app.test_client().post(
            "/api/v1/customers/ONE/charges",
            json={"amount": "40000.00", "service_type": "parking_fee", "reference": 7},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
        )
        assert answer.status_code == 201, answer.get_json()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(HandMove)) == 0
    assert db.session.scalar(sa.select(Customer.balance).where(Customer.code == "ONE")) == D("880000.00")


# --- What the database keeps ---------------------------------------------------------------------------------------


def test_what_was_moved_by_hand_is_never_changed_or_deleted(client, held, clerks):
    clerk, _other = clerks
    log_in(client, clerk)
    recharge(client, "30.000", "r-1")
    for statement in ("UPDATE hand_moves SET amount = 1", "DELETE FROM hand_moves", "TRUNCATE hand_moves"):
        with pytest.raises(sa.exc.DBAPIError):
            with db.engine.begin() as connection:
                connection.exec_driver_sql(statement)
    assert kept(clerk) == D("30000.00")


def test_a_payment_whose_reference_was_taken_since_it_was_asked_stays_pending(client, held, clerks, checker):
    clerk, _other = clerks
    log_in(client, clerk)
    pay(client, "60.000", "TRF-1")
    (asked,) = requests()
    log_in(client, checker)
    assert pay(client, "40.000", "TRF-1").status_code == 302  # the same bank transfer, recorded meanwhile
    url = f"/approvals/{asked.id}/approve"
    refused = client.post(url, data=opened(client, "/approvals", url), headers=ENGLISH)
    assert refused.status_code == 422 and "TRF-1" in refused.get_data(as_text=True)
    assert payments() == [D("40000.00")]
    assert requests()[0].status is ApprovalStatus.PENDING
