"""The rule table: what each kind of money movement does, by the sign of its amount.

It is written here once. The database holds it as ``posting_rules`` for its posting functions, written from here by
every upgrade (:func:`keep`); the checks and rebuilds read it as SQL (``posting.sql``).

Each row says what the movement does to the customer's wallet, totals and month, and which account it debits and which
it credits. The posting core, the checks and the rebuilds read it as SQL (``posting.sql``); :func:`counts` says the
same in Python. An amount is signed as the wallet sees it (positive adds to what the customer may spend); invoices and
payments are signed as the business event.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, insert, select

from backoffice.models.books import PostingRule
from backoffice.models.wallet import WALLET_KINDS, Kind

CASH, RECEIVABLES, CUSTOMER_DEPOSITS, OPENING_EQUITY, GAS_REVENUE = "1000", "1100", "2000", "3100", "4000"
"""The accounts the rules use (the migrations create them)."""
VAT_PAYABLE = "2300"
"""Where an invoice's VAT goes: the part of its amount owed to the tax office, split off the line of the account its
rule names as ``taxed``."""
ACCOUNT_NAMES = {
    CASH: "Cash",
    RECEIVABLES: "Receivables",
    CUSTOMER_DEPOSITS: "Customer deposits",
    VAT_PAYABLE: "VAT payable",
    OPENING_EQUITY: "Opening balance equity",
    GAS_REVENUE: "Gas revenue",
}


@dataclass(frozen=True)
class Total:
    """A customer's total: a column of ``customers`` that the rules below count movements towards. The posting core
    keeps it with each movement, refuses a movement that would take it beyond its column, and the ``customer_wallet``
    check sums it from the ledger: all of them from this entry."""

    column: str
    incoming: bool
    """Money coming in (it takes the signed amount as it is), or going out (its opposite)."""
    beyond: str
    """What a refusal calls it when a movement would take it beyond its column."""


CUSTOMER_TOTALS: tuple[Total, ...] = (
    Total("total_recharged", True, _l("The total recharged of %(code)s")),
    Total("total_spent", False, _l("The total spent of %(code)s")),
)
TOTALS = tuple(total.column for total in CUSTOMER_TOTALS)
MONTH_COLUMNS = ("total_deposits", "total_purchases")
INCOMING = (*(total.column for total in CUSTOMER_TOTALS if total.incoming), "total_deposits")
"""Columns of money coming in: they take the signed amount as it is."""
OUTGOING = (*(total.column for total in CUSTOMER_TOTALS if not total.incoming), "total_purchases")
"""Columns of money going out: they take the signed amount's opposite."""


@dataclass(frozen=True)
class Rule:
    kind: Kind
    sign: int
    """+1: the rule for a positive amount; -1: for a negative one."""
    total: str | None
    """The customer's total it counts towards (``customers`` column), if any."""
    month: str | None
    """The column of its month's balance it counts in (``monthly_customer_balances``), if any."""
    debit: str
    credit: str
    meaning: str
    taxed: str | None = None
    """The account of the two whose line a movement's VAT is split off, to :data:`VAT_PAYABLE` on the same side;
    ``None``: the kind carries no VAT."""

    @property
    def wallet(self) -> bool:
        """The amount moves the customer's prepaid balance: its kind is one of the wallet's (``WALLET_KINDS``)."""
        return self.kind in WALLET_KINDS


RULES: tuple[Rule, ...] = (
    Rule(Kind.RECHARGE, +1, "total_recharged", "total_deposits", CASH, CUSTOMER_DEPOSITS, "money deposited"),
    Rule(Kind.CHARGE, -1, "total_spent", "total_purchases", CUSTOMER_DEPOSITS, GAS_REVENUE, "gas sold"),
    Rule(Kind.ADJUSTMENT, +1, None, "total_deposits", GAS_REVENUE, CUSTOMER_DEPOSITS, "balance corrected up"),
    Rule(Kind.ADJUSTMENT, -1, None, "total_deposits", CUSTOMER_DEPOSITS, GAS_REVENUE, "balance corrected down"),
    Rule(Kind.REVERSAL, +1, "total_spent", "total_purchases", GAS_REVENUE, CUSTOMER_DEPOSITS, "a charge undone"),
    Rule(Kind.REVERSAL, -1, "total_recharged", "total_deposits", CUSTOMER_DEPOSITS, CASH, "a deposit undone"),
    Rule(Kind.OPENING, +1, None, "total_deposits", OPENING_EQUITY, CUSTOMER_DEPOSITS, "a balance brought in"),
    Rule(Kind.OPENING, -1, None, "total_deposits", CUSTOMER_DEPOSITS, OPENING_EQUITY, "a debt brought in"),
    Rule(Kind.INVOICE, +1, None, None, RECEIVABLES, GAS_REVENUE, "postpaid gas invoiced", GAS_REVENUE),
    Rule(Kind.INVOICE, -1, None, None, GAS_REVENUE, RECEIVABLES, "an invoice withdrawn or reduced", GAS_REVENUE),
    Rule(Kind.PAYMENT, +1, None, None, CASH, RECEIVABLES, "a postpaid payment received"),
    Rule(Kind.PAYMENT, -1, None, None, RECEIVABLES, CASH, "a payment withdrawn or reduced"),
    Rule(Kind.SETTLEMENT, +1, None, None, OPENING_EQUITY, RECEIVABLES, "paid in the system before"),
    Rule(Kind.SETTLEMENT, -1, None, None, RECEIVABLES, OPENING_EQUITY, "a settlement withdrawn or reduced"),
)

_BY_KEY = {(rule.kind, rule.sign): rule for rule in RULES}


