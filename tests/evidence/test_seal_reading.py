"""The canonical text PostgreSQL makes for a row is byte for byte the one Python makes from the same values, and
the reader that uses it finds exactly what the Python reader finds in rows sealed by the application."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backoffice.evidence import reading, sealing, seals, verifying
from backoffice.models import CheckResult, Discrepancy, ReconciliationRun, RunMode, RunTrigger
from backoffice.platform.extensions import db
from backoffice.posting import post
from backoffice.posting.movement import Movement
from backoffice.posting.rules import Kind
from backoffice.reconcile import engine, evidence_review
from backoffice.services import installation, wallet
from tests.factories import CustomerFactory, UserFactory, forge_in_the_chain, past_the_guards

MADE_IN_PYTHON = {"approval_requests", "approval_requests_history", "reconciliation_runs"}
"""The kinds whose text only Python makes: a JSON column (a run's scope and checks)."""


def _made_in_sql() -> list[seals.Evidence]:
    return [evidence for evidence in seals.kinds().values() if reading.canonical(evidence) is not None]


def test_every_kind_s_text_is_made_by_postgresql_but_those_python_must_make(app):
    python = {kind for kind, evidence in seals.kinds().items() if reading.canonical(evidence) is None}
    assert python == MADE_IN_PYTHON


ZONES = st.sampled_from([UTC, timezone(timedelta(hours=7)), timezone(-timedelta(hours=9, minutes=30)), None])


def _numbers(kind: sa.Numeric) -> st.SearchStrategy:
    scale = kind.scale if kind.scale is not None else 12
    digits = (kind.precision or 40) - scale
    largest = Decimal(10) ** digits - Decimal(10) ** -scale
    return st.one_of(
        st.decimals(min_value=-largest, max_value=largest, places=scale, allow_nan=False, allow_infinity=False),
        st.sampled_from([Decimal("-0"), Decimal(0), largest, -largest, Decimal(10) ** -scale, Decimal("1.10")]),
    )


def _values(column: sa.Column) -> st.SearchStrategy:
    kind = column.type
    if isinstance(kind, sa.Boolean):
        found = st.booleans()
    elif isinstance(kind, sa.SmallInteger):
        found = st.integers(-(2**15), 2**15 - 1)
    elif isinstance(kind, sa.BigInteger):
        found = st.integers(-(2**63), 2**63 - 1)
    elif isinstance(kind, sa.Integer):
        found = st.integers(-(2**31), 2**31 - 1)
    elif isinstance(kind, sa.Numeric):
        found = _numbers(kind)
    elif isinstance(kind, sa.DateTime):
        found = st.datetimes(datetime(1900, 1, 1), datetime(2200, 12, 31), timezones=ZONES)
    elif isinstance(kind, sa.Date):
        found = st.dates(date(1, 1, 1), date(9999, 12, 31))
    elif isinstance(kind, sa.Enum):
        found = st.sampled_from(list(kind.enum_class))
    else:
        text = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
        found = st.text(text, max_size=min(kind.length or 60, 60))
    return st.one_of(st.none(), found) if column.nullable else found


@st.composite
def rows(draw):
    evidence = draw(st.sampled_from(sorted(_made_in_sql(), key=lambda evidence: evidence.kind)))
    names = {evidence.key.name, *evidence.covered, *([evidence.version] if evidence.version else [])}
    values = {name: draw(_values(evidence.table.c[name])) for name in sorted(names)}
    return evidence, values


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=rows())
def test_postgresql_makes_the_text_python_makes_for_any_values(app, drawn):
    evidence, values = drawn
    table = sa.Table(
        "canonical_row",
        sa.MetaData(),
        *[sa.Column(name, evidence.table.c[name].type.copy()) for name in values],
        prefixes=["TEMPORARY"],
    )
    here = replace(evidence, table=table)
    with db.engine.connect() as connection:
        table.create(connection)
        connection.execute(sa.insert(table).values(values))
        read = connection.execute(
            sa.select(table.c.id, seals.version_column(here), reading.canonical(here), *here.columns())
        ).one()
        row_id, version, made, *covered = read
        details = here.details(connection, [SimpleNamespace(row_id=row_id, version=version)]) if here.details else {}
        connection.rollback()
    python = seals.canonical_text(here, row_id, version, covered, details.get((row_id, version), ()), "seal")
    assert made + b"\x1e" + b"seal" == python


