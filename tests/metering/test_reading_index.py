"""Readings given as the meter's index, and many readings recorded as one batch.

A reading by index stores its volume as the index less the one it counts from (the meter's previous index, a
rollover's, a new meter's start), and keeps both. A batch is recorded set-based (one insert of its readings, their
charges posted together), every refused entry named by its position before anything is written, and leaves the
wallet, the months, the calculations, the journal and the seals as the same readings recorded one by one would.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from backoffice.models import (
    BalanceTransaction,
    Customer,
    Discrepancy,
    JournalEntry,
    Meter,
    MeterReading,
    MonthlyCustomerBalance,
    RecalculationRequest,
    RunMode,
    TransactionCalculation,
)
from backoffice.models.metering import IndexFrom
from backoffice.models.seals import Seal
from backoffice.platform.extensions import db
from backoffice.reconcile.engine import run
from backoffice.services import billing, customers, meter_lifecycle, metering, periods
from backoffice.services.metering import Entry, MeterIndex
from backoffice.services.metering.index import LastIndex, derive
from tests.factories import MeterFactory, UserFactory, metered_customer, past_the_guards
from tests.roles import runtime_app
from tests.verifying import clean

D = Decimal
OCT = date(2026, 10, 1)
NOV = date(2026, 11, 1)


@pytest.fixture
def site(app):
    """The hotel (HOTEL) holding meter M-1 from October, Rp1.000.000 prepaid, Rp1.000 per Sm³ (correction 1)."""
    customer, meter = metered_customer("HOTEL", OCT, D("1000.00"), prepaid=D("1000000"), serial="M-1")
    return customer.id, meter.id


def reading(reading_id: int) -> MeterReading:
    db.session.rollback()
    return db.session.get(MeterReading, reading_id)


def counts() -> dict[str, int]:
    db.session.rollback()
    tables = ("meter_readings", "meter_readings_history", "balance_transactions", "transaction_calculations", "seals")
    return {name: db.session.scalar(sa.text(f"SELECT count(*) FROM {name}")) for name in tables}


# --- Index to volume ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "previous", "volume", "how", "counted_from"),
    [
        (MeterIndex(D("1250")), D("1100"), D("150"), IndexFrom.PREVIOUS, D("1100")),
        (MeterIndex(D("1100")), D("1100"), D("0"), IndexFrom.PREVIOUS, D("1100")),
        (MeterIndex(D("30"), rollover_digits=5), D("99950"), D("80"), IndexFrom.ROLLED_OVER, D("99950")),
        (MeterIndex(D("40.5"), start_index=D("10")), D("5000"), D("30.5"), IndexFrom.REPLACED, D("10")),
        (MeterIndex(D("1100"), start_index=D("1000")), None, D("100"), IndexFrom.FIRST, D("1000")),
    ],
)
def test_the_volume_is_the_index_less_what_it_counts_from(app, given, previous, volume, how, counted_from):
    last = LastIndex(NOV, previous) if previous is not None else None
    counted = derive(given, last, "M-1")
    assert (counted.volume, counted.index_from, counted.counted_from) == (volume, how, counted_from)


@pytest.mark.parametrize(
    ("given", "previous", "message"),
    [
        (
            MeterIndex(D("1000")),
            D("1100"),
            "The index 1.000 is lower than meter M-1's previous index, 1.100 on 1 Nov 2026",
        ),
        (MeterIndex(D("1000")), None, "Meter M-1 has no earlier reading by index: give the index it started from"),
        (MeterIndex(D("30"), rollover_digits=5), None, "Meter M-1 has no earlier reading by index"),
        (MeterIndex(D("1200"), rollover_digits=5), D("1100"), "is not lower than meter M-1's previous index"),
        (MeterIndex(D("30"), rollover_digits=4), D("99950"), "has more than 4 digits: check the meter's digits"),
        (MeterIndex(D("30"), rollover_digits=15), D("99950"), "A meter's digits are a whole number from 1 to 14."),
        (MeterIndex(D("5"), start_index=D("10")), D("100"), "The index 5 is lower than the start index 10."),
        (MeterIndex(D("30"), 5, D("0")), D("99950"), "A meter either rolled over or was replaced: say which."),
        (MeterIndex(D("-1")), D("0"), "The meter's index must not be negative."),
        (MeterIndex(D("1" * 40)), D("0"), "The meter's index is too large"),
        (MeterIndex(D("1.23456")), D("0"), "The meter's index has at most 4 decimal places."),
    ],
)
def test_an_index_that_says_no_volume_is_refused_saying_why(app, given, previous, message):
    last = LastIndex(NOV, previous) if previous is not None else None
    with pytest.raises(metering.MeteringError, match=message.replace("(", r"\(")):
        derive(given, last, "M-1")


def test_a_reading_by_index_is_recorded_with_its_volume_and_what_it_counts_from(site):
    customer_id, meter_id = site
    first = metering.record_reading(
        meter_id, date(2026, 11, 2), None, index=MeterIndex(D("1000"), start_index=D("990"))
    )
    second = metering.record_reading(meter_id, date(2026, 11, 9), None, index=MeterIndex(D("1125.5")))
    assert (reading(first).volume_flow_meter, reading(first).index_from) == (D("10"), IndexFrom.FIRST)
    found = reading(second)
    assert (found.volume_flow_meter, found.meter_index, found.counted_from) == (D("125.5"), D("1125.5"), D("1000"))
    assert found.calculation.total_price == D("125500.00")
    assert db.session.get(Customer, customer_id).balance == D("1000000") - D("10000") - D("125500")
    history = db.session.execute(
        sa.text("SELECT meter_index, index_from FROM meter_readings_history WHERE id = :id"), {"id": second}
    ).one()
    assert tuple(history) == (D("1125.5"), "previous")
    assert clean()


def test_a_lower_index_is_refused_unless_the_meter_rolled_over_or_was_replaced(site):
    _customer_id, meter_id = site
    metering.record_reading(meter_id, date(2026, 11, 2), None, index=MeterIndex(D("99990"), start_index=D("99000")))
    before = counts()
    with pytest.raises(metering.MeteringError, match="if the meter rolled over, or was replaced, say so"):
        metering.record_reading(meter_id, date(2026, 11, 9), None, index=MeterIndex(D("15")))
    assert counts() == before
    rolled = metering.record_reading(meter_id, date(2026, 11, 9), None, index=MeterIndex(D("15"), rollover_digits=5))
    assert (reading(rolled).volume_flow_meter, reading(rolled).meter_digits) == (D("25"), 5)
    replaced = metering.record_reading(meter_id, date(2026, 11, 16), None, index=MeterIndex(D("3"), start_index=D("0")))
    assert (reading(replaced).volume_flow_meter, reading(replaced).index_from) == (D("3"), IndexFrom.REPLACED)
    assert clean()


def test_a_first_reading_by_index_needs_the_meter_s_start_index(site):
    _customer_id, meter_id = site
    metering.record_reading(meter_id, date(2026, 11, 1), D("10"))  # given as a volume: no index to count from
    before = counts()
    with pytest.raises(metering.MeteringError, match="Meter M-1 has no earlier reading by index"):
        metering.record_reading(meter_id, date(2026, 11, 2), None, index=MeterIndex(D("1000")))
    assert counts() == before


def test_a_reading_by_index_dated_before_the_meter_s_latest_by_index_is_refused(site):
    _customer_id, meter_id = site
    metering.record_reading(meter_id, date(2026, 11, 10), None, index=MeterIndex(D("100"), start_index=D("0")))
    with pytest.raises(metering.MeteringError, match="has a reading by index dated 10 Nov 2026, after this one"):
        metering.record_reading(meter_id, date(2026, 11, 5), None, index=MeterIndex(D("50"), start_index=D("0")))


def test_the_database_holds_the_volume_to_what_the_index_makes_it(site):
    _customer_id, meter_id = site
    reading_id = metering.record_reading(meter_id, NOV, None, index=MeterIndex(D("1000"), start_index=D("990")))
    for change in (
        "volume_flow_meter = 11",
        "index_from = NULL",
        "meter_digits = 5",
        "index_from = 'rolled_over', meter_digits = 5",
        "index_from = 'guessed'",
        "meter_index = -1, counted_from = -11, volume_flow_meter = 10",
    ):
        with pytest.raises(IntegrityError):
            db.session.execute(sa.text(f"UPDATE meter_readings SET {change} WHERE id = :id"), {"id": reading_id})
        db.session.rollback()


def test_the_seal_of_a_reading_s_history_version_covers_its_index(site):
    _customer_id, meter_id = site
    reading_id = metering.record_reading(meter_id, NOV, None, index=MeterIndex(D("1000"), start_index=D("990")))
    assert clean()
    with past_the_guards() as connection:
        connection.execute(
            sa.text("UPDATE meter_readings_history SET meter_index = 1001, counted_from = 991 WHERE id = :id"),
            {"id": reading_id},
        )
    found = run(RunMode.VERIFY, checks=["evidence_seals"])
    assert found.mismatched == 1
    (finding,) = db.session.scalars(sa.select(Discrepancy).where(Discrepancy.run_id == found.id))
    assert (finding.field, finding.entity_id) == ("meter_readings_history", reading_id)


def test_a_corrected_volume_leaves_the_index_it_no_longer_is(site):
    _customer_id, meter_id = site
    reading_id = metering.record_reading(meter_id, NOV, None, index=MeterIndex(D("1000"), start_index=D("990")))
    metering.correct_reading(reading_id, date(2026, 11, 3), D("10"))  # the date alone
    assert reading(reading_id).meter_index == D("1000")
    metering.correct_reading(reading_id, date(2026, 11, 3), D("12"))
    found = reading(reading_id)
    assert (found.volume_flow_meter, found.meter_index, found.index_from, found.counted_from) == (
        D("12"),
        None,
        None,
        None,
    )
    assert clean()


# --- The batch ---------------------------------------------------------------------------------------------------


def day_of_readings(meters: list[int]) -> list[Entry]:
    """Readings of three meters over October and November, by volume and by index (a rollover among them)."""
    first, second, third = meters
    return [
        Entry(first, date(2026, 10, 20), D("12.5"), note="route 7"),
        Entry(second, date(2026, 10, 25), index=MeterIndex(D("99990"), start_index=D("99900"))),
        Entry(first, date(2026, 11, 3), D("7.25")),
        Entry(third, date(2026, 11, 5), D("0")),
        Entry(second, date(2026, 11, 10), index=MeterIndex(D("40"), rollover_digits=5)),
        Entry(second, date(2026, 11, 20), index=MeterIndex(D("140.75"))),
        Entry(third, date(2026, 11, 21), D("1000")),
    ]


def twin(code: str) -> tuple[int, list[int]]:
    """A customer holding three meters from October, Rp50.000 prepaid (less than what it is charged), Rp7.500 per Sm³
    with a correction of 1,012345 from October: its id and its meters' ids."""
    customer, meter = metered_customer(code, OCT, D("7500.00"), D("1.012345"), prepaid=D("50000"))
    meters = [meter.id]
    for _ in range(2):
        more = MeterFactory()
        meter_lifecycle.assign_meter(more, db.session.get(Customer, customer.id), OCT)
        meters.append(more.id)
    return customer.id, meters


