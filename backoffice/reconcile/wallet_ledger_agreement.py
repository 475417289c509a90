from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from backoffice.models import Account, Customer, account_balance_sql
from backoffice.posting.rules import CUSTOMER_DEPOSITS
from backoffice.reconcile.base import Check, CheckedField, Scope

accounts = Account.__table__
customers = Customer.__table__


class WalletLedgerAgreement(Check):
    name = "wallet_ledger_agreement"
    label = _l("Wallets against Customer deposits")
    description = _l("the Customer deposits account = the sum of the customers' prepaid balances")
    entity_type = "account"
    by_customer = False
    table = accounts
    after = ("reading_calculation", "customer_wallet", "account_balance")
    fixable = False  # two sources of truth disagree: which one is right is for a person to find out

    def fields(self):
        wallets = select(func.coalesce(func.sum(customers.c.balance), 0)).scalar_subquery()
        return [CheckedField("balance", account_balance_sql(accounts.c.id), wallets)]

    def scope_conditions(self, scope: Scope):
        return [accounts.c.code == CUSTOMER_DEPOSITS]
