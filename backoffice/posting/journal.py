"""The journal: every entry of the general ledger is written by one function of SQL, ``post_journal_v1``.

A batch of entries (a single one is a batch of one) is given to the function as JSON: a manual entry's lines, a
money event's kind and amount (whose lines the rule table in the database, ``posting_rules``, makes), or a draft to
post as it was saved. The function checks the batch, refuses it whole with the first thing wrong and its figures
(nothing written), or writes the entries with their lines and moves the accounts' balances, in per-customer buckets,
last, inside the caller's transaction: a money event and its entry commit together. Python says its refusals in the
reader's language (:func:`refused`), and nothing else of the books: whether an entry is an accountant's (no line
on a control account) the function says of its lines (migration ``0102``), never its caller.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, Integer, String, bindparam, cast, column, func, literal, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from backoffice.evidence import sealing
from backoffice.models import BUCKETS, Account, EntryStatus, JournalEntry, JournalLine, User
from backoffice.models.types import utcnow
from backoffice.platform.money import BeyondLimit, MoneyError, check_amount, shown
from backoffice.posting.installation import Installation
from backoffice.posting.refusals import DatedAfterToday
from backoffice.posting.rules import NoRule, rule_of

entries = JournalEntry.__table__
lines_table = JournalLine.__table__
accounts = Account.__table__
REFUSED = "JL001"
"""The SQLSTATE the journal's function raises a refusal with, its figures in the error's detail as JSON."""


class BooksError(ValueError):
    """An entry the books refuse; nothing was written."""


SOURCE_NAMES = {
    "balance_transaction": _l("wallet movement"),
    "invoice": _l("invoice"),
    "payment": _l("payment"),
    "settlement": _l("settled in the system before"),
    "tampered_evidence": _l("review of tampered evidence"),
}
"""What posted an automatic entry, as the reader's language names it."""

SUB_LEDGERS = {
    "the customers' wallets": _l("the customers' wallets"),
    "the meters' invoices and payments": _l("the meters' invoices and payments"),
}
"""A control account's sub-ledger (``accounts.controlled_by``, kept in English as migration 0030 wrote it), as the
reader's language names it."""


class ControlAccount(BooksError):
    """A manual entry's line on a control account: only the account's sub-ledger moves it."""

    def __init__(self, number: int, account: str, controlled_by: str) -> None:
        super().__init__(
            _(
                "Line %(number)s: %(account)s is a control account: only %(controlled_by)s move it, never a manual "
                "entry.",
                number=number,
                account=account,
                controlled_by=str(SUB_LEDGERS.get(controlled_by, controlled_by)),
            )
        )
        self.number = number
        """The line's place among the lines given, from 1."""


@dataclass(frozen=True)
class Line:
    account: str
    """The account's code."""
    debit: Decimal = Decimal(0)
    credit: Decimal = Decimal(0)
    description: str = ""


@dataclass(frozen=True)
class Source:
    """The money event an entry records, e.g. ``Source("balance_transaction", 42)``."""

    type: str
    id: int


@dataclass(frozen=True, kw_only=True)
class Entry:
    """An entry of a batch, as ``post_journal_v1`` takes it: ``lines`` for a manual entry, or ``kind``, ``amount``
    (signed as its rule reads it) and ``tax`` for one whose lines the rule table makes, or ``draft_id``, a draft to
    post as it was saved."""

    entry_date: date | None = None
    lines: Sequence[Line] = ()
    description: str = ""
    draft: bool = False
    """Kept as a draft: its lines need not balance yet, and it moves no balance."""
    source: Source | None = None
    reverses_id: int | None = None
    idempotency_key: str | None = None
    bucket_key: int | None = None
    """Whose money moved (a customer's id; for an invoice or a payment, the customer who held the meter), which
    chooses the bucket of the accounts' balances the entry moves; none for an entry of the company's own."""
    kind: str | None = None
    amount: Decimal | None = None
    tax: Decimal = Decimal(0)
    draft_id: int | None = None
    id: int | None = None
    """Taken by the caller (what the entry records refers to it); else the function takes it."""

    def given(self, place: int) -> dict:
        """The entry as the function's JSON gives it."""
        return {
            "place": place,
            "id": self.id,
            "entry_date": self.entry_date,
            "description": self.description,
            "status": (EntryStatus.DRAFT if self.draft else EntryStatus.POSTED).value,
            "source_type": self.source.type if self.source else None,
            "source_id": self.source.id if self.source else None,
            "reverses_id": self.reverses_id,
            "idempotency_key": self.idempotency_key,
            "bucket_key": self.bucket_key,
            "kind": self.kind,
            "amount": self.amount,
            "tax": self.tax,
            "draft_id": self.draft_id,
        }


