"""The heads of the sealed chains are anchored outside the database each night, and the next night proves each chain
still reaches its anchor: a deleted newest row is reported by name."""

from __future__ import annotations

import json
import logging
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest
import sqlalchemy as sa

from backoffice import jobs
from backoffice.evidence import anchors
from backoffice.models import BalanceTransaction, JobStatus, TamperedEvidence
from backoffice.operations import health
from backoffice.platform.extensions import db
from backoffice.reconcile import engine
from backoffice.services import wallet
from tests.factories import CustomerFactory, past_the_guards
from tests.test_health import api, metrics  # noqa: F401 (the fixture)

FIRST, SECOND = date(2026, 11, 23), date(2026, 11, 24)


def _nightly(day: date):
    record, _ = jobs.enqueue_nightly(day)
    assert record.status is JobStatus.FINISHED, record.error
    return record


def _delete_newest_movement(customer_id: int) -> tuple[int, str]:
    """The customer's newest movement deleted past the guards with its entry, lines and seals, and its balance put
    back as it was before it: every figure agrees again. Its id and its seal."""
    db.session.rollback()
    with past_the_guards() as connection:
        newest, entry, before, seal = connection.execute(
            sa.text(
                "SELECT m.id, m.entry_id, m.balance_before, s.seal FROM balance_transactions m JOIN seals s"
                " ON s.kind = 'balance_transactions' AND s.row_id = m.id"
                " WHERE m.customer_id = :c ORDER BY m.id DESC LIMIT 1"
            ),
            {"c": customer_id},
        ).one()
        connection.execute(
            sa.text(
                "DELETE FROM seals WHERE (kind = 'balance_transactions' AND row_id = :m)"
                " OR (kind = 'journal_entries' AND row_id = :e)"
            ),
            {"m": newest, "e": entry},
        )
        connection.execute(sa.text("DELETE FROM balance_transactions WHERE id = :m"), {"m": newest})
        connection.execute(sa.text("DELETE FROM journal_lines WHERE entry_id = :e"), {"e": entry})
        connection.execute(sa.text("DELETE FROM journal_entries WHERE id = :e"), {"e": entry})
        connection.execute(sa.text("UPDATE customers SET balance = :b WHERE id = :c"), {"b": before, "c": customer_id})
    return newest, seal


def test_a_deleted_newest_movement_is_reported_by_name_against_the_last_anchor(app):
    customer = CustomerFactory(code="C0002")
    wallet.recharge(customer, D("1000"))
    wallet.recharge(customer, D("2500"))
    _nightly(FIRST)
    newest, seal = _delete_newest_movement(customer.id)
    kept = db.session.scalar(
        sa.select(sa.func.max(BalanceTransaction.id)).where(BalanceTransaction.customer_id == customer.id)
    )

    record = _nightly(SECOND)

    found = db.session.scalars(
        sa.select(TamperedEvidence).where(
            TamperedEvidence.kind == "balance_transactions", TamperedEvidence.row_id == newest
        )
    ).one()
    assert found.customer_id == customer.id and found.found_run_id == record.run_id
    assert f"customer C0002's wallet movements end at {kept}, the anchor of {FIRST} says {newest}" in found.what
    assert seal[:16] in found.what
    reported = {
        (d.field, d.entity_id) for d in db.session.scalars(engine.discrepancies(record.run_id, "evidence_seals"))
    }
    assert ("balance_transactions", newest) in reported
    assessed = health.assess()
    assert not assessed.valid
    assert any("Tampered evidence" in reason and "C0002" in reason for reason in assessed.reasons)


def test_a_chain_that_grew_reaches_its_anchor(app):
    customer = CustomerFactory(code="C0001")
    wallet.recharge(customer, D("1000"))
    _nightly(FIRST)
    wallet.recharge(customer, D("500"))
    _nightly(SECOND)
    assert db.session.scalar(sa.select(sa.func.count(TamperedEvidence.id))) == 0


def test_the_anchor_file_log_line_and_metrics_agree(app, api, caplog):  # noqa: F811 (the fixture)
    customer = CustomerFactory(code="C0001")
    wallet.recharge(customer, D("1000"))
    wallet.charge(customer, D("250"))
    with caplog.at_level(logging.INFO, logger="backoffice.evidence.anchors"):
        _nightly(FIRST)

    folder = Path(app.config["ANCHORS_FOLDER"])
    latest = json.loads((folder / "latest.json").read_text())
    kept = json.loads((folder / f"{FIRST}.json").read_text())
    assert latest["day"] == kept["day"] == FIRST.isoformat() and latest["digest"] == kept["digest"]
    heads = [anchors.Head(*listed) for listed in kept["heads"]]
    assert anchors.digest(heads) == latest["digest"] and latest["chains"] == len(heads)
    movements = [head for head in heads if head.kind == "balance_transactions"]
    assert [(head.chain, head.length) for head in movements] == [(customer.id, 2)]
    assert [line for line in caplog.messages if latest["digest"] in line and "Anchored" in line]
    samples = metrics(api)
    assert samples[f'backoffice_evidence_anchor_info{{date="{FIRST}",digest="{latest["digest"]}"}}'] == 1
    assert samples["backoffice_evidence_anchor_chains"] == len(heads)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_chain_whose_customer_was_deleted_with_it_is_reported_not_a_crash(app):
    customer = CustomerFactory(code="C0003")
    wallet.recharge(customer, D("1000"))
    _nightly(FIRST)
    db.session.rollback()
    with past_the_guards() as connection:  # PostgreSQL's replica role checks no foreign key either
        entries = sa.text("SELECT entry_id FROM balance_transactions WHERE customer_id = :c")
        for statement in (
            "DELETE FROM seals WHERE kind = 'journal_entries' AND row_id IN (" + entries.text + ")",
            "DELETE FROM journal_lines WHERE entry_id IN (" + entries.text + ")",
            "DELETE FROM journal_entries WHERE id IN (" + entries.text + ")",
            "DELETE FROM seals WHERE kind = 'balance_transactions' AND chain = :c",
            "DELETE FROM balance_transactions WHERE customer_id = :c",
            "DELETE FROM customers WHERE id = :c",
        ):
            connection.execute(sa.text(statement), {"c": customer.id})

    record = _nightly(SECOND)

    found = db.session.scalars(sa.select(TamperedEvidence).where(TamperedEvidence.kind == "balance_transactions")).all()
    assert found and {f.customer_id for f in found} == {None} and found[0].found_run_id == record.run_id
