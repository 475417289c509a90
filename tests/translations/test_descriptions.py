"""What the system writes is stored as facts and rendered in the reader's language; legacy English words are
recognised exactly, on the rows written before the facts were stored; a clerk's words are shown as typed, whatever
they read like."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import openpyxl
import pytest
import sqlalchemy as sa
from flask_babel import force_locale
from flask_migrate import downgrade, upgrade

from backoffice import register_migrations
from backoffice.models import BalanceTransaction, JournalEntry, Occasion, RunMode
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.posting.movement import Movement, Reference
from backoffice.posting.post import post
from backoffice.posting.rules import Kind
from backoffice.reconcile import engine, evidence_review
from backoffice.services import (
    approvals,
    books,
    descriptions,
    installation,
    meter_invoices,
    meter_lifecycle,
    meter_payments,
    metering,
    transaction,
    wallet,
)
from tests.factories import (
    CustomerFactory,
    MeterFactory,
    UserFactory,
    forge_in_the_chain,
    past_the_guards,
    written_before_the_facts,
)

D = Decimal
AUG = date(2026, 8, 1)


def words_in(app, language: str, render, *args) -> str:
    with app.test_request_context(), force_locale(language):
        return render(*args)


@pytest.fixture
def reading_customer(app):
    customer = CustomerFactory(code="HOTEL")
    meter = MeterFactory(serial="MTR-7")
    meter_lifecycle.assign_meter(meter, customer, AUG)
    metering.set_pricing(customer.id, AUG, D("1000.00"), D("1"))
    wallet.recharge(customer, D("900000"))
    return customer, meter


def movements_of(customer_id: int) -> list[BalanceTransaction]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            sa.select(BalanceTransaction).where(BalanceTransaction.customer_id == customer_id).order_by("id")
        )
    )


def test_a_readings_charge_stores_no_words_and_renders_them_in_each_language(app, reading_customer):
    customer, meter = reading_customer
    reading = metering.record_reading(meter.id, date(2026, 8, 10), D("10"))
    charge = movements_of(customer.id)[-1]
    assert (charge.description, charge.reference_type, charge.reference_id) == ("", "meter_reading", reading)
    assert words_in(app, "en", descriptions.movement_words, charge) == f"Gas, reading #{reading}"
    assert words_in(app, "id", descriptions.movement_words, charge) == f"Pemakaian gas, pencatatan #{reading}"
    assert words_in(app, "vi", descriptions.movement_words, charge) == f"Tiền gas sử dụng, chỉ số #{reading}"
    metering.delete_reading(reading)
    given_back = movements_of(customer.id)[-1]
    assert given_back.description == ""
    assert words_in(app, "en", descriptions.movement_words, given_back) == f"Deleted reading of gas, reading #{reading}"
    assert words_in(app, "id", descriptions.movement_words, given_back).startswith("Pencatatan gas dihapus")
    # Written before its occasion was stored: named by what the money did.
    unsaid = SimpleNamespace(**{**_facts(given_back), "occasion": None})
    assert words_in(app, "en", descriptions.movement_words, unsaid) == f"Gas given back, reading #{reading}"
    assert words_in(app, "id", descriptions.movement_words, unsaid).startswith("Pemakaian gas dikembalikan")


@pytest.mark.parametrize(
    ("what", "indonesian"),
    [
        ("Gas", "Pemakaian gas, pencatatan"),
        ("Correction of gas", "Koreksi pemakaian gas, pencatatan"),
        ("Deleted reading of gas", "Pencatatan gas dihapus, pencatatan"),
        ("Re-pricing of gas", "Penetapan ulang harga gas, pencatatan"),
        ("Gas of the meter's holder on its date", "Gas milik pemegang meter pada tanggalnya, pencatatan"),
    ],
)
def test_a_legacy_readings_movement_is_recognised_by_its_old_words(app, reading_customer, what, indonesian):
    customer, meter = reading_customer
    reading = metering.record_reading(meter.id, date(2026, 8, 10), D("10"))
    with transaction() as session:  # as the old code wrote it
        post(
            installation(),
            session.connection(),
            Movement(
                kind=Kind.CHARGE,
                amount=D("-5.00"),
                customer_id=customer.id,
                reference=Reference("meter_reading", reading),
                description=f"{what}, reading #{reading}",
                allow_overdraft=True,
            ),
        )
    written_before_the_facts()
    legacy = movements_of(customer.id)[-1]
    assert words_in(app, "en", descriptions.movement_words, legacy) == f"{what}, reading #{reading}"
    assert words_in(app, "id", descriptions.movement_words, legacy) == f"{indonesian} #{reading}"
    # The same words about another reading are not what the old code wrote for this one: a clerk's, as typed.
    odd = SimpleNamespace(**{**_facts(legacy), "description": f"{what}, reading #{reading + 1}"})
    assert words_in(app, "id", descriptions.movement_words, odd) == f"{what}, reading #{reading + 1}"


def _facts(row) -> dict:
    return {
        name: getattr(row, name)
        for name in ("id", "kind", "description", "reference_type", "reference_id", "reverses_id", "reason", "occasion")
    }


def test_an_adjustment_is_named_by_its_reason_new_or_legacy(app):
    customer = CustomerFactory()
    wallet.recharge(customer, D("1000"))
    new = wallet.adjust(customer, D("-10"), reason="write_off")
    assert new.description == ""
    assert words_in(app, "en", descriptions.movement_words, new) == "Write off"
    written_before_the_facts()
    legacy = SimpleNamespace(**{**_facts(new), "description": "Write off"})
    assert words_in(app, "en", descriptions.movement_words, legacy) == "Write off"
    assert words_in(app, "id", descriptions.movement_words, legacy) == words_in(
        app, "id", lambda: str(descriptions.AdjustmentReason.WRITE_OFF.label)
    )
    assert words_in(app, "id", descriptions.movement_words, legacy) != "Write off"


@pytest.mark.parametrize(
    ("kind", "old", "english_again"),
    [
        ("recharge", "Opening deposit", "Opening deposit"),
        ("recharge", "Top-up 2026-11", "Top-up November 2026"),
        ("charge", "Gas, week 2", "Gas, week 2"),
        ("adjustment", "Tampered movement #4 accepted: looked fine", "Tampered movement #4 accepted: looked fine"),
    ],
)
def test_legacy_demo_and_review_words_are_recognised(app, kind, old, english_again):
    row = SimpleNamespace(
        id=_a_movement_written_before(),
        kind=kind,
        description=old,
        reference_type=None,
        reference_id=None,
        reverses_id=None,
        reason="other",
        occasion=None,
    )
    assert words_in(app, "en", descriptions.movement_words, row) == english_again
    assert words_in(app, "id", descriptions.movement_words, row) != old


def _a_movement_written_before() -> int:
    """The id of a movement written before the facts were stored."""
    movement = wallet.recharge(CustomerFactory(), D("1000"))
    written_before_the_facts()
    return movement.id


def test_a_legacy_reversal_without_a_reason_is_recognised(app):
    row = SimpleNamespace(
        id=_a_movement_written_before(),
        kind="reversal",
        description="Reversal of recharge #302",
        reference_type="balance_transaction",
        reference_id=302,
        reverses_id=302,
        reason=None,
        occasion=None,
    )
    assert words_in(app, "en", descriptions.movement_words, row) == "Reversal of recharge #302"
    assert words_in(app, "id", descriptions.movement_words, row) == "Pembalikan isi ulang saldo #302"
    assert words_in(app, "id", descriptions.movement_words, SimpleNamespace(**{**vars(row), "reverses_id": 303})) == (
        "Reversal of recharge #302"
    )


def test_a_clerks_words_are_shown_as_typed(app):
    customer = CustomerFactory()
    typed = wallet.recharge(customer, D("1000"), description="Opening deposit, cash at the desk")
    assert words_in(app, "id", descriptions.movement_words, typed) == "Opening deposit, cash at the desk"
    reversal = wallet.reverse(typed, description="Gas, reading #1")
    assert words_in(app, "vi", descriptions.movement_words, reversal) == "Gas, reading #1"


def _typed_like_the_old_words() -> tuple[list[BalanceTransaction], list[str]]:
    """A clerk's recharge, charge and adjustment, and an admin's reversal of the adjustment, each described as the old
    code described such a movement; and what each was typed as."""
    customer = CustomerFactory(code="HOTEL")
    top_up = wallet.recharge(customer, D("1000"), description="Top-up 2026-11")
    week = wallet.charge(customer, D("10"), description="Gas, week 2")
    accepted = wallet.adjust(customer, D("5"), reason="other", description="Tampered movement #999 accepted: because")
    reversal = wallet.reverse(accepted, description=f"Reversal of adjustment #{accepted.id}")
    typed = ["Top-up 2026-11", "Gas, week 2", "Tampered movement #999 accepted: because"]
    return [top_up, week, accepted, reversal], [*typed, f"Reversal of adjustment #{accepted.id}"]


@pytest.mark.parametrize(
    ("language", "said"),
    [
        (
            "id",
            [
                "Isi ulang saldo November 2026",
                "Pemakaian gas, minggu 2",
                "Mutasi #999 yang diubah diterima: because",
                "Pembalikan penyesuaian #{id}",
            ],
        ),
        (
            "vi",
            [
                "Nạp tiền tháng 11 năm 2026",
                "Tiền gas sử dụng, tuần 2",
                "Đã chấp nhận biến động #999 bị can thiệp: because",
                "Bút toán đảo của điều chỉnh #{id}",
            ],
        ),
    ],
)
def test_a_text_typed_like_the_old_words_is_the_systems_only_on_a_row_written_before(app, language, said):
    movements, typed = _typed_like_the_old_words()
    assert [words_in(app, language, descriptions.movement_words, m) for m in movements] == typed
    written_before_the_facts()  # the same rows, had the old code written them
    old = [words.format(id=movements[2].id) for words in said]
    assert [words_in(app, language, descriptions.movement_words, m) for m in movements] == old


def test_a_row_forged_below_the_first_id_is_never_taken_for_one_written_before(app):
    """Ids count from 1: a row inserted by SQL under id -5000, described in the old words, says only what it says."""
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, D("1000"))
    written_before_the_facts()
    forged = SimpleNamespace(
        id=-5000,
        kind="adjustment",
        description="Tampered movement #999 accepted: because",
        occasion=None,
        reference_type=None,
        reference_id=None,
        reverses_id=None,
        reason="other",
    )
    assert words_in(app, "id", descriptions.movement_words, forged) == "Tampered movement #999 accepted: because"


def test_a_text_typed_like_the_old_words_shows_as_typed_on_every_page_and_download(client, auth):
    _movements, typed = _typed_like_the_old_words()
    auth.login("admin").language = "id"
    db.session.commit()
    since = f"?since={local_today().isoformat()}&until={local_today().isoformat()}"
    ledger = client.get("/customers/HOTEL?tab=ledger").get_data(as_text=True)
    statement = client.get(f"/customers/HOTEL/statement.csv{since}").get_data().decode("utf-8-sig")
    listed = client.get("/ledger").get_data(as_text=True)
    exported = client.get("/ledger/export.csv").get_data().decode("utf-8-sig")
    for text in typed:
        assert text in ledger and text in statement and text in listed and text in exported, text


def _entries_typed_like_the_old_words() -> tuple[int, int]:
    """A manual entry, and an entry reversing it whose description is what the old code wrote on a reversal: the ids
    of both."""
    admin = UserFactory(role="admin")
    lines = [books.Line("5000", debit=D("9")), books.Line("1000", credit=D("9"))]
    rent = books.write_entry(date.today(), "Sewa kantor", lines, user=admin).entry_id
    with transaction() as session:
        swapped = [books.Line("1000", debit=D("9")), books.Line("5000", credit=D("9"))]
        movement = Movement(
            kind=Kind.MANUAL, description=f"Reversal of JE-{rent}", lines=tuple(swapped), reverses_id=rent
        )
        reversal = post(installation(), session.connection(), movement).entry_id
    return rent, reversal


def test_an_entry_typed_like_the_old_words_is_the_systems_only_when_written_before(app):
    rent, reversal = _entries_typed_like_the_old_words()
    assert words_in(app, "id", descriptions.entries_words, [rent, reversal]) == {
        rent: "Sewa kantor",
        reversal: f"Reversal of JE-{rent}",
    }
    written_before_the_facts()
    assert words_in(app, "id", descriptions.entries_words, [rent, reversal]) == {
        rent: "Sewa kantor",
        reversal: f"Pembalikan JE-{rent}",
    }
    assert words_in(app, "vi", descriptions.entries_words, [reversal]) == {reversal: f"Bút toán đảo của JE-{rent}"}


@pytest.mark.parametrize("language", ["id", "vi"])
def test_an_entry_typed_like_the_old_words_is_translated_once_marked_written_before(app, language):
    ids = list(_entries_typed_like_the_old_words())
    typed = words_in(app, language, descriptions.entries_words, ids)
    assert typed[ids[1]] == f"Reversal of JE-{ids[0]}"
    written_before_the_facts()
    said = words_in(app, language, descriptions.entries_words, ids)
    assert said[ids[1]] != typed[ids[1]] and f"JE-{ids[0]}" in said[ids[1]]


def test_the_rows_written_before_are_recorded_once(app):
    wallet.recharge(CustomerFactory(), D("1000"))  # a row written after the upgrade moves nothing
    for statement in (
        "UPDATE words_written_before SET through_id = through_id + 1",
        "DELETE FROM words_written_before",
        "INSERT INTO words_written_before (table_name, through_id) VALUES ('orders', 1)",
    ):
        with pytest.raises(sa.exc.DatabaseError, match="recorded once"), db.engine.begin() as connection:
            connection.exec_driver_sql(statement)
    with db.engine.connect() as connection:
        recorded = connection.execute(sa.text("SELECT table_name, through_id FROM words_written_before")).all()
    assert sorted(recorded) == [("balance_transactions", 0), ("journal_entries", 0)]


def test_a_wallet_entry_is_headed_from_its_movement_new_or_legacy(app):
    customer = CustomerFactory(code="C0002")
    movement = wallet.recharge(customer, D("1000"))
    entry = db.session.get(JournalEntry, movement.entry_id)
    assert entry.description == ""
    assert words_in(app, "en", descriptions.entries_words, [entry.id]) == {
        entry.id: f"Recharge #{movement.id} of C0002"
    }
    assert words_in(app, "id", descriptions.entries_words, [entry.id]) == {
        entry.id: f"Isi ulang saldo #{movement.id} milik C0002"
    }
    written_before_the_facts()
    described(entry, f"Recharge #{movement.id} of C0002")
    assert words_in(app, "vi", descriptions.entries_words, [entry.id])[entry.id] == f"Nạp tiền #{movement.id} của C0002"
    described(entry, f"Recharge #{movement.id} of C0003")
    assert words_in(app, "vi", descriptions.entries_words, [entry.id])[entry.id] == f"Recharge #{movement.id} of C0003"


def described(entry: JournalEntry, description: str) -> None:
    """The entry's stored description made ``description``, as the old code wrote it (past the guards)."""
    with past_the_guards() as connection:
        connection.execute(
            sa.update(JournalEntry.__table__).where(JournalEntry.__table__.c.id == entry.id),
            {"description": description},
        )