def _json(rows: list[dict]) -> str:
    return json.dumps(rows, default=str)


def _batch(entries_: Sequence[Entry]) -> dict:
    return {
        "entries": _json([entry.given(place) for place, entry in enumerate(entries_, start=1)]),
        "lines": _json(
            [
                {
                    "place": place,
                    "account": ln.account,
                    "debit": ln.debit,
                    "credit": ln.credit,
                    "description": ln.description,
                }
                for place, entry in enumerate(entries_, start=1)
                for ln in entry.lines
            ]
        ),
    }


def _given(name: str):
    """A batch's entries or lines, bound as the JSON text :func:`_batch` writes."""
    return cast(bindparam(name, type_=String), JSONB)


_WRITE = select(
    func.post_journal_v1(
        _given("entries"),
        _given("lines"),
        literal(BUCKETS),
        bindparam("today", type_=Date),
        bindparam("moment"),
        bindparam("user_id", type_=Integer),
    )
    .table_valued(column("place", Integer), column("entry_id", Integer))
    .render_derived()
)
_REFUSAL = select(func.journal_refusal_v1(_given("entries"), _given("lines"), bindparam("today", type_=Date)))


def write(
    installation: Installation, connection: Connection, batch: Sequence[Entry], user: User | None = None
) -> list[int]:
    """Write the batch within the caller's transaction; returns each entry's id, in the order given. Raises the first
    refusal (:func:`refused`); nothing is written then. A posted entry is sealed when the unit of work commits."""
    if not batch:
        return []
    given = _batch(batch) | {"today": installation.today(), "moment": utcnow(), "user_id": user.id if user else None}
    with refusals(installation):
        ids = [row.entry_id for row in connection.execute(_WRITE, given)]
    sealing.written(
        connection, "journal_entries", [(id_, 0) for id_, entry in zip(ids, batch, strict=True) if not entry.draft]
    )
    return ids


def refusal(installation: Installation, connection: Connection, entry: Entry) -> BooksError | None:
    """What posting would refuse the entry for, in the reader's language, writing nothing; ``None``: it would post."""
    found = connection.execute(_REFUSAL, _batch([entry]) | {"today": installation.today()}).scalar_one()
    return None if found is None else refused(found, installation)


@contextmanager
def refusals(installation: Installation):
    """Raise the refusal the journal's function raised, in the reader's language; any other error as it is."""
    try:
        yield
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) != REFUSED:
            raise
        raise refused(json.loads(error.orig.diag.message_detail, parse_float=Decimal), installation) from None


def refused(found: dict, installation: Installation) -> Exception:
    """The refusal the journal's function's figures ``found`` say."""
    failed, number = found["refusal"], found.get("number")
    if failed == "draft":
        if found["status"] == EntryStatus.POSTED:
            said = _("%(number)s has already been posted: a posted or void entry does not change.")
        elif found["status"] == EntryStatus.VOID:
            said = _("%(number)s has already been voided: a posted or void entry does not change.")
        else:
            return BooksError(_("No draft entry %(id)s.", id=found["id"]))
        return BooksError(said % {"number": found["number"]})
    if failed == "rule":
        amount = Decimal(str(found["amount"]))
        try:
            rule_of(found["kind"], amount)
        except NoRule as error:
            return error
        return BooksError(f"A {found['kind']} of {amount} carries no VAT of {found['tax']}.")
    if failed == "today":
        return DatedAfterToday(date.fromisoformat(found["today"]), installation.timezone)
    if failed == "lines":
        return BooksError(
            _("An entry needs at least two lines.") if found["posting"] else _("An entry needs a line at least.")
        )
    if failed == "amount":
        try:
            check_amount(Decimal(found["amount"]))
            error = _("Not an amount.")
        except MoneyError as refusal_:
            error = str(refusal_)
        return BooksError(_("Line %(number)s: %(error)s", number=number, error=error))
    if failed == "side":
        return BooksError(_("Line %(number)s: enter either a debit or a credit, greater than zero.", number=number))
    if failed == "blank":
        return BooksError(_("Line %(number)s: choose an account.", number=number))
    if failed == "balanced":
        debits, credits = Decimal(str(found["debits"])), Decimal(str(found["credits"]))
        return BooksError(
            _(
                "Debits (%(debits)s) and credits (%(credits)s) differ by %(difference)s.",
                debits=shown(debits),
                credits=shown(credits),
                difference=shown(abs(debits - credits)),
            )
        )
    if failed == "control":
        return ControlAccount(number, found["account"], found["controlled_by"])
    if failed == "account":
        return BooksError(_("No account %(codes)s in the chart of accounts.", codes=found["codes"]))
    return BeyondLimit(_("The balance of %(accounts)s", accounts=found["accounts"]))


