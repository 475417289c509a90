"""The checks that grow with the journal read, in a nightly maintenance, what was added or changed since their last
clean night and the night's stripes of the rest: a row changed in place behind the marks is found the night its
stripe comes (within ``BACKOFFICE_SEAL_SWEEP_DAYS`` nights), a row added since the last clean night the same night,
whatever its id; a verification by hand reads every row."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from backoffice.evidence import verifying
from backoffice.models import Account, CheckResult, Discrepancy, JobRecord, RunMode, User
from backoffice.models.types import utcnow
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.posting.journal import Line
from backoffice.posting.rules import CASH, OPENING_EQUITY, RECEIVABLES
from backoffice.reconcile import CHECKS, engine, evidence_seals
from backoffice.reconcile.base import Part
from backoffice.services import books, meter_invoices, meter_lifecycle, meter_payments, wallet
from tests.factories import CustomerFactory, MeterFactory, UserFactory, forged_recharge, past_the_guards
from tests.nights import DAYS, FIRST, STRIPE, nightly

LATER = date(2026, 12, 1)
GROWING = ["movement_accounts", "journal_balanced", "ledger_chain", "history_drift", "receivables_agreement"]


@dataclass
class Books:
    customers: list[int]
    movements: list[int]
    invoice: int
    draft: int
    admin_id: int
    clean: int
    """The run of the first night, clean, which read every row."""


@pytest.fixture
def made(app, kept, monkeypatch):
    """Stripes of two ids swept over three nights; three customers' movements, a meter's invoice and payment, a
    draft entry, read whole by a first nightly (clean), their seals made two days old."""
    monkeypatch.setattr(evidence_seals, "STRIPE", STRIPE)
    app.config["SEAL_SWEEP_DAYS"] = DAYS
    return kept("night share", _books)


def _books() -> Books:
    today = local_today()
    customers = [CustomerFactory(code=f"C{n:04d}") for n in range(1, 4)]
    movements = [wallet.recharge(customers[n % 3], D(100 * (n + 1))).id for n in range(9)]
    meter = MeterFactory()
    meter_lifecycle.assign_meter(meter, customers[0], today)
    invoice = meter_invoices.add_invoice(meter, "INV-1", D("300000"), today, today)
    meter_payments.add_payment(meter, D("100000"), today)
    admin = UserFactory(role="admin")
    lines = [Line(CASH, debit=D("10")), Line(OPENING_EQUITY, credit=D("10"))]
    draft = books.write_entry(today, "Saved for later", lines, user=admin, draft=True).entry_id
    first = nightly(FIRST)
    assert {result.check: (result.mismatched, result.covered["part"]) for result in _results(first)} == dict.fromkeys(
        GROWING, (0, "all")
    )
    with past_the_guards() as connection:
        connection.execute(sa.text("UPDATE seals SET sealed_at = :at"), {"at": utcnow() - timedelta(days=2)})
    return Books([c.id for c in customers], movements, invoice.id, draft, admin.id, first)


# --- What is forged, and the id whose stripe holds it --------------------------------------------------------------


def _entry_of(movement_id: int) -> int:
    return db.session.scalar(sa.text("SELECT entry_id FROM balance_transactions WHERE id = :id"), {"id": movement_id})


def _sql(statement: str, **values) -> None:
    with past_the_guards() as connection:
        connection.execute(sa.text(statement), values)


def _both_lines_moved(entry_id: int) -> tuple[int, int]:
    """An entry still balanced, its lines no longer its movement's amount."""
    _sql("UPDATE journal_lines SET debit = debit + 1 WHERE entry_id = :e AND debit > 0", e=entry_id)
    _sql("UPDATE journal_lines SET credit = credit + 1 WHERE entry_id = :e AND credit > 0", e=entry_id)
    return entry_id, entry_id


def _debit_moved(entry_id: int) -> tuple[int, int]:
    """An entry that no longer balances."""
    _sql("UPDATE journal_lines SET debit = debit + 1 WHERE entry_id = :e AND debit > 0", e=entry_id)
    return entry_id, entry_id


def _before_moved(movement_id: int) -> tuple[int, int]:
    """A movement whose balance before is no longer its customer's balance after the movement before it: swept with
    its customer."""
    _sql(
        "UPDATE balance_transactions SET balance_before = balance_before + 1, balance_after = balance_after + 1"
        " WHERE id = :id",
        id=movement_id,
    )
    return movement_id, _customer_of(movement_id)