@dataclass(frozen=True)
class Measure:
    """A quantity that is not money but counts in its month beside the money: where it is recorded (a table's
    column, one row per event, with the customer and the month) and the month column it adds to."""

    name: str
    table: str
    column: str
    month: str
    meaning: str


DELIVERED = Measure(
    "delivered", "transaction_calculations", "volume_sm3", "total_volume_sm3", "gas delivered, by its reading"
)
MEASURES: tuple[Measure, ...] = (DELIVERED,)
MONTH_ADDED = (*MONTH_COLUMNS, *(measure.month for measure in MEASURES))
"""The columns of a month that its movements and its readings add to."""


def measured(measure: Measure, quantity: Decimal) -> dict[str, Decimal]:
    """What an event of the measure (a reading's calculation, or its removal when negative) adds to its month."""
    return {measure.month: quantity}


class NoRule(ValueError):
    """No rule for a kind with an amount of that sign: such a movement makes no sense."""


def rule_of(kind: Kind | str, signed: Decimal) -> Rule:
    """The posting rule of a movement of ``kind`` by ``signed``'s sign; :class:`NoRule` where none applies."""
    if signed == 0:
        raise NoRule(_("A movement moves a non-zero amount."))
    try:
        return _BY_KEY[(Kind(kind), 1 if signed > 0 else -1)]
    except (KeyError, ValueError):
        raise NoRule(f"No rule for a {kind} of {'+' if signed > 0 else '-'}{abs(signed)}.") from None


def moving(kind: Kind | str, signed: Decimal) -> Kind:
    """The kind whose rule posts ``signed`` between the accounts ``kind``'s rule moves: ``kind`` itself where it has a
    rule of that sign, else the kind whose rule of that sign swaps the debit and credit of ``kind``'s other rule (a
    recharge made smaller moves as a deposit undone). :class:`NoRule` where neither is."""
    if (Kind(kind), 1 if signed > 0 else -1) in _BY_KEY:
        return Kind(kind)
    other = rule_of(kind, -signed)
    for rule in RULES:
        if rule.sign == (1 if signed > 0 else -1) and (rule.debit, rule.credit) == (other.credit, other.debit):
            return rule.kind
    raise NoRule(f"No rule moves a {kind} of {signed}.")


def contribution(column: str, signed):
    """What a movement adds to a column it counts towards: its amount, or a statement's column of amounts."""
    return signed if column in INCOMING else -signed


def counts(rule: Rule, signed: Decimal) -> dict[str, Decimal]:
    """What the movement adds to each of the customer's totals and each of its month's columns (zero elsewhere)."""
    return {
        column: contribution(column, signed) if column in (rule.total, rule.month) else Decimal(0)
        for column in (*TOTALS, *MONTH_COLUMNS)
    }


def rows() -> list[dict]:
    """The rule table as the database's ``posting_rules`` holds it: a row a rule, with what its movement adds to each
    of the customer's totals and its month's columns by unit of its signed amount (1, -1 or 0)."""
    return [
        {
            "kind": rule.kind.value,
            "sign": rule.sign,
            "wallet": rule.wallet,
            "debit_account": rule.debit,
            "credit_account": rule.credit,
            "taxed_account": rule.taxed,
            "vat_account": VAT_PAYABLE if rule.taxed else None,
            **{column: int(by * rule.sign) for column, by in counts(rule, Decimal(rule.sign)).items()},
            "meaning": rule.meaning,
        }
        for rule in RULES
    ]


def keep(connection) -> None:
    """Write ``posting_rules`` as :func:`rows` says, where it says anything else (an upgrade's last step, as the
    owner: the runtime role only reads it)."""
    table = PostingRule.__table__
    if not connection.execute(select(func.to_regclass(table.name))).scalar():
        return  # migrated to before the table
    held = [dict(row) for row in connection.execute(select(table).order_by(table.c.kind, table.c.sign)).mappings()]
    wanted = sorted(rows(), key=lambda row: (row["kind"], row["sign"]))
    if held != wanted:
        connection.execute(delete(table))
        connection.execute(insert(table), wanted)


def _account_cell(rule: Rule, code: str) -> str:
    """An account of a rule as the table names it, with the VAT split off it where the rule lets it."""
    named = f"{code} {ACCOUNT_NAMES[code]}"
    if code == rule.taxed:
        named += f", its VAT to {VAT_PAYABLE} {ACCOUNT_NAMES[VAT_PAYABLE]}"
    return named


def table_markdown() -> str:
    """The rule table as Markdown, as the developers' guide (docs/developers.md) shows it."""

    def moved(column: str | None, sign: int) -> str:
        if column is None:
            return "—"
        grows = (sign > 0) == (column in INCOMING)
        return f"{'+' if grows else '−'} `{column}`"

    rows = [
        "| kind | amount | wallet | customer's total | month column | debit | credit | meaning |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for rule in RULES:
        cells = [
            f"`{rule.kind.value}`",
            "positive" if rule.sign > 0 else "negative",
            ("adds" if rule.sign > 0 else "takes") if rule.wallet else "—",
            moved(rule.total, rule.sign),
            moved(rule.month, rule.sign),
            *(_account_cell(rule, code) for code in (rule.debit, rule.credit)),
            rule.meaning,
        ]
        rows.append(f"| {' | '.join(cells)} |")
    for measure in MEASURES:
        cells = [f"`{measure.name}`", f"`{measure.table}.{measure.column}`", "—", "—", f"± `{measure.month}`"]
        rows.append(f"| {' | '.join([*cells, '—', '—', measure.meaning])} |")
    return "\n".join(rows)