def test_invoice_and_payment_entries_render_from_the_billing_rows(app):
    customer = CustomerFactory()
    meter = MeterFactory(serial="MTR-9")
    meter_lifecycle.assign_meter(meter, customer, AUG)
    invoice = meter_invoices.add_invoice(meter, "INV-1", D("500"), date(2026, 8, 5), date(2026, 9, 5))
    changed = meter_invoices.change_invoice(invoice, "INV-1", D("600"), date(2026, 9, 5))
    withdrawn = meter_invoices.withdraw_invoice(changed, "issued twice")
    payment = meter_payments.add_payment(meter, D("100"), date(2026, 8, 6), reference="TRX 1")
    entries = db.session.scalars(sa.select(JournalEntry).order_by(JournalEntry.id)).all()
    assert {entry.description for entry in entries} == {""}
    english = words_in(app, "en", descriptions.entries_words, [entry.id for entry in entries])
    assert sorted(english.values()) == sorted(
        [
            "Invoice INV-1",
            "Invoice INV-1 amount changed",
            "Invoice INV-1 withdrawn: issued twice",
            "Payment on meter MTR-9 (TRX 1)",
        ]
    )
    indonesian = words_in(app, "id", descriptions.entries_words, [withdrawn.withdrawal_entry_id, payment.entry_id])
    assert indonesian == {
        withdrawn.withdrawal_entry_id: "Faktur INV-1 ditarik: issued twice",
        payment.entry_id: "Pembayaran untuk meter MTR-9 (TRX 1)",
    }
    written_before_the_facts()
    described(db.session.get(JournalEntry, invoice.entry_id), "Invoice INV-1")
    assert words_in(app, "vi", descriptions.entries_words, [invoice.entry_id]) == {invoice.entry_id: "Hóa đơn INV-1"}