def _customer_of(movement_id: int) -> int:
    return db.session.scalar(
        sa.text("SELECT customer_id FROM balance_transactions WHERE id = :id"), {"id": movement_id}
    )


def _appended(movement_id: int) -> tuple[int, int]:
    """A movement appended past the application: swept with its customer."""
    return movement_id, _customer_of(movement_id)


def _renamed(customer_id: int) -> tuple[int, int]:
    """A customer renamed past the application: no version says so."""
    _sql("UPDATE customers SET name = 'Renamed by hand' WHERE id = :id", id=customer_id)
    return customer_id, customer_id


def _receivables() -> tuple[int, int]:
    account = db.session.scalar(sa.select(Account.id).where(Account.code == RECEIVABLES))
    return account, account


def _invoice_raised(invoice_id: int) -> tuple[int, int]:
    """An invoice asking more past the application: Receivables no longer agrees with it."""
    _sql("UPDATE invoices SET amount = amount + 1, outstanding = outstanding + 1 WHERE id = :id", id=invoice_id)
    return _receivables()


def _forged_entry(row_id: int, lines: list[tuple[str, str, str]], source: str | None = None) -> int:
    """A posted entry inserted with raw SQL under an id of the forger's choosing, with these lines."""
    _sql(
        "INSERT INTO journal_entries (id, number, entry_date, description, status, source_type, source_id, created_at)"
        " VALUES (:id, :number, CURRENT_DATE, 'forged', 'posted', :source, :id, CURRENT_TIMESTAMP)",
        id=row_id,
        number=f"FORGED{row_id}",
        source=source,
    )
    for code, debit, credit in lines:
        _sql(
            "INSERT INTO journal_lines (entry_id, account_id, debit, credit, description)"
            " SELECT :e, id, :debit, :credit, '' FROM accounts WHERE code = :code",
            e=row_id,
            code=code,
            debit=debit,
            credit=credit,
        )
    return row_id


def _forged_movement(row_id: int) -> tuple[int, int]:
    """A recharge inserted with raw SQL for a customer of its own, its balance before not nothing."""
    customer = CustomerFactory(code=f"F{abs(row_id)}").id
    entry = _forged_entry(row_id, [])
    _sql(
        "INSERT INTO balance_transactions (id, customer_id, kind, amount, signed_amount, balance_before,"
        " balance_after, value_date, description, entry_id, created_at) VALUES (:id, :c, 'recharge', 300, 300, 1,"
        " 301, CURRENT_DATE, 'forged', :e, CURRENT_TIMESTAMP)",
        id=row_id,
        c=customer,
        e=entry,
    )
    return row_id, customer


def _forged_customer(row_id: int) -> tuple[int, int]:
    """A customer inserted with raw SQL: no version of it."""
    _sql(
        "INSERT INTO customers (id, code, name, status, created_at) VALUES (:id, :code, 'Forged', 'active', now())",
        id=row_id,
        code=f"X{abs(row_id)}",
    )
    return row_id, row_id


def _forged_invoice(row_id: int | None, meter_of: int) -> tuple[int, int]:
    """An invoice inserted with raw SQL (its entry a draft no one posted): Receivables does not know it."""
    entry = db.session.scalar(sa.text("SELECT coalesce(min(id), 0) - 1 FROM journal_entries"))
    _sql(
        "INSERT INTO journal_entries (id, number, entry_date, description, status, created_at)"
        " VALUES (:e, :number, CURRENT_DATE, 'forged', 'draft', CURRENT_TIMESTAMP)",
        e=entry,
        number=f"FORGED-INV{entry}",
    )
    _sql(
        "INSERT INTO invoices (id, meter_id, number, amount, issued_on, due_on, entry_id, outstanding)"
        " SELECT coalesce(:id, nextval('invoices_id_seq')), meter_id, :number, 5000, issued_on, due_on, :e, 5000"
        " FROM invoices WHERE id = :of",
        id=row_id,
        number=f"FORGED-INV{entry}",
        e=entry,
        of=meter_of,
    )
    return _receivables()


Forger = Callable[[Books], tuple[int, int]]
"""Forges a wrong row; returns the key its check reports and the id whose stripe the night sweeps it by."""

