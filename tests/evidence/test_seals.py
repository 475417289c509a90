"""Sealed evidence: what the application writes is sealed; a row written without the key is found, quarantines
its customer, is never healed into money, and waits for an admin's review; the health check says why."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.evidence import seals, verifying
from backoffice.evidence.quarantine import Quarantined
from backoffice.models import (
    BalanceTransaction,
    Customer,
    JournalEntry,
    JournalLine,
    ReconciliationRun,
    Resolution,
    RunMode,
    Seal,
    TamperedEvidence,
    User,
)
from backoffice.operations import health
from backoffice.platform.config import ConfigError, from_environment
from backoffice.platform.extensions import db
from backoffice.platform.reasons import AdjustmentReason
from backoffice.reconcile import engine, evidence_review
from backoffice.reconcile.evidence_review import ReviewError
from backoffice.reconcile.evidence_seals import EvidenceSeals
from backoffice.services import approvals, wallet
from tests.concurrency import race
from tests.factories import CustomerFactory, UserFactory, forge_in_the_chain, past_the_guards, stored


def _verify(mode=RunMode.VERIFY, checks=None) -> ReconciliationRun:
    return engine.run(mode, checks=checks)


def _findings(run: ReconciliationRun, check: str = "evidence_seals") -> set[tuple[str, int]]:
    return {(d.field, d.entity_id) for d in db.session.scalars(engine.discrepancies(run.id, check))}


def test_what_the_application_writes_is_sealed(app, admins):
    maker, checker = admins
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, Decimal("250000"), user=maker)
    wallet.charge(customer, Decimal("1000"))
    customer.name = "Hotel Indah"
    db.session.commit()
    with pytest.raises(wallet.NeedsApproval):
        wallet.adjust(customer, Decimal("200000000"), reason=AdjustmentReason.GOODWILL, user=maker)
    request = approvals.ask_adjustment(
        wallet.adjustment(customer, Decimal("200000000"), reason=AdjustmentReason.GOODWILL, user=maker),
        user=maker,
        reason="goodwill after the outage",
    )
    approvals.approve(request.id, checker)
    first = _verify()
    second = _verify(checks=["evidence_seals"])
    assert first.status.value == "succeeded"
    result = {r.check: r for r in second.results}["evidence_seals"]
    assert result.mismatched == 0 and result.checked > 8
    kinds = set(db.session.scalars(sa.select(Seal.kind)))
    assert {
        "balance_transactions",
        "journal_entries",
        "customers_history",
        "approval_requests",
        "approval_decisions",
        "reconciliation_runs",
    } <= kinds


def test_a_forged_movement_is_reported_quarantines_its_customer_and_is_never_healed(app):
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, Decimal("1000"))
    movement, entry = forge_in_the_chain(customer, "5000000")

    run = _verify(RunMode.FIX)

    assert {("balance_transactions", movement), ("journal_entries", entry)} <= _findings(run)
    assert stored("customers", "balance", customer.id) == Decimal("1000.00")
    held = [d for d in db.session.scalars(engine.discrepancies(run.id, "customer_wallet")) if d.field == "balance"]
    assert held and not held[0].fixed and "quarantined" in held[0].reason
    accounts = list(db.session.scalars(engine.discrepancies(run.id, "account_balance")))
    assert accounts and not any(d.fixed for d in accounts)
    found = db.session.scalars(sa.select(TamperedEvidence)).all()
    assert {f.customer_id for f in found} == {customer.id}
    assessed = health.assess()
    assert not assessed.valid
    assert any("Tampered evidence" in reason and "HOTEL" in reason for reason in assessed.reasons)
    # A second fix (the next night) does not launder it either.
    _verify(RunMode.FIX)
    assert stored("customers", "balance", customer.id) == Decimal("1000.00")


def test_a_fix_of_one_check_alone_finds_the_forged_row_itself(app):
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, Decimal("1000"))
    forge_in_the_chain(customer, "5000000")
    _verify(RunMode.FIX, checks=["customer_wallet"])
    assert stored("customers", "balance", customer.id) == Decimal("1000.00")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TamperedEvidence)) >= 1


def test_a_quarantined_customer_takes_no_charge_but_a_recharge(app):
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, Decimal("1000"))
    forge_in_the_chain(customer, "5000000")
    _verify()
    with pytest.raises(Quarantined, match="HOTEL is quarantined"):
        wallet.charge(customer, Decimal("10"))
    wallet.recharge(customer, Decimal("10"))
    assert stored("customers", "balance", customer.id) == Decimal("1010.00")


def test_a_row_changed_after_it_was_sealed_is_found(app):
    customer = CustomerFactory(code="HOTEL")
    movement = wallet.recharge(customer, Decimal("1000"))
    with past_the_guards() as connection:
        connection.execute(
            sa.text("UPDATE balance_transactions SET description = 'edited' WHERE id = :id"), {"id": movement.id}
        )
    run = _verify(checks=["evidence_seals"])
    assert _findings(run) == {("balance_transactions", movement.id)}
    reason = db.session.scalars(engine.discrepancies(run.id, "evidence_seals")).first().reason
    assert "changed after it was written" in reason


def test_a_sealed_row_deleted_is_found(app):
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, Decimal("1000"))
    last = wallet.recharge(customer, Decimal("2000"))
    with past_the_guards() as connection:
        connection.execute(sa.text("DELETE FROM balance_transactions WHERE id = :id"), {"id": last.id})
    run = _verify(checks=["evidence_seals"])
    assert ("balance_transactions", last.id) in _findings(run)
    assert "gone" in db.session.scalars(engine.discrepancies(run.id, "evidence_seals")).first().reason


def test_a_history_version_written_by_sql_is_found(app):
    customer = CustomerFactory(code="HOTEL")
    with past_the_guards() as connection:
        connection.execute(
            sa.text("UPDATE customers_history SET name = 'Someone else' WHERE id = :id"), {"id": customer.id}
        )
    run = _verify(checks=["evidence_seals"])
    assert ("customers_history", customer.id) in _findings(run)


def test_accepting_with_a_reason_ends_the_quarantine_and_the_fix_heals(app, admins):
    maker, _checker = admins
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, Decimal("1000"))
    forge_in_the_chain(customer, "5000")
    _verify()
    found = evidence_review.open_findings(customer.id)
    ids = [finding.id for finding in found]
    with pytest.raises(ReviewError, match="reason"):
        evidence_review.accept(ids, "  ", maker)
    clerk = UserFactory(email="clerk@example.com")
    with pytest.raises(ReviewError, match="admin"):
        evidence_review.accept(ids, "bank statement shows it", clerk)
    assert evidence_review.open_findings(customer.id)

    evidence_review.accept(ids, "the bank statement of 24 Nov shows the deposit", maker)

    assert not evidence_review.open_findings()
    run = _verify(RunMode.FIX)
    assert _findings(run) == set()
    assert stored("customers", "balance", customer.id) == Decimal("6000.00")
    with pytest.raises(ReviewError, match="already accepted"):
        evidence_review.accept(ids, "again", maker)


def test_reversing_takes_the_forged_money_back(app, admins):
    maker, _checker = admins
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, Decimal("1000"))
    movement, _entry = forge_in_the_chain(customer, "500")
    _verify()
    evidence_review.reverse([finding.id for finding in evidence_review.open_findings(customer.id)], "not ours", maker)
    assert {f.resolution for f in db.session.scalars(sa.select(TamperedEvidence))} == {Resolution.REVERSED}
    assert wallet.reversal_of(movement) is not None
    _verify(RunMode.FIX)
    assert stored("customers", "balance", customer.id) == Decimal("1000.00")
    assert _findings(_verify()) == set()


def test_a_decided_finding_cannot_be_rewritten_or_deleted(app, admins):
    maker, _checker = admins
    customer = CustomerFactory(code="HOTEL")
    forge_in_the_chain(customer, "5000")
    _verify()
    ids = [finding.id for finding in evidence_review.open_findings()]
    evidence_review.accept(ids, "vouched", maker)
    for statement in ("UPDATE tampered_evidence SET reason = 'x'", "DELETE FROM tampered_evidence"):
        with pytest.raises(sa.exc.DBAPIError):
            db.session.execute(sa.text(statement))
        db.session.rollback()
    with pytest.raises(sa.exc.DBAPIError):
        db.session.execute(sa.text("DELETE FROM seals"))
    db.session.rollback()


def test_the_seal_key_comes_from_the_environment_or_a_file_and_production_needs_one(tmp_path):
    key = "k" * 64
    assert from_environment(str(tmp_path), {"BACKOFFICE_SEAL_KEY": key})["SEAL_KEY"] == key
    path = tmp_path / "seal.key"
    path.write_text(key + "\n")
    assert from_environment(str(tmp_path), {"BACKOFFICE_SEAL_KEY_FILE": str(path)})["SEAL_KEY"] == key
    with pytest.raises(ConfigError, match="cannot be read"):
        from_environment(str(tmp_path), {"BACKOFFICE_SEAL_KEY_FILE": str(tmp_path / "missing")})
    with pytest.raises(ConfigError, match="32 characters"):
        from_environment(str(tmp_path), {"BACKOFFICE_SEAL_KEY": "short"})
    production = {"BACKOFFICE_ENV": "production", "SECRET_KEY": "s", "DATABASE_URL": "postgresql://u@h/d"}
    with pytest.raises(ConfigError, match="BACKOFFICE_SEAL_KEY"):
        from_environment(str(tmp_path / "prod"), production)
    assert not (tmp_path / "prod" / "seal_key").exists()
    made = from_environment(str(tmp_path / "dev"), {})["SEAL_KEY"]
    assert len(made) == 64 and (tmp_path / "dev" / "seal_key").stat().st_mode & 0o077 == 0


def test_every_kind_of_evidence_is_listed(app):
    assert {"balance_transactions", "journal_entries", "approval_requests", "reconciliation_runs"} <= set(seals.kinds())


def test_an_admin_reviews_on_the_customers_page_and_a_clerk_cannot(app, client, auth):
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, Decimal("1000"))
    forge_in_the_chain(customer, "5000")
    _verify()
    clerk = auth.login()
    page = client.get("/customers/HOTEL").get_data(as_text=True)
    assert 'id="quarantined-banner"' in page and 'id="review-evidence"' not in page
    ids = [str(finding.id) for finding in evidence_review.open_findings()]
    assert (
        client.post("/evidence/review", data={"findings": ids, "decision": "accept", "reason": "x"}).status_code == 403
    )
    auth.logout()
    auth.login(role="admin")
    page = client.get("/customers/HOTEL").get_data(as_text=True)
    assert 'id="review-evidence"' in page and "Tampered evidence" in page
    refused = client.post("/evidence/review", data={"findings": ids, "decision": "accept", "reason": " "})
    assert refused.status_code == 422 and "Say why" in refused.get_data(as_text=True)
    assert evidence_review.open_findings()
    done = client.post(
        "/evidence/review",
        data={"findings": ids, "decision": "accept", "reason": "bank statement", "next": "/customers/HOTEL"},
    )
    assert done.status_code == 302 and done.headers["Location"].endswith("/customers/HOTEL")
    assert not evidence_review.open_findings() and clerk.id
    assert 'id="quarantined-banner"' not in client.get("/customers/HOTEL").get_data(as_text=True)


def test_each_customer_has_a_chain_of_its_own(app):
    first, second = CustomerFactory(code="FIRST"), CustomerFactory(code="SECOND")
    wallet.recharge(first, Decimal("10"))
    opening = wallet.recharge(second, Decimal("20"))
    following = wallet.recharge(second, Decimal("30"))
    links = dict(
        db.session.execute(
            sa.select(Seal.row_id, Seal.prev_row_id).where(
                Seal.kind == "balance_transactions", Seal.row_id.in_([opening.id, following.id])
            )
        ).all()
    )
    assert links == {opening.id: None, following.id: opening.id}
    run = _verify(checks=["evidence_seals"])
    assert _findings(run) == set()


def test_a_customers_entries_among_others_are_verified_from_their_own_lines(app):
    """Verifying one customer's entries reads their lines by their ids, not every line between the first and the
    last (everyone's, in a busy installation); a changed line among them is still found."""
    mine, other = CustomerFactory(code="MINE"), CustomerFactory(code="OTHER")
    entries = []
    for _ in range(3):
        entries.append(wallet.recharge(mine, Decimal("100")).entry_id)
        for _ in range(4):
            wallet.recharge(other, Decimal("1"))
    connection = db.session.connection()
    ids = set(entries)
    lines = JournalLine.__table__
    scattered = str(seals.among(lines.c.entry_id, ids).compile(dialect=connection.dialect))
    assert "BETWEEN" not in scattered
    dense = str(seals.among(lines.c.entry_id, set(range(1, 11))).compile(dialect=connection.dialect))
    assert "BETWEEN" in dense
    db.session.rollback()
    with past_the_guards() as changed:
        changed.execute(
            sa.text("UPDATE journal_lines SET description = 'edited' WHERE entry_id = :id"), {"id": entries[1]}
        )
    verified = verifying.verify(
        db.session.connection(), seals.kinds()["journal_entries"], where=JournalEntry.__table__.c.id.in_(entries)
    )
    assert [finding.row_id for finding in verified.findings] == [entries[1]]


# --- A review decides about the findings chosen, not the whole wallet -------------------------------------------------


def _review(decide, customer: Customer, user, reason: str = "reviewed"):
    return decide([finding.id for finding in evidence_review.open_findings(customer.id)], reason, user)


def engine_discrepancies(run: ReconciliationRun, check: str) -> list:
    return list(db.session.scalars(engine.discrepancies(run.id, check)))


def _chain_and_health_clean() -> None:
    run = _verify(RunMode.FIX)
    assert _findings(run) == set()
    assert [(d.entity_id, d.field, d.stored, d.expected) for d in engine_discrepancies(run, "ledger_chain")] == []
    reasons = [reason for reason in health.assess().reasons if not reason.startswith("The nightly maintenance")]
    assert reasons == []  # the nightly itself never ran here


def test_reversing_one_finding_carries_no_other_forgery_and_keeps_the_quarantine(app, admins):
    maker, _checker = admins
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, Decimal("1000"))
    forge_in_the_chain(customer, "500")
    _verify()
    second, _entry = forge_in_the_chain(customer, "7000000", kind="adjustment")  # after the verify

    _review(evidence_review.reverse, customer, maker)

    assert stored("customers", "balance", customer.id) == Decimal("1000.00")
    assert [finding.row_id for finding in evidence_review.open_findings(customer.id)][:1] == [second]
    with pytest.raises(Quarantined):
        wallet.charge(customer, Decimal("10"))
    _verify(RunMode.FIX)
    assert stored("customers", "balance", customer.id) == Decimal("1000.00")


