"""Idempotency keys: a clerk's and the application's own never meet, so a clerk's key cannot block a correction."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from backoffice.models import ApprovalRequest, ApprovalStatus, BalanceTransaction, Kind
from backoffice.platform.extensions import db
from backoffice.posting.installation import Installation
from backoffice.posting.keys import OWN, own_key
from backoffice.posting.movement import Movement, Reference
from backoffice.posting.post import post
from backoffice.services import approvals, books, installation, periods, transaction, wallet
from tests.rows import balance_of, written

D = Decimal
RESERVED = "cannot start with '~': such keys are the application's own"


WRITTEN = (BalanceTransaction, ApprovalRequest, balance_of("HOTEL"))
"""What a refused door must leave as it was, read by :func:`tests.rows.written`."""


def ask_adjustment(customer, maker, key: str = "form-1") -> ApprovalRequest:
    movement = wallet.adjustment(
        customer,
        D("60000"),
        reason="other",
        description="Meter misread in October",
        idempotency_key=key,
        user=maker,
    )
    return approvals.ask_adjustment(movement, user=maker, reason="Other: Meter misread in October")


# --- A clerk's key that the application used to derive blocks nothing -------------------------------------------------


def test_a_recharge_under_an_approvals_old_key_does_not_block_approving_it(limit, hotel, maker, checker):
    request = ask_adjustment(hotel, maker)
    clerks = wallet.recharge(hotel, D("1"), description="Rp 1", idempotency_key=f"approval-{request.id}")
    before = written(*WRITTEN)
    approved = approvals.approve(request.id, checker)
    assert approved.status is ApprovalStatus.APPROVED
    posted = db.session.get(BalanceTransaction, approved.result_movement_id)
    assert (posted.kind, posted.signed_amount) == (Kind.ADJUSTMENT, D("60000.00"))
    assert posted.idempotency_key == own_key(installation(), "approval", request.id) != clerks.idempotency_key
    assert written(*WRITTEN) == (before[0] + 1, before[1], D("160001.00"))


def test_a_recharge_under_a_reversals_old_key_does_not_block_reversing(limit, hotel, maker, checker):
    deposit = wallet.recharge(hotel, D("20000"), description="wrong customer")
    large = wallet.recharge(hotel, D("70000"), description="wrong customer too")
    for original in (deposit, large):
        wallet.recharge(hotel, D("1"), description="Rp 1", idempotency_key=f"reversal-of-{original.id}")
    reversal = wallet.reverse(deposit, description="Entered by mistake", refuse_again=True)
    assert (reversal.kind, reversal.reverses_id, reversal.signed_amount) == (
        Kind.REVERSAL,
        deposit.id,
        D("-20000.00"),
    )
    asked = approvals.ask_wallet_reversal(large, description="Wrong customer", value_date=None, user=maker)
    approved = approvals.approve(asked.id, checker)
    assert wallet.reversal_of(large.id).id == approved.result_movement_id
    assert written(*WRITTEN)[2] == D("100002.00")


def test_a_reversal_posted_under_the_old_key_still_reverses_its_movement_once(limit, hotel):
    deposit = wallet.recharge(hotel, D("20000"), description="wrong customer")
    with transaction() as session:
        old = post(
            installation(),
            session.connection(),
            Movement(
                kind=Kind.REVERSAL,
                amount=D("-20000"),
                customer_id=hotel.id,
                reference=Reference("balance_transaction", deposit.id),
                reverses_id=deposit.id,
                idempotency_key=f"reversal-of-{deposit.id}",
            ),
        ).transaction
    before = written(*WRITTEN)
    assert wallet.reverse(deposit, description="Entered by mistake").id == old.id
    with pytest.raises(wallet.AlreadyReversed, match=f"already reversed by #{old.id}"):
        wallet.reverse(deposit, description="Entered by mistake", refuse_again=True)
    assert written(*WRITTEN) == before


# --- The application's keys ------------------------------------------------------------------------------------------


def test_the_applications_keys_are_its_own_and_say_nothing_of_the_id(app):
    keys = {
        own_key(installation(), "approval", 48213),
        own_key(installation(), "approval", 48214),
        own_key(installation(), "reversal", 48213),
    }
    assert len(keys) == 3
    for key in keys:
        assert key.startswith(OWN) and "4821" not in key and "approval" not in key and "reversal" not in key
        assert len(key) <= wallet.KEY_LENGTH
    assert own_key(installation(), "approval", 48213) == own_key(installation(), "approval", 48213)
    app.config["SECRET_KEY"] = "another installation"
    assert own_key(Installation.of(app.config), "approval", 48213) not in keys


# --- A clerk's key in the application's namespace is refused, writing nothing -----------------------------------------


@pytest.mark.parametrize("key", ["~1", "~approval-7"])
def test_the_services_refuse_a_key_in_the_applications_namespace(limit, hotel, maker, key):
    before = written(*WRITTEN)
    attempts = (
        lambda: wallet.recharge(hotel, D("1"), idempotency_key=key),
        lambda: wallet.charge(hotel, D("1"), idempotency_key=key),
        lambda: wallet.adjust(hotel, D("1"), reason="goodwill", idempotency_key=key),
        lambda: approvals.ask_entry(
            date(2026, 11, 20),
            "Owner's capital",
            [books.Line("1000", debit=D("75000")), books.Line("3000", credit=D("75000"))],
            user=maker,
            idempotency_key=key,
        ),
    )
    for attempt in attempts:
        with pytest.raises(wallet.IdempotencyKeyReserved, match=RESERVED):
            attempt()
    assert written(*WRITTEN) == before


def test_an_applications_key_is_refused_to_a_clerk_even_when_it_is_the_real_one(limit, hotel, maker):
    request = ask_adjustment(hotel, maker)
    before = written(*WRITTEN)
    with pytest.raises(wallet.IdempotencyKeyReserved):
        wallet.recharge(hotel, D("1"), idempotency_key=own_key(installation(), "approval", request.id))
    assert written(*WRITTEN) == before


def test_the_recharge_and_adjust_forms_refuse_a_key_in_the_applications_namespace(client, auth, limit, hotel):
    auth.login("admin")
    before = written(*WRITTEN)
    recharge = {"recharge-amount": "1", "recharge-idempotency_key": "~approval-1"}
    adjust = {
        "adjust-direction": "up",
        "adjust-amount": "1",
        "adjust-reason": "goodwill",
        "adjust-idempotency_key": "~k",
    }
    for url, form in (("/customers/HOTEL/recharge", recharge), ("/customers/HOTEL/adjust", adjust)):
        response = client.post(url, data=form)
        assert response.status_code == 422
        assert RESERVED.replace("'", "&#39;") in response.get_data(as_text=True)
    assert written(*WRITTEN) == before


def test_the_journal_form_refuses_a_key_in_the_applications_namespace(client, auth, limit, hotel):
    auth.login("admin")
    before = written(*WRITTEN)
    form = {
        "entry_date": "2026-11-20",
        "description": "Owner's capital",
        "lines-0-account": "1000",
        "lines-0-debit": "75.000",
        "lines-1-account": "3000",
        "lines-1-credit": "75.000",
        "action": "post",
        "idempotency_key": "~e-1",
    }
    response = client.post("/books/journal/new", data=form)
    assert response.status_code == 422
    assert RESERVED.replace("'", "&#39;") in response.get_data(as_text=True)
    assert written(*WRITTEN) == before


@pytest.mark.parametrize(
    "args",
    [
        ["ledger", "recharge", "HOTEL", "1", "--idempotency-key", "~approval-1"],
        ["ledger", "charge", "HOTEL", "1", "--idempotency-key", "~approval-1"],
        ["ledger", "adjust", "HOTEL", "1", "--reason", "goodwill", "--idempotency-key", "~approval-1"],
    ],
)
def test_the_ledger_commands_refuse_a_key_in_the_applications_namespace_with_exit_2(runner, limit, hotel, args):
    before = written(*WRITTEN)
    result = runner.invoke(args=args)
    assert result.exit_code == 2, result.output
    assert RESERVED in result.output and len(result.output.strip().splitlines()) == 1
    assert written(*WRITTEN) == before


# --- A clerk's retries keep their first result ------------------------------------------------------------------------


def test_a_retry_gets_the_first_result_and_its_key_with_another_request_is_refused(limit, hotel, maker):
    first = wallet.recharge(hotel, D("5000"), idempotency_key="transfer-9")
    assert wallet.recharge(hotel, D("5000"), idempotency_key="transfer-9").id == first.id
    with pytest.raises(wallet.IdempotencyConflict):
        wallet.recharge(hotel, D("5001"), idempotency_key="transfer-9")
    request = ask_adjustment(hotel, maker, key="form-7")
    assert ask_adjustment(hotel, maker, key="form-7").id == request.id
    assert written(*WRITTEN) == (2, 1, D("105000.00"))


def test_a_retry_after_its_month_was_closed_returns_the_first_result(limit, hotel, maker):
    first = wallet.recharge(hotel, D("5000"), idempotency_key="transfer-10", value_date=date(2026, 10, 5))
    periods.close("2026-10", maker)
    before = written(*WRITTEN)
    again = wallet.recharge(hotel, D("5000"), idempotency_key="transfer-10", value_date=date(2026, 10, 5))
    assert again.id == first.id
    assert written(*WRITTEN) == before