BEHIND: dict[str, dict[str, Forger]] = {
    "changed in place": {
        "movement_accounts": lambda made: _both_lines_moved(_entry_of(made.movements[1])),
        "journal_balanced": lambda made: _debit_moved(_entry_of(made.movements[2])),
        "ledger_chain": lambda made: _before_moved(made.movements[4]),
        "history_drift": lambda made: _renamed(made.customers[1]),
        "receivables_agreement": lambda made: _invoice_raised(made.invoice),
    },
    "forged under a negative id": {
        "movement_accounts": lambda made: 2 * (_forged_entry(-5000, [(CASH, "10", "0")], "balance_transaction"),),
        "journal_balanced": lambda made: 2 * (_forged_entry(-5000, [(CASH, "10", "0")]),),
        "ledger_chain": lambda made: _forged_movement(-5000),
        "history_drift": lambda made: _forged_customer(-5000),
        "receivables_agreement": lambda made: _forged_invoice(-5000, made.invoice),
    },
}

ADDED: dict[str, Forger] = {
    "movement_accounts": lambda made: _both_lines_moved(_entry_of(wallet.recharge(made.customers[0], D("70")).id)),
    "journal_balanced": lambda made: _debit_moved(_entry_of(wallet.recharge(made.customers[0], D("70")).id)),
    "ledger_chain": lambda made: _appended(forged_recharge(made.customers[1], "70")),
    "history_drift": lambda made: _forged_customer(db.session.scalar(sa.text("SELECT max(id) + 1000 FROM customers"))),
    "receivables_agreement": lambda made: _forged_invoice(None, made.invoice),
}


# --- The nights -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", list(BEHIND))
@pytest.mark.parametrize("check", GROWING)
def test_a_wrong_row_behind_the_marks_is_found_on_its_stripe_s_night_and_after(made, check, how):
    key, striped = BEHIND[how][check](made)
    holding = _holding(striped)
    nights = [holding + timedelta(days=n) for n in range(1, DAYS + 1)]

    for night in nights:
        assert _found(nightly(night), check, key) == (night == nights[-1]), night

    # Still wrong: read again each night until a night finds it right, whatever the night's stripes.
    assert _found(nightly(nights[-1] + timedelta(days=1)), check, key)


@pytest.mark.parametrize("how", list(BEHIND))
@pytest.mark.parametrize("check", GROWING)
def test_a_wrong_row_behind_the_marks_is_found_at_once_by_hand_and_the_next_night(made, check, how):
    key, striped = BEHIND[how][check](made)

    assert _found(engine.run(RunMode.VERIFY, checks=[check]).id, check, key)
    assert _found(nightly(_holding(striped) + timedelta(days=1)), check, key)


@pytest.mark.parametrize("check", GROWING)
def test_a_wrong_row_new_since_the_last_clean_night_is_found_then_in_any_stripe(made, check):
    key, striped = ADDED[check](made)
    assert _found(nightly(_holding(striped) + timedelta(days=1)), check, key)


def test_an_entry_under_an_older_id_since_the_last_clean_night_is_read_that_night(made):
    books.post_saved_draft(made.draft, user=db.session.get(User, made.admin_id))
    _debit_moved(made.draft)
    run_id = nightly(_holding(made.draft) + timedelta(days=1))

    assert _found(run_id, "journal_balanced", made.draft)
    assert made.draft <= _covered(run_id, "journal_balanced")["after"]["journal_entries"]


def test_the_movement_after_one_an_admin_decided_on_since_is_among_the_changed_rows(made):
    customer = made.customers[2]
    reviewed, following = made.movements[2], made.movements[5]
    assert _customer_of(reviewed) == _customer_of(following) == customer
    _sql(
        "INSERT INTO tampered_evidence (kind, row_id, version, customer_id, what, found_at, resolution, reason,"
        " resolved_at) VALUES ('balance_transactions', :id, 0, :c, 'forged', now(), 'accepted', 'reviewed', now())",
        id=reviewed,
        c=customer,
    )
    (changed,) = CHECKS["ledger_chain"].changed(utcnow() - timedelta(hours=1), {}).values()

    assert set(db.session.scalars(changed)) == {following}


