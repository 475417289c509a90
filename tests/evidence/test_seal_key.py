"""The seal key's fingerprint: evidence is verified only under the key it was sealed with. Under another key a
verify, a fix, the nightly and a review stop, saying so, and quarantine nobody; the health check says it; the right
key restored, everything is clean."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice import jobs
from backoffice.evidence import seals, verifying
from backoffice.models import Customer, JobRecord, JobStatus, ReconciliationRun, RunMode, RunStatus, SealKey
from backoffice.models import TamperedEvidence as Finding
from backoffice.operations import health
from backoffice.platform.extensions import db
from backoffice.reconcile import engine
from backoffice.services import wallet
from tests.factories import CustomerFactory, corrupt, past_the_guards

WRONG = "not-the-installation-s-key-" + "x" * 40
SAID = "this is not the key the evidence was sealed with"


@pytest.fixture
def wallets(app):
    """Two customers with sealed movements."""
    for code in ("HOTEL", "MILL"):
        customer = CustomerFactory(code=code)
        wallet.recharge(customer, Decimal("1000"))
        wallet.charge(customer, Decimal("250"))


def findings() -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count()).select_from(Finding))


def latest_run() -> ReconciliationRun:
    db.session.rollback()
    return db.session.scalar(sa.select(ReconciliationRun).order_by(ReconciliationRun.id.desc()))


def test_the_upgrade_keeps_the_fingerprint_of_its_key_and_not_the_key(app):
    kept = db.session.scalar(sa.select(SealKey))
    assert kept.id == 1 and kept.fingerprint == seals.fingerprint(app.config["SEAL_KEY"].encode())
    assert app.config["SEAL_KEY"] not in kept.fingerprint and len(kept.fingerprint) == 64


def test_a_verify_under_another_key_stops_saying_so_and_quarantines_nobody(app, runner, wallets):
    right = app.config["SEAL_KEY"]
    app.config["SEAL_KEY"] = WRONG
    result = runner.invoke(args=["reconcile", "verify"])
    assert result.exit_code == 1, result.output
    assert SAID in result.output and "Traceback" not in result.output
    assert findings() == 0 and latest_run() is None  # nothing recorded, nothing sealed under the wrong key
    assert any(SAID in reason for reason in health.assess().reasons)

    app.config["SEAL_KEY"] = right
    again = runner.invoke(args=["reconcile", "verify"])
    assert again.exit_code == 0, again.output
    run = latest_run()
    assert findings() == 0 and run.status is RunStatus.SUCCEEDED and run.mismatched == 0
    assert not any(SAID in reason for reason in health.assess().reasons)


def test_a_fix_under_another_key_stops_before_it_examines_anyone(app, runner, wallets):
    hotel = db.session.scalar(sa.select(Customer.id).where(Customer.code == "HOTEL"))
    corrupt("customers", "balance", hotel, "999")
    app.config["SEAL_KEY"] = WRONG
    result = runner.invoke(args=["reconcile", "verify", "--fix", "--check", "customer_wallet"])
    assert result.exit_code == 1 and SAID in result.output, result.output
    assert findings() == 0
    assert db.session.get(Customer, hotel).balance == Decimal("999")  # not fixed from evidence it cannot verify


def test_the_nightly_under_another_key_fails_saying_so_and_quarantines_nobody(app, wallets):
    app.config["SEAL_KEY"] = WRONG
    record, _created = jobs.enqueue_nightly()
    db.session.rollback()
    record = db.session.get(JobRecord, record.id)
    assert record.status is JobStatus.FAILED and SAID in record.error
    assert findings() == 0


def test_nothing_is_sealed_under_another_key(app, wallets):
    hotel = db.session.scalar(sa.select(Customer).where(Customer.code == "HOTEL"))
    app.config["SEAL_KEY"] = WRONG
    with pytest.raises(seals.WrongSealKey, match=SAID):
        wallet.recharge(hotel, Decimal("5"))
    db.session.rollback()
    assert db.session.get(Customer, hotel.id).balance == Decimal("750.00")


def test_under_another_key_a_customer_is_not_examined_and_a_review_is_not_sealed(app, wallets):
    app.config["SEAL_KEY"] = WRONG
    connection = db.session.connection()
    evidence = seals.kinds()["balance_transactions"]
    with pytest.raises(seals.WrongSealKey, match=SAID):
        verifying.verify(connection, evidence, where=evidence.key > 0)
    with pytest.raises(seals.WrongSealKey, match=SAID):
        verifying.reviewed_seal(connection, evidence, 1, 0)
    assert findings() == 0


def test_the_fingerprint_is_kept_the_first_time_it_is_missing_and_never_changed(app, wallets):
    with past_the_guards() as connection:
        connection.execute(sa.delete(SealKey))
    engine.run(RunMode.VERIFY, checks=["evidence_seals"])
    assert db.session.scalar(sa.select(SealKey.fingerprint)) == seals.fingerprint(app.config["SEAL_KEY"].encode())
    for statement in ("UPDATE seal_key SET fingerprint = 'x'", "DELETE FROM seal_key"):
        with pytest.raises(sa.exc.DBAPIError):
            db.session.execute(sa.text(statement))
        db.session.rollback()
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.text("INSERT INTO seal_key (id, fingerprint, recorded_at) VALUES (2, 'x', '2026-01-01')"))
    db.session.rollback()
    assert findings() == 0


def test_a_screen_under_another_key_says_so_and_writes_nothing(app, client, finance, wallets):
    app.config["SEAL_KEY"] = WRONG
    response = client.post("/customers/HOTEL/recharge", data={"recharge-amount": "5"})
    assert response.status_code == 503 and SAID in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(Customer.balance).where(Customer.code == "HOTEL")) == Decimal("750.00")


def test_a_kept_fingerprint_forged_with_letters_no_digest_has_is_another_key(app, wallets):
    with past_the_guards() as connection:
        connection.execute(sa.update(SealKey).values(fingerprint="é" * 64))
    with pytest.raises(seals.WrongSealKey, match=SAID):
        verifying.verify(db.session.connection(), seals.kinds()["balance_transactions"], 1, 1000)
    db.session.rollback()
    assert not seals.key_is_right(db.session.connection())