@pytest.mark.parametrize(("decision", "balance"), [("reverse", "1010.00"), ("accept", "1510.00")])
def test_a_recharge_during_quarantine_keeps_the_chain_right_after_either_decision(app, admins, decision, balance):
    maker, _checker = admins
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, Decimal("1000"))
    forge_in_the_chain(customer, "500")
    _verify()
    wallet.recharge(customer, Decimal("10"))  # allowed while quarantined

    _review(getattr(evidence_review, decision), customer, maker)

    assert stored("customers", "balance", customer.id) == Decimal(balance)
    _chain_and_health_clean()
    assert stored("customers", "balance", customer.id) == Decimal(balance)
    wallet.charge(customer, Decimal("10"))
    _chain_and_health_clean()


def test_accepting_a_forged_movement_above_the_limit_needs_a_second_admin(app, admins):
    maker, checker = admins
    app.config["APPROVAL_ABOVE"] = Decimal("1000000")
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, Decimal("1000"))
    movement, _entry = forge_in_the_chain(customer, "5000000")
    _verify()

    decided = _review(evidence_review.accept, customer, maker, "the bank statement shows it")

    (request,) = evidence_review.asked(decided)
    assert (request.requested_by_id, request.signed_amount, request.status) == (
        maker.id,
        Decimal("5000000.00"),
        approvals.ApprovalStatus.PENDING,
    )
    assert stored("customers", "balance", customer.id) == Decimal("1000.00")  # not before a second admin approves
    assert not evidence_review.open_findings()
    with pytest.raises(approvals.OwnRequest):
        approvals.approve(request.id, maker)
    approvals.approve(request.id, checker)
    assert stored("customers", "balance", customer.id) == Decimal("5001000.00")
    assert wallet.reversal_of(movement) is not None
    _chain_and_health_clean()


