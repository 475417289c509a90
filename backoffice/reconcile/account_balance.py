"""Account balances: each account's buckets against its posted lines.

A nightly does not sum every line again. It keeps each stripe's sums (a stripe of entry ids, as the seals' sweep cuts
them) from night to night, sums its own stripe afresh and adds the lines of the entries added or sealed since. So every
line is read again within ``BACKOFFICE_SEAL_SWEEP_DAYS`` nights; a night with no clean night before it sums every
stripe afresh.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, Numeric, column, exists, false, func, literal, or_, select, union, union_all, values
from sqlalchemy.dialects.postgresql import JSONB

from backoffice.evidence import seals
from backoffice.models import Account, AccountBalanceBucket, JournalEntry, JournalLine, account_balance_sql
from backoffice.models.formulas import posted_balance_sql, posted_lines, posted_sums
from backoffice.models.types import utcnow
from backoffice.platform.extensions import db
from backoffice.posting import journal
from backoffice.reconcile.base import Check, CheckedField, Scope
from backoffice.reconcile.evidence_seals import SEALED_BEFORE_ANCHOR
from backoffice.reconcile.journal_balanced import held_accounts
from backoffice.reconcile.night import sealed_since

accounts = Account.__table__
buckets = AccountBalanceBucket.__table__
entries = JournalEntry.__table__
lines = JournalLine.__table__
posted = posted_sums()


class AccountBalance(Check):
    name = "account_balance"
    label = _l("Account balances")
    description = _l("each account's balance is the sum of its posted journal lines, on its normal side")
    entity_type = "account"
    by_customer = False
    table = accounts
    after = ("reading_calculation",)
    counted_on_table = True
    keeps_sums = True

    def __init__(self, sums=None) -> None:
        self.posted = posted if sums is None else sums
        self.swept, self.carried = 0, None

    @property
    def source(self):
        return accounts.outerjoin(self.posted, self.posted.c.account_id == accounts.c.id)

    def fields(self):
        # Accounts of every type, each on its own normal side: their balances do not add up to anything.
        return [
            CheckedField(
                "balance",
                account_balance_sql(accounts.c.id),
                posted_balance_sql(accounts.c.type, self.posted),
                adds=False,
            )
        ]

    def marked(self):
        return {entries.name: (entries.c.id,)}

    def tonight(self, share) -> AccountBalance:
        """The check as the night reads it (see the module): the sums it keeps for the next night, its own stripe's
        summed afresh (the rows of its slice), the others carried forward; compared with the buckets beside the
        lines of the entries added or sealed since the day before."""
        stripes = share.stripes
        through, sealed_through = share.marks[entries.name] or 0, utcnow() - SEALED_BEFORE_ANCHOR
        before = share.sums
        usable = before is not None and (before["width"], before["period"]) == (stripes.width, stripes.period)
        counted = [entries.c.id <= through, _not_sealed_since(sealed_through)]
        phase = stripes.phase_of(lines.c.entry_id)
        fresh = []
        if usable:
            low = db.session.scalar(select(func.min(entries.c.id))) or 0
            fresh = [_among(lines.c.entry_id, stripes.ranges(low, through))]
        summed = _by_phase(phase, [*counted, *fresh])
        swept = sum(count for _phase, _account, _debit, _credit, count in summed)
        kept: dict[str, dict[str, list[str]]] = {}
        _add(kept, summed)
        if usable:
            for each, sums in before["phases"].items():
                if int(each) != stripes.phase:
                    kept[each] = {account: list(pair) for account, pair in sums.items()} | kept.get(each, {})
            since = datetime.fromisoformat(before["sealed_through"])
            added = _entries_since(before["through"], since)
            carried = _by_phase(phase, [*counted, phase != stripes.phase, lines.c.entry_id.in_(select(added.c[0]))])
            _add(kept, carried)
        tonight = AccountBalance(_with_lines_since(kept, through, sealed_through))
        tonight.swept = swept
        tonight.carried = {
            "through": through,
            "sealed_through": sealed_through.isoformat(),
            "width": stripes.width,
            "period": stripes.period,
            "phases": kept,
        }
        return tonight

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
            select(accounts.c.id.label("account_id"), literal(0).label("bucket"), difference.label("amount"))
            .select_from(accounts.outerjoin(posted, posted.c.account_id == accounts.c.id))
            .where(accounts.c.id.in_(ids))
            .subquery("moves")
        )
        moves = select(func.coalesce(func.jsonb_agg(func.to_jsonb(rows.table_valued())), literal("[]", JSONB)))
        with journal.refusals(None):
            connection.execute(select(func.move_account_buckets_v1(moves.scalar_subquery())))


def _among(key, ranges: list[tuple[int, int]]):
    return or_(*(key.between(low, high) for low, high in ranges)) if ranges else false()


def _not_sealed_since(moment: datetime):
    """The entry was sealed at ``moment`` or before, or never."""
    sealed = seals.seals
    return ~exists().where(
        sealed.c.kind == entries.name,
        sealed.c.row_id == entries.c.id,
        sealed.c.version == 0,
        sealed.c.sealed_at > moment,
    )


def _entries_since(through: int, moment: datetime):
    """The entries added above ``through`` or sealed after ``moment``."""
    return union(select(entries.c.id).where(entries.c.id > through), sealed_since([entries.name], moment)).subquery(
        "since"
    )


def _by_phase(phase, conditions) -> list:
    """Each stripe's and account's debits and credits of the posted lines ``conditions`` select, and how many."""
    summed = func.sum(lines.c.debit), func.sum(lines.c.credit), func.count()
    return db.session.execute(
        posted_lines(phase, lines.c.account_id, *summed, where=conditions).group_by(phase, lines.c.account_id)
    ).all()


def _add(kept: dict[str, dict[str, list[str]]], summed: list) -> None:
    for each, account, debit, credit, _count in summed:
        sums = kept.setdefault(str(int(each)), {})
        was = sums.get(str(account), ["0", "0"])
        sums[str(account)] = [str(Decimal(was[0]) + debit), str(Decimal(was[1]) + credit)]


def _with_lines_since(kept: dict[str, dict[str, list[str]]], through: int, moment: datetime):
    """Each account's debits and credits: the ``kept`` sums and the posted lines of the entries added above
    ``through`` or sealed after ``moment``, read in the statement that reads the buckets."""
    totals: dict[int, list[Decimal]] = {}
    for sums in kept.values():
        for account, (debit, credit) in sums.items():
            total = totals.setdefault(int(account), [Decimal(0), Decimal(0)])
            total[0] += Decimal(debit)
            total[1] += Decimal(credit)
    since = _entries_since(through, moment)
    recent = posted_lines(
        lines.c.account_id, lines.c.debit, lines.c.credit, where=[lines.c.entry_id.in_(select(since.c[0]))]
    )
    parts = [recent]
    if totals:
        rows = [(account, debit, credit) for account, (debit, credit) in sorted(totals.items())]
        kept_rows = values(
            column("account_id", Integer), column("debit", Numeric), column("credit", Numeric), name="kept"
        ).data(rows)
        parts.insert(0, select(kept_rows.c.account_id, kept_rows.c.debit, kept_rows.c.credit))
    every = union_all(*parts).subquery("every")
    return (
        select(every.c.account_id, func.sum(every.c.debit).label("debit"), func.sum(every.c.credit).label("credit"))
        .group_by(every.c.account_id)
        .subquery("posted")
    )
