"""Approvals: money moved by hand above the limit is pending until a second admin approves it."""

from __future__ import annotations

import os
import re
import subprocess
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import (
    Account,
    ApprovalKind,
    ApprovalStatus,
    BalanceTransaction,
    Customer,
    EntryStatus,
    JournalEntry,
    JournalLine,
    User,
)
from backoffice.platform.config import ConfigError, from_environment
from backoffice.platform.extensions import db
from backoffice.services import approvals, periods, wallet
from backoffice.services.customers import close_customer
from tests.approving import adjust_form, ask, requests
from tests.checkout import CONSOLE_SCRIPT
from tests.concurrency import race
from tests.factories import CustomerFactory, UserFactory, past_the_guards
from tests.logins import log_in
from tests.pages import text
from tests.rows import balance_of, posted_entries, raw, refused, written

D = Decimal
WRITTEN = (BalanceTransaction, posted_entries(), balance_of("HOTEL"))
"""What a refused door must leave as it was, read by :func:`tests.rows.written`."""


# --- The main path: pending, listed, not the maker's to approve, approved by another admin ---------------------------


def test_an_adjustment_above_the_limit_waits_for_a_second_admin(client, limit, hotel, maker, checker):
    before = written(*WRITTEN)
    request = ask(client, maker)
    assert written(*WRITTEN) == before
    assert (request.kind, request.status, request.signed_amount) == (
        ApprovalKind.ADJUSTMENT,
        ApprovalStatus.PENDING,
        D("60000.00"),
    )
    assert (request.requested_by_id, request.reason) == (maker.id, "Other: Meter misread in October")

    page = text(client.get("/approvals"))
    assert 'id="pending-approvals">1<' in page
    row = re.search(rf'<tr id="request-{request.id}">.*?</tr>', page).group(0)
    assert maker.name in row and "Other: Meter misread in October" in row and "Rp60.000,00" in row
    assert f'id="own-{request.id}"' in row and f'id="approve-{request.id}"' not in row

    refused = client.post(f"/approvals/{request.id}/approve")
    assert refused.status_code == 403
    assert "another admin approves it" in text(refused)
    assert written(*WRITTEN) == before and requests()[0].status is ApprovalStatus.PENDING

    log_in(client, checker)
    assert f'id="approve-{request.id}"' in text(client.get("/approvals"))
    approved = client.post(f"/approvals/{request.id}/approve", follow_redirects=True)
    assert approved.status_code == 200 and f"Request #{request.id} approved" in text(approved)
    (request,) = requests()
    movement = db.session.get(BalanceTransaction, request.result_movement_id)
    assert (request.status, request.decided_by_id) == (ApprovalStatus.APPROVED, checker.id)
    assert (movement.signed_amount, movement.created_by_id, movement.reason) == (D("60000.00"), checker.id, "other")
    assert request.result_entry_id == movement.entry_id
    assert written(*WRITTEN) == (before[0] + 1, before[1] + 1, D("160000.00"))
    assert 'id="pending-approvals"' not in text(client.get("/approvals"))


def test_an_adjustment_at_or_below_the_limit_posts_at_once(client, limit, hotel, maker):
    log_in(client, maker)
    response = client.post("/customers/HOTEL/adjust", data=adjust_form("50.000", direction="down"))
    assert response.status_code == 302
    assert written(*WRITTEN)[2] == D("50000.00")
    assert requests() == []


def test_a_rejection_needs_a_reason_and_posts_nothing(client, limit, hotel, maker, checker):
    request = ask(client, maker)
    before = written(*WRITTEN)
    log_in(client, checker)
    refused = client.post(f"/approvals/{request.id}/reject", data={f"reject-{request.id}-reason": "  "})
    assert refused.status_code == 422
    error = re.search(rf'id="error-reject-{request.id}-reason">([^<]*)<', refused.get_data(as_text=True)).group(1)
    assert error == "Say why the request is rejected."
    assert requests()[0].status is ApprovalStatus.PENDING

    data = {f"reject-{request.id}-reason": "No evidence of a misread"}
    assert client.post(f"/approvals/{request.id}/reject", data=data).status_code == 302
    (request,) = requests()
    assert (request.status, request.decided_by_id, request.rejection_reason) == (
        ApprovalStatus.REJECTED,
        checker.id,
        "No evidence of a misread",
    )
    assert written(*WRITTEN) == before
    decided = re.search(rf'<tr id="request-{request.id}">.*?</tr>', text(client.get("/approvals"))).group(0)
    assert f"rejected by {checker.name}," in decided and "No evidence of a misread" in decided