def test_forged_adjustments_never_count_toward_the_day_s_limit(app, admins):
    maker, _checker = admins
    app.config["APPROVAL_ABOVE"] = Decimal("1000000")
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, Decimal("1000"))
    forge_in_the_chain(customer, "900000", kind="adjustment")
    forge_in_the_chain(customer, "800000", kind="adjustment")
    wallet.adjust(customer, Decimal("900000"), reason="goodwill", user=maker)  # the forged ones count for nothing
    _verify()

    _review(evidence_review.reverse, customer, maker, "not ours")  # never blocked by the money it takes back

    assert stored("customers", "balance", customer.id) == Decimal("901000.00")
    wallet.adjust(customer, Decimal("-100000"), reason="goodwill", user=maker)  # 900.000 + 100.000: at the limit
    _chain_and_health_clean()


def test_a_decision_written_by_sql_vouches_for_nothing(app, admins):
    maker, _checker = admins
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, Decimal("1000"))
    movement, _entry = forge_in_the_chain(customer, "5000")
    _verify()
    db.session.rollback()
    with db.engine.begin() as connection:  # the one decision the database lets through, made without the key
        connection.execute(
            sa.text(
                "UPDATE tampered_evidence SET resolution = 'accepted', reason = 'ok', resolved_by_id = :who, "
                "resolved_at = CURRENT_TIMESTAMP, reviewed_seal = 'gone'"
            ),
            {"who": maker.id},
        )
    run = _verify(RunMode.FIX)
    found = _findings(run)
    assert ("balance_transactions", movement) in found
    assert {kind for kind, _row in found} >= {"evidence_decisions"}
    assert {f.row_id for f in evidence_review.open_findings(customer.id)} >= {movement}
    assert stored("customers", "balance", customer.id) == Decimal("1000.00")


