"""The heads of the sealed chains are anchored outside the database each night, and the next night proves each chain
still reaches its anchor: a deleted newest row is reported by name."""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
import sqlalchemy as sa

from backoffice import jobs
from backoffice.evidence import anchors, chain_proof
from backoffice.models import AnchorRecord, BalanceTransaction, JobStatus, RunMode, Seal, TamperedEvidence
from backoffice.models.types import utcnow
from backoffice.operations import health
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.reconcile import engine, evidence_review
from backoffice.services import wallet
from tests.factories import CustomerFactory, past_the_guards
from tests.monitoring import metrics
from tests.nights import nightly_record

FIRST, SECOND = date(2026, 11, 23), date(2026, 11, 24)


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
    nightly_record(FIRST)
    newest, seal = _delete_newest_movement(customer.id)
    kept = db.session.scalar(
        sa.select(sa.func.max(BalanceTransaction.id)).where(BalanceTransaction.customer_id == customer.id)
    )

    record = nightly_record(SECOND)

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
    nightly_record(FIRST)
    wallet.recharge(customer, D("500"))
    nightly_record(SECOND)
    assert db.session.scalar(sa.select(sa.func.count(TamperedEvidence.id))) == 0


def test_the_anchor_file_log_line_and_metrics_agree(app, api, caplog):
    customer = CustomerFactory(code="C0001")
    wallet.recharge(customer, D("1000"))
    wallet.charge(customer, D("250"))
    with caplog.at_level(logging.INFO, logger="backoffice.evidence.anchors"):
        nightly_record(FIRST)

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


def test_a_chain_whose_customer_was_deleted_with_it_is_reported_not_a_crash(app):
    customer = CustomerFactory(code="C0003")
    wallet.recharge(customer, D("1000"))
    nightly_record(FIRST)
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

    record = nightly_record(SECOND)

    found = db.session.scalars(sa.select(TamperedEvidence).where(TamperedEvidence.kind == "balance_transactions")).all()
    assert found and {f.customer_id for f in found} == {None} and found[0].found_run_id == record.run_id


# --- The folder against the database's record of its anchors ----------------------------------------------------------

THIRD = date(2026, 11, 25)


def _anchored_twice(app) -> tuple[Path, int]:
    """A customer's movements anchored on two nights; the folder and the customer's id."""
    customer = CustomerFactory(code="C0002")
    wallet.recharge(customer, D("1000"))
    nightly_record(FIRST)
    wallet.recharge(customer, D("2500"))
    nightly_record(SECOND)
    return Path(app.config["ANCHORS_FOLDER"]), customer.id


def _anchor_findings() -> list[str]:
    db.session.rollback()
    return list(
        db.session.scalars(
            sa.select(TamperedEvidence.what)
            .where(TamperedEvidence.kind == "anchor_records", TamperedEvidence.resolution.is_(None))
            .order_by(TamperedEvidence.id)
        )
    )


def _records() -> int:
    return db.session.scalar(sa.select(sa.func.count(AnchorRecord.id)))


def _older_put_back(folder: Path) -> None:
    older = json.loads((folder / f"{FIRST}.json").read_text())
    del older["heads"]
    (folder / "latest.json").write_text(json.dumps(older))


def _digest_edited(folder: Path) -> None:
    latest = json.loads((folder / "latest.json").read_text())
    (folder / "latest.json").write_text(json.dumps(latest | {"digest": "0" * 64}))


@pytest.mark.parametrize(
    ("tampering", "said"),
    [
        (
            lambda folder: (folder / "latest.json").unlink(),
            f"latest.json is missing: the database's last anchor is that of {SECOND}",
        ),
        (_digest_edited, "latest.json was edited: its seal does not hold"),
        (_older_put_back, f"latest.json holds the anchor of {FIRST}, not the last one written, that of {SECOND}"),
        (lambda folder: (folder / f"{SECOND}.json").unlink(), f"{SECOND}.json is missing"),
        (lambda folder: (folder / "latest.json").write_text("{not json"), "latest.json cannot be read"),
    ],
    ids=["latest deleted", "digest edited", "older put back", "dated deleted", "not json"],
)
def test_a_missing_edited_or_replayed_anchor_is_named_and_nothing_anchored_over_it(
    app,
    api,
    tampering,
    said,
):
    folder, customer_id = _anchored_twice(app)
    tampering(folder)
    newest, _seal = _delete_newest_movement(customer_id)  # what the tampering would hide

    nightly_record(THIRD)

    (found,) = _anchor_findings()
    assert said in found
    assert _records() == 2 and not (folder / f"{THIRD}.json").exists()
    assessed = health.assess()
    assert not assessed.valid and any(said in reason for reason in assessed.reasons)
    assert metrics(api) is not None  # /metrics answers, whatever the file holds


