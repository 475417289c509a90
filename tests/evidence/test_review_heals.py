"""A review that heals: a wallet movement edited by SQL, reversed or accepted by an admin on the customer's page as
the runtime role, leaves every check clean at the next maintenance, the ledger's chain measured from its rows as they
now stand, and the health check true."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice import jobs
from backoffice.models import BalanceTransaction, Discrepancy, JobStatus, JournalEntry, TamperedEvidence
from backoffice.operations import health
from backoffice.platform.extensions import db
from backoffice.services import wallet
from tests.factories import CustomerFactory, UserFactory, past_the_guards, stored
from tests.roles import runtime_app

D = Decimal
FIRST = date(2026, 11, 20)
EDITED = {
    "description": "UPDATE balance_transactions SET description = 'Edited' WHERE id = :id",
    "amount up": "UPDATE balance_transactions SET signed_amount = 5000, balance_after = balance_before + 5000"
    " WHERE id = :id",
    "amount down": "UPDATE balance_transactions SET signed_amount = 500, balance_after = balance_before + 500"
    " WHERE id = :id",
}
"""A movement edited past the application: its words, or its money (and its balance after, as the table's constraint
holds them), the books left as they were: its seal no longer holds."""


def maintenance(day: date) -> set[tuple[str, int]]:
    """The nightly maintenance of ``day``, run by the application it is called in: the checks and entities it found
    wrong."""
    record, _ = jobs.enqueue_nightly(day)
    assert record.status is JobStatus.FINISHED, record.error
    return set(
        db.session.execute(
            sa.select(Discrepancy.check, Discrepancy.entity_id).where(Discrepancy.run_id == record.run_id)
        ).all()
    )


@pytest.mark.production_path("the runtime role")
@pytest.mark.parametrize("edit", EDITED)
@pytest.mark.parametrize("decision", ["reverse", "accept"])
def test_a_movement_edited_by_sql_reviewed_as_the_runtime_role_leaves_every_check_clean(
    app, runtime_url, decision, edit
):
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, D("1000"))
    edited = wallet.recharge(customer, D("2000")).id
    wallet.recharge(customer, D("300"))
    UserFactory(email="admin@example.com", role="admin", password="correct horse battery")
    db.session.commit()
    with past_the_guards() as connection:
        connection.execute(sa.text(EDITED[edit]), {"id": edited})

    with runtime_app(runtime_url) as runtime:
        found = maintenance(FIRST)
        assert ("evidence_seals", edited) in found, found
        findings = db.session.scalars(sa.select(TamperedEvidence.id)).all()
        client = runtime.test_client()
        assert client.post("/login", data={"email": "admin@example.com", "password": "correct horse battery"})
        reviewed = client.post(
            "/evidence/review",
            data={"findings": [str(f) for f in findings], "decision": decision, "reason": "bank statement of 24 Nov"},
        )
        assert reviewed.status_code == 302, reviewed.get_data(as_text=True)
        assert wallet.reversal_of(edited) is not None

        assert maintenance(FIRST + timedelta(days=1)) == set()
        assert maintenance(FIRST + timedelta(days=2)) == set()
        assessed = health.assess()
        assert assessed.valid, assessed.reasons

    # The books followed the row the admin vouched for: the money the edit made is posted by the review, once.
    corrections = db.session.scalars(
        sa.select(JournalEntry.id).where(JournalEntry.source_type == "tampered_evidence")
    ).all()
    assert len(corrections) == (0 if edit == "description" else 1)
    moved = db.session.scalars(
        sa.select(BalanceTransaction.signed_amount).where(BalanceTransaction.customer_id == customer.id)
    ).all()
    assert stored("customers", "balance", customer.id) == sum(moved, D(0))