def test_account_names_by_code(app):
    with app.test_request_context(), force_locale("id"):
        assert descriptions.account_name("2000", "Customer deposits") == "Deposit pelanggan"
        assert descriptions.account_name("2000", "Deposits held") == "Deposits held"
        assert descriptions.account_name("6000", "Cash") == "Cash"
    assert descriptions.account_name("1000", "Cash") == "Cash"  # outside a request: English


def test_exports_in_indonesian_carry_the_words(client, auth, reading_customer):
    customer, meter = reading_customer
    reading = metering.record_reading(meter.id, date(2026, 8, 10), D("10"))
    auth.login("admin").language = "id"
    db.session.commit()
    since = "?since=2026-08-01&until=" + date.today().isoformat()
    statement = client.get(f"/customers/HOTEL/statement.csv{since}").get_data().decode("utf-8-sig")
    assert f"Pemakaian gas, pencatatan #{reading}" in statement
    book = openpyxl.load_workbook(io.BytesIO(client.get(f"/customers/HOTEL/statement.xlsx{since}").get_data()))
    assert any(f"Pemakaian gas, pencatatan #{reading}" == cell.value for row in book.active.iter_rows() for cell in row)
    movements = client.get("/ledger/export.csv").get_data().decode("utf-8-sig")
    assert f"Pemakaian gas, pencatatan #{reading}" in movements
    workbook = openpyxl.load_workbook(io.BytesIO(client.get("/ledger/export.xlsx").get_data()))
    assert any(f"Pemakaian gas, pencatatan #{reading}" == c.value for row in workbook.active.iter_rows() for c in row)
    journal = list(csv.reader(io.StringIO(client.get("/books/journal.csv").get_data().decode("utf-8-sig"))))
    assert any(row[3].startswith("Pemakaian #") and "milik HOTEL" in row[3] for row in journal)
    assert any("Deposit pelanggan" in row for row in journal)
    xlsx = openpyxl.load_workbook(io.BytesIO(client.get("/books/journal.xlsx").get_data()))
    assert any("Isi ulang saldo #" in str(c.value) for row in xlsx.active.iter_rows() for c in row)
    lines = client.get("/books/accounts/2000/lines.csv").get_data().decode("utf-8-sig")
    assert "Isi ulang saldo #" in lines
    lines_book = openpyxl.load_workbook(io.BytesIO(client.get("/books/accounts/2000/lines.xlsx").get_data()))
    assert any("Isi ulang saldo #" in str(c.value) for row in lines_book.active.iter_rows() for c in row)
    hledger = client.get("/books/journal.journal").get_data(as_text=True)
    assert "Isi ulang saldo #" in hledger and "2000 Customer deposits" in hledger
    page = client.get("/books/journal").get_data(as_text=True)
    assert "Isi ulang saldo #" in page and "Deposit pelanggan" in page


