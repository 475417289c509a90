"""What the system says of its own movements, entries and accounts, rendered from their facts in the reader's language.

The system stores facts, never its own words; what a clerk typed is shown as typed. Rows written before migration 0052
keep the English words then written, as they are sealed evidence; the system's words among them are recognised and
shown in the reader's language. Outside a request (a job, the CLI) the words are English.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache

from flask import g
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, ColumnOperators, String, and_, case, cast, func, literal, or_, select

from backoffice.models import (
    BalanceTransaction,
    Customer,
    Invoice,
    JournalEntry,
    Meter,
    Occasion,
    Payment,
    WordsWrittenBefore,
)
from backoffice.models.metering import READING
from backoffice.models.types import Month
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_month
from backoffice.platform.reasons import AdjustmentReason

MAX_LENGTH = 300
"""A stored description's length: the old words were cut there."""

ACCOUNTS = {
    "1000": ("Cash", _l("Cash")),
    "1100": ("Receivables", _l("Receivables")),
    "2000": ("Customer deposits", _l("Customer deposits")),
    "2300": ("VAT payable", _l("VAT payable")),
    "3000": ("Owner's equity", _l("Owner's equity")),
    "3100": ("Opening balance equity", _l("Opening balance equity")),
    "4000": ("Gas revenue", _l("Gas revenue")),
    "5000": ("Operating expenses", _l("Operating expenses")),
}
"""The standard chart of accounts (the migrations seed it; VAT payable comes with the first VAT rate): each code's
English name, and its name in the reader's language."""

KINDS = {
    "recharge": _l("Recharge"),
    "charge": _l("Charge"),
    "adjustment": _l("Adjustment"),
    "reversal": _l("Reversal"),
    "opening": _l("Opening balance"),
}
"""A movement with nothing more to say is named by its kind."""

_HEADINGS = {
    "recharge": _l("Recharge #%(id)s of %(customer)s"),
    "charge": _l("Charge #%(id)s of %(customer)s"),
    "adjustment": _l("Adjustment #%(id)s of %(customer)s"),
    "reversal": _l("Reversal #%(id)s of %(customer)s"),
    "opening": _l("Opening balance #%(id)s of %(customer)s"),
}
"""A wallet movement's journal entry."""

_READINGS = {
    "Gas": _l("Gas, reading #%(id)s"),
    "Correction of gas": _l("Correction of gas, reading #%(id)s"),
    "Deleted reading of gas": _l("Deleted reading of gas, reading #%(id)s"),
    "Re-pricing of gas": _l("Re-pricing of gas, reading #%(id)s"),
    "Gas of the meter's holder on its date": _l("Gas of the meter's holder on its date, reading #%(id)s"),
}
"""What a reading's movements were once written as ("Correction of gas, reading #12"), by their first words."""

_GIVEN_BACK = _l("Gas given back, reading #%(id)s")
"""A reading's movement written without its occasion (before it was stored) that gave money back."""

_REVERSALS = {
    "recharge": _l("Reversal of recharge #%(id)s"),
    "charge": _l("Reversal of charge #%(id)s"),
    "adjustment": _l("Reversal of adjustment #%(id)s"),
    "reversal": _l("Reversal of reversal #%(id)s"),
}
"""A reversal once written without a reason, by the kind of what it reversed."""

_TAMPERED_ACCEPTED_WORDS = _l("Tampered movement #%(id)s accepted: %(reason)s")

_OLD_TEXTS = (
    # (kind, pattern, words): the rest of what the old code wrote, each with its own facts in the text.
    ("recharge", re.compile(r"Opening deposit"), _l("Opening deposit")),
    ("recharge", re.compile(r"Top-up (?P<month>[1-9]\d{3}-(?:0[1-9]|1[0-2]))"), _l("Top-up %(month)s")),
    ("charge", re.compile(r"Gas, week (?P<week>\d+)"), _l("Gas, week %(week)s")),
    (
        "adjustment",
        re.compile(r"Tampered movement #(?P<id>\d+) accepted: (?P<reason>.*)", re.S),
        _TAMPERED_ACCEPTED_WORDS,
    ),
)
_TAMPERED_REVERSED = re.compile(r"Tampered evidence reversed: (?P<reason>.*)", re.S)
_TAMPERED_REVERSED_WORDS = _l("Tampered evidence reversed: %(reason)s")

