"""A review that heals: a wallet movement edited by SQL, reversed or accepted by an admin on the customer's page as
the runtime role, leaves every check clean at the next maintenance, the ledger's chain measured from its rows as they
now stand, and the health check true."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice import jobs
from backoffice.models import BalanceTransaction, Discrepancy, JobStatus, TamperedEvidence
from backoffice.operations import health
from backoffice.platform.extensions import db
from backoffice.services import wallet
from tests.factories import CustomerFactory, UserFactory, past_the_guards, stored
from tests.roles import runtime_app

D = Decimal
FIRST = date(2026, 11, 20)
EDITED = "UPDATE balance_transactions SET description = 'Edited' WHERE id = :id"
"""A movement edited past the application, its money left as it was: its seal no longer holds."""


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
@pytest.mark.parametrize("decision", ["reverse", "accept"])
def test_a_movement_edited_by_sql_reviewed_as_the_runtime_role_leaves_every_check_clean(app, runtime_url, decision):
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, D("1000"))
    edited = wallet.recharge(customer, D("2000")).id
    wallet.recharge(customer, D("300"))
    UserFactory(email="admin@example.com", role="admin", password="correct horse battery")
    db.session.commit()
    with past_the_guards() as connection:
        connection.execute(sa.text(EDITED), {"id": edited})

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

    moved = db.session.scalars(
        sa.select(BalanceTransaction.signed_amount).where(BalanceTransaction.customer_id == customer.id)
    ).all()
    assert stored("customers", "balance", customer.id) == sum(moved, D(0))