def _everything_found(connection) -> set[tuple]:
    found = set()
    for evidence in seals.kinds().values():
        low, high = verifying.bounds(connection, evidence)
        if low is not None:
            found |= {
                (f.evidence.kind, f.row_id, f.version, f.code, f.customer_id, f.entry_id, f.previous)
                for f in verifying.verify(connection, evidence, low, high).findings
            }
    return found


def test_rows_sealed_by_the_application_verify_and_forgeries_are_found_alike(app, monkeypatch):
    admin = UserFactory(email="admin@example.com", role="admin")
    hotel, cafe = CustomerFactory(code="HOTEL"), CustomerFactory(code="CAFE")
    wallet.recharge(hotel, Decimal("1000.50"), user=admin)
    charged = wallet.charge(hotel, Decimal("0.50"))
    kept = wallet.recharge(cafe, Decimal("700"))
    gone = wallet.recharge(cafe, Decimal("800"))
    shop = CustomerFactory(code="SHOP")
    unsealed = wallet.recharge(shop, Decimal("900"))
    after_unsealed = wallet.recharge(shop, Decimal("1"))
    kept_entry = kept.entry_id
    assert _everything_found(db.session.connection()) == set()

    forged, _entry = forge_in_the_chain(hotel, "5000")
    engine.run(RunMode.VERIFY, checks=["evidence_seals"])
    evidence_review.accept([f.id for f in evidence_review.open_findings(hotel.id)], "seen on the statement", admin)
    with past_the_guards() as connection:
        connection.execute(
            sa.text("UPDATE balance_transactions SET description = 'edited' WHERE id = :id"), {"id": forged}
        )
        connection.execute(
            sa.text("UPDATE balance_transactions SET description = 'Ω edited' WHERE id = :id"), {"id": kept.id}
        )
        connection.execute(sa.text("DELETE FROM balance_transactions WHERE id = :id"), {"id": gone.id})
        connection.execute(
            sa.text("DELETE FROM seals WHERE kind = 'balance_transactions' AND row_id = :id"), {"id": unsealed.id}
        )
        connection.execute(
            sa.text("UPDATE journal_lines SET description = 'x' WHERE entry_id = :id"), {"id": kept_entry}
        )
        connection.execute(sa.text("UPDATE customers_history SET name = 'Other' WHERE id = :id"), {"id": shop.id})
        connection.execute(  # not even hexadecimal: a seal Python's comparison of digests refuses to compare
            sa.text("UPDATE seals SET seal = repeat('é', 64) WHERE kind = 'balance_transactions' AND row_id = :id"),
            {"id": charged.id},
        )
    forged_unsealed, _entry = forge_in_the_chain(cafe, "1")

    made = _everything_found(db.session.connection())
    monkeypatch.setattr(reading, "canonical", lambda evidence: None)
    in_python = _everything_found(db.session.connection())

    assert made == in_python
    codes = {(kind, row_id): code for kind, row_id, _version, code, *_rest in made}
    assert codes[("balance_transactions", forged)] == "reviewed_then_changed"
    assert codes[("balance_transactions", kept.id)] == "seal_mismatch"
    assert codes[("balance_transactions", charged.id)] == "seal_mismatch"
    assert codes[("balance_transactions", gone.id)] == "gone"
    assert codes[("balance_transactions", unsealed.id)] == "no_seal"
    assert codes[("balance_transactions", after_unsealed.id)] == "previous_gone"
    assert codes[("balance_transactions", forged_unsealed)] == "no_seal"
    assert codes[("journal_entries", kept_entry)] == "seal_mismatch"
    assert codes[("customers_history", shop.id)] == "seal_mismatch"


def _sealed(connection) -> set[tuple]:
    return set(
        connection.execute(
            sa.select(
                seals.seals.c.kind,
                seals.seals.c.row_id,
                seals.seals.c.version,
                seals.seals.c.chain,
                seals.seals.c.prev_row_id,
                seals.seals.c.prev_version,
                seals.seals.c.seal,
            )
        ).all()
    )