_OCCASIONS = {
    Occasion.FIRST_CHARGE: _READINGS["Gas"],
    Occasion.CORRECTION: _READINGS["Correction of gas"],
    Occasion.DELETION: _READINGS["Deleted reading of gas"],
    Occasion.REPRICING: _READINGS["Re-pricing of gas"],
    Occasion.HOLDER_MOVE: _READINGS["Gas of the meter's holder on its date"],
    Occasion.EVIDENCE_REVERSAL: _TAMPERED_REVERSED_WORDS,
    Occasion.EVIDENCE_ACCEPTANCE: _TAMPERED_ACCEPTED_WORDS,
}
"""A movement's words by its occasion, the reading's (or the movement reviewed) its reference, the admin's reason
its description: in English what the old code wrote ("Re-pricing of gas, reading #42"), whichever way the money
went."""


def account_name(code, name):
    """The account's name in the reader's language if it is a standard account still named as standard (its
    English name in :data:`ACCOUNTS`); as stored otherwise. Given columns, the database says it (an export's
    ``COPY``), from the same table."""
    if isinstance(code, ColumnOperators):
        named = [
            (and_(code == standard, name == english), literal(str(words)))
            for standard, (english, words) in ACCOUNTS.items()
        ]
        return case(*named, else_=name)
    english, words = ACCOUNTS.get(code, (None, None))
    return str(words) if english is not None and english == name else name


def account_label(code: str, name: str) -> str:
    """``1000 Cash``, the name as :func:`account_name` shows it."""
    return f"{code} {account_name(code, name)}"


def movement_words(row, kinds: Mapping = KINDS) -> str:
    """A wallet movement's description in the reader's language: a clerk's text as typed, the system's words
    rendered from the facts (``kind``, ``description``, ``reference_type``, ``reference_id``, ``reverses_id``,
    ``reason``, ``occasion`` of a ledger row or of a select naming them so, and its ``id``, which tells a row written
    before the facts were stored); ``kinds``: :data:`KINDS`, or their names in the reader's language
    (:func:`kind_names`)."""
    kind = str(getattr(row.kind, "value", row.kind))
    description = row.description or ""
    if row.occasion in _OCCASIONS:
        return _OCCASIONS[row.occasion] % {"id": row.reference_id, "reason": description}
    if not description:
        return _movement_facts(row, kind, kinds)
    if not 0 < row.id <= _written_through("balance_transactions"):  # ids count from 1: one below is a forger's
        return description
    rendered = _old_movement_words(row, kind, description)
    return description if rendered is None else rendered


def _entry_facts(entries):
    """What renders an entry's words beyond its own columns: ``(columns, join)``, the columns to add to a select
    over ``entries`` (the journal entries' table) and ``join``, which outer-joins their tables to a from clause holding
    ``entries``. One join each: a list stays one query. ``words_before`` tells an entry written before the facts were
    stored, which may carry the old words."""
    movement = BalanceTransaction.__table__.alias("fact_movement")
    customer = Customer.__table__.alias("fact_customer")
    invoice = Invoice.__table__.alias("fact_invoice")
    payment = Payment.__table__.alias("fact_payment")
    meter = Meter.__table__.alias("fact_meter")

    def role(source):
        return case(
            (source.c.entry_id == entries.c.id, literal("issued")),
            (source.c.withdrawal_entry_id == entries.c.id, literal("withdrawn")),
            (source.c.id.is_not(None), literal("changed")),
        )

    columns = [
        movement.c.kind.label("movement_kind"),
        customer.c.code.label("movement_customer"),
        invoice.c.number.label("invoice_number"),
        case((invoice.c.id.is_not(None), role(invoice)), else_=role(payment)).label("source_role"),
        case((invoice.c.id.is_not(None), invoice.c.withdrawal_reason), else_=payment.c.withdrawal_reason).label(
            "withdrawal_reason"
        ),
        meter.c.serial.label("payment_meter"),
        payment.c.reference.label("payment_reference"),
        entries.c.id.between(1, literal(_written_through("journal_entries"))).label("words_before"),
    ]

    def join(from_clause):
        return (
            from_clause.outerjoin(
                movement, and_(entries.c.source_type == "balance_transaction", movement.c.id == entries.c.source_id)
            )
            .outerjoin(customer, customer.c.id == movement.c.customer_id)
            .outerjoin(invoice, and_(entries.c.source_type == "invoice", invoice.c.id == entries.c.source_id))
            .outerjoin(
                payment,
                and_(entries.c.source_type.in_(("payment", "settlement")), payment.c.id == entries.c.source_id),
            )
            .outerjoin(meter, meter.c.id == payment.c.meter_id)
        )

    return columns, join