def test_a_decided_request_is_decided_once(client, limit, hotel, maker, checker):
    request = ask(client, maker)
    log_in(client, checker)
    assert client.post(f"/approvals/{request.id}/approve").status_code == 302
    after = written(*WRITTEN)
    again = client.post(f"/approvals/{request.id}/approve")
    assert again.status_code == 409
    assert f"Request #{request.id} was already approved by checker@example.com" in text(again)
    rejected = client.post(f"/approvals/{request.id}/reject", data={f"reject-{request.id}-reason": "Too late"})
    assert rejected.status_code == 409
    assert written(*WRITTEN) == after and requests()[0].status is ApprovalStatus.APPROVED
    assert client.post("/approvals/999999/approve").status_code == 404


def test_the_requester_cannot_reject_their_own_request_either(client, limit, hotel, maker, checker):
    request = ask(client, maker)
    before = written(*WRITTEN)
    row = re.search(rf'<tr id="request-{request.id}">.*?</tr>', text(client.get("/approvals"))).group(0)
    assert f'id="reject-{request.id}"' not in row and "another admin approves it or rejects it" in row

    refused = client.post(f"/approvals/{request.id}/reject", data={f"reject-{request.id}-reason": "Changed my mind"})
    assert refused.status_code == 403
    assert f"You asked for request #{request.id}: another admin rejects it." in text(refused)
    with pytest.raises(approvals.OwnRequest, match="another admin rejects it"):
        approvals.reject(request.id, maker, "Changed my mind")
    assert written(*WRITTEN) == before
    (request,) = requests()
    assert (request.status, request.decided_by_id, request.rejection_reason) == (ApprovalStatus.PENDING, None, None)

    log_in(client, checker)
    assert f'id="reject-{request.id}"' in text(client.get("/approvals"))


def test_a_double_submit_asks_once(client, limit, hotel, maker):
    ask(client, maker)
    again = client.post("/customers/HOTEL/adjust", data=adjust_form("60.000"), follow_redirects=True)
    assert again.status_code == 200 and "is pending" in text(again)
    assert len(requests()) == 1


def test_a_finance_clerk_cannot_approve_or_reject(client, limit, hotel, maker):
    request = ask(client, maker)
    clerk = UserFactory(role="finance")
    log_in(client, clerk)
    page = text(client.get("/approvals"))
    assert maker.name in page and f'id="approve-{request.id}"' not in page
    assert 'id="nav-approvals"' not in page
    assert client.post(f"/approvals/{request.id}/approve").status_code == 403
    assert client.post(f"/approvals/{request.id}/reject", data={f"reject-{request.id}-reason": "x"}).status_code == 403
    assert requests()[0].status is ApprovalStatus.PENDING


@pytest.mark.parametrize("amount", ["1" * 40, "9" * 40 + ",99"])
def test_forty_digit_amounts_are_field_errors_and_ask_nothing(client, limit, hotel, maker, amount):
    log_in(client, maker)
    before = written(*WRITTEN)
    response = client.post("/customers/HOTEL/adjust", data=adjust_form(amount))
    assert response.status_code == 422
    assert "too large" in re.search(r'id="error-adjust-amount">([^<]*)<', response.get_data(as_text=True)).group(1)
    entry = client.post("/books/journal/new", data=entry_form(amount))
    assert entry.status_code == 422 and "too large" in text(entry)
    assert written(*WRITTEN) == before and requests() == []


def test_a_request_that_could_not_post_now_is_refused_when_asked(client, limit, hotel, maker):
    log_in(client, maker)
    response = client.post("/customers/HOTEL/adjust", data=adjust_form("150.000", direction="down"))
    assert response.status_code == 422
    assert "Insufficient balance" in response.get_data(as_text=True)
    assert requests() == []


# --- Approving what posting now refuses: the request stays pending, nothing is written -------------------------------