def test_a_decision_made_by_the_application_is_sealed_in_its_customer_s_chain(app, admins):
    maker, _checker = admins
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, Decimal("1000"))
    forge_in_the_chain(customer, "500")
    _verify()
    decided = _review(evidence_review.accept, customer, maker)
    sealed = db.session.scalars(sa.select(Seal).where(Seal.kind == "evidence_decisions").order_by(Seal.row_id)).all()
    assert [seal.row_id for seal in sealed] == sorted(finding.id for finding in decided)
    assert {seal.chain for seal in sealed} == {customer.id} and sealed[1].prev_row_id == sealed[0].row_id
    assert _findings(_verify(checks=["evidence_seals"])) == set()


def test_two_admins_reviewing_the_same_finding_at_once_one_wins_the_other_is_told(app, admins):
    maker, checker = admins
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, Decimal("1000"))
    forge_in_the_chain(customer, "500")
    _verify()
    ids = [finding.id for finding in evidence_review.open_findings(customer.id)]
    maker_id, checker_id, refused = maker.id, checker.id, []

    def reversing() -> None:
        evidence_review.reverse(ids, "not ours", db.session.get(User, maker_id))

    def accepting() -> None:
        shown = evidence_review.open_findings()  # the form the second admin submits was read before the first decided
        assert [finding.id for finding in shown] == ids
        with pytest.raises(ReviewError) as error:
            evidence_review.accept(ids, "the bank says so", db.session.get(User, checker_id))
        refused.append(str(error.value))

    race(app, reversing, accepting, hold_after="commit")  # the decision is the owner's function's, not a flush

    assert refused == [f"Finding {ids[0]} was already reversed."]
    db.session.rollback()
    assert {f.resolution for f in db.session.scalars(sa.select(TamperedEvidence))} == {Resolution.REVERSED}
    assert stored("customers", "balance", customer.id) == Decimal("1000.00")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BalanceTransaction)) == 3


