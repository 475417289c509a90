"""The journal writer: every entry of the general ledger is written here.

An entry is checked (two lines or more, debits equal to credits) and written with its lines and the accounts' balances
inside the caller's transaction, so a money event and its entry commit together. Balances move in per-customer
buckets, written last, so that postings for unrelated customers do not wait for each other. A manual entry may not
touch a control account, which moves only with its sub-ledger.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Insert, Select, String, bindparam, cast, func, insert, literal, select, true, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal

from backoffice.evidence import sealing
from backoffice.models import (
    BUCKETS,
    Account,
    AccountBalanceBucket,
    AccountType,
    EntryStatus,
    JournalEntry,
    JournalLine,
    User,
    normal_amount,
)
from backoffice.models.types import Balance, constant, upsert, utcnow
from backoffice.platform.money import MAX_BALANCE, BeyondLimit, MoneyError, check_amount, shown
from backoffice.posting.installation import Installation
from backoffice.posting.rules import VAT_PAYABLE

accounts = Account.__table__
buckets = AccountBalanceBucket.__table__
entries = JournalEntry.__table__
lines_table = JournalLine.__table__


class BooksError(ValueError):
    """An entry the books refuse; nothing was written."""


SOURCE_NAMES = {
    "balance_transaction": _l("wallet movement"),
    "invoice": _l("invoice"),
    "payment": _l("payment"),
    "settlement": _l("settled in the system before"),
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


class next_id(FunctionElement):
    """``next_id(table)``: the id the table's next row will have, taken before inserting it, so that what refers
    to the row (an entry's number, its source) can be written first."""

    type = entries.c.id.type
    inherit_cache = True
    name = "next_id"
    _traverse_internals = [*FunctionElement._traverse_internals, ("table", InternalTraversal.dp_string)]

    def __init__(self, table: str) -> None:
        self.table = table
        super().__init__()


@compiles(next_id)
def _next_id(element, compiler, **kw):
    return f"nextval(pg_get_serial_sequence('{element.table}', 'id'))"


_ACCOUNTS = select(accounts.c.id, accounts.c.code, accounts.c.type).where(
    accounts.c.code.in_(bindparam("codes", expanding=True))
)


@dataclass(frozen=True)
class _Account:
    id: int
    type: AccountType


def accounts_of(installation: Installation, connection: Connection, codes) -> dict[str, _Account]:
    """The accounts of these codes, remembered by the installation: an account's id and type never change once it
    exists. Raises :class:`BooksError` for a code the chart of accounts does not have."""
    return _accounts(installation, connection, set(codes))


def _accounts(installation: Installation, connection: Connection, codes: set[str]) -> dict[str, _Account]:
    known: dict[str, _Account] = installation.accounts
    if missing := codes - set(known):
        for row in connection.execute(_ACCOUNTS, {"codes": sorted(missing)}):
            known[row.code] = _Account(row.id, AccountType(row.type))
    if unknown := sorted(codes - set(known)):
        raise BooksError(_("No account %(codes)s in the chart of accounts.", codes=", ".join(unknown)))
    return {code: known[code] for code in codes}


def post(
    installation: Installation,
    connection: Connection,
    entry_date: date,
    description: str,
    lines: list[Line],
    *,
    source: Source | None = None,
    user: User | None = None,
    reverses_id: int | None = None,
    bucket_key: int | None = None,
    idempotency_key: str | None = None,
) -> int:
    """Post a balanced entry within the caller's transaction; returns its id. Raises :class:`BooksError`.

    An entry without a ``source`` is a manual entry: a line on a control account refuses it (:class:`ControlAccount`);
    its ``idempotency_key`` (the form's) is unique among entries.
    ``bucket_key``: whose money moved (a customer's id; for an invoice or a payment, the customer who held the
    meter), which chooses the bucket of the accounts' balances the entry moves; none for an entry of the company's
    own.
    """
    if source is None:
        refuse_control_accounts(connection, check_lines(lines))
    return _post(
        installation, connection, entry_date, description, lines, source, user, reverses_id, bucket_key, idempotency_key
    )


def _post(
    installation, connection, entry_date, description, lines, source, user, reverses_id, bucket_key, key=None
) -> int:
    """:func:`post`, for the manual lines it has already let through or for a reversal's swapped lines."""
    recorded = record(
        installation,
        connection,
        ENTRY,
        entry_date,
        lines,
        description=description,
        source=source,
        reverses_id=reverses_id,
        idempotency_key=key,
    )
    settle(connection, recorded, user)
    move(connection, recorded, bucket_key)
    return recorded.entry_id


@dataclass(frozen=True)
class Recorded:
    """A posted entry whose accounts are still to be moved (:func:`move`, the last statement of a unit of work)."""

    entry_id: int
    source_id: int | None
    lines: list[Line]
    accounts: dict[str, _Account]


def record(
    installation: Installation, connection: Connection, statement, entry_date: date, lines: list[Line], **values
) -> Recorded:
    """Write a balanced entry as a draft with ``statement`` (:func:`entry_statement`), to be posted by :func:`settle`
    and its accounts moved by :func:`move`.

    ``values`` binds the statement's parameters (``description``, ``source``, ``reverses_id``, or its own).
    """
    checked = check_lines(lines)
    found = _accounts(installation, connection, {ln.account for ln in checked})
    source = values.pop("source", None)
    if source is not None:
        values |= {"source_type": source.type, "source_id": source.id}
    if "description" in values:
        values["description"] = values["description"].strip()[:300]
    row = connection.execute(statement, {**_ENTRY_DEFAULTS, **values, "entry_date": entry_date, "created_at": utcnow()})
    entry_id, source_id = row.one()
    _insert_lines(connection, entry_id, checked, found)
    return Recorded(entry_id, source_id, checked, found)


def settle(connection: Connection, recorded: Recorded, user: User | None) -> None:
    """Post a recorded entry; it is sealed when the unit of work commits."""
    _mark_posted(connection, recorded.entry_id, user)
    sealing.written(connection, "journal_entries", [(recorded.entry_id, 0)])


def move(connection: Connection, recorded: Recorded, bucket_key: int | None) -> None:
    """Move the accounts by a recorded entry's lines, in the bucket of ``bucket_key`` (see :func:`post`)."""
    move_lines(connection, recorded.lines, recorded.accounts, bucket_key)


@dataclass(frozen=True)
class Sourced:
    """An entry of a batch (:func:`post_sourced`): its id (taken by the caller), date and lines, what it records and
    whose money it moves (``bucket_key``, as :func:`post`'s)."""

    entry_id: int
    entry_date: date
    lines: list[Line]
    source: Source
    bucket_key: int | None
    description: str = ""


def post_sourced(installation: Installation, connection: Connection, batch: list[Sourced], user: User | None) -> None:
    """Post the entries as :func:`record`, :func:`settle` and :func:`move` post one, a statement for all of them at
    each step: written as drafts with their lines, posted, sealed when the unit of work commits, and the accounts
    moved once by their sum."""
    checked = [check_lines(entry.lines) for entry in batch]
    found = _accounts(installation, connection, {ln.account for lines in checked for ln in lines})
    moment = utcnow()
    connection.execute(
        insert(entries),
        [
            {
                "id": entry.entry_id,
                "number": f"JE-{entry.entry_id}",
                "entry_date": entry.entry_date,
                "description": entry.description.strip()[:300],
                "status": EntryStatus.DRAFT,
                "source_type": entry.source.type,
                "source_id": entry.source.id,
                "created_at": moment,
            }
            for entry in batch
        ],
    )
    connection.execute(
        insert(lines_table),
        [
            {
                "entry_id": entry.entry_id,
                "account_id": found[ln.account].id,
                "debit": ln.debit,
                "credit": ln.credit,
                "description": ln.description.strip()[:300],
            }
            for entry, lines in zip(batch, checked, strict=True)
            for ln in lines
        ],
    )
    ids = [entry.entry_id for entry in batch]
    connection.execute(
        update(entries)
        .where(entries.c.id.in_(ids))
        .values(status=EntryStatus.POSTED, posted_at=moment, posted_by_id=user.id if user else None)
    )
    sealing.written(connection, "journal_entries", [(entry_id, 0) for entry_id in ids])
    moved: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    for entry, lines in zip(batch, checked, strict=True):
        for key, by in moves(lines, found, entry.bucket_key).items():
            moved[key] += by
    move_buckets(connection, moved)


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
    checked = check_lines(lines, complete=False)
    refuse_control_accounts(connection, checked)
    found = _accounts(installation, connection, {ln.account for ln in checked})
    entry_id = connection.execute(
        ENTRY,
        {
            **_ENTRY_DEFAULTS,
            "entry_date": entry_date,
            "description": description.strip()[:300],
            "idempotency_key": idempotency_key,
            "created_at": utcnow(),
        },
    ).first()[0]
    _insert_lines(connection, entry_id, checked, found)
    return entry_id


def post_draft(
    installation: Installation,
    connection: Connection,
    entry_id: int,
    *,
    user: User | None = None,
    bucket_key: int | None = None,
) -> None:
    """Post a draft, if it balances and has no line on a control account (``bucket_key`` as for :func:`post`)."""
    lines = _draft_lines(connection, entry_id)
    checked = check_lines(lines)
    refuse_control_accounts(connection, checked)
    found = _accounts(installation, connection, {ln.account for ln in checked})
    _mark_posted(connection, entry_id, user)
    sealing.written(connection, "journal_entries", [(entry_id, 0)])
    move_lines(connection, checked, found, bucket_key)


def refuse_control_accounts(connection: Connection, lines: list[Line]) -> None:
    """Raise :class:`ControlAccount` for the first of a manual entry's lines (checked) on a control account."""
    codes = {ln.account for ln in lines}
    controlled = {
        code: (f"{code} {name}", ledger)
        for code, name, ledger in connection.execute(
            select(accounts.c.code, accounts.c.name, accounts.c.controlled_by).where(
                accounts.c.code.in_(codes), accounts.c.controlled_by.is_not(None)
            )
        )
    }
    for number, ln in enumerate(lines, start=1):
        if (found := controlled.get(ln.account)) is not None:
            raise ControlAccount(number, *found)


def void_draft(connection: Connection, entry_id: int) -> None:
    """Set a draft aside for good; it never moved a balance."""
    _draft_lines(connection, entry_id)
    connection.execute(update(entries).where(entries.c.id == entry_id).values(status=EntryStatus.VOID))


def _draft_lines(connection: Connection, entry_id: int) -> list[Line]:
    entry = connection.execute(_locked_entry(entry_id)).one_or_none()
    if entry is None:
        raise BooksError(_("No draft entry %(id)s.", id=entry_id))
    if (status := EntryStatus(entry.status)) is not EntryStatus.DRAFT:
        if status is EntryStatus.POSTED:
            refusal = _("%(number)s has already been posted: a posted or void entry does not change.")
        else:
            refusal = _("%(number)s has already been voided: a posted or void entry does not change.")
        raise BooksError(refusal % {"number": entry.number})
    return [
        Line(code, debit, credit, description)
        for code, debit, credit, description in connection.execute(
            select(accounts.c.code, lines_table.c.debit, lines_table.c.credit, lines_table.c.description)
            .join(accounts, accounts.c.id == lines_table.c.account_id)
            .where(lines_table.c.entry_id == entry_id)
            .order_by(lines_table.c.id)
        )
    ]


def _locked_entry(entry_id: int):
    """The entry, locked until the transaction ends: of two admins posting, voiding or reversing the same entry
    at once, the second waits, then finds it settled."""
    return select(entries).where(entries.c.id == entry_id).with_for_update(key_share=True)


def _mark_posted(connection, entry_id: int, user: User | None) -> None:
    connection.execute(_POSTED, {"entry_id": entry_id, "moment": utcnow(), "user_id": user.id if user else None})


def entry_statement(new_source=None, **columns):
    """The statement inserting a draft entry with its number, ``JE-`` and its id (taken first, so the insert is one
    statement); returns ``(id, source_id)``. ``columns`` replaces a bound column by an expression, which may use
    ``new_source``, a one-row subquery taking the id of the row the entry records."""
    new = select(next_id("journal_entries").label("n")).subquery()
    values = {"id": new.c.n, "number": literal("JE-") + cast(new.c.n, String)}
    for name in (
        "entry_date",
        "description",
        "source_type",
        "source_id",
        "reverses_id",
        "idempotency_key",
        "created_at",
    ):
        given = columns.get(name)
        values[name] = bindparam(name, type_=entries.c[name].type) if given is None else given
    values["status"] = literal(EntryStatus.DRAFT.value)
    taken = new if new_source is None else new.join(new_source, true())
    return (
        insert(entries)
        .from_select(list(values), select(*values.values()).select_from(taken))
        .returning(entries.c.id, entries.c.source_id)
    )


ENTRY = entry_statement()
_ENTRY_DEFAULTS = {
    "description": "",
    "source_type": None,
    "source_id": None,
    "reverses_id": None,
    "idempotency_key": None,
}
_POSTED = (
    update(entries)
    .where(entries.c.id == bindparam("entry_id"))
    .values(
        status=EntryStatus.POSTED,
        posted_at=bindparam("moment", type_=entries.c.posted_at.type),
        posted_by_id=bindparam("user_id", type_=entries.c.posted_by_id.type),
    )
)


def _insert_lines(connection, entry_id: int, checked: list[Line], found: dict[str, _Account]) -> None:
    connection.execute(
        insert(lines_table),
        [
            {
                "entry_id": entry_id,
                "account_id": found[ln.account].id,
                "debit": ln.debit,
                "credit": ln.credit,
                "description": ln.description.strip()[:300],
            }
            for ln in checked
        ],
    )


def move_lines(connection, checked: list[Line], found: dict[str, _Account], bucket_key: int | None) -> None:
    """Move each account's bucket by its lines in its normal direction, the last statements before the commit."""
    move_buckets(connection, moves(checked, found, bucket_key))


def moves(checked: list[Line], found: dict[str, _Account], bucket_key: int | None) -> dict[tuple[int, int], Decimal]:
    """What the lines add to each (account, bucket): the bucket of ``bucket_key`` (0 for none)."""
    bucket = bucket_of(bucket_key)
    moved: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    for ln in checked:
        account = found[ln.account]
        moved[account.id, bucket] += normal_amount(account.type, ln.debit, ln.credit)
    return moved


def bucket_of(key: int | None) -> int:
    """The bucket of the accounts' balances that the money of a customer (or meter) ``key`` moves."""
    return 0 if key is None else key % BUCKETS


def move_buckets(connection, moves: dict[tuple[int, int], Decimal]) -> None:
    """One upsert of the buckets in (account, bucket) order (a single statement, its rows in that order): two
    postings never lock the same buckets in opposite orders. The account's own row is neither locked nor written.
    Nothing to move (an empty batch) is no statement.
    """
    if not moves:
        return
    rows = [
        {"account_id": account, "bucket": bucket, "by": moves[account, bucket]} for account, bucket in sorted(moves)
    ]
    moved = connection.execute(_MOVE, rows).all()
    if len(moved) < len(moves):
        raise BeyondLimit(beyond_limit(connection, moves))


def adding_to_buckets(rows: Select | None = None) -> Insert:
    """``INSERT … ON CONFLICT (account_id, bucket) DO UPDATE SET balance = balance + excluded.balance``.

    It adds ``rows`` (a select of account id, bucket and amount) or, without, the bound ``account_id``,
    ``bucket`` and ``by`` to the buckets, a bucket being created by its first amount. A bucket whose
    balance the column could not hold is not updated: it is missing from the accounts the statement returns.
    """
    new = upsert(buckets)
    if rows is None:
        new = new.values(
            account_id=bindparam("account_id"), bucket=bindparam("bucket"), balance=bindparam("by", type_=Balance)
        )
    else:
        new = new.from_select([buckets.c.account_id, buckets.c.bucket, buckets.c.balance], rows)
    moved = buckets.c.balance + new.excluded.balance
    return new.on_conflict_do_update(
        index_elements=[buckets.c.account_id, buckets.c.bucket],
        set_={"balance": moved},
        where=func.abs(moved) <= constant(MAX_BALANCE),
    ).returning(buckets.c.account_id)


_MOVE = adding_to_buckets()
"""The posting's statement: the bound ``account_id``, ``bucket`` and ``by`` added to the buckets."""


def beyond_limit(connection, moves: dict[tuple[int, int], Decimal]) -> str:
    """The accounts whose balance the moves would take beyond what a balance holds, named for a refusal."""
    rows = connection.execute(
        select(accounts.c.id, accounts.c.code, accounts.c.name, buckets.c.bucket, buckets.c.balance)
        .join(buckets, buckets.c.account_id == accounts.c.id)
        .where(accounts.c.id.in_({account for account, _bucket in moves}))
    )
    names = {
        f"{r.code} {r.name}"
        for r in rows
        if (r.id, r.bucket) in moves and abs(Decimal(r.balance) + moves[r.id, r.bucket]) > MAX_BALANCE
    }
    if not names:
        return _("The balance of an account")
    return _("The balance of %(accounts)s", accounts=", ".join(sorted(names)))


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
        for code, debit, credit, description in connection.execute(
            select(accounts.c.code, lines_table.c.debit, lines_table.c.credit, lines_table.c.description)
            .join(accounts, accounts.c.id == lines_table.c.account_id)
            .where(lines_table.c.entry_id == entry_id)
            .order_by(lines_table.c.id)
        )
    ]
    return _post(installation, connection, entry_date, "", swapped, None, user, entry_id, None)