def test_each_night_keeps_how_long_its_stripes_took_beside_their_rows(made):
    second = nightly(LATER)
    job = db.session.scalar(sa.select(JobRecord).where(JobRecord.run_id == second))
    assert job.result["seals_swept"]["rows"] > 0
    assert isinstance(job.result["seals_swept_ms"], int) and job.result["seals_swept_ms"] >= 0
    for check in ("journal_balanced", "ledger_chain", "movement_accounts"):
        covered = _covered(second, check)
        assert covered["swept"] > 0
        assert isinstance(covered["swept_ms"], int) and covered["swept_ms"] >= 0


def test_each_night_keeps_what_it_read_and_its_marks_move_on_only_when_it_was_clean(made):
    second = nightly(LATER)
    covered = _covered(second, "journal_balanced")
    assert covered["part"] == "changed and stripe" and covered["since_run"] == made.clean
    assert (covered["stripe"], covered["stripes"]) == (LATER.toordinal() % DAYS + 1, DAYS)
    assert _checked(second, "journal_balanced") == covered["changed"] + covered["swept"]
    assert _checked(second, "journal_balanced") < _checked(made.clean, "journal_balanced")

    key, _striped = ADDED["journal_balanced"](made)
    found = nightly(LATER + timedelta(days=1))
    assert _found(found, "journal_balanced", key)
    after_finding = nightly(LATER + timedelta(days=2))
    # The night that found it made no marks: the next one reads again from the last clean one's.
    assert _covered(after_finding, "journal_balanced")["since_run"] == second
    assert _found(after_finding, "journal_balanced", key)


def test_a_verification_by_hand_reads_every_row_and_keeps_no_marks(made):
    nightly(LATER)
    by_hand = engine.run(RunMode.VERIFY, checks=GROWING)
    assert {result.check: result.covered for result in _results(by_hand.id)} == dict.fromkeys(GROWING)
    assert {result.check: result.checked for result in _results(by_hand.id)} == {
        result.check: result.checked for result in _results(made.clean)
    }


def test_a_part_holds_its_single_ids_alone_however_close_together(app):
    part = Part((("journal_entries", ((-3, -3), (1, 1), (2, 2), (4, 4), (10, None))),))
    held = [
        n
        for n in range(-5, 13)
        if db.session.scalar(sa.select(part.holds(sa.literal(n, sa.BigInteger), "journal_entries")))
    ]
    assert held == [-3, 1, 2, 4, 10, 11, 12]


@pytest.mark.parametrize("row_id", [-5001, -5000, -2, -1, 0, 1, 2, 5, 7000])
def test_every_id_lies_in_one_night_s_stripes_and_in_that_night_s_ranges(app, row_id):
    nights = [evidence_seals.swept(LATER + timedelta(days=n), DAYS) for n in range(DAYS)]
    holding = [stripes for stripes in nights if db.session.scalar(sa.select(stripes.holds(sa.literal(row_id))))]
    assert len(holding) == 1
    (stripes,) = holding
    assert stripes.contains(row_id)
    assert any(low <= row_id <= high for low, high in stripes.ranges(row_id - 7, row_id + 7))
    others = [other for other in nights if other is not stripes]
    assert not any(low <= row_id <= high for other in others for low, high in other.ranges(row_id - 7, row_id + 7))
    assert stripes == verifying.Stripes(evidence_seals.STRIPE, DAYS, stripes.phase)


# --- Helpers --------------------------------------------------------------------------------------------------------


def _holding(row_id: int) -> date:
    """The first night from :data:`LATER` on whose stripes hold the id."""
    return next(
        LATER + timedelta(days=n)
        for n in range(DAYS)
        if evidence_seals.swept(LATER + timedelta(days=n), DAYS).contains(row_id)
    )


def _found(run_id: int, check: str, key: int) -> bool:
    db.session.rollback()
    return (
        db.session.scalar(
            sa.select(sa.func.count(Discrepancy.id)).where(
                Discrepancy.run_id == run_id, Discrepancy.check == check, Discrepancy.entity_id == key
            )
        )
        > 0
    )


def _results(run_id: int) -> list[CheckResult]:
    return db.session.scalars(
        sa.select(CheckResult).where(CheckResult.run_id == run_id, CheckResult.check.in_(GROWING))
    ).all()


def _covered(run_id: int, check: str) -> dict:
    return db.session.scalar(
        sa.select(CheckResult.covered).where(CheckResult.run_id == run_id, CheckResult.check == check)
    )


def _checked(run_id: int, check: str) -> int:
    return db.session.scalar(
        sa.select(CheckResult.checked).where(CheckResult.run_id == run_id, CheckResult.check == check)
    )
