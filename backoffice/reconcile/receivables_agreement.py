from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy_continuum import version_class

from backoffice.models import Account, Invoice, JournalEntry, JournalLine, Payment, account_balance_sql
from backoffice.models.formulas import receivables_sql
from backoffice.posting.rules import RECEIVABLES
from backoffice.reconcile.base import Check, CheckedField, Part, Scope
from backoffice.reconcile.night import sealed_since

accounts = Account.__table__
entries = JournalEntry.__table__
lines = JournalLine.__table__
invoices = Invoice.__table__
payments = Payment.__table__


class ReceivablesAgreement(Check):
    name = "receivables_agreement"
    label = _l("Meters' invoices against Receivables")
    description = _l("the Receivables account = the meters' invoices less their payments, neither withdrawn")
    entity_type = "account"
    by_customer = False
    table = accounts
    after = ("account_balance",)
    fixable = False  # two sources of truth disagree: which one is right is for a person to find out

    def __init__(self, part: Part | None = None) -> None:
        self.part = part

    def fields(self):
        return [CheckedField("balance", account_balance_sql(accounts.c.id), receivables_sql())]

    def scope_conditions(self, scope: Scope):
        return [accounts.c.code == RECEIVABLES]

    def marked(self):
        return {accounts.name: (accounts.c.id,)}

    def watched(self):
        return {table.name: (table.c.id,) for table in (invoices, payments, entries)}

    def changed(self, since, after):
        """The account, read whole, when what moves either side of it changed: an invoice or a payment written since
        (each write adds a version) or added past the marks (whatever wrote it), an entry on the account posted
        since or added past the marks."""
        versions = [version_class(model).__table__.name for model in (Invoice, Payment)]
        posted_since = sealed_since([entries.name], since).subquery("posted_since")
        on_account = lines.c.account_id == accounts.c.id
        touched = or_(
            sealed_since(versions, since).exists(),
            select(lines.c.id)
            .select_from(posted_since.join(lines, lines.c.entry_id == posted_since.c.row_id))
            .where(on_account)
            .exists(),
            *(
                select(table.c.id).where(_above(table.c.id, after.get(table.name))).exists()
                for table in (invoices, payments)
            ),
            select(lines.c.id).where(on_account, _above(lines.c.entry_id, after.get(entries.name))).exists(),
        )
        return {accounts.name: select(accounts.c.id).where(accounts.c.code == RECEIVABLES, touched)}

    def restricted(self, part: Part) -> Check:
        return type(self)(part)

    def in_part(self):
        return [] if self.part is None else [self.part.holds(accounts.c.id, accounts.name)]


def _above(column, mark: int | None):
    """The row is past the mark (any row, when nothing was marked)."""
    return column > mark if mark is not None else column.is_not(None)