def refused_on_approval(client, checker, request, message: str) -> None:
    before = written(*WRITTEN)
    log_in(client, checker)
    response = client.post(f"/approvals/{request.id}/approve")
    assert response.status_code == 422
    assert message in re.search(rf'id="refused-{request.id}">([^<]*)<', response.get_data(as_text=True)).group(1)
    assert written(*WRITTEN) == before
    assert requests()[0].status is ApprovalStatus.PENDING


def test_a_request_beyond_the_balance_by_now_stays_pending(client, limit, hotel, maker, checker):
    request = ask(client, maker, direction="down")
    wallet.charge(hotel.id, D("80000"))
    refused_on_approval(client, checker, request, "Insufficient balance: HOTEL has Rp20.000,00 available")


def test_a_request_dated_in_a_month_closed_since_stays_pending(client, limit, hotel, maker, checker):
    request = ask(client, maker, value_date="2026-10-15")
    periods.close("2026-10", checker)
    refused_on_approval(client, checker, request, "October 2026 is closed")


def test_a_request_for_a_customer_closed_since_stays_pending(client, app, limit, maker, checker):
    customer = CustomerFactory(code="HOTEL")
    request = ask(client, maker)
    close_customer(db.session.get(Customer, customer.id), user=checker)
    refused_on_approval(client, checker, request, "Customer HOTEL is closed")


# --- Two admins approving at once ---------------------------------------------------------------------------------


def test_two_admins_approving_at_once_post_once(app, client, limit, hotel, maker, checker):
    request_id = ask(client, maker).id
    other = UserFactory(role="admin")
    outcomes: list[str] = []

    def approving(user_id: int):
        def body() -> None:
            try:
                approvals.approve(request_id, db.session.get(User, user_id))
            except approvals.AlreadyDecided:
                outcomes.append("already decided")
            else:
                outcomes.append("approved")

        return body

    race(app, approving(checker.id), approving(other.id))
    assert sorted(outcomes) == ["already decided", "approved"]
    assert written(*WRITTEN)[2] == D("160000.00")
    assert db.session.scalar(sa.select(sa.func.count(BalanceTransaction.id))) == 2


# --- Reversals and manual entries ---------------------------------------------------------------------------------


def test_a_wallet_reversal_above_the_limit_needs_a_reason_and_a_second_admin(client, limit, hotel, maker, checker):
    deposit = db.session.scalar(sa.select(BalanceTransaction))
    url = f"/customers/HOTEL/movements/{deposit.id}"
    log_in(client, maker)
    assert 'id="needs-approval"' in text(client.get(url))
    missing = client.post(f"{url}/reverse", data={"description": ""})
    assert missing.status_code == 422 and "say why, for the admin who approves it" in text(missing)
    before = written(*WRITTEN)
    asked = client.post(f"{url}/reverse", data={"description": "Deposited twice"}, follow_redirects=True)
    assert "is pending" in text(asked) and 'id="pending-reversal"' in text(asked)
    (request,) = requests()
    assert (request.kind, request.movement_id, request.reason) == (
        ApprovalKind.WALLET_REVERSAL,
        deposit.id,
        "Deposited twice",
    )
    assert written(*WRITTEN) == before
    log_in(client, checker)
    assert client.post(f"/approvals/{request.id}/approve").status_code == 302
    assert written(*WRITTEN)[2] == D("0.00")
    assert wallet.reversal_of(deposit.id).id == requests()[0].result_movement_id


def test_a_day_s_reversals_count_together_with_adjustments_against_the_limit(app, client, hotel, maker, checker):
    app.config["APPROVAL_ABOVE"] = D("1000000")
    wallet.recharge(hotel, D("3600000"))
    charges = [wallet.charge(hotel, D("900000")).id for _ in range(4)]
    wallet.reverse(
        charges[0], description="Entered by mistake", user=maker
    )  # 900.000 given back: within the limit, posted at once
    before = written(*WRITTEN)
    with pytest.raises(wallet.NeedsApproval, match=r"Rp900\.000,00, with the Rp900\.000,00 adjusted today"):
        wallet.reverse(charges[1], description="Entered by mistake", user=maker)
    assert written(*WRITTEN) == before

    log_in(client, maker)
    url = f"/customers/HOTEL/movements/{charges[1]}"
    assert 'id="needs-approval"' in text(client.get(url))
    asked = client.post(f"{url}/reverse", data={"description": "Charged by mistake"}, follow_redirects=True)
    assert "is pending" in text(asked)
    (request,) = requests()
    assert (request.kind, request.movement_id) == (ApprovalKind.WALLET_REVERSAL, charges[1])
    assert written(*WRITTEN) == before

    with pytest.raises(wallet.NeedsApproval):  # an adjustment counts the day's reversal too
        wallet.adjust(hotel, D("200000"), reason="goodwill", user=maker)
    log_in(client, checker)
    assert client.post(f"/approvals/{request.id}/approve").status_code == 302  # what was approved counts no more
    wallet.adjust(hotel, D("100000"), reason="goodwill", user=maker)
    assert written(*WRITTEN)[2] == D("100000.00") + D("900000") * 2 + D("100000")