def what_it_left(customer_id: int) -> dict:
    """What a customer's readings left: its wallet, ledger rows, months, calculations, journal entries with their
    lines, and the seals of each kind of its evidence, without the ids that tell two customers apart."""
    db.session.rollback()
    customer = db.session.get(Customer, customer_id)
    ledger = list(
        db.session.scalars(
            sa.select(BalanceTransaction)
            .where(BalanceTransaction.customer_id == customer_id)
            .order_by(BalanceTransaction.id)
        )
    )
    entries = [db.session.get(JournalEntry, row.entry_id) for row in ledger]
    readings = list(
        db.session.scalars(
            sa.select(MeterReading).where(MeterReading.customer_id == customer_id).order_by(MeterReading.id)
        )
    )
    reading_ids = [found.id for found in readings]
    by_reading = {found.id: position for position, found in enumerate(readings)}
    months = db.session.scalars(
        sa.select(MonthlyCustomerBalance)
        .where(MonthlyCustomerBalance.customer_id == customer_id)
        .order_by(MonthlyCustomerBalance.year_month)
    )
    calculations = db.session.scalars(
        sa.select(TransactionCalculation)
        .where(TransactionCalculation.customer_id == customer_id)
        .order_by(TransactionCalculation.reading_id)
    )
    seals = db.session.execute(
        sa.select(Seal.kind, sa.func.count())
        .where(
            sa.or_(
                sa.and_(Seal.kind == "balance_transactions", Seal.row_id.in_([row.id for row in ledger])),
                sa.and_(Seal.kind == "journal_entries", Seal.row_id.in_([entry.id for entry in entries])),
                sa.and_(Seal.kind == "meter_readings_history", Seal.row_id.in_(reading_ids)),
            )
        )
        .group_by(Seal.kind)
    )
    return {
        "wallet": (customer.balance, customer.total_recharged, customer.total_spent, customer.status),
        # Each customer's movements in the order of its readings, as a batch posts them and its chain runs.
        "ledger": sorted(
            (
                by_reading.get(row.reference_id, -1),
                row.kind,
                row.amount,
                row.signed_amount,
                row.value_date,
                row.reference_type,
                row.description,
                row.reason,
                row.occasion,
            )
            for row in ledger
        ),
        "chain": [(row.balance_before, row.balance_after) for row in sorted(ledger, key=lambda row: row.id)],
        "months": [
            (
                m.year_month,
                m.opening_balance,
                m.total_deposits,
                m.total_purchases,
                m.closing_balance,
                m.total_volume_sm3,
            )
            for m in months
        ],
        "calculations": [
            (
                by_reading[c.reading_id],
                c.year_month,
                c.transaction_date,
                c.volume_flow_meter,
                c.meter_correction,
                c.volume_sm3,
                c.price_per_sm3,
                c.total_price,
                c.places,
                {name: value for name, value in c.pricing.items() if name != "pricing_id"},
            )
            for c in calculations
        ],
        "readings": [
            (r.reading_date, r.volume_flow_meter, r.note, r.meter_index, r.index_from, r.counted_from, r.meter_digits)
            for r in readings
        ],
        "journal": sorted(
            (
                entry.entry_date,
                entry.description,
                entry.status,
                entry.source_type,
                tuple((line.account_id, line.debit, line.credit) for line in entry.lines),
            )
            for entry in entries
        ),
        "seals": dict(seals.all()),
    }