def test_once_an_admin_decided_on_the_anchors_the_next_night_anchors_again(app, admin):
    folder, _customer_id = _anchored_twice(app)
    (folder / "latest.json").unlink()
    nightly_record(THIRD)
    (finding_id,) = db.session.scalars(sa.select(TamperedEvidence.id).where(TamperedEvidence.kind == "anchor_records"))

    evidence_review.accept([finding_id], "The folder was restored from a backup without latest.json", admin)
    nightly_record(date(2026, 11, 26))

    assert _records() == 3 and _anchor_findings() == []
    latest = json.loads((folder / "latest.json").read_text())
    assert latest["day"] == "2026-11-26" and latest["previous"] is not None
    assert health.assess().valid or not any("Anchors:" in reason for reason in health.assess().reasons)


def test_another_database_s_anchors_folder_is_refused_as_such_not_read_as_tampering(app, caplog):
    folder, _customer_id = _anchored_twice(app)
    latest = json.loads((folder / "latest.json").read_text())
    other = anchors.Anchor(**(latest | {"database": "f" * 32, "seal": ""}))
    (folder / "latest.json").write_text(json.dumps(vars(other) | {"seal": anchors.sealed(other)}))

    with caplog.at_level(logging.ERROR):
        nightly_record(THIRD)

    assert _anchor_findings() == [] and _records() == 2
    said = f"holds the anchors of another database ({'f' * 32}), not this one's"
    assert any(said in reason for reason in health.assess().reasons)
    assert said in caplog.text


def test_each_anchor_names_its_database_and_chains_to_the_one_before(app):
    folder, _customer_id = _anchored_twice(app)
    first = json.loads((folder / f"{FIRST}.json").read_text())
    second = json.loads((folder / f"{SECOND}.json").read_text())
    mine = anchors.identity(db.session.connection())
    assert first["database"] == second["database"] == mine and len(mine) == 32
    assert first["previous"] is None and second["previous"] == first["seal"]
    records = db.session.scalars(sa.select(AnchorRecord).order_by(AnchorRecord.id)).all()
    assert [(r.day, r.file_seal) for r in records] == [(str(FIRST), first["seal"]), (str(SECOND), second["seal"])]
    assert engine.run(RunMode.VERIFY, checks=["evidence_seals"]).mismatched == 0


def test_a_row_removed_as_others_were_added_since_the_anchor_is_found_the_next_night(app):
    customer = CustomerFactory(code="C0004")
    made = [wallet.recharge(customer, D(amount)) for amount in ("100", "200", "300")]
    nightly_record(FIRST)
    added = wallet.recharge(customer, D("400"))
    with past_the_guards() as connection:  # sealed after the anchor's heads were read, not within its second
        connection.execute(
            sa.update(Seal)
            .where(Seal.kind == "balance_transactions", Seal.row_id == added.id)
            .values(sealed_at=utcnow() + timedelta(minutes=1))
        )
        middle = made[1].id
        connection.execute(sa.delete(Seal).where(Seal.kind == "balance_transactions", Seal.row_id == middle))
        connection.execute(sa.delete(BalanceTransaction).where(BalanceTransaction.id == middle))

    # The proof against the anchor alone (the night's sweep may find the broken link too, under the same row).
    found = [finding.what for finding in chain_proof.broken(db.session.connection())]
    assert any("customer C0004's wallet movements" in what and "3 rows of the 4" in what for what in found), found
    db.session.rollback()
    record = nightly_record(SECOND)
    assert db.session.scalar(sa.select(sa.func.count()).where(TamperedEvidence.found_run_id == record.run_id)) >= 1


def test_a_newest_movement_posted_and_deleted_between_nights_is_found_by_counting(app):
    customer = CustomerFactory(code="C0005")
    wallet.recharge(customer, D("1000"))
    nightly_record(FIRST)
    posted = wallet.recharge(customer, D("3000000"))
    db.session.commit()
    _delete_newest_movement(customer.id)  # with its seal, entry and lines; the balance put back: every chain whole
    assert posted.id not in db.session.scalars(sa.select(BalanceTransaction.id))

    record = nightly_record(SECOND)

    found = db.session.scalars(
        sa.select(TamperedEvidence.what).where(
            TamperedEvidence.kind == "anchor_records", TamperedEvidence.found_run_id == record.run_id
        )
    ).all()
    assert any("were deleted since the anchor of 2026-11-23" in w and "1 from balance_transactions" in w for w in found)
    assert not health.assess().valid