def entry_form(amount: str, **fields) -> dict:
    return {
        "entry_date": "2026-11-20",
        "description": "Owner's capital",
        "lines-0-account": "1000",
        "lines-0-debit": amount,
        "lines-1-account": "3000",
        "lines-1-credit": amount,
        "action": "post",
        "idempotency_key": "e-1",
    } | fields


def cash() -> Decimal:
    db.session.rollback()
    return db.session.scalar(sa.select(Account.balance).where(Account.code == "1000"))


def test_a_manual_entry_above_the_limit_is_a_draft_until_approved(client, limit, maker, checker):
    log_in(client, maker)
    assert "Rp50.000,00 needs a second admin" in text(client.get("/books/journal/new"))
    asked = client.post("/books/journal/new", data=entry_form("75.000"), follow_redirects=True)
    assert "is pending" in text(asked) and 'id="pending-approval"' in text(asked)
    again = client.post("/books/journal/new", data=entry_form("75.000"), follow_redirects=True)
    assert "is pending" in text(again)
    (request,) = requests()
    assert (request.kind, request.amount, request.reason) == (
        ApprovalKind.JOURNAL_ENTRY,
        D("75000.00"),
        "Owner's capital",
    )
    assert db.session.get(JournalEntry, request.entry_id).status is EntryStatus.DRAFT
    assert cash() == D("0.00")
    void = client.post(f"/books/journal/{request.entry_id}/void", follow_redirects=True)
    assert "waits for approval" in text(void)
    assert db.session.get(JournalEntry, request.entry_id).status is EntryStatus.DRAFT

    log_in(client, checker)
    assert client.post(f"/approvals/{request.id}/approve").status_code == 302
    (request,) = requests()
    assert request.result_entry_id == request.entry_id
    assert db.session.get(JournalEntry, request.entry_id).status is EntryStatus.POSTED
    assert cash() == D("75000.00")


def test_approving_posts_the_entry_as_asked_or_nothing(client, limit, maker, checker):
    log_in(client, maker)
    client.post("/books/journal/new", data=entry_form("75.000"))
    (request,) = requests()
    ids = dict(db.session.execute(sa.select(Account.code, Account.id)).all())
    with past_the_guards() as connection:  # two lines slipped into the draft after it was asked for
        connection.execute(
            sa.insert(JournalLine),
            [
                {"entry_id": request.entry_id, "account_id": ids["1000"], "debit": D("5000000"), "credit": D("0")},
                {"entry_id": request.entry_id, "account_id": ids["3000"], "debit": D("0"), "credit": D("5000000")},
            ],
        )

    log_in(client, checker)
    refused = client.post(f"/approvals/{request.id}/approve")
    assert refused.status_code == 409
    assert "entry was changed after it was asked for: it is not what was asked, so nothing was posted" in text(refused)
    with pytest.raises(approvals.ChangedSinceAsked):
        approvals.approve(request.id, checker)
    (request,) = requests()
    assert request.status is ApprovalStatus.PENDING and cash() == D("0.00")
    assert db.session.get(JournalEntry, request.entry_id).status is EntryStatus.DRAFT

    with past_the_guards() as connection:  # put back as asked: it posts what was asked
        connection.execute(sa.delete(JournalLine).where(JournalLine.debit == D("5000000")))
        connection.execute(sa.delete(JournalLine).where(JournalLine.credit == D("5000000")))
    assert client.post(f"/approvals/{request.id}/approve").status_code == 302
    assert cash() == D("75000.00")


def test_a_manual_entry_at_the_limit_posts_at_once(client, limit, maker):
    log_in(client, maker)
    assert client.post("/books/journal/new", data=entry_form("50.000")).status_code == 302
    assert cash() == D("50000.00") and requests() == []