def test_a_batch_leaves_what_the_same_readings_recorded_one_by_one_leave(app):
    clerk = UserFactory()
    batched, batched_meters = twin("HOTEL")
    single, single_meters = twin("TWIN")
    batch_ids = metering.record_readings(day_of_readings(batched_meters), user=clerk)
    for entry in day_of_readings(single_meters):
        metering.record_reading(
            entry.meter_id,
            entry.reading_date,
            entry.volume_flow_meter,
            index=entry.index,
            note=entry.note,
            user=clerk,
        )
    assert len(batch_ids) == 7 and batch_ids == sorted(batch_ids)
    left = what_it_left(batched)
    assert left == what_it_left(single)
    assert left["wallet"][0] < 0  # charged beyond the balance: the gas was delivered
    assert left["readings"][4][4] is IndexFrom.ROLLED_OVER
    assert [month[0] for month in left["months"]] == ["2026-10", "2026-11"]
    assert left["seals"] == {"balance_transactions": 7, "journal_entries": 7, "meter_readings_history": 7}
    assert clean()


def statements_of(entries: list[Entry]) -> list[str]:
    """The statements recording the batch runs."""
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        metering.record_readings(entries)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    return seen


def test_a_batch_is_recorded_in_as_many_statements_however_many_readings_it_holds(app):
    _small, small_meters = twin("HOTEL")
    _large, large_meters = twin("TWIN")
    _first, first_meters = twin("FIRST")
    statements_of([Entry(first_meters[0], date(2026, 11, 2), D("5"))])  # what a process reads once is read
    many = [Entry(meter, date(2026, 11, day), D(day)) for meter in large_meters for day in range(2, 14)]
    more = statements_of(many)
    few = statements_of([Entry(meter, date(2026, 11, 2), D("5")) for meter in small_meters[:1]])
    assert len(more) == len(few), "\n".join(s[:100] for s in more)
    inserts = [s for s in more if s.lstrip().startswith("INSERT INTO meter_readings ")]
    assert len(inserts) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MeterReading)) == 38