def entry_words(entries) -> tuple[ColumnElement[str], Callable]:
    """A journal entry's description in the reader's language, said by the database: a clerk's text as typed, the
    system's words rendered from the facts (the entry's ``description``, ``source_type``, ``source_id``,
    ``reverses_id`` and its source's rows). ``(words, join)``: ``words`` the column (labelled ``words``) to add to a
    select over ``entries`` (the journal entries' table), ``join`` what outer-joins the facts' tables to a from clause
    holding ``entries``. Each form of words is the catalogue's, its placeholders replaced by the facts."""
    facts, join = _entry_facts(entries)
    fact = {column.name: column.element for column in facts}
    number, role = fact["invoice_number"], fact["source_role"]
    source, source_id = entries.c.source_type, cast(entries.c.source_id, String)
    reason = func.coalesce(fact["withdrawal_reason"], "")
    meter, reference = fact["payment_meter"], func.trim(func.coalesce(fact["payment_reference"], ""))
    reversed_entry = literal("JE-") + cast(entries.c.reverses_id, String)
    invoice, payment = literal("Invoice ") + number, literal("Payment #") + source_id
    forms = [
        *[
            (
                and_(source == "balance_transaction", fact["movement_kind"] == kind),
                literal(f"{kind.capitalize()} #") + source_id + " of " + fact["movement_customer"],
                _said(heading, id=source_id, customer=fact["movement_customer"]),
            )
            for kind, heading in _HEADINGS.items()
        ],
        (
            and_(source == "invoice", number.is_not(None), role == "withdrawn"),
            invoice + " withdrawn: " + reason,
            _said(_l("Invoice %(number)s withdrawn: %(reason)s"), number=number, reason=reason),
        ),
        (
            and_(source == "invoice", number.is_not(None), role == "changed"),
            invoice + " amount changed",
            _said(_l("Invoice %(number)s amount changed"), number=number),
        ),
        (
            and_(source == "invoice", number.is_not(None), role == "issued"),
            invoice,
            _said(_l("Invoice %(number)s"), number=number),
        ),
        (
            and_(source == "payment", role == "withdrawn"),
            payment + " withdrawn: " + reason,
            _said(_l("Payment #%(id)s withdrawn: %(reason)s"), id=source_id, reason=reason),
        ),
        (
            and_(source == "payment", role == "changed"),
            payment + " amount changed",
            _said(_l("Payment #%(id)s amount changed"), id=source_id),
        ),
        (
            and_(source == "payment", role == "issued", reference != ""),
            literal("Payment on meter ") + meter + " (" + reference + ")",
            _said(_l("Payment on meter %(meter)s (%(reference)s)"), meter=meter, reference=reference),
        ),
        (
            and_(source == "payment", role == "issued"),
            literal("Payment on meter ") + meter,
            _said(_l("Payment on meter %(meter)s"), meter=meter),
        ),
        (
            and_(source == "settlement", role == "withdrawn"),
            literal("Settlement #") + source_id + " withdrawn: " + reason,
            _said(_l("Settlement #%(id)s withdrawn: %(reason)s"), id=source_id, reason=reason),
        ),
        (
            and_(source == "settlement", role == "changed"),
            literal("Settlement #") + source_id + " amount changed",
            _said(_l("Settlement #%(id)s amount changed"), id=source_id),
        ),
        (
            source == "settlement",
            literal("Invoice ") + reference + " settled in the system before",
            _said(_l("Invoice %(number)s settled in the system before"), number=reference),
        ),
        (
            and_(source.is_(None), entries.c.reverses_id.is_not(None)),
            literal("Reversal of ") + reversed_entry,
            _said(_l("Reversal of %(number)s"), number=reversed_entry),
        ),
    ]
    description, before = entries.c.description, fact["words_before"]
    words = case(
        *[
            (
                and_(when, or_(description == "", and_(before, description == func.left(func.trim(old), MAX_LENGTH)))),
                words,
            )
            for when, old, words in forms
        ],
        else_=description,
    )
    return words.label("words"), join


