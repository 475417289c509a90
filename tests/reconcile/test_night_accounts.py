"""A nightly reads the accounts' lines by what the night before kept of them: its own stripe's lines summed afresh,
the others' carried forward with the entries added or posted since, compared with the buckets beside the day's
lines. The sums it keeps are those of the lines; a line changed past the guards is found on its stripe's night; a
bucket changed is found the next night."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from backoffice.evidence import verifying
from backoffice.models import Account, RunMode
from backoffice.models.types import utcnow
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.posting.journal import Line
from backoffice.posting.rules import CASH, OPENING_EQUITY
from backoffice.reconcile import engine
from backoffice.services import books, wallet
from tests.factories import CustomerFactory, UserFactory, corrupt_bucket, past_the_guards
from tests.nights import DAYS, FIRST, STRIPE, covered, found, holding, nightly, nights, striped

CHECK = "account_balance"


@pytest.fixture
def entries(app, monkeypatch) -> list[int]:
    """Eight movements' entries, their seals made two days old, read whole by a first nightly (clean): the entries'
    ids."""
    striped(app, monkeypatch)
    customers = [CustomerFactory(code=f"C{n:04d}") for n in range(1, 3)]
    made = [wallet.recharge(customers[n % 2], D(100 * (n + 1))).entry_id for n in range(8)]
    with past_the_guards() as connection:
        connection.execute(sa.text("UPDATE seals SET sealed_at = :at"), {"at": utcnow() - timedelta(days=2)})
    assert covered(nightly(FIRST), CHECK)["part"] == "all"
    return made


def test_the_sums_a_night_keeps_are_those_of_the_posted_lines_of_each_stripe(entries):
    run = nightly(FIRST + timedelta(days=1))

    sums = covered(run, CHECK)["sums"]
    assert (sums["width"], sums["period"]) == (STRIPE, DAYS)
    for phase, by_account in sums["phases"].items():
        for account, (debit, credit) in by_account.items():
            assert (D(debit), D(credit)) == _lines_of(int(phase), int(account), sums["through"])
    assert covered(run, CHECK)["swept"] > 0
    assert not found(run, CHECK)


def test_a_night_compares_the_buckets_with_the_lines_of_the_entries_posted_since(entries):
    admin = UserFactory(role="admin")
    lines = [Line(CASH, debit=D("10")), Line(OPENING_EQUITY, credit=D("10"))]
    draft = books.write_entry(local_today(), "Saved for later", lines, user=admin, draft=True).entry_id
    nightly(FIRST + timedelta(days=1))
    books.post_saved_draft(draft, user=admin)
    wallet.recharge(CustomerFactory(code="C0009"), D("70"))

    for day in (2, 3, 4):
        assert not found(nightly(FIRST + timedelta(days=day)), CHECK), day


def test_a_line_changed_past_the_guards_is_found_the_night_its_stripe_comes(entries):
    forged = entries[3]
    with past_the_guards() as connection:
        connection.execute(
            sa.text("UPDATE journal_lines SET debit = debit + 1 WHERE entry_id = :e AND debit > 0"), {"e": forged}
        )
        connection.execute(
            sa.text("UPDATE journal_lines SET credit = credit + 1 WHERE entry_id = :e AND credit > 0"), {"e": forged}
        )
    comes = holding(forged)

    for night in nights()[: nights().index(comes) + 1]:
        assert bool(found(nightly(night), CHECK)) == (night == comes), night


def test_a_bucket_changed_past_the_postings_is_found_the_next_night(entries):
    cash = db.session.scalar(sa.select(Account.id).where(Account.code == CASH))
    corrupt_bucket(cash, 0, "123")

    assert cash in found(nightly(FIRST + timedelta(days=1)), CHECK)


def test_a_night_after_the_sweep_days_changed_sums_every_stripe_afresh(app, entries):
    nightly(FIRST + timedelta(days=1))
    app.config["SEAL_SWEEP_DAYS"] = DAYS + 1

    run = nightly(FIRST + timedelta(days=2))

    sums = covered(run, CHECK)["sums"]
    assert sums["period"] == DAYS + 1
    for phase, by_account in sums["phases"].items():
        for account, (debit, credit) in by_account.items():
            assert (D(debit), D(credit)) == _lines_of(int(phase), int(account), sums["through"], DAYS + 1)
    assert not found(run, CHECK)


def test_a_verification_by_hand_sums_every_line(entries):
    cash = db.session.scalar(sa.select(Account.id).where(Account.code == CASH))
    corrupt_bucket(cash, 0, "456")

    by_hand = engine.run(RunMode.VERIFY, checks=[CHECK])

    assert cash in found(by_hand.id, CHECK)


# --- Helpers ---------------------------------------------------------------------------------------------------------


def _lines_of(phase: int, account: int, through: int, period: int = DAYS) -> tuple[D, D]:
    """An account's debits and credits of the posted entries of a stripe, at or below ``through``."""
    stripes = verifying.Stripes(STRIPE, period, phase)
    debit, credit = db.session.execute(
        sa.text(
            "SELECT coalesce(sum(l.debit), 0), coalesce(sum(l.credit), 0) FROM journal_lines l "
            "JOIN journal_entries e ON e.id = l.entry_id WHERE e.status = 'posted' AND l.account_id = :a "
            "AND e.id <= :through AND l.entry_id = ANY(:ids)"
        ),
        {
            "a": account,
            "through": through,
            "ids": [key for key in range(-10, through + 1) if stripes.contains(key)],
        },
    ).one()
    return D(debit), D(credit)
