from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import literal, select

from backoffice.models import Account, AccountBalanceBucket, account_balance_sql
from backoffice.platform.money import BeyondLimit
from backoffice.posting.formulas import posted_balance_sql, posted_sums
from backoffice.posting.journal import adding_to_buckets
from backoffice.reconcile.base import Check, CheckedField, Scope
from backoffice.reconcile.journal_balanced import held_accounts

accounts = Account.__table__
buckets = AccountBalanceBucket.__table__
posted = posted_sums()


class AccountBalance(Check):
    name = "account_balance"
    label = _l("Account balances")
    description = _l("each account's balance is the sum of its posted journal lines, on its normal side")
    entity_type = "account"
    by_customer = False
    table = accounts
    after = ("reading_calculation",)
    source = accounts.outerjoin(posted, posted.c.account_id == accounts.c.id)
    counted_on_table = True

    def fields(self):
        # Accounts of every type, each on its own normal side: their balances do not add up to anything.
        return [
            CheckedField(
                "balance", account_balance_sql(accounts.c.id), posted_balance_sql(accounts.c.type, posted), adds=False
            )
        ]

    def scope_conditions(self, scope: Scope):
        return []  # the books are not divided by customer or month

    def held(self, connection, keys):
        return held_accounts(connection, keys)

    def write(self, connection, ids):
        """Add to each account's bucket 0 what its buckets lack of its posted lines.

        The accounts' buckets are locked first, in order, by a statement of their own: a posting in
        flight commits first, and the difference, read by the statement that follows, includes it.
        A posting that starts a new bucket meanwhile commits its lines with it, so the difference
        stays right whichever commits first.
        """
        connection.execute(
            select(buckets.c.account_id)
            .where(buckets.c.account_id.in_(ids))
            .order_by(buckets.c.account_id, buckets.c.bucket)
            .with_for_update(key_share=True)
        )
        difference = posted_balance_sql(accounts.c.type, posted) - account_balance_sql(accounts.c.id)
        rows = (
            select(accounts.c.id, literal(0), difference)
            .select_from(self.source)
            .where(accounts.c.id.in_(ids))
            .order_by(accounts.c.id)
        )
        if len(connection.execute(adding_to_buckets(rows)).all()) < len(ids):
            raise BeyondLimit("The balance of an account")
