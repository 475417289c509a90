from __future__ import annotations

from backoffice.models import Account, posted_balance_sql
from backoffice.reconcile.base import Check, CheckedField, Scope
from backoffice.reconcile.journal_balanced import held_accounts

accounts = Account.__table__


class AccountBalance(Check):
    name = "account_balance"
    description = "accounts.balance = the account's posted journal lines, in its normal direction"
    entity_type = "account"
    by_customer = False
    table = accounts

    def fields(self):
        return [CheckedField("balance", accounts.c.balance, posted_balance_sql(accounts.c.id))]

    def scope_conditions(self, scope: Scope):
        return []  # the books are not divided by customer or month

    def held(self, connection, keys):
        return held_accounts(connection, keys)
