"""The nightly maintenance verifies the seals of what was added or sealed since the latest anchor every night, and
the older evidence one slice a night: a row changed in place is found within ``BACKOFFICE_SEAL_SWEEP_DAYS`` nights,
a new one the same night; a verification by hand verifies every row."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from backoffice.evidence import seals, verifying
from backoffice.models import (
    CheckResult,
    EvidenceInsertedBelow,
    EvidenceMark,
    RunMode,
    TamperedEvidence,
)
from backoffice.models.types import utcnow
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.reconcile import engine, evidence_seals
from backoffice.services import wallet
from tests.factories import CustomerFactory, forge_in_the_chain, past_the_guards
from tests.nights import DAYS, STRIPE, nightly_record

FIRST = date(2026, 11, 23)


@pytest.fixture
def movements(app, monkeypatch):
    """Stripes of two ids swept over three nights; a customer's four recharges, anchored by a first nightly (which
    verifies everything), their seals made two days old."""
    monkeypatch.setattr(evidence_seals, "STRIPE", STRIPE)
    app.config["SEAL_SWEEP_DAYS"] = DAYS
    customer = CustomerFactory(code="C0001")
    made = [wallet.recharge(customer, D(amount)) for amount in ("100", "200", "300", "400")]
    nightly_record(FIRST)
    with past_the_guards() as connection:
        connection.execute(sa.text("UPDATE seals SET sealed_at = :at"), {"at": utcnow() - timedelta(days=2)})
    return customer, [movement.id for movement in made]


def test_an_old_row_changed_in_place_is_found_by_its_slice_s_night_within_sweep_days(movements, caplog):
    _customer, ids = movements
    forged = ids[1]
    _change_in_place(forged)
    nights = [FIRST + timedelta(days=n) for n in range(1, DAYS + 1)]
    holding = next(night for night in nights if night.toordinal() % DAYS == (forged // STRIPE) % DAYS)

    for night in nights:
        with caplog.at_level(logging.INFO, logger="backoffice.reconcile.evidence_seals"):
            nightly_record(night)
        assert _found(forged) == (night >= holding), night
    assert [line for line in caplog.messages if "of the sweep's slice" in line and f"of {DAYS} (night of" in line]


def test_an_old_row_deleted_is_found_gone_by_the_night_whose_slice_holds_its_seal(movements):
    _customer, ids = movements
    gone = ids[2]
    with past_the_guards() as connection:
        connection.execute(sa.text("DELETE FROM balance_transactions WHERE id = :id"), {"id": gone})
    nights = [FIRST + timedelta(days=n) for n in range(1, DAYS + 1)]
    holding = next(night for night in nights if night.toordinal() % DAYS == (gone // STRIPE) % DAYS)

    for night in nights:
        nightly_record(night)
        assert _found(gone) == (night >= holding), night
    what = db.session.scalar(
        sa.select(TamperedEvidence.what).where(
            TamperedEvidence.kind == "balance_transactions", TamperedEvidence.row_id == gone
        )
    )
    assert verifying.problem_of(what)[0] == "gone"


def test_a_row_added_or_changed_since_the_anchor_is_found_next_night_in_any_slice(movements):
    customer, _ids = movements
    changed = wallet.recharge(customer, D("50")).id
    _change_in_place(changed)
    forged, _entry = forge_in_the_chain(customer, "70")
    stripes = {(changed // STRIPE) % DAYS, (forged // STRIPE) % DAYS}
    night = next(
        FIRST + timedelta(days=n)
        for n in range(1, DAYS + 1)
        if (FIRST + timedelta(days=n)).toordinal() % DAYS not in stripes
    )

    nightly_record(night)

    assert _found(changed) and _found(forged)


@pytest.mark.parametrize("forged_id", [-5000, -1, 0])
def test_a_row_inserted_below_the_anchored_ids_unsealed_is_found_the_next_night(movements, forged_id):
    newcomer = CustomerFactory(code="C0009")  # no movement of their own: no chain to break
    _insert_movement(forged_id, newcomer.id, "3000000")

    nightly_record(FIRST + timedelta(days=1))

    assert _found(forged_id)


def _outside_the_stripes(row_id: int) -> date:
    """A night after the anchor whose stripes do not hold the id: what finds the row is not the sweep."""
    return next(
        FIRST + timedelta(days=n)
        for n in range(1, DAYS + 1)
        if (FIRST + timedelta(days=n)).toordinal() % DAYS != (row_id // STRIPE) % DAYS
    )


def test_a_row_inserted_at_or_below_the_marks_is_recorded_and_verified_by_the_night(movements):
    _customer, ids = movements
    newcomer = CustomerFactory(code="C0009")
    marks = dict(db.session.execute(sa.select(EvidenceMark.kind, EvidenceMark.row_id)).all())
    assert marks["balance_transactions"] == max(ids)
    forged_id = -7

    _insert_movement(forged_id, newcomer.id, "3000000")

    recorded = db.session.execute(
        sa.select(EvidenceInsertedBelow.kind, EvidenceInsertedBelow.row_id).where(
            EvidenceInsertedBelow.row_id == forged_id
        )
    ).all()
    assert set(recorded) >= {("balance_transactions", forged_id), ("journal_entries", forged_id)}
    night = nightly_record(_outside_the_stripes(forged_id))
    assert _found(forged_id)
    assert {"balance_transactions", "journal_entries"} <= evidence_seals.Night.of(night.run_id).recorded


def test_a_row_the_application_writes_above_the_marks_is_not_recorded(movements):
    customer, _ids = movements
    wallet.recharge(customer, D("10"))

    assert db.session.scalar(sa.select(sa.func.count(EvidenceInsertedBelow.id))) == 0


def test_with_marks_not_the_anchor_s_the_night_checks_every_anchored_row_for_a_seal(
    movements,
):
    newcomer = CustomerFactory(code="C0009")
    forged_id = -9
    with past_the_guards() as connection:  # the marks lowered, so that the trigger records nothing at or above them
        connection.execute(sa.text("UPDATE evidence_marks SET row_id = -1000000"))
    _insert_movement(forged_id, newcomer.id, "3000000")
    assert db.session.scalar(sa.select(sa.func.count(EvidenceInsertedBelow.id))) == 0

    nightly_record(_outside_the_stripes(forged_id))

    assert _found(forged_id)


def test_a_row_recorded_inserted_below_the_marks_is_kept_as_recorded(movements):
    newcomer = CustomerFactory(code="C0009")
    _insert_movement(-11, newcomer.id, "3000000")
    for statement in ("UPDATE evidence_inserted_below SET row_id = 1", "DELETE FROM evidence_inserted_below"):
        with pytest.raises(sa.exc.DBAPIError, match="recorded once"):
            db.session.execute(sa.text(statement))
        db.session.rollback()


def test_every_kind_of_evidence_s_table_records_its_rows_inserted_below_the_marks(app):
    triggers = set(
        db.session.execute(
            sa.text("SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE tgname LIKE '%_inserted_below'")
        ).all()
    )
    for evidence in seals.kinds().values():
        assert (evidence.table.name, f"{evidence.kind}_inserted_below") in triggers, evidence.kind


@pytest.mark.parametrize("row_id", [-5000, -1, 0, 1, 5, 7000])
def test_any_id_negative_zero_or_past_the_rest_lies_in_exactly_one_night_s_stripes(app, row_id):
    nights = [
        evidence_seals.Night(FIRST + timedelta(days=n), DAYS, utcnow(), {}, str(FIRST)).stripes_swept
        for n in range(DAYS)
    ]
    holding = [
        n
        for n, stripes in enumerate(nights)
        if db.session.scalar(sa.select(stripes.holds(sa.literal(row_id, sa.Integer))))
    ]
    assert len(holding) == 1
    night = FIRST + timedelta(days=holding[0])
    found = evidence_seals.Night(night, DAYS, utcnow(), {}, str(FIRST))._stripes(row_id - 3, row_id + 3)
    assert any(low <= row_id <= high for low, high in found)


def test_a_verification_by_hand_verifies_every_row_and_the_nightly_only_its_share(movements):
    _customer, ids = movements
    forged = ids[1]
    _change_in_place(forged)
    night = next(
        FIRST + timedelta(days=n)
        for n in range(1, DAYS + 1)
        if (FIRST + timedelta(days=n)).toordinal() % DAYS != (forged // STRIPE) % DAYS
    )
    nightly = nightly_record(night)
    assert not _found(forged)

    by_hand = engine.run(RunMode.VERIFY, checks=["evidence_seals"])

    assert _found(forged)
    assert _checked(nightly.run_id) < _checked(by_hand.id)


def _insert_movement(row_id: int, customer_id: int, amount: str) -> None:
    """A recharge and its entry inserted by SQL under an id of the forger's choosing, with no seal, the customer's
    stored figures moved to match: no fix has anything to correct."""
    db.session.execute(
        sa.text(
            "INSERT INTO journal_entries (id, number, entry_date, description, status, created_at)"
            " VALUES (:id, :number, CURRENT_DATE, 'forged', 'draft', CURRENT_TIMESTAMP)"
        ),
        {"id": row_id, "number": f"FORGED{row_id}"},
    )
    db.session.execute(
        sa.text(
            "INSERT INTO balance_transactions (id, customer_id, kind, amount, signed_amount, balance_before,"
            " balance_after, value_date, description, entry_id, created_at) VALUES (:id, :c, 'recharge', :a, :a, 0,"
            " :a, CURRENT_DATE, 'forged', :id, CURRENT_TIMESTAMP)"
        ),
        {"id": row_id, "c": customer_id, "a": amount},
    )
    db.session.execute(
        sa.text("UPDATE customers SET balance = balance + :a, total_recharged = total_recharged + :a WHERE id = :c"),
        {"c": customer_id, "a": amount},
    )
    db.session.execute(
        sa.text(
            "INSERT INTO monthly_customer_balances (customer_id, year_month, opening_balance, total_deposits,"
            " total_purchases, closing_balance, total_volume_sm3, calculation_details, last_calculated_at)"
            " VALUES (:c, :month, 0, :a, 0, :a, 0, '{}', CURRENT_TIMESTAMP)"
        ),
        {"c": customer_id, "a": amount, "month": local_today().strftime("%Y-%m")},
    )
    db.session.commit()


def _change_in_place(movement_id: int) -> None:
    with past_the_guards() as connection:
        connection.execute(
            sa.text("UPDATE balance_transactions SET description = 'edited' WHERE id = :id"), {"id": movement_id}
        )


def _found(movement_id: int) -> bool:
    db.session.rollback()
    return (
        db.session.scalar(
            sa.select(sa.func.count(TamperedEvidence.id)).where(
                TamperedEvidence.kind == "balance_transactions", TamperedEvidence.row_id == movement_id
            )
        )
        > 0
    )


def _checked(run_id: int) -> int:
    return db.session.scalar(
        sa.select(CheckResult.checked).where(CheckResult.run_id == run_id, CheckResult.check == "evidence_seals")
    )