def test_the_seals_of_rows_written_the_old_way_still_verify(app, reading_customer):
    customer, meter = reading_customer
    reading = metering.record_reading(meter.id, date(2026, 8, 10), D("10"))
    with transaction() as session:
        post(
            installation(),
            session.connection(),
            Movement(
                kind=Kind.CHARGE,
                amount=D("-5.00"),
                customer_id=customer.id,
                reference=Reference("meter_reading", reading),
                description=f"Correction of gas, reading #{reading}",
                allow_overdraft=True,
            ),
        )
    assert engine.run(RunMode.VERIFY, checks=["evidence_seals"]).mismatched == 0


# --- The occasion a movement was written on --------------------------------------------------------------------------

OCCASION_WORDS = {
    Occasion.FIRST_CHARGE: (
        "Gas, reading #42",
        "Pemakaian gas, pencatatan #42",
        "Tiền gas sử dụng, chỉ số #42",
    ),
    Occasion.CORRECTION: (
        "Correction of gas, reading #42",
        "Koreksi pemakaian gas, pencatatan #42",
        "Điều chỉnh tiền gas, chỉ số #42",
    ),
    Occasion.DELETION: (
        "Deleted reading of gas, reading #42",
        "Pencatatan gas dihapus, pencatatan #42",
        "Chỉ số gas đã xóa, chỉ số #42",
    ),
    Occasion.REPRICING: (
        "Re-pricing of gas, reading #42",
        "Penetapan ulang harga gas, pencatatan #42",
        "Tính lại giá gas, chỉ số #42",
    ),
    Occasion.HOLDER_MOVE: (
        "Gas of the meter's holder on its date, reading #42",
        "Gas milik pemegang meter pada tanggalnya, pencatatan #42",
        "Gas của người giữ đồng hồ vào ngày đó, chỉ số #42",
    ),
    Occasion.EVIDENCE_REVERSAL: (
        "Tampered evidence reversed: not ours, =1+1",
        "Bukti yang diubah dibalik: not ours, =1+1",
        "Đã đảo bằng chứng bị can thiệp: not ours, =1+1",
    ),
    Occasion.EVIDENCE_ACCEPTANCE: (
        "Tampered movement #42 accepted: not ours, =1+1",
        "Mutasi #42 yang diubah diterima: not ours, =1+1",
        "Đã chấp nhận biến động #42 bị can thiệp: not ours, =1+1",
    ),
}