def test_every_refused_entry_is_named_by_its_position_and_nothing_is_written(site, admin):
    customer_id, meter_id = site
    retired = MeterFactory(serial="M-OLD")
    meter_lifecycle.assign_meter(retired, db.session.get(Customer, customer_id), OCT)
    held = billing.active_assignment(retired.id).id
    meter_lifecycle.retire_meter(db.session.get(Meter, retired.id), date(2026, 11, 15), confirm_from=held)
    other = MeterFactory(serial="M-2")
    meter_lifecycle.assign_meter(other, db.session.get(Customer, customer_id), OCT)
    metering.record_reading(meter_id, date(2026, 11, 5), D("3"))
    metering.record_reading(other.id, date(2026, 11, 2), None, index=MeterIndex(D("500"), start_index=D("0")))
    periods.close("2026-09", admin, "checked")
    before = counts()
    entries = [
        Entry(meter_id, date(2026, 11, 10), D("1")),
        Entry(999_999, date(2026, 11, 10), D("1")),
        Entry(retired.id, date(2026, 11, 16), D("1")),
        Entry(meter_id, date(2026, 12, 30), D("1")),
        Entry(meter_id, date(2026, 9, 30), D("1")),
        Entry(meter_id, date(2026, 11, 10), D("2")),
        Entry(meter_id, date(2026, 11, 5), D("2")),
        Entry(other.id, date(2026, 11, 12), index=MeterIndex(D("400"))),
        Entry(meter_id, date(2026, 11, 11), D("1" * 40)),
        Entry(meter_id, date(2026, 11, 12), D("-1")),
        Entry(meter_id, date(2026, 11, 13), D("1"), index=MeterIndex(D("1"))),
    ]
    assert metering.check_readings([entries[0]]) == []
    with pytest.raises(metering.ReadingsRefused) as refused:
        metering.record_readings(entries)
    said = {refusal.position: refusal.message for refusal in refused.value.refusals}
    assert sorted(said) == list(range(2, 12))
    assert said[2] == "No meter 999999."
    assert "Meter M-OLD was retired on 15 Nov 2026" in said[3]
    assert "cannot be dated after today" in said[4]
    assert "September 2026 is closed" in said[5]
    assert said[6] == "Meter M-1 is read on 10 Nov 2026 in row 1 already: a meter has one reading a day."
    assert said[7].startswith("Meter M-1 already has a reading on 5 Nov 2026: #")
    assert "The index 400 is lower than meter M-2's previous index, 500 on 2 Nov 2026" in said[8]
    assert "too large" in said[9]
    assert "must not be negative" in said[10]
    assert said[11] == "Give the reading as a volume or as the meter's index."
    assert "Row 2: No meter 999999." in str(refused.value)
    assert metering.check_readings(entries) == refused.value.refusals
    assert counts() == before


