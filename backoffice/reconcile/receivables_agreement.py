from __future__ import annotations

from flask_babel import lazy_gettext as _l

from backoffice.models import Account, account_balance_sql
from backoffice.posting.formulas import receivables_sql
from backoffice.posting.rules import RECEIVABLES
from backoffice.reconcile.base import Check, CheckedField, Scope

accounts = Account.__table__


class ReceivablesAgreement(Check):
    name = "receivables_agreement"
    label = _l("Meters' invoices against Receivables")
    description = _l("the Receivables account = the meters' invoices less their payments, neither withdrawn")
    entity_type = "account"
    by_customer = False
    table = accounts
    after = ("account_balance",)
    fixable = False  # two sources of truth disagree: which one is right is for a person to find out

    def fields(self):
        return [CheckedField("balance", account_balance_sql(accounts.c.id), receivables_sql())]

    def scope_conditions(self, scope: Scope):
        return [accounts.c.code == RECEIVABLES]