def test_every_occasion_has_its_words():
    assert set(OCCASION_WORDS) == set(Occasion)


@pytest.mark.parametrize("kind", ["charge", "reversal", "adjustment"])
@pytest.mark.parametrize("occasion", list(Occasion))
def test_each_occasion_renders_in_each_language_whichever_way_the_money_went(app, occasion, kind):
    review = occasion in (Occasion.EVIDENCE_REVERSAL, Occasion.EVIDENCE_ACCEPTANCE)
    row = SimpleNamespace(
        kind=kind,
        description="not ours, =1+1" if review else "",
        reference_type="balance_transaction" if review else "meter_reading",
        reference_id=42,
        reverses_id=42 if occasion is Occasion.EVIDENCE_REVERSAL else None,
        reason=None,
        occasion=occasion.value,
    )
    english, indonesian, vietnamese = OCCASION_WORDS[occasion]
    assert words_in(app, "en", descriptions.movement_words, row) == english
    assert words_in(app, "id", descriptions.movement_words, row) == indonesian
    assert words_in(app, "vi", descriptions.movement_words, row) == vietnamese


def _occasions_of(customer_id: int) -> list[tuple[str, str | None]]:
    return [(m.kind.value, m.occasion) for m in movements_of(customer_id) if m.reference_type == "meter_reading"]