def test_a_customer_not_in_real_time_gets_a_recalculation_request_for_each_reading(site):
    customer_id, meter_id = site
    customers.set_realtime(customer_id, False)
    ids = metering.record_readings([Entry(meter_id, date(2026, 11, day), D("4")) for day in (3, 4)])
    db.session.rollback()
    asked = db.session.execute(
        sa.select(RecalculationRequest.from_date, RecalculationRequest.description)
        .where(RecalculationRequest.customer_id == customer_id, RecalculationRequest.done_at.is_(None))
        .order_by(RecalculationRequest.id)
    ).all()
    assert [tuple(row) for row in asked][-2:] == [
        (date(2026, 11, 3), f"Reading #{ids[0]}"),
        (date(2026, 11, 4), f"Reading #{ids[1]}"),
    ]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TransactionCalculation)) == 0


@pytest.mark.production_path("the runtime role")
def test_the_batch_recorder_works_under_the_runtime_role(app, runtime_url):
    with runtime_app(runtime_url):
        customer, meter = metered_customer("HOTEL", OCT, D("1000.00"), prepaid=D("100000"), serial="M-1")
        ids = metering.record_readings(
            [
                Entry(meter.id, date(2026, 11, 2), index=MeterIndex(D("100"), start_index=D("90"))),
                Entry(meter.id, date(2026, 11, 9), index=MeterIndex(D("125"))),
            ],
            user=UserFactory(),
        )
        assert [db.session.get(MeterReading, i).volume_flow_meter for i in ids] == [D("10"), D("25")]
        assert db.session.get(Customer, customer.id).balance == D("65000.00")
    assert clean()


