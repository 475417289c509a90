from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import literal

from backoffice.models.formulas import sheet_totals
from backoffice.reconcile.base import Check, CheckedField, Scope

sheet = sheet_totals().add_columns(literal(1).label("id")).subquery("balance_sheet")


class BalanceSheet(Check):
    name = "balance_sheet"
    label = _l("Balance sheet")
    description = _l(
        "total assets equal total liabilities, plus equity, plus current earnings (revenue less expenses); healed by "
        "fixing the account balances"
    )
    entity_type = "balance_sheet"
    by_customer = False
    table = sheet
    after = ("reading_calculation", "account_balance")
    fixable = False

    def fields(self):
        return [CheckedField("assets", sheet.c.assets, sheet.c.liabilities + sheet.c.equity + sheet.c.earnings)]

    def scope_conditions(self, scope: Scope):
        return []