def test_each_writer_of_a_readings_movement_stores_its_occasion(app, reading_customer):
    customer, meter = reading_customer
    reading = metering.record_reading(meter.id, date(2026, 8, 10), D("10"))
    metering.correct_reading(reading, date(2026, 8, 10), D("12"))
    metering.correct_reading(reading, date(2026, 8, 10), D("11"))
    metering.set_pricing(customer.id, AUG, D("2000.00"), D("1"))
    metering.delete_reading(reading)
    assert _occasions_of(customer.id) == [
        ("charge", "first_charge"),
        ("charge", "correction"),
        ("reversal", "correction"),
        ("charge", "repricing"),
        ("reversal", "deletion"),
    ]
    words = [words_in(app, "en", descriptions.movement_words, m) for m in movements_of(customer.id)[1:]]
    assert words == [
        f"Gas, reading #{reading}",
        f"Correction of gas, reading #{reading}",
        f"Correction of gas, reading #{reading}",
        f"Re-pricing of gas, reading #{reading}",
        f"Deleted reading of gas, reading #{reading}",
    ]
    assert {m.description for m in movements_of(customer.id)} == {""}
    assert engine.run(RunMode.VERIFY, checks=["evidence_seals"]).mismatched == 0


def test_a_reading_moved_to_the_meters_holder_says_so_where_it_was_charged(app, reading_customer):
    customer, meter = reading_customer
    reading = metering.record_reading(meter.id, date(2026, 8, 10), D("10"))
    holder = CustomerFactory(code="VILLA")
    metering.set_pricing(holder.id, AUG, D("1000.00"), D("1"))
    holder_id = holder.id
    with past_the_guards() as connection:  # as readings were once charged to whoever held the meter later
        connection.execute(
            sa.text("UPDATE meter_assignments SET customer_id = :holder WHERE meter_id = :meter"),
            {"holder": holder_id, "meter": meter.id},
        )
    with transaction() as session:
        metering.reprice(session.connection(), [reading])
    assert _occasions_of(customer.id) == [("charge", "first_charge"), ("reversal", "holder_move")]
    assert _occasions_of(holder_id) == [("charge", "repricing")]
    moved = movements_of(customer.id)[-1]
    assert words_in(app, "en", descriptions.movement_words, moved) == (
        f"Gas of the meter's holder on its date, reading #{reading}"
    )
    assert words_in(app, "vi", descriptions.movement_words, moved) == (
        f"Gas của người giữ đồng hồ vào ngày đó, chỉ số #{reading}"
    )


