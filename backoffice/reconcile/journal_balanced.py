from __future__ import annotations

from sqlalchemy import case, func, select

from backoffice.models import EntryStatus, JournalEntry, JournalLine
from backoffice.reconcile.base import Check, CheckedField, Scope

entries = JournalEntry.__table__
lines = JournalLine.__table__

per_entry = (
    select(
        lines.c.entry_id,
        func.sum(lines.c.debit).label("debits"),
        func.sum(lines.c.credit).label("credits"),
        func.count().label("lines"),
    )
    .group_by(lines.c.entry_id)
    .subquery("entry_sums")
)


class JournalBalanced(Check):
    name = "journal_balanced"
    description = "every posted journal entry has two lines or more and its debits equal its credits"
    entity_type = "journal_entry"
    by_customer = False
    table = entries
    source = entries.outerjoin(per_entry, per_entry.c.entry_id == entries.c.id)
    fixable = False  # an unbalanced posted entry is evidence: it is corrected by a new entry, never rewritten

    def fields(self):
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