def test_a_review_of_findings_decided_meanwhile_is_refused_with_a_message(app, client, auth, admins):
    maker, _checker = admins
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, Decimal("1000"))
    forge_in_the_chain(customer, "500")
    _verify()
    ids = [finding.id for finding in evidence_review.open_findings(customer.id)]
    auth.login(role="admin")
    evidence_review.reverse(ids, "not ours", maker)
    with pytest.raises(ReviewError, match="already reversed"):
        evidence_review.accept(ids, "again", maker)
    response = client.post(
        "/evidence/review", data={"findings": [str(i) for i in ids], "decision": "accept", "reason": "again"}
    )
    assert response.status_code == 422


def test_the_review_screen_says_where_accepted_money_above_the_limit_waits(app, client, auth):
    app.config["APPROVAL_ABOVE"] = Decimal("1000000")
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, Decimal("1000"))
    forge_in_the_chain(customer, "5000000")
    _verify()
    ids = [str(finding.id) for finding in evidence_review.open_findings(customer.id)]
    auth.login(role="admin")
    done = client.post(
        "/evidence/review",
        data={"findings": ids, "decision": "accept", "reason": "the bank says so"},
        follow_redirects=True,
    )
    page = done.get_data(as_text=True)
    assert done.status_code == 200 and "2 rows accepted." in page
    (request,) = db.session.scalars(sa.select(approvals.ApprovalRequest)).all()
    assert f"request #{request.id} waits for a second admin" in page
    assert stored("customers", "balance", customer.id) == Decimal("1000.00")