def _forged(customer) -> int:
    """A recharge written past the application, found by the seals' check."""
    movement, _entry = forge_in_the_chain(customer, "5000000")
    engine.run(RunMode.VERIFY, checks=["evidence_seals"])
    return movement


@pytest.mark.parametrize("above_the_limit", [False, True])
def test_reviewing_tampered_evidence_writes_the_occasion_and_admins_reason_as_typed(app, admins, above_the_limit):
    maker, checker = admins
    if above_the_limit:
        app.config["APPROVAL_ABOVE"] = D("1000000")
    customer = CustomerFactory(code="HOTEL")
    wallet.recharge(customer, D("1000"))
    forged = _forged(customer)
    ids = [finding.id for finding in evidence_review.open_findings(customer.id)]
    decided = evidence_review.accept(ids, "  bank statement of 24 Nov, =SUM(A1)  ", maker)
    if above_the_limit:
        (request,) = evidence_review.asked(decided)
        assert request.reason == "bank statement of 24 Nov, =SUM(A1)"
        approvals.approve(request.id, checker)
    reversal, again = movements_of(customer.id)[-2:]
    assert (reversal.occasion, reversal.description, reversal.reverses_id) == (
        "evidence_reversal",
        "bank statement of 24 Nov, =SUM(A1)",
        forged,
    )
    assert (again.occasion, again.description, again.reference_type, again.reference_id) == (
        "evidence_acceptance",
        "bank statement of 24 Nov, =SUM(A1)",
        "balance_transaction",
        forged,
    )
    assert words_in(app, "en", descriptions.movement_words, reversal) == (
        "Tampered evidence reversed: bank statement of 24 Nov, =SUM(A1)"
    )
    assert words_in(app, "id", descriptions.movement_words, again) == (
        f"Mutasi #{forged} yang diubah diterima: bank statement of 24 Nov, =SUM(A1)"
    )
    assert words_in(app, "en", descriptions.movement_words, again) == (
        f"Tampered movement #{forged} accepted: bank statement of 24 Nov, =SUM(A1)"
    )
    assert engine.run(RunMode.VERIFY, checks=["evidence_seals"]).mismatched == 0


