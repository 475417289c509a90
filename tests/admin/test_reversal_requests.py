"""A clerk asks for a wallet movement's reversal, saying why; an admin decides: one admin's approval posts it within
the approval limit, two different admins' above it. Every reversal states its reason, whoever posts it."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy_continuum.utils import version_class

from backoffice.models import (
    ApprovalKind,
    ApprovalRequest,
    ApprovalStatus,
    BalanceTransaction,
    Kind,
    Role,
    RunMode,
    Seal,
    User,
)
from backoffice.platform.extensions import db
from backoffice.reconcile.engine import run
from backoffice.services import approvals, wallet
from tests.approving import requests
from tests.concurrency import race
from tests.factories import forged_recharge, past_the_guards
from tests.logins import log_in
from tests.pages import text
from tests.rows import balance_of, refused, written

D = Decimal


WRITTEN = (BalanceTransaction, ApprovalRequest, balance_of("HOTEL"))
"""What a refused door must leave as it was, read by :func:`tests.rows.written`."""


def field_error(response, name: str = "description") -> str:
    return re.search(rf'id="error-{name}">([^<]*)<', response.get_data(as_text=True)).group(1)


def asked_by_the_clerk(client, clerk, movement_id: int, why: str = "Charged twice") -> ApprovalRequest:
    log_in(client, clerk)
    response = client.post(f"/customers/HOTEL/movements/{movement_id}/ask-reversal", data={"description": why})
    assert response.status_code == 302, text(response)
    (request,) = [r for r in requests() if r.movement_id == movement_id]
    return request


# --- Within the limit: the clerk asks, one admin approves, the reversal says the clerk's reason ----------------------


def test_one_admin_s_approval_posts_a_clerk_s_reversal_with_the_clerk_s_reason(client, limit, hotel, clerk, checker):
    charge = wallet.charge(hotel, D("7000"))
    url = f"/customers/HOTEL/movements/{charge.id}"
    log_in(client, clerk)
    page = text(client.get(url))
    assert 'id="ask-reversal"' in page and 'id="reverse"' not in page
    assert "Posts a reversal of Rp7.000,00: Dr Gas revenue / Cr Customer deposits." in page
    assert f'href="{url}#ask-reversal"' in text(client.get("/customers/HOTEL?tab=ledger"))
    before = written(*WRITTEN)

    asked = client.post(f"{url}/ask-reversal", data={"description": "  Charged twice  "}, follow_redirects=True)
    assert asked.status_code == 200
    (request,) = requests()
    assert f"Its reversal is asked for as request #{request.id}: nothing is posted until an admin approves it." in (
        text(asked)
    )
    assert 'id="pending-reversal"' in text(asked) and 'id="ask-reversal"' not in text(asked)
    assert (request.kind, request.status, request.movement_id, request.requested_by_id, request.reason) == (
        ApprovalKind.WALLET_REVERSAL,
        ApprovalStatus.PENDING,
        charge.id,
        clerk.id,
        "Charged twice",
    )
    assert written(*WRITTEN) == (before[0], before[1] + 1, before[2])

    again = client.post(f"{url}/ask-reversal", data={"description": "Charged twice"})  # a double submit
    assert again.status_code == 302 and len(requests()) == 1
    listed = re.search(rf'<tr id="request-{request.id}">.*?</tr>', text(client.get("/approvals"))).group(0)
    assert clerk.name in listed and "Charged twice" in listed and f'id="approve-{request.id}"' not in listed
    assert client.post(f"/approvals/{request.id}/approve").status_code == 403

    log_in(client, checker)
    assert f'id="approve-{request.id}"' in text(client.get("/approvals"))
    approved = client.post(f"/approvals/{request.id}/approve", follow_redirects=True)
    assert f"Request #{request.id} approved: movement #" in text(approved)
    (request,) = requests()
    reversal = db.session.get(BalanceTransaction, request.result_movement_id)
    assert (request.status, request.decided_by_id, request.first_approved_by_id) == (
        ApprovalStatus.APPROVED,
        checker.id,
        None,
    )
    assert (reversal.kind, reversal.reverses_id, reversal.description, reversal.created_by_id) == (
        Kind.REVERSAL,
        charge.id,
        "Charged twice",
        checker.id,
    )
    assert written(*WRITTEN)[2] == before[2] + D("7000")
    assert run(RunMode.VERIFY).mismatched == 0


def test_a_request_one_admin_approved_alone_counts_in_the_day_s_money_moved_by_hand(
    client, limit, hotel, clerk, checker
):
    charges = [wallet.charge(hotel, D("30000")).id for _ in range(2)]
    request = asked_by_the_clerk(client, clerk, charges[0])
    approvals.approve(request.id, checker)  # within the limit: one admin, who moved it by hand
    assert requests()[0].status is ApprovalStatus.APPROVED
    with pytest.raises(wallet.NeedsApproval, match=r"with the Rp30\.000,00 adjusted today"):
        wallet.reverse(charges[1], description="Charged twice", user=checker)

    second = asked_by_the_clerk(client, clerk, charges[1])  # 30.000 + 30.000 today: above the limit now
    assert approvals.first_of_two(second)
    assert approvals.approve(second.id, checker).status is ApprovalStatus.PENDING


# --- Above the limit: two different admins; whoever asked never approves ---------------------------------------------


def test_above_the_limit_a_clerk_s_request_takes_two_different_admins(client, limit, hotel, clerk, maker, checker):
    deposit = db.session.scalar(sa.select(BalanceTransaction))  # Rp100.000: above the limit
    request = asked_by_the_clerk(client, clerk, deposit.id, "Deposited on the wrong customer")
    before = written(*WRITTEN)
    listed = text(client.get("/approvals"))
    assert f'id="two-admins-{request.id}"' in listed

    log_in(client, maker)
    first = client.post(f"/approvals/{request.id}/approve", follow_redirects=True)
    assert f"Request #{request.id} approved first: it posts once a second admin approves it too." in text(first)
    assert written(*WRITTEN) == before
    (request,) = requests()
    assert (request.status, request.first_approved_by_id, request.decided_by_id) == (
        ApprovalStatus.PENDING,
        maker.id,
        None,
    )
    assert request.first_approved_at is not None
    row = re.search(rf'<tr id="request-{request.id}">.*?</tr>', text(client.get("/approvals"))).group(0)
    assert f"Approved first by {maker.name}" in row and f'id="approve-{request.id}"' not in row
    assert f'id="yours-first-{request.id}"' in row
    again = client.post(f"/approvals/{request.id}/approve")
    assert again.status_code == 409 and f"You approved request #{request.id} first" in text(again)
    with pytest.raises(approvals.ApprovedFirst):
        approvals.approve(request.id, maker)
    with pytest.raises(approvals.OwnRequest):
        approvals.approve(request.id, clerk)
    page = text(client.get(f"/customers/HOTEL/movements/{deposit.id}"))
    assert 'id="pending-reversal"' in page and f"Approved first by {maker.name}" in page
    assert written(*WRITTEN) == before

    log_in(client, checker)
    assert client.post(f"/approvals/{request.id}/approve").status_code == 302
    (request,) = requests()
    assert (request.status, request.first_approved_by_id, request.decided_by_id) == (
        ApprovalStatus.APPROVED,
        maker.id,
        checker.id,
    )
    assert written(*WRITTEN) == (before[0] + 1, before[1], D("0.00"))
    assert db.session.get(BalanceTransaction, request.result_movement_id).description == (
        "Deposited on the wrong customer"
    )
    seals = set(db.session.scalars(sa.select(Seal.kind).where(Seal.row_id == request.id)))
    assert {"approval_requests", "approval_first_approvals", "approval_decisions"} <= seals
    assert run(RunMode.VERIFY, checks=["evidence_seals", "history_drift"]).mismatched == 0


def test_the_asker_never_approves_their_own_request_even_made_an_admin_since(client, limit, hotel, clerk, checker):
    deposit = db.session.scalar(sa.select(BalanceTransaction))
    request = asked_by_the_clerk(client, clerk, deposit.id)
    promoted = db.session.get(User, clerk.id)
    promoted.role = Role.ADMIN
    db.session.commit()
    with pytest.raises(approvals.OwnRequest):
        approvals.approve(request.id, promoted)
    with pytest.raises(approvals.OwnRequest):
        approvals.reject(request.id, promoted, "Changed my mind")
    assert requests()[0].status is ApprovalStatus.PENDING


def test_a_request_above_the_limit_takes_two_other_admins_once_its_clerk_is_an_admin(
    client, limit, hotel, clerk, checker
):
    deposit = db.session.scalar(sa.select(BalanceTransaction))  # Rp100.000: above the limit
    request = asked_by_the_clerk(client, clerk, deposit.id)
    before = written(*WRITTEN)
    promoted = db.session.get(User, clerk.id)
    promoted.role = Role.ADMIN
    db.session.commit()

    assert approvals.first_of_two(db.session.get(ApprovalRequest, request.id))
    assert approvals.approve(request.id, checker).status is ApprovalStatus.PENDING
    assert written(*WRITTEN) == before


def test_two_admins_approving_a_clerk_s_request_above_the_limit_at_once_post_it_once(
    app, client, limit, hotel, clerk, maker, checker
):
    deposit_id = db.session.scalar(sa.select(BalanceTransaction.id))
    request_id = asked_by_the_clerk(client, clerk, deposit_id).id

    def approving(user_id: int):
        return lambda: approvals.approve(request_id, db.session.get(User, user_id))

    race(app, approving(maker.id), approving(checker.id), hold_after="commit")
    (request,) = requests()
    assert (request.status, request.first_approved_by_id, request.decided_by_id) == (
        ApprovalStatus.APPROVED,
        maker.id,
        checker.id,
    )
    assert written(*WRITTEN)[::2] == (2, D("0.00"))


def test_an_admin_rejects_a_clerk_s_request_saying_why_and_nothing_is_posted(client, limit, hotel, clerk, checker):
    charge = wallet.charge(hotel, D("7000"))
    request = asked_by_the_clerk(client, clerk, charge.id)
    log_in(client, checker)
    data = {f"reject-{request.id}-reason": "The customer used the gas"}
    assert client.post(f"/approvals/{request.id}/reject", data=data).status_code == 302
    (request,) = requests()
    assert (request.status, request.decided_by_id, request.rejection_reason) == (
        ApprovalStatus.REJECTED,
        checker.id,
        "The customer used the gas",
    )
    assert wallet.reversal_of(charge.id) is None
    log_in(client, clerk)
    assert 'id="ask-reversal"' in text(client.get(f"/customers/HOTEL/movements/{charge.id}"))


# --- What is refused, and writes nothing ----------------------------------------------------------------------------


@pytest.mark.parametrize("why", ["", "   "])
def test_a_clerk_s_request_without_a_reason_is_refused_under_why_and_asks_nothing(client, limit, hotel, clerk, why):
    charge = wallet.charge(hotel, D("7000"))
    log_in(client, clerk)
    before = written(*WRITTEN)
    response = client.post(f"/customers/HOTEL/movements/{charge.id}/ask-reversal", data={"description": why})
    assert response.status_code == 422
    assert field_error(response) == "Say why the movement is reversed: every reversal states its reason."
    assert written(*WRITTEN) == before


def test_what_cannot_be_reversed_is_refused_to_the_clerk_and_asks_nothing(client, limit, hotel, clerk, checker):
    charge = wallet.charge(hotel, D("7000"))
    reversal = wallet.reverse(charge, description="Charged twice", user=checker)
    log_in(client, clerk)
    page = text(client.get(f"/customers/HOTEL/movements/{reversal.id}"))
    assert 'id="cannot-reverse">A reversal cannot itself be reversed' in page and 'id="ask-reversal"' not in page
    before = written(*WRITTEN)
    refused = client.post(f"/customers/HOTEL/movements/{reversal.id}/ask-reversal", data={"description": "Oops"})
    assert refused.status_code == 422 and "A reversal cannot itself be reversed" in text(refused)
    again = client.post(f"/customers/HOTEL/movements/{charge.id}/ask-reversal", data={"description": "Oops"})
    assert again.status_code == 409
    assert f"Movement #{charge.id} was already reversed by #{reversal.id}." in text(again)
    assert 'id="already-reversed"' in text(client.get(f"/customers/HOTEL/movements/{charge.id}"))
    assert written(*WRITTEN) == before


def test_a_request_beyond_the_balance_reaches_the_admins_and_approved_leaves_a_debt(
    client, limit, hotel, clerk, maker, checker
):
    """The Rp100.000 deposit went to the wrong customer, who has since spent Rp60.000 of it: the clerk's request says
    what the customer would owe; approved, the reversal leaves the debt and the customer is suspended."""
    deposit = db.session.scalar(sa.select(BalanceTransaction))
    wallet.charge(hotel, D("60000"))
    log_in(client, clerk)
    asked = client.post(f"/customers/HOTEL/movements/{deposit.id}/ask-reversal", data={"description": "Wrong customer"})
    assert asked.status_code == 302, text(asked)
    said = text(client.get(asked.location))
    assert "no longer holds it: approved, HOTEL owes Rp60.000,00 and is suspended" in said
    (request,) = [r for r in requests() if r.movement_id == deposit.id]
    assert request.status is ApprovalStatus.PENDING and db.session.scalar(balance_of("HOTEL")) == D("40000.00")

    log_in(client, checker)
    page = text(client.get("/approvals"))
    assert f'id="debt-{request.id}"' in page and "HOTEL owes Rp60.000,00" in page
    assert client.post(f"/approvals/{request.id}/approve").status_code == 302  # above the limit: the first of two
    log_in(client, maker)
    assert client.post(f"/approvals/{request.id}/approve").status_code == 302
    db.session.rollback()
    assert db.session.get(ApprovalRequest, request.id).status is ApprovalStatus.APPROVED
    customer = db.session.get(type(hotel), hotel.id)
    assert (customer.balance, customer.status.value) == (D("-60000.00"), "suspended")
    assert run(RunMode.VERIFY).mismatched == 0
    both = rf"approved by {checker.name}, [^<]*, and {maker.name}, "
    assert re.search(both, text(client.get("/approvals")))
    log_in(client, clerk)
    assert re.search(both, text(client.get("/approvals/mine")))


# --- The first approval: guarded by the database, sealed ------------------------------------------------------------


def test_a_first_approval_is_written_once_and_the_second_is_another_admin_s(client, limit, hotel, clerk, maker):
    deposit = db.session.scalar(sa.select(BalanceTransaction))
    request_id = asked_by_the_clerk(client, clerk, deposit.id).id
    by_the_asker = (
        "UPDATE approval_requests SET first_approved_by_id = :who, first_approved_at = CURRENT_TIMESTAMP WHERE id = :id"
    )
    assert "approved first once" in refused(by_the_asker, who=clerk.id, id=request_id)
    assert "approved first once" in refused(
        "UPDATE approval_requests SET first_approved_by_id = :who WHERE id = :id", who=maker.id, id=request_id
    )  # without when
    approvals.approve(request_id, maker)
    assert "approved first once" in refused(
        "UPDATE approval_requests SET first_approved_by_id = :who WHERE id = :id", who=clerk.id, id=request_id
    )
    assert "approved by a second admin" in refused(
        "UPDATE approval_requests SET status = 'approved', decided_by_id = :who, decided_at = CURRENT_TIMESTAMP "
        "WHERE id = :id",
        who=maker.id,
        id=request_id,
    )
    assert requests()[0].status is ApprovalStatus.PENDING


def test_a_first_approval_written_by_sql_makes_the_request_tampered(client, limit, hotel, clerk, maker, checker):
    deposit = db.session.scalar(sa.select(BalanceTransaction))
    request_id = asked_by_the_clerk(client, clerk, deposit.id).id
    with past_the_guards() as connection:
        connection.execute(
            sa.text(
                "UPDATE approval_requests SET first_approved_by_id = :who, first_approved_at = CURRENT_TIMESTAMP "
                "WHERE id = :id"
            ),
            {"who": maker.id, "id": request_id},
        )
    before = written(*WRITTEN)
    assert approvals.tampered() == {request_id}
    with pytest.raises(approvals.Tampered):
        approvals.approve(request_id, checker)
    log_in(client, checker)
    assert f'id="tampered-{request_id}"' in text(client.get("/approvals"))
    assert written(*WRITTEN) == before and requests()[0].status is ApprovalStatus.PENDING


def test_a_history_version_forged_to_pass_a_clerk_for_an_admin_is_not_believed(client, limit, hotel, clerk, checker):
    deposit = db.session.scalar(sa.select(BalanceTransaction))  # Rp100.000: above the limit
    request = asked_by_the_clerk(client, clerk, deposit.id)
    # A version inserted by SQL saying the clerk was an admin before asking, as the runtime role can insert one.
    asked_at = db.session.get(ApprovalRequest, request.id).requested_at
    moment = db.session.execute(
        sa.text("INSERT INTO history_transactions (issued_at, actor) VALUES (:at, 'forged') RETURNING id"),
        {"at": asked_at - timedelta(hours=1)},
    ).scalar_one()
    columns = [c.name for c in version_class(User).__table__.columns if c.name not in ("role", "transaction_id")]
    listed = ", ".join(columns)
    db.session.execute(
        sa.text(
            f"INSERT INTO users_history ({listed}, role, transaction_id) SELECT {listed}, 'admin', :moment"
            " FROM users_history WHERE id = :id ORDER BY transaction_id LIMIT 1"
        ),
        {"id": clerk.id, "moment": moment},
    )
    db.session.commit()

    assert approvals.first_of_two(db.session.get(ApprovalRequest, request.id))


@pytest.mark.parametrize("row_id", [None, -7000])
def test_a_deposit_forged_by_sql_is_neither_asked_for_nor_reversed_into_a_debt(client, limit, hotel, clerk, row_id):
    forged = forged_recharge(hotel.id, "5000000")
    if row_id is not None:
        with past_the_guards() as connection:
            connection.execute(
                sa.text("UPDATE balance_transactions SET id = :new WHERE id = :id"), {"new": row_id, "id": forged}
            )
        forged = row_id
    log_in(client, clerk)
    before = written(*WRITTEN)
    refused = client.post(f"/customers/HOTEL/movements/{forged}/ask-reversal", data={"description": "Wrong customer"})
    if row_id is None:
        assert refused.status_code == 422 and "carries no valid seal" in text(refused)
    else:
        assert refused.status_code == 404  # no page has a negative id
    assert written(*WRITTEN) == before
    with pytest.raises(wallet.WalletError, match="no valid seal"):
        wallet.reverse(forged, description="Wrong customer")


# --- A reversal asked for waits for its decision, whichever door would post it beside it --------------------------


def test_no_door_posts_a_reversal_while_a_request_for_it_waits(app, client, runner, limit, hotel, clerk, admin):
    charge = wallet.charge(hotel, D("7000"))
    request = asked_by_the_clerk(client, clerk, charge.id)
    said = (
        f"The reversal of movement #{charge.id} waits for an admin's decision: request #{request.id}. Approve or "
        "reject it on the Approvals page."
    )
    before = written(*WRITTEN)

    reversed_ = runner.invoke(args=["ledger", "reverse", str(charge.id), "--description", "Charged twice"])
    assert reversed_.exit_code != 0 and said in reversed_.output + reversed_.stderr
    assert written(*WRITTEN) == before

    log_in(client, admin)
    sent = client.post(f"/customers/HOTEL/movements/{charge.id}/reverse", data={"description": "Charged twice"})
    assert sent.status_code == 422 and said in html.unescape(text(sent))
    assert written(*WRITTEN) == before
    with pytest.raises(wallet.ReversalWaits):
        wallet.reverse(charge, description="Charged twice", user=admin)
    assert written(*WRITTEN) == before

    # Decided, the request posts the one reversal; the movement is then reversed once, by it.
    approvals.approve(request.id, admin)
    assert wallet.reversal_of(charge.id).reason == charge.reason
    again = runner.invoke(args=["ledger", "reverse", str(charge.id), "--description", "Charged twice"])
    assert again.exit_code != 0 and "was already reversed" in again.output + again.stderr