def test_a_draft_above_the_limit_is_asked_for_when_posted(client, limit, maker, checker):
    log_in(client, maker)
    client.post("/books/journal/new", data=entry_form("75.000", action="draft"))
    draft = db.session.scalar(sa.select(JournalEntry.id))
    asked = client.post(f"/books/journal/{draft}/post", follow_redirects=True)
    assert "is pending" in text(asked)
    (request,) = requests()
    assert (request.entry_id, cash()) == (draft, D("0.00"))
    log_in(client, checker)
    assert client.post(f"/approvals/{request.id}/approve").status_code == 302
    assert cash() == D("75000.00")


def test_reversing_an_entry_above_the_limit_needs_a_reason_and_a_second_admin(client, limit, maker, checker):
    log_in(client, maker)
    client.post("/books/journal/new", data=entry_form("50.000"))
    limit_lowered = D("10000")
    client.application.config["APPROVAL_ABOVE"] = limit_lowered
    entry = db.session.scalar(sa.select(JournalEntry.id))
    page = text(client.get(f"/books/journal/{entry}"))
    assert "Ask to reverse this entry" in page and "Ask a second admin to approve the reversing entry" in page
    missing = client.post(f"/books/journal/{entry}/reverse", data={"reason": ""}, follow_redirects=True)
    assert "say why the entry is reversed" in text(missing) and requests() == []
    asked = client.post(f"/books/journal/{entry}/reverse", data={"reason": "Capital never paid in"})
    assert asked.status_code == 302
    (request,) = requests()
    assert (request.kind, request.entry_id, request.amount) == (ApprovalKind.ENTRY_REVERSAL, entry, D("50000.00"))
    assert cash() == D("50000.00")
    log_in(client, checker)
    assert client.post(f"/approvals/{request.id}/approve").status_code == 302
    assert cash() == D("0.00")
    reversal = db.session.get(JournalEntry, requests()[0].result_entry_id)
    assert reversal.reverses_id == entry


# --- The limit's setting ------------------------------------------------------------------------------------------


def test_the_limit_defaults_to_a_hundred_million_rupiah(tmp_path):
    assert from_environment(str(tmp_path), {})["APPROVAL_ABOVE"] == D("100000000.00")
    assert from_environment(str(tmp_path), {"BACKOFFICE_APPROVAL_ABOVE": "2500000.50"})["APPROVAL_ABOVE"] == D(
        "2500000.50"
    )


@pytest.mark.parametrize("given", ["ten million", "-1", "1.000.000", "1,5", "0.001", "NaN", "Infinity", "1" * 40])
def test_a_limit_that_cannot_be_read_is_a_configuration_error(tmp_path, given):
    with pytest.raises(ConfigError, match="BACKOFFICE_APPROVAL_ABOVE=.* is not an amount from 0 to"):
        from_environment(str(tmp_path), {"BACKOFFICE_APPROVAL_ABOVE": given})