def test_the_migration_adds_the_occasion_beside_old_rows_whose_seals_still_verify(app, reading_customer):
    customer, meter = reading_customer
    with transaction() as session:  # as the old code wrote it, before the occasion was stored
        post(
            installation(),
            session.connection(),
            Movement(
                kind=Kind.CHARGE,
                amount=D("-5.00"),
                customer_id=customer.id,
                reference=Reference("meter_reading", 7),
                description="Re-pricing of gas, reading #7",
                allow_overdraft=True,
            ),
        )
    customer_id, meter_id = customer.id, meter.id
    db.session.remove()
    register_migrations(app)
    try:
        downgrade(revision="0043")
        columns = {column["name"] for column in sa.inspect(db.engine).get_columns("balance_transactions")}
        assert "occasion" not in columns
        triggers = _guards()
        upgrade(revision="0044")  # the migration that adds it, alone: a later one may guard the ledger further
        columns = {column["name"] for column in sa.inspect(db.engine).get_columns("balance_transactions")}
        assert "occasion" in columns
        assert _guards() == triggers  # added in place: the ledger's guards are still there
    finally:
        upgrade()
    reading = metering.record_reading(meter_id, date(2026, 8, 11), D("10"))
    assert _occasions_of(customer_id) == [("charge", None), ("charge", "first_charge")]
    old, new = movements_of(customer_id)[-2:]
    assert words_in(app, "id", descriptions.movement_words, old) == "Penetapan ulang harga gas, pencatatan #7"
    assert words_in(app, "id", descriptions.movement_words, new) == f"Pemakaian gas, pencatatan #{reading}"
    assert engine.run(RunMode.VERIFY, checks=["evidence_seals"]).mismatched == 0


def test_a_downgrade_refuses_while_a_movement_carries_an_occasion_its_seal_covers(app, reading_customer):
    _customer, meter = reading_customer
    metering.record_reading(meter.id, date(2026, 8, 11), D("10"))
    db.session.remove()
    register_migrations(app)
    try:
        downgrade(revision="0044")
        with pytest.raises(SystemExit):  # Flask-Migrate logs the refusal and exits non-zero
            downgrade(revision="0043")
        with db.engine.connect() as connection:
            assert connection.scalar(sa.text("SELECT version_num FROM alembic_version")) == "0044"
        columns = {column["name"] for column in sa.inspect(db.engine).get_columns("balance_transactions")}
        assert "occasion" in columns
    finally:
        upgrade()  # the next tests of this process share its database, at the head
    # Verified by the code at its head, whose evidence includes what later migrations added.
    assert engine.run(RunMode.VERIFY, checks=["evidence_seals"]).mismatched == 0


def _guards() -> set[str]:
    """The names of the ledger's triggers."""
    query = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgrelid = 'balance_transactions'::regclass"
    with db.engine.connect() as connection:
        return set(connection.execute(sa.text(query)).scalars())