def post(
    installation: Installation,
    connection: Connection,
    entry_date: date,
    description: str,
    lines: list[Line],
    *,
    user: User | None = None,
    reverses_id: int | None = None,
    bucket_key: int | None = None,
    idempotency_key: str | None = None,
) -> int:
    """Post a balanced entry within the caller's transaction; returns its id. Raises :class:`BooksError`.

    Typed lines are an accountant's: a line on a control account refuses them (:class:`ControlAccount`), unless they
    reverse ``reverses_id`` exactly (the function decides it). Its ``idempotency_key`` (the form's) is unique among
    entries. ``bucket_key``: as :class:`Entry`'s.
    """
    entry = Entry(
        entry_date=entry_date,
        lines=lines,
        description=description,
        reverses_id=reverses_id,
        bucket_key=bucket_key,
        idempotency_key=idempotency_key,
    )
    return write(installation, connection, [entry], user)[0]


def save_draft(
    installation: Installation,
    connection: Connection,
    entry_date: date,
    description: str,
    lines: list[Line],
    idempotency_key: str | None = None,
) -> int:
    """Keep a manual entry being prepared: its lines need not balance yet, and it moves no balance; a line on a
    control account is refused now rather than when it is posted. ``idempotency_key``: the form's, unique."""
    entry = Entry(
        entry_date=entry_date,
        lines=lines,
        description=description,
        draft=True,
        idempotency_key=idempotency_key,
    )
    return write(installation, connection, [entry])[0]


def post_draft(
    installation: Installation,
    connection: Connection,
    entry_id: int,
    *,
    user: User | None = None,
    bucket_key: int | None = None,
) -> None:
    """Post a draft, if it balances and has no line on a control account (``bucket_key`` as :class:`Entry`'s)."""
    write(installation, connection, [Entry(draft_id=entry_id, bucket_key=bucket_key)], user)


def void_draft(connection: Connection, entry_id: int) -> None:
    """Set a draft aside for good; it never moved a balance."""
    entry = connection.execute(_locked_entry(entry_id)).one_or_none()
    if entry is None or entry.status != EntryStatus.DRAFT:
        found = {"id": entry_id, "number": entry and entry.number, "status": entry and entry.status}
        raise refused({"refusal": "draft", **found}, None)
    connection.execute(update(entries).where(entries.c.id == entry_id).values(status=EntryStatus.VOID))


def _locked_entry(entry_id: int):
    """The entry, locked until the transaction ends: of two admins posting, voiding or reversing the same entry
    at once, the second waits, then finds it settled."""
    return select(entries).where(entries.c.id == entry_id).with_for_update(key_share=True)


def reverse(
    installation: Installation, connection: Connection, entry_id: int, entry_date: date, *, user: User | None = None
) -> int:
    """Post the reversing entry of a manual entry (its lines with debits and credits swapped); returns its id.

    A line on a control account does not refuse it: such an entry was posted before control accounts refused
    manual lines, and its reversal puts the account back in step with its sub-ledger.
    An entry a money event posted is corrected through the event (a wallet reversal, a withdrawn
    invoice), which posts its own entry: reversing it here would leave the books and the event apart.
    """
    original = connection.execute(_locked_entry(entry_id)).one_or_none()
    if original is None or original.status != EntryStatus.POSTED:
        raise BooksError(_("No posted entry %(id)s.", id=entry_id))
    if original.source_type is not None:
        raise BooksError(
            _(
                "%(number)s was posted by a %(source)s: correct it through that (a wallet reversal, a withdrawn "
                "invoice or payment), which posts its own entry.",
                number=original.number,
                source=SOURCE_NAMES.get(original.source_type, original.source_type.replace("_", " ")),
            )
        )
    if connection.execute(select(entries.c.number).where(entries.c.reverses_id == entry_id)).first() is not None:
        raise BooksError(_("%(number)s has already been reversed.", number=original.number))
    swapped = [
        Line(code, debit=credit, credit=debit, description=description)
        for code, debit, credit, description in connection.execute(_LINES, {"entry_id": entry_id})
    ]
    entry = Entry(entry_date=entry_date, lines=swapped, reverses_id=entry_id)
    return write(installation, connection, [entry], user)[0]


_LINES = (
    select(accounts.c.code, lines_table.c.debit, lines_table.c.credit, lines_table.c.description)
    .join(accounts, accounts.c.id == lines_table.c.account_id)
    .where(lines_table.c.entry_id == bindparam("entry_id"))
    .order_by(lines_table.c.id)
)
"""A posted entry's lines, in the order written."""