def test_the_console_script_stops_at_a_limit_it_cannot_read(new_database_url):
    env = os.environ | {
        "DATABASE_URL": new_database_url,
        "SECRET_KEY": "test",
        "BACKOFFICE_APPROVAL_ABOVE": "lots",
    }
    result = subprocess.run([CONSOLE_SCRIPT, "db", "current"], env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert "Error: BACKOFFICE_APPROVAL_ABOVE='lots' is not an amount" in result.stderr
    assert "Traceback" not in result.stderr


# --- The command line cannot ask a second admin: above the limit it refuses ----------------------------------------


def test_the_commands_refuse_an_adjustment_or_a_reversal_above_the_limit(runner, limit, hotel):
    before = written(*WRITTEN)
    adjusted = runner.invoke(args=["ledger", "adjust", "HOTEL", "-60.000", "--reason", "goodwill"])
    assert adjusted.exit_code == 1
    assert "Rp60.000,00 is above BACKOFFICE_APPROVAL_ABOVE (Rp50.000,00): it needs a second admin's approval" in (
        adjusted.output
    )
    deposit = db.session.scalar(sa.select(BalanceTransaction))
    reversed_ = runner.invoke(args=["ledger", "reverse", str(deposit.id), "--description", "Deposited twice"])
    assert reversed_.exit_code == 1 and "Rp100.000,00 is above BACKOFFICE_APPROVAL_ABOVE" in reversed_.output
    assert written(*WRITTEN) == before and requests() == []
    assert runner.invoke(args=["ledger", "adjust", "HOTEL", "50.000", "--reason", "goodwill"]).exit_code == 0
    assert written(*WRITTEN)[2] == D("150000.00")


def test_the_wallet_operations_themselves_refuse_money_moved_by_hand_above_the_limit(limit, hotel, maker, checker):
    """Whoever calls them (a screen, a command, a job, a script): above the limit only an approved request posts."""
    before = written(*WRITTEN)
    deposit = db.session.scalar(sa.select(BalanceTransaction))
    with pytest.raises(wallet.NeedsApproval, match=r"Rp60\.000,00 is above the approval limit \(Rp50\.000,00\)"):
        wallet.adjust(hotel, D("-60000"), reason="goodwill", user=maker)
    with pytest.raises(wallet.NeedsApproval, match="a second admin approves it"):
        wallet.post_movement(wallet.adjustment(hotel, D("60000"), reason="goodwill", user=maker))
    with pytest.raises(wallet.NeedsApproval, match=r"Rp100\.000,00 is above the approval limit"):
        wallet.reverse(deposit, description="Entered by mistake", user=maker)
    assert written(*WRITTEN) == before

    asked = approvals.ask_adjustment(
        wallet.adjustment(hotel, D("-60000"), reason="goodwill", user=maker), user=maker, reason="Goodwill"
    )
    approvals.approve(asked.id, checker)
    assert written(*WRITTEN)[2] == D("40000.00")
    wallet.adjust(hotel, D("50000"), reason="goodwill", user=maker)
    assert written(*WRITTEN)[2] == D("90000.00")


def test_a_customer_s_adjustments_of_the_day_count_together_against_the_limit(client, limit, hotel, maker, checker):
    wallet.adjust(hotel, D("30000"), reason="goodwill", user=maker)
    before = written(*WRITTEN)
    with pytest.raises(wallet.NeedsApproval, match=r"Rp30\.000,00, with the Rp30\.000,00 adjusted today"):
        wallet.adjust(hotel, D("-30000"), reason="goodwill", user=maker)
    assert written(*WRITTEN) == before
    other = CustomerFactory(code="OTHER")
    wallet.adjust(other, D("30000"), reason="goodwill", user=maker)

    request = ask(client, maker, "30.000")  # the form asks a second admin for what would pass the day's limit
    log_in(client, checker)
    assert client.post(f"/approvals/{request.id}/approve").status_code == 302
    assert written(*WRITTEN)[2] == D("160000.00")
    wallet.adjust(hotel, D("20000"), reason="goodwill", user=maker)  # what was approved counts no more
    assert written(*WRITTEN)[2] == D("180000.00")


def test_two_adjustments_at_once_count_each_other_against_the_limit(app, limit, hotel, maker):
    customer_id, refused = hotel.id, []

    def adjusting():
        wallet.adjust(customer_id, D("30000"), reason="goodwill")

    def second():
        with pytest.raises(wallet.NeedsApproval) as error:
            adjusting()
        refused.append(str(error.value))

    race(app, adjusting, second, hold_after="commit")
    assert refused and "with the Rp30.000,00 adjusted today" in refused[0]
    assert written(*WRITTEN)[2] == D("130000.00")


def test_an_entry_whose_debits_total_beyond_any_single_amount_is_asked_for(client, limit, maker):
    largest = "9.999.999.999.999,99"
    form = {"entry_date": "2026-11-20", "description": "Revaluation", "action": "post", "idempotency_key": "e-9"}
    for number in range(6):
        side = "debit" if number < 3 else "credit"
        form |= {f"lines-{number}-account": "1000" if number < 3 else "3000", f"lines-{number}-{side}": largest}
    log_in(client, maker)
    response = client.post("/books/journal/new", data=form, follow_redirects=True)
    assert response.status_code == 200 and "is pending" in text(response)
    (request,) = requests()
    assert request.amount == D("29999999999999.97")
    assert cash() == D("0.00")


# --- The requests themselves: guarded by the database, and kept in their history -------------------------------------


def asked_adjustment(hotel, maker, amount: str = "-60000") -> int:
    movement = wallet.adjustment(hotel, D(amount), reason="goodwill", user=maker)
    return approvals.ask_adjustment(movement, user=maker, reason="Goodwill").id


def history(request_id: int) -> list[tuple[str, str | None, int, int | None]]:
    """Each version of the request: its status, who asked and who decided."""
    db.session.rollback()
    rows = db.session.execute(
        sa.text(
            "SELECT status, requested_by_id, decided_by_id FROM approval_requests_history WHERE id = :id "
            "ORDER BY transaction_id"
        ),
        {"id": request_id},
    )
    return [tuple(row) for row in rows]


def test_who_asked_and_what_was_asked_cannot_be_rewritten_by_sql(limit, hotel, maker, checker):
    request_id = asked_adjustment(hotel, maker)
    rewrite = "UPDATE approval_requests SET requested_by_id = :who WHERE id = :id"
    assert "what an approval request asks is immutable" in refused(rewrite, who=checker.id, id=request_id)
    for column, value in (("amount", "1.00"), ("reason", "other"), ("customer_id", None), ("kind", "journal_entry")):
        statement = f"UPDATE approval_requests SET {column} = :v WHERE id = :id"
        assert "immutable" in refused(statement, v=value, id=request_id), column
    # So the requester cannot pass for someone else and approve their own request.
    with pytest.raises(approvals.OwnRequest):
        approvals.approve(request_id, maker)


def test_a_decision_is_made_once_and_a_request_is_never_deleted(limit, hotel, maker, checker):
    request_id = asked_adjustment(hotel, maker)
    assert "decided once" in refused(
        "UPDATE approval_requests SET status = 'approved' WHERE id = :id", id=request_id
    )  # no one said who decided
    assert "decided once" in refused(
        "UPDATE approval_requests SET decided_by_id = :who, decided_at = CURRENT_TIMESTAMP WHERE id = :id",
        who=checker.id,
        id=request_id,
    )  # still pending
    approvals.approve(request_id, checker)
    for statement in (
        "UPDATE approval_requests SET status = 'rejected', rejection_reason = 'no' WHERE id = :id",
        "UPDATE approval_requests SET status = 'pending' WHERE id = :id",
        "UPDATE approval_requests SET decided_by_id = :who WHERE id = :id",
        "UPDATE approval_requests SET decided_at = CURRENT_TIMESTAMP WHERE id = :id",
        "UPDATE approval_requests SET result_movement_id = NULL WHERE id = :id",
    ):
        assert "decided once" in refused(statement, who=maker.id, id=request_id), statement
    delete = "DELETE FROM approval_requests WHERE id = :id"
    assert "DELETE of approval_requests is refused" in refused(delete, id=request_id)
    pending = asked_adjustment(hotel, maker, "70000")
    assert "DELETE of approval_requests is refused" in refused(delete, id=pending)
    (decided,) = [r for r in requests() if r.id == request_id]
    assert (decided.status, decided.decided_by_id) == (ApprovalStatus.APPROVED, checker.id)


def test_an_update_of_a_column_not_guarded_goes_through(limit, hotel, maker, checker):
    """Only what was asked and the decision are guarded: an UPDATE that changes neither is let through."""
    request_id = asked_adjustment(hotel, maker)
    raw("UPDATE approval_requests SET reason = reason WHERE id = :id", id=request_id)
    approvals.approve(request_id, checker)
    raw("UPDATE approval_requests SET status = status, decided_by_id = decided_by_id WHERE id = :id", id=request_id)


def test_approving_and_rejecting_leave_versions_of_who_asked_and_who_decided(limit, hotel, maker, checker):
    approved = asked_adjustment(hotel, maker)
    rejected = asked_adjustment(hotel, maker, "-70000")
    approvals.approve(approved, checker)
    approvals.reject(rejected, checker, "Not agreed with the customer")
    assert written(*WRITTEN)[2] == D("40000.00")
    assert history(approved) == [("pending", maker.id, None), ("approved", maker.id, checker.id)]
    assert history(rejected) == [("pending", maker.id, None), ("rejected", maker.id, checker.id)]
    with pytest.raises(approvals.AlreadyDecided):
        approvals.reject(approved, checker, "Too late")
    assert history(approved)[-1] == ("approved", maker.id, checker.id)
    assert run_drift().mismatched == 0


def test_a_request_s_history_is_shown_from_the_decided_list(client, limit, hotel, maker, checker):
    request_id = asked_adjustment(hotel, maker)
    approvals.approve(request_id, checker)
    log_in(client, checker)
    assert f"/history/approval/{request_id}" in text(client.get("/approvals"))
    page = text(client.get(f"/history/approval/{request_id}"))
    assert "checker@example.com" in page and "maker@example.com" in page


def test_a_request_rewritten_past_the_guards_is_reported_against_its_history(limit, hotel, maker, checker):
    request_id = asked_adjustment(hotel, maker)
    with past_the_guards() as connection:
        connection.execute(
            sa.text("UPDATE approval_requests SET requested_by_id = :who WHERE id = :id"),
            {"who": checker.id, "id": request_id},
        )
    found = run_drift()
    assert found.mismatched == 1
    (discrepancy,) = found.discrepancies
    assert (discrepancy.entity_type, discrepancy.entity_id, discrepancy.field) == (
        "approval_request",
        request_id,
        "requested_by_id",
    )
    assert discrepancy.reason.startswith(f"approval request #{request_id} (adjustment asked by checker@example.com)")


def run_drift():
    from backoffice.models import Discrepancy, RunMode
    from backoffice.reconcile.engine import run

    record = run(RunMode.VERIFY, checks=["history_drift"])
    (result,) = record.results
    result.discrepancies = db.session.scalars(sa.select(Discrepancy).where(Discrepancy.run_id == record.id)).all()
    return result


# --- Only what the application asked is decided: a request without a valid seal is tampered ---------------------------


def forged_request(clerk: User, customer: Customer, amount: str = "60000") -> int:
    """A pending adjustment inserted by SQL "asked by" ``clerk``, past the guards: no seal vouches for it."""
    with past_the_guards() as connection:
        return connection.execute(
            sa.text(
                "INSERT INTO approval_requests (kind, status, amount, signed_amount, customer_id, adjustment_reason, "
                "description, reason, requested_by_id, requested_at) VALUES ('adjustment', 'pending', :a, :a, :c, "
                "'goodwill', 'Goodwill', 'Goodwill', :clerk, CURRENT_TIMESTAMP) RETURNING id"
            ),
            {"a": amount, "c": customer.id, "clerk": clerk.id},
        ).scalar_one()


def test_a_request_written_by_sql_is_tampered_never_pending_and_never_approved(client, limit, hotel, maker, checker):
    clerk = UserFactory(email="clerk@example.com", role="finance")
    asked = asked_adjustment(hotel, maker)
    forged = forged_request(clerk, hotel)
    before = written(*WRITTEN)

    log_in(client, checker)
    page = text(client.get("/approvals"))
    pending = re.search(r'<table class="[^"]*" id="pending"[^>]*>.*?</table>', page).group(0)
    assert f'id="request-{asked}"' in pending and f'id="request-{forged}"' not in pending
    assert f'id="tampered-{forged}"' in page and f'id="approve-{forged}"' not in page
    assert 'id="pending-approvals">1<' in page

    refused = client.post(f"/approvals/{forged}/approve")
    assert refused.status_code == 409 and f"Request #{forged} carries no valid seal" in text(refused)
    assert client.post(f"/approvals/{forged}/reject", data={f"reject-{forged}-reason": "No"}).status_code == 409
    with pytest.raises(approvals.Tampered):
        approvals.approve(forged, checker)
    assert written(*WRITTEN) == before
    assert {r.id: r.status for r in requests()} == {asked: ApprovalStatus.PENDING, forged: ApprovalStatus.PENDING}

    approvals.approve(asked, checker)  # what the application asked is still decided
    assert written(*WRITTEN)[2] == D("40000.00")


def test_a_request_whose_content_was_changed_by_sql_is_not_approved(limit, hotel, maker, checker):
    request_id = asked_adjustment(hotel, maker)
    with past_the_guards() as connection:
        connection.execute(sa.text("UPDATE approval_requests SET amount = 6000000 WHERE id = :id"), {"id": request_id})
    before = written(*WRITTEN)
    with pytest.raises(approvals.Tampered):
        approvals.approve(request_id, checker)
    assert written(*WRITTEN) == before and requests()[0].status is ApprovalStatus.PENDING