def rule_lines(rule, amount: Decimal, tax: Decimal = Decimal(0)) -> list[Line]:
    """A movement's lines by its rule: the rule's debit and credit accounts, for the movement's size; its ``tax``
    (signed as the amount, within it) split off the line of the rule's ``taxed`` account to VAT payable."""
    if tax and (rule.taxed is None or abs(tax) > abs(amount) or (tax < 0) != (amount < 0)):
        raise BooksError(f"A {rule.kind} of {amount} carries no VAT of {tax}.")
    size, tax = abs(amount), abs(tax)
    lines = [Line(rule.debit, debit=size), Line(rule.credit, credit=size)]
    if not tax:
        return lines
    split = []
    for ln in lines:
        if ln.account != rule.taxed:
            split.append(ln)
            continue
        debit = ln.debit > 0
        kept = size - tax
        if kept:
            split.append(Line(ln.account, debit=kept) if debit else Line(ln.account, credit=kept))
        split.append(Line(VAT_PAYABLE, debit=tax) if debit else Line(VAT_PAYABLE, credit=tax))
    return split


def check_lines(lines: list[Line], *, complete: bool = True) -> list[Line]:
    """The lines with their amounts checked, or :class:`BooksError` saying what is wrong.

    ``complete``: the entry is to be posted, so it needs two lines or more and must balance.
    """
    if not lines or (complete and len(lines) < 2):
        raise BooksError(_("An entry needs at least two lines.") if complete else _("An entry needs a line at least."))
    checked = []
    for number, ln in enumerate(lines, start=1):
        try:
            debit, credit = check_amount(ln.debit), check_amount(ln.credit)
        except MoneyError as error:
            raise BooksError(_("Line %(number)s: %(error)s", number=number, error=error)) from None
        if (debit > 0) == (credit > 0):
            raise BooksError(_("Line %(number)s: enter either a debit or a credit, greater than zero.", number=number))
        if not ln.account.strip():
            raise BooksError(_("Line %(number)s: choose an account.", number=number))
        checked.append(Line(ln.account.strip(), debit, credit, ln.description))
    debits, credits = sum(ln.debit for ln in checked), sum(ln.credit for ln in checked)
    if complete and debits != credits:
        raise BooksError(
            _(
                "Debits (%(debits)s) and credits (%(credits)s) differ by %(difference)s.",
                debits=shown(debits),
                credits=shown(credits),
                difference=shown(abs(debits - credits)),
            )
        )
    return checked