def test_the_reading_form_takes_the_meter_s_index_and_previews_its_volume(client, finance, site):
    customer_id, meter_id = site
    form = {
        "reading-meter_id": "M-1",
        "reading-reading_date": "2026-11-05",
        "reading-given_as": "index",
        "reading-meter_index": "1000",
        "reading-index_how": "replaced",
        "reading-start_index": "990",
    }
    preview = client.post("/customers/HOTEL/readings/preview", data=form).get_data(as_text=True)
    assert "From 990,0000 to the index 1.000,0000: <strong>10,0000 m³</strong>." in preview
    assert client.post("/customers/HOTEL/readings", data=form).status_code == 302
    lower = form | {"reading-reading_date": "2026-11-06", "reading-meter_index": "900", "reading-index_how": "previous"}
    refused = client.post("/customers/HOTEL/readings", data=lower)
    assert refused.status_code == 422
    assert "is lower than meter M-1&#39;s previous index" in refused.get_data(as_text=True)
    missing = client.post("/customers/HOTEL/readings", data=lower | {"reading-index_how": "rolled_over"})
    assert missing.status_code == 422 and 'id="error-reading-meter_digits">Enter a number.' in missing.get_data(
        as_text=True
    )
    found = db.session.scalars(sa.select(MeterReading).where(MeterReading.meter_id == meter_id)).one()
    assert (found.volume_flow_meter, found.index_from) == (D("10"), IndexFrom.FIRST)


def test_a_reading_s_history_says_its_index_and_what_it_counted_from(client, finance, site):
    _customer_id, meter_id = site
    reading_id = metering.record_reading(meter_id, NOV, None, index=MeterIndex(D("1000"), start_index=D("990")))
    shown = " ".join(client.get(f"/history/reading/{reading_id}").get_data(as_text=True).split())
    assert "Meter index" in shown and "Index counted from" in shown
    assert "the start index of a meter&#39;s first reading by index" in shown
