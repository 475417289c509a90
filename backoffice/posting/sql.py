"""The rule table rendered as SQL, for the checks and the rebuilds that sum the ledger set-based."""

from __future__ import annotations

from sqlalchemy import Integer, String, case, func, literal_column, select, union_all

from backoffice.models.types import Balance
from backoffice.posting.rules import RULES, TOTALS, contribution

_ZERO = literal_column("0")


def _written(word: str):
    """One of the rule table's words (a kind, an account's code) written into the SQL, not bound at each execution:
    a statement reads the table's dozens of them."""
    return literal_column(f"'{word}'", String)


def _applies(rule, kind, signed):
    return (kind == _written(rule.kind.value)) & ((signed > _ZERO) if rule.sign > 0 else (signed < _ZERO))


def counted(column: str, kind, signed):
    """What a ledger row (its ``kind`` and ``signed_amount`` columns) adds to a customer total or a month column: its
    :func:`~backoffice.posting.rules.contribution` where a rule that counts towards the column applies."""
    taken = contribution(column, signed)
    whens = [(_applies(rule, kind, signed), taken) for rule in RULES if column in (rule.total, rule.month)]
    return case(*whens, else_=_ZERO)


def rule_accounts():
    """The rule table as a relation, a row a rule: ``kind``, ``sign`` (+1, -1), and the ``debit`` and ``credit``
    accounts' codes. A statement that needs both accounts of many rows joins it once. Grouped by its key, so that
    PostgreSQL knows a row joins one rule at most, and leaves the join out of a statement that reads nothing of it."""
    rules = union_all(
        *(
            select(
                _written(rule.kind.value).label("kind"),
                literal_column(str(rule.sign), Integer).label("sign"),
                _written(rule.debit).label("debit"),
                _written(rule.credit).label("credit"),
            )
            for rule in RULES
        )
    ).subquery("rules")
    return (
        select(
            rules.c.kind, rules.c.sign, func.min(rules.c.debit).label("debit"), func.min(rules.c.credit).label("credit")
        )
        .group_by(rules.c.kind, rules.c.sign)
        .subquery("rule_accounts")
    )


def sign_sql(signed):
    """+1 for a positive amount, -1 for a negative one, else null: the ``sign`` of the rule that applies."""
    return case((signed > _ZERO, literal_column("1")), (signed < _ZERO, literal_column("-1")), else_=None)


def ledger_sums(ledger) -> dict:
    """A customer's cached wallet fields as SQL aggregates over its ledger rows, rounded to cents where stored: the
    balance the sum of its signed amounts, each of the customer's totals (``rules.TOTALS``) of what they count."""
    kind, signed = ledger.c.kind, ledger.c.signed_amount
    sums = {"balance": signed, **{total: counted(total, kind, signed) for total in TOTALS}}
    return {name: func.round(func.coalesce(func.sum(value), 0), 2, type_=Balance) for name, value in sums.items()}
