from __future__ import annotations

from functools import cached_property

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select

from backoffice.models import Account, EntryStatus, JournalEntry, JournalLine
from backoffice.platform.sentences import Sentence
from backoffice.reconcile.base import CheckedField, ChunkedCheck, Scope, differs
from backoffice.reconcile.night import sealed_since

accounts = Account.__table__
entries = JournalEntry.__table__
lines = JournalLine.__table__


def _per_entry(within: list | None = None):
    """Each entry's debits, credits and lines (of the entries ``within`` selects of ``lines.c.entry_id``, if given)."""
    query = select(
        lines.c.entry_id,
        func.sum(lines.c.debit).label("debits"),
        func.sum(lines.c.credit).label("credits"),
        func.count().label("lines"),
    )
    return query.where(*(within or [])).group_by(lines.c.entry_id).subquery("entry_sums")


class JournalBalanced(ChunkedCheck):
    name = "journal_balanced"
    label = _l("Journal entries balanced")
    description = _l("every posted journal entry has two lines or more and its debits equal its credits")
    entity_type = "journal_entry"
    by_customer = False
    table = entries
    after = ("reading_calculation",)
    fixable = False  # an unbalanced posted entry is evidence: it is corrected by a new entry, never rewritten

    @cached_property
    def per_entry(self):
        return _per_entry(self.within(lines.c.entry_id, entries.name))

    @property
    def source(self):
        return entries.outerjoin(self.per_entry, self.per_entry.c.entry_id == entries.c.id)

    def fields(self):
        per_entry = self.per_entry
        count = func.coalesce(per_entry.c.lines, 0)
        return [
            CheckedField("credits", func.coalesce(per_entry.c.credits, 0), func.coalesce(per_entry.c.debits, 0)),
            CheckedField("lines", count, case((count < 2, 2), else_=count), scale=0),
        ]

    def scope_conditions(self, scope: Scope):
        conditions = [entries.c.status == EntryStatus.POSTED.value]
        if scope.from_month:
            conditions.append(entries.c.entry_date >= scope.from_month)
        return conditions

    def marked(self):
        return {entries.name: (entries.c.id,)}

    def changed(self, since, after):
        return {entries.name: sealed_since([entries.name], since)}  # an entry is sealed as it is posted


def held_accounts(connection, account_ids: list[int]) -> dict[int, str]:
    """Those of these accounts on which an unbalanced posted entry is posted, with why their balance waits."""
    check = JournalBalanced()
    first = (
        select(lines.c.account_id, func.min(entries.c.id).label("entry_id"))
        .select_from(check.source.join(lines, lines.c.entry_id == entries.c.id))
        .where(*check.scope_conditions(Scope()), differs(check.fields()), lines.c.account_id.in_(account_ids))
        .group_by(lines.c.account_id)
        .subquery()
    )
    found = (
        select(first.c.account_id, accounts.c.code, entries.c.number)
        .join(accounts, accounts.c.id == first.c.account_id)
        .join(entries, entries.c.id == first.c.entry_id)
    )
    return {
        account_id: UNBALANCED.write(number=number, code=code) for account_id, code, number in connection.execute(found)
    }


UNBALANCED = Sentence(
    "unbalanced_entry",
    "left unfixed: journal entry {number}, posted on account {code}, does not balance; deal with the books first",
    _l(
        "left unfixed: journal entry %(number)s, posted on account %(code)s, does not balance; deal with the books "
        "first"
    ),
)
"""Why a fix leaves an account's balance as it is: an entry posted on it does not balance."""