def test_seals_made_at_commit_from_postgresql_s_text_are_the_ones_python_makes(app, monkeypatch):
    """What a commit seals in one read of PostgreSQL's text, a chain's movements of the same commit included, is
    sealed byte for byte as Python's text seals it."""
    hotel, cafe = CustomerFactory(code="HOTEL"), CustomerFactory(code="CAFE")
    wallet.recharge(hotel, Decimal("1000.50"))
    connection = db.session.connection()
    for customer, amount in ((hotel, "-0.50"), (hotel, "-2"), (cafe, "70"), (hotel, "3.25")):
        post.post(
            installation(),
            connection,
            Movement(
                kind=Kind.CHARGE if amount.startswith("-") else Kind.RECHARGE,
                amount=Decimal(amount),
                customer_id=customer.id,
            ),
        )
    db.session.commit()
    made = _sealed(db.session.connection())
    assert {kind for kind, *_rest in made} >= {"balance_transactions", "journal_entries", "customers_history"}

    monkeypatch.setattr(sealing, "_made", lambda evidence: None)
    with past_the_guards() as connection:
        connection.execute(sa.delete(seals.seals))
        sealing.seal_keys(connection, [(kind, row_id, version) for kind, row_id, version, *_rest in made])
    assert _sealed(db.session.connection()) == made


def test_postgresql_turns_a_run_s_results_and_discrepancies_into_python_s_text(app):
    """A run's seal covers its results and discrepancies: the bytes PostgreSQL makes of them are those Python makes
    of the same rows, whatever their values (none, a month, a reason in any script, a moment, a fraction)."""
    moment = datetime(2026, 11, 25, 9, 30, 1, 120, tzinfo=timezone(timedelta(hours=7)))
    found = [
        ("order", 7, None, "grand_total", "9300100.0000", "9300000", "-100", False, None, None),
        ("customer", 8, "2026-11", "balance", None, "0.0001", "0.0001", True, moment, None),
        ("meter", 9, "2026-10", "volume", "0", None, "0", False, None, "Évidence « altérée » — 改ざん"),
    ]
    runs = [ReconciliationRun(mode=RunMode.VERIFY, trigger=RunTrigger.CLI) for _ in range(3)]
    db.session.add_all(runs)
    db.session.flush()
    with_both, results_only, with_nothing = (run.id for run in runs)
    db.session.add_all(
        [
            CheckResult(run_id=with_both, check="order_grand_total", checked=3, mismatched=3, fixed=1),
            CheckResult(run_id=with_both, check="customer_wallet", checked=0, mismatched=0, fixed=0),
            CheckResult(run_id=results_only, check="ledger_chain", checked=12, mismatched=0, fixed=0),
        ]
    )
    db.session.add_all(
        Discrepancy(
            run_id=with_both,
            check="any",
            entity_type=kind,
            entity_id=entity,
            period=period,
            field=field,
            stored=None if stored is None else Decimal(stored),
            expected=None if expected is None else Decimal(expected),
            difference=Decimal(difference),
            fixed=fixed,
            fixed_at=fixed_at,
            reason=reason,
        )
        for kind, entity, period, field, stored, expected, difference, fixed, fixed_at, reason in found
    )
    db.session.commit()
    ids = {with_both, results_only, with_nothing}
    connection = db.session.connection()

    evidence = seals.kinds()["reconciliation_runs"]
    made = reading.run_details(connection, ids)
    read = evidence.details(connection, [SimpleNamespace(row_id=run_id) for run_id in ids])  # as Python reads them

    assert set(made) == set(read) == {(with_both, 0), (results_only, 0)}
    for key, rows in read.items():
        assert made[key] == b"".join(b"\x1e" + seals._canonical(row).encode() for row in rows)
    values = connection.execute(sa.select(*evidence.columns()).where(evidence.key == with_both)).one()
    as_made, as_read = (
        seals.canonical_text(evidence, with_both, 0, values, details[with_both, 0], "seal") for details in (made, read)
    )
    assert as_made == as_read
