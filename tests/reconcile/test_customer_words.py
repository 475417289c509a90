"""The customers' search words (migration 0086), kept by the database with every write of what the search matches,
proven by the nightly's ``customer_words`` check, which finds words written with the triggers off or by hand and
writes them anew with an audit row."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice import jobs
from backoffice.models import JobStatus, RunMode
from backoffice.platform.extensions import db
from backoffice.reconcile.engine import run
from backoffice.services import search
from tests.factories import CustomerFactory, past_the_guards
from tests.jobs.test_fanout import ended
from tests.workers import listening_workers


def discrepancies(run_id: int) -> list[tuple]:
    return db.session.execute(
        sa.text(
            "SELECT entity_id, field, stored, expected FROM reconciliation_discrepancies "
            "WHERE run_id = :r ORDER BY entity_id"
        ),
        {"r": run_id},
    ).all()


def words(customer_id: int) -> list[str]:
    db.session.rollback()
    return db.session.scalars(
        sa.text("SELECT word FROM customer_words WHERE customer_id = :id ORDER BY word"), {"id": customer_id}
    ).all()


def test_what_every_door_writes_is_worded_and_the_check_finds_it_clean(app):
    CustomerFactory(code="C0001", name="Hotel Cempaka Indah")
    CustomerFactory(code="C0002", name="Toko Melati", phone="+62 21 555-0123")
    assert run(RunMode.VERIFY, checks=["customer_words"]).mismatched == 0


def test_words_written_with_the_triggers_off_or_by_hand_are_found_and_written_anew_with_an_audit_row(app):
    renamed = CustomerFactory(code="C0001", name="Hotel Cempaka Indah")
    forged = CustomerFactory(code="C0002", name="Toko Melati")
    clean = CustomerFactory(code="C0003", name="Apotek Sehat")
    with past_the_guards() as connection:  # no trigger fires: its words are left behind
        connection.execute(sa.text("UPDATE customers SET name = 'Hotel Kenanga' WHERE id = :id"), {"id": renamed.id})
    db.session.execute(sa.text("INSERT INTO customer_words VALUES ('zzz', :id)"), {"id": forged.id})
    db.session.execute(
        sa.text("DELETE FROM customer_words WHERE customer_id = :id AND word = 'melati'"), {"id": forged.id}
    )
    db.session.commit()
    found = run(RunMode.VERIFY, checks=["customer_words"])
    assert discrepancies(found.id) == [
        (renamed.id, "words", Decimal(3), Decimal(0)),  # "cempaka" and "indah" stray, "kenanga" missing
        (forged.id, "words", Decimal(2), Decimal(0)),  # "zzz" stray, "melati" missing
    ]
    fixed = run(RunMode.FIX, checks=["customer_words"])
    assert [row[0] for row in discrepancies(fixed.id)] == [renamed.id, forged.id]
    assert words(renamed.id) == ["c0001", "hotel", "kenanga"] and words(forged.id) == ["c0002", "melati", "toko"]
    assert words(clean.id) == ["apotek", "c0003", "sehat"]
    assert run(RunMode.VERIFY, checks=["customer_words"]).mismatched == 0
    assert [row.key for row in search.found("Kenanga", ["customer"], 5)["customer"]] == ["C0001"]


def test_two_writers_adding_each_other_s_new_words_never_wait_for_each_other(app):
    """Two imports at once, each adding a customer whose word is new, then one holding the other's new word: with a
    unique key on the vocabulary each would wait for the other's (a deadlock); neither waits, and the search reads
    the word added twice once."""
    db.session.commit()
    insert = sa.text(
        "INSERT INTO customers (code, name, account_manager_id, status, created_at) "
        "VALUES (:code, :name, NULL, 'active', now())"
    )
    with db.engine.connect() as first, db.engine.connect() as second:
        for connection in (first, second):
            connection.exec_driver_sql("SET lock_timeout = '2s'")
        first.execute(insert, {"code": "C0001", "name": "Kenanga"})
        second.execute(insert, {"code": "C0002", "name": "Cempaka"})
        first.execute(insert, {"code": "C0003", "name": "Cempaka Dua"})
        second.execute(insert, {"code": "C0004", "name": "Kenanga Dua"})
        first.commit()
        second.commit()
    vocabulary = sa.text("SELECT word, count(*) FROM customer_vocabulary GROUP BY word ORDER BY word")
    assert db.session.execute(vocabulary).all() == [("cempaka", 2), ("dua", 2), ("kenanga", 2)]
    assert [row.key for row in search.found("cempka", ["customer"], 5)["customer"]] == ["C0002", "C0003"]
    assert run(RunMode.VERIFY, checks=["customer_words"]).mismatched == 0


@pytest.mark.production_path("real workers")
def test_forged_words_are_written_anew_by_a_fix_run_on_real_workers_as_the_runtime_role(app, redis_url):
    customer = CustomerFactory(code="C0001", name="Hotel Cempaka Indah")
    db.session.execute(sa.text("DELETE FROM customer_words WHERE customer_id = :id"), {"id": customer.id})
    db.session.commit()
    with listening_workers(app, redis_url, 2):
        record, _ = jobs.enqueue("verify", {"fix": True, "checks": ["customer_words"]})
        record = ended(record.id)
    assert record.status is JobStatus.FINISHED
    assert discrepancies(record.run_id) == [(customer.id, "words", Decimal(4), Decimal(0))]
    assert words(customer.id) == ["c0001", "cempaka", "hotel", "indah"]