@pytest.mark.parametrize("chunk_size", [1, 3, 1_000_000])
def test_the_seals_examined_in_pieces_find_what_they_find_examined_at_once(app, chunk_size):
    customer = CustomerFactory(code="HOTEL")
    movement = wallet.recharge(customer, Decimal("1000"))
    wallet.charge(customer, Decimal("100"))
    with past_the_guards() as connection:
        connection.execute(
            sa.text("UPDATE balance_transactions SET description = 'edited' WHERE id = :id"), {"id": movement.id}
        )
    check = EvidenceSeals()
    pieces = check.pieces(chunk_size)
    # The anchors' proof first, then every kind of evidence once, in runs of consecutive kinds.
    assert pieces[0] == (0, 0) and pieces[-1][1] == len(seals.kinds())
    assert [low for low, _high in pieces[1:]] == [high + 1 for _low, high in pieces[:-1]]
    assert all(low <= high for low, high in pieces)
    assert (len(pieces) == 2) is (chunk_size == 1_000_000)
    examined = [check.examine(None, chunk_size, piece) for piece in pieces]
    checked, found = check.examine(None, chunk_size)
    assert sum(count for count, _found in examined) == checked > 2
    assert sorted((f.evidence.kind, f.row_id) for _count, each in examined for f in each) == sorted(
        (f.evidence.kind, f.row_id) for f in found
    )
    assert {(f.evidence.kind, f.row_id) for f in found} == {("balance_transactions", movement.id)}