def test_a_newest_movement_deleted_before_the_first_anchor_is_found_the_first_night(app):
    customer = CustomerFactory(code="C0007")
    wallet.recharge(customer, D("1000"))
    wallet.recharge(customer, D("3000000"))
    db.session.commit()
    _delete_newest_movement(customer.id)  # every chain whole, and no anchor yet to hold its head

    record = nightly_record(FIRST)

    found = db.session.scalars(
        sa.select(TamperedEvidence.what).where(
            TamperedEvidence.kind == "anchor_records", TamperedEvidence.found_run_id == record.run_id
        )
    ).all()
    assert any(
        "were deleted since the database was made, before its first anchor" in w and "1 from balance_transactions" in w
        for w in found
    )
    assert not health.assess().valid
    assert _records() == 1  # anchored all the same: the next night counts from it


def test_a_legacy_anchor_naming_no_database_is_followed_by_the_first_recorded_one(app):
    folder = Path(app.config["ANCHORS_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    legacy = {"day": "2026-11-20", "digest": "a" * 64, "chains": 1, "at": "2026-11-20T02:00:00+00:00", "run_id": 1}
    (folder / "latest.json").write_text(json.dumps(legacy))
    customer = CustomerFactory(code="C0006")
    wallet.recharge(customer, D("1000"))

    nightly_record(FIRST)

    assert _anchor_findings() == [] and _records() == 1
    assert json.loads((folder / "latest.json").read_text())["day"] == str(FIRST)


# --- A night anchors what changed and one stripe of the chains whole --------------------------------------------------

PERIOD = 3


@pytest.fixture
def striped(app, monkeypatch):
    """Stripes of one chain key swept over three nights, and three customers anchored by a first nightly, their seals
    made two days old: customer ids 1, 2, 3 lie in three stripes."""
    monkeypatch.setattr(anchors, "CHAIN_STRIPE", 1)
    app.config["SEAL_SWEEP_DAYS"] = PERIOD
    made = [CustomerFactory(code=f"C000{n}") for n in range(1, 4)]
    for customer in made:
        wallet.recharge(customer, D("1000"))
    nightly_record(FIRST)
    with past_the_guards() as connection:
        connection.execute(sa.text("UPDATE seals SET sealed_at = :at"), {"at": utcnow() - timedelta(days=2)})
    return Path(app.config["ANCHORS_FOLDER"]), made


def test_a_night_anchors_the_chains_sealed_since_and_its_stripe_whole(striped):
    folder, (first, second, third) = striped
    wallet.recharge(second, D("500"))

    nightly_record(SECOND)

    kept = json.loads((folder / f"{SECOND}.json").read_text())
    assert kept["delta"] and kept["previous"] is not None
    movements = [anchors.Head(*listed) for listed in kept["heads"] if listed[0] == "balance_transactions"]
    assert [(head.chain, head.length) for head in movements] == [(second.id, None)]  # the newest row alone
    stripe = anchors.stripe_of(SECOND)
    assert kept["stripe"]["phase"] == stripe.phase and kept["stripe"]["period"] == PERIOD
    written = json.loads((folder / f"stripe-{stripe.phase}.json").read_text())
    heads = [anchors.Head(*listed) for listed in written["heads"]]
    assert written["day"] == str(SECOND) and anchors.digest(heads) == kept["stripe"]["digest"]
    whole = {head.chain: head.length for head in heads if head.kind == "balance_transactions"}
    lengths = {first.id: 1, second.id: 2, third.id: 1}
    assert whole == {chain: length for chain, length in lengths.items() if stripe.contains(chain)}
    assert kept["marks"]["balance_transactions"][0] == max(head.row_id for head in movements)
    assert engine.run(RunMode.VERIFY, checks=["evidence_seals"]).mismatched == 0


def _moved_out_of_its_chain(customer_id: int) -> int:
    """The customer's oldest movement's seal moved to another chain past the guards: the chain is a row shorter, and
    no row was deleted."""
    db.session.rollback()
    oldest = db.session.scalar(
        sa.select(sa.func.min(BalanceTransaction.id)).where(BalanceTransaction.customer_id == customer_id)
    )
    with past_the_guards() as connection:
        connection.execute(
            sa.update(Seal).where(Seal.kind == "balance_transactions", Seal.row_id == oldest).values(chain=-customer_id)
        )
    return oldest


def test_a_chain_cut_short_without_deletion_is_found_by_its_night_and_by_a_verify(
    striped,
):
    _folder, (first, second, _third) = striped
    for night in (SECOND, THIRD, date(2026, 11, 26)):
        wallet.recharge(second, D("10"))
        nightly_record(night)
    _moved_out_of_its_chain(first.id)
    nights = [date(2026, 11, 26) + timedelta(days=n) for n in range(1, PERIOD + 1)]
    holding = next(night for night in nights if anchors.stripe_of(night).contains(first.id))
    elsewhere = next(night for night in nights if not anchors.stripe_of(night).contains(first.id))

    def found(night: date | None) -> list[str]:
        db.session.rollback()
        return [f.said for f in chain_proof.broken(db.session.connection(), night) if f.customer_id == first.id]

    assert found(elsewhere) == []  # no row deleted: a night proves its stripe alone
    (said,) = found(holding)
    assert "customer C0001's wallet movements have no sealed row left, the anchor of 2026-11-25 says" in said
    assert found(None) == [said]  # a verify proves every chain


def test_a_verify_after_delta_nights_finds_chains_whole_and_a_deleted_newest_row(striped):
    folder, (first, second, third) = striped
    nights = [FIRST + timedelta(days=n) for n in range(1, 2 * PERIOD + 1)]
    for n, night in enumerate(nights):
        wallet.recharge((first, second, third)[n % 3], D("10"))
        nightly_record(night)
    assert sorted(path.name for path in folder.glob("stripe-*.json")) == [f"stripe-{n}.json" for n in range(PERIOD)]
    assert engine.run(RunMode.VERIFY, checks=["evidence_seals"]).mismatched == 0
    newest, _seal = _delete_newest_movement(third.id)

    found = [f.said for f in chain_proof.broken(db.session.connection()) if f.customer_id == third.id]

    assert any("customer C0003's wallet movements end at" in said and f"says {newest}" in said for said in found)


def test_a_stripe_file_edited_or_missing_is_found_by_name(striped):
    folder, (_first, second, _third) = striped
    wallet.recharge(second, D("500"))
    nightly_record(SECOND)
    path = folder / f"stripe-{anchors.stripe_of(SECOND).phase}.json"
    written = json.loads(path.read_text())
    path.write_text(json.dumps(written | {"heads": written["heads"][1:]}))

    found = [f.said for f in chain_proof.broken(db.session.connection())]
    assert any(f"{path.name} was edited: it is not the stripe of the chains the anchor of {SECOND}" in s for s in found)
    path.unlink()
    found = [f.said for f in chain_proof.broken(db.session.connection())]
    assert any(f"{path.name} is missing" in said for said in found), found


def test_a_decision_on_a_finding_of_no_customer_stays_anchored_night_after_night(striped, admin):
    folder, (first, _second, _third) = striped
    (folder / "latest.json").unlink()
    nightly_record(SECOND)
    (finding_id,) = db.session.scalars(sa.select(TamperedEvidence.id).where(TamperedEvidence.kind == "anchor_records"))
    evidence_review.accept([finding_id], "The folder was restored from a backup without latest.json", admin)

    for night in [SECOND + timedelta(days=n) for n in range(1, 2 * PERIOD + 2)]:
        wallet.recharge(first, D("10"))
        nightly_record(night)

    db.session.rollback()
    undecided = sa.select(TamperedEvidence.what).where(TamperedEvidence.resolution.is_(None))
    assert db.session.scalars(undecided).all() == []
    assert engine.run(RunMode.VERIFY, checks=["evidence_seals"]).mismatched == 0


# --- A monitor's maintenance every few hours: each run the next link, none an edit ------------------------------------


def _maintained() -> None:
    record, _created = jobs.enqueue_maintenance()
    assert record.status is JobStatus.FINISHED, record.error


def test_six_maintenances_a_day_around_the_nightly_extend_anchors_and_find_nothing(app):
    customer = CustomerFactory(code="C0001")
    today = local_today()
    for run in range(7):
        wallet.recharge(customer, D(1000 + run))
        if run == 3:
            nightly_record(today)
        else:
            _maintained()

    folder = Path(app.config["ANCHORS_FOLDER"])
    written = sorted(path.name for path in folder.glob(f"{today}*.json"))
    assert written == sorted([f"{today}.json", *(f"{today}.{n}.json" for n in range(2, 8))])
    assert engine.run(RunMode.VERIFY, checks=["evidence_seals"]).mismatched == 0
    assert _anchor_findings() == [] and health.assess().valid
    _maintained()  # and the next proves them all again
    assert _anchor_findings() == [] and _records() == 8


def test_an_earlier_anchor_of_the_day_edited_is_found_by_its_file_s_name(app):
    customer = CustomerFactory(code="C0001")
    today = local_today()
    for run in range(3):
        wallet.recharge(customer, D(1000 + run))
        _maintained()
    folder = Path(app.config["ANCHORS_FOLDER"])
    edited = json.loads((folder / f"{today}.2.json").read_text())
    (folder / f"{today}.2.json").write_text(json.dumps(edited | {"chains": edited["chains"] + 1}))

    engine.run(RunMode.VERIFY, checks=["evidence_seals"])

    assert any(f"{today}.2.json was edited" in finding for finding in _anchor_findings())
