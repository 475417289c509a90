"""Every movement's journal entry moves exactly the accounts and amounts its rule names.

For each posted entry that records a movement, the check sums its lines per account and compares them with the rule
table (:mod:`backoffice.posting.rules`): the debit account up by the movement's size, the credit account down by it,
every other account untouched. Posted lines are evidence: the check reports, it never rewrites.
"""

from __future__ import annotations

from functools import cached_property

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, literal, or_, select, true

from backoffice.models import (
    WALLET_KINDS,
    Account,
    BalanceTransaction,
    EntryStatus,
    JournalEntry,
    JournalLine,
    TamperedEvidence,
)
from backoffice.models.types import Money
from backoffice.posting.rules import CUSTOMER_DEPOSITS, RULES, VAT_PAYABLE, rule_of
from backoffice.posting.sql import rule_accounts, sign_sql
from backoffice.reconcile.base import CheckedField, ChunkedCheck, Scope
from backoffice.reconcile.night import sealed_since

accounts = Account.__table__
entries = JournalEntry.__table__
lines = JournalLine.__table__
ledger = BalanceTransaction.__table__
findings = TamperedEvidence.__table__

RULE_ACCOUNTS = sorted({code for rule in RULES for code in (rule.debit, rule.credit)})
"""The accounts the rules move: each is compared on its own; any other account a movement's entry moves is wrong."""
TAXED = {rule.kind.value: rule.taxed for rule in RULES if rule.taxed is not None}
"""The source types whose entries may split their VAT off an account of their rule (:data:`VAT_PAYABLE`): the VAT
counts with that account's line, so that together they move what the rule says; the invoice's own VAT is the
``invoice_tax`` check's."""
BILLING_KINDS = sorted({rule.kind for rule in RULES if rule.kind not in WALLET_KINDS})
"""The kinds whose row keeps no signed amount per entry (an invoice, a payment): the entry is read for it."""
SOURCES = {"balance_transaction": None, **{kind.value: kind for kind in BILLING_KINDS}}
"""The source types of the entries that record a movement."""


def _net(code: str | None):
    """The entry's debits less its credits on an account of the rules (``None``: on every other account, gross)."""
    if code is None:
        moved = case((accounts.c.code.in_(RULE_ACCOUNTS), 0), else_=lines.c.debit + lines.c.credit)
    else:
        moved = case((accounts.c.code == code, lines.c.debit - lines.c.credit), else_=0)
    return func.sum(moved)


def _per_entry(within: list | None = None):
    """Each entry's lines summed per account of the rules (of the entries ``within`` selects of
    ``lines.c.entry_id``, if given)."""
    query = select(
        lines.c.entry_id,
        *(_net(code).label(f"net_{code}") for code in RULE_ACCOUNTS),
        _net(VAT_PAYABLE).label("net_vat"),
        func.sum(case((accounts.c.code == VAT_PAYABLE, lines.c.debit + lines.c.credit), else_=0)).label("gross_vat"),
        _net(None).label("elsewhere"),
        func.sum(lines.c.debit + lines.c.credit).label("gross"),
    ).join(accounts, accounts.c.id == lines.c.account_id)
    return query.where(*(within or [])).group_by(lines.c.entry_id).subquery("movement_lines")


source_type = entries.c.source_type
WALLET = source_type == "balance_transaction"


def _corrected():
    """For an entry of a wallet movement an admin reviewed as tampered evidence, what the review posted beyond that
    entry (the difference the row's edited money made, ``reconcile.evidence_review``): the row as it stands less it is
    what its entry posted."""
    reviewed = select(findings.c.row_id).where(findings.c.kind == ledger.name, findings.c.resolution.is_not(None))
    review, line, account = entries.alias("review"), lines.alias("line"), accounts.alias("account")
    posted = (
        select(func.coalesce(func.sum(line.c.credit - line.c.debit), 0))
        .select_from(
            line.join(review, review.c.id == line.c.entry_id)
            .join(account, account.c.id == line.c.account_id)
            .join(findings, (review.c.source_type == findings.name) & (review.c.source_id == findings.c.id))
        )
        .where(
            findings.c.kind == ledger.name,
            findings.c.row_id == entries.c.source_id,
            review.c.status == EntryStatus.POSTED.value,
            account.c.code == CUSTOMER_DEPOSITS,
        )
        .scalar_subquery()
    )
    # Asked only of the few entries whose movement was reviewed: a set the statement reads once.
    return case((entries.c.source_id.in_(reviewed), posted), else_=0)