def _written_through(table: str) -> int:
    """The last id of ``table`` written before the facts were stored (``models.WordsWrittenBefore``), read once per
    request or job (a list renders many rows): the upgrade wrote it, and nothing changes it."""
    through = g.get("words_written_before")
    if through is None:
        found = db.session.execute(select(WordsWrittenBefore.table_name, WordsWrittenBefore.through_id)).all()
        through = g.words_written_before = dict(found)
    return through.get(table, 0)


def _said(words, **values: ColumnElement) -> ColumnElement:
    """Catalogue words with their ``%(name)s`` replaced by SQL values, in the order given."""
    said = literal(str(words))
    for name, value in values.items():
        said = func.replace(said, f"%({name})s", value)
    return said


def entries_words(entry_ids) -> dict[int, str]:
    """The words of these entries, by id, from one query (a page's entries)."""
    ids = sorted(set(entry_ids))
    if not ids:
        return {}
    entries = JournalEntry.__table__
    words, join = entry_words(entries)
    query = select(entries.c.id, words).select_from(join(entries)).where(entries.c.id.in_(ids))
    return dict(db.session.execute(query).all())


@lru_cache(maxsize=8)
def kind_names(language: str) -> dict[str, str]:
    """:data:`KINDS` in ``language``, read once from its catalogue: a ledger names a movement by its kind on most
    rows."""
    with force_locale(language):
        return {kind: str(name) for kind, name in KINDS.items()}


def _movement_facts(row, kind: str, kinds: Mapping) -> str:
    """The words of a movement the system wrote without any: what its facts say."""
    if row.reference_type == READING and row.reverses_id is None:
        words = _READINGS["Gas"] if kind == "charge" else _GIVEN_BACK
        return words % {"id": row.reference_id}
    if row.reverses_id is not None:
        return _("Reversal of movement #%(id)s", id=row.reverses_id)
    if kind == "adjustment" and row.reason in set(AdjustmentReason):
        return str(AdjustmentReason(row.reason).label)
    return str(kinds.get(kind, kind))


def _old_movement_words(row, kind: str, description: str) -> str | None:
    """The rendered words of a description the old code wrote for the row's facts; ``None`` for a clerk's text."""
    if row.reference_type == READING:
        for what, words in _READINGS.items():
            if description == _stored(f"{what}, reading #{row.reference_id}"):
                return words % {"id": row.reference_id}
    if row.reverses_id is not None:
        for reversed_kind, words in _REVERSALS.items():
            if description == f"Reversal of {reversed_kind} #{row.reverses_id}":
                return words % {"id": row.reverses_id}
        if found := _TAMPERED_REVERSED.fullmatch(description):
            return _TAMPERED_REVERSED_WORDS % found.groupdict()
        return None
    if kind == "adjustment" and row.reason in set(AdjustmentReason):
        if description == row.reason.replace("_", " ").capitalize():
            return str(AdjustmentReason(row.reason).label)
    for old_kind, pattern, words in _OLD_TEXTS:
        if kind == old_kind and (found := pattern.fullmatch(description)):
            facts = found.groupdict()
            if "month" in facts:
                facts["month"] = named_month(Month.parse(facts["month"]))
            return str(words) % facts
    return None


def _stored(text: str) -> str:
    """Words as a description column kept them: trimmed, cut at its length."""
    return text.strip()[:MAX_LENGTH]