def _signed(per_entry, movement):
    """The movement's signed amount by the rule table's signs (a reviewed wallet movement's, as its entry posted it)."""
    return case(
        (WALLET, movement.c.signed_amount - _corrected()),
        *((source_type == billing.value, per_entry.c[f"net_{rule_of(billing, 1).debit}"]) for billing in BILLING_KINDS),
    )


def _cents(value):
    return func.round(func.coalesce(value, 0), 2, type_=Money)


class MovementAccounts(ChunkedCheck):
    name = "movement_accounts"
    label = _l("Movements' journal entries")
    description = _l(
        "every posted entry of a movement debits the account its rule names and credits the one it names, by the "
        "movement's amount, and moves no other account"
    )
    entity_type = "journal_entry"
    by_customer = False
    table = entries
    after = ("reading_calculation",)
    fixable = False  # posted lines are evidence: a wrong entry is corrected by a new one, never rewritten
    counted_on_table = True

    @cached_property
    def per_entry(self):
        return _per_entry(self.within(lines.c.entry_id, entries.name))

    @cached_property
    def movement(self):
        """Each wallet entry's movement, by the entry's source: the ledger, joined whole (a chunk's entries are most
        of its rows' movements), or in a night's part looked up entry by entry (a join would read the whole ledger
        for a few of its rows, in each chunk)."""
        if self.part is None:
            return ledger
        return (
            select(ledger.c.kind, ledger.c.signed_amount)
            .where(WALLET, ledger.c.id == entries.c.source_id)
            .lateral("movement")
        )

    @cached_property
    def signed(self):
        return _signed(self.per_entry, self.movement)

    @cached_property
    def rule(self):
        return rule_accounts()

    @property
    def source(self):
        per_entry, rule, movement = self.per_entry, self.rule, self.movement
        found = WALLET & (ledger.c.id == entries.c.source_id) if movement is ledger else true()
        kind = case((WALLET, movement.c.kind), else_=source_type)
        return (
            entries.outerjoin(per_entry, per_entry.c.entry_id == entries.c.id)
            .outerjoin(movement, found)
            .outerjoin(rule, (rule.c.kind == kind) & (rule.c.sign == sign_sql(self.signed)))
        )

    def fields(self):
        per_entry, rule = self.per_entry, self.rule
        size = func.abs(func.coalesce(self.signed, 0))
        taxed = source_type.in_(TAXED)

        def moved(code: str):
            """What the entry moved on the account, with the VAT split off it where its rule lets it."""
            split = [source_type == kind for kind, account in TAXED.items() if account == code]
            if not split:
                return per_entry.c[f"net_{code}"]
            return per_entry.c[f"net_{code}"] + case((or_(*split), per_entry.c.net_vat), else_=0)

        per_account = [
            CheckedField(
                f"account_{code}",
                _cents(moved(code)),
                _cents(case((rule.c.debit == code, size), (rule.c.credit == code, -size), else_=literal(0))),
            )
            for code in RULE_ACCOUNTS
        ]
        return [
            *per_account,
            CheckedField(
                "other_accounts",
                _cents(per_entry.c.elsewhere - case((taxed, per_entry.c.gross_vat), else_=0)),
                literal(0, Money),
            ),
            # Two lines of the movement's size, and nothing more: a line and its opposite on one account net to
            # nothing but are lines the rule does not name.
            CheckedField("lines_total", _cents(per_entry.c.gross), _cents(2 * size)),
        ]

    def scope_conditions(self, scope: Scope):
        conditions = [entries.c.status == EntryStatus.POSTED.value, source_type.in_(SOURCES)]
        if scope.from_month:
            conditions.append(entries.c.entry_date >= scope.from_month)
        return conditions

    def marked(self):
        return {entries.name: (entries.c.id,)}

    def changed(self, since, after):
        # An entry is sealed as it is posted; its movement, appended with it, never changes.
        return {entries.name: sealed_since([entries.name], since)}
