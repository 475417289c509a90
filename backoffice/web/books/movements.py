"""The prepaid wallets' ledger across customers: every movement, filtered by customer, kind, value date and amount,
sorted by any column, a page at a time, and exported as CSV."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import contains_eager
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice

from backoffice.models import WALLET_KINDS, BalanceTransaction, Customer, Kind
from backoffice.platform.replica import reads
from backoffice.platform.words import WORDS
from backoffice.services.descriptions import movement_words
from backoffice.services.exports import iso, plain, text_cell
from backoffice.web.plumbing.lists import AmountRange, Column, CustomerFilter, DateRange, Listing

bp = Blueprint("movements", __name__, url_prefix="/ledger")

PER_PAGE = 50
COLUMNS = [
    Column("id", _l("#"), BalanceTransaction.id, numeric=True),
    Column("value_date", _l("Value date"), BalanceTransaction.value_date),
    Column("customer", _l("Customer"), Customer.code),
    Column("kind", _l("Kind"), BalanceTransaction.kind),
    Column("amount", _l("Amount"), BalanceTransaction.signed_amount, numeric=True),
    Column("balance_after", _l("Balance after"), BalanceTransaction.balance_after, numeric=True),
    Column("description", _l("Description"), BalanceTransaction.description),
    Column("posted", _l("Posted"), BalanceTransaction.created_at),
]
CSV_COLUMNS = [
    "id",
    "value_date",
    "customer_code",
    "customer_name",
    "kind",
    "reason",
    "amount",
    "balance_before",
    "balance_after",
    "description",
    "reverses",
]


class MovementFilters(CustomerFilter, DateRange, AmountRange):
    kind = SelectField(
        _l("Kind"),
        choices=[
            SelectChoice("", _l("All kinds")),
            *(SelectChoice(kind.value, WORDS[kind.value]) for kind in WALLET_KINDS),
        ],
        default="",
    )


@bp.get("")
def index():
    listing = _listing()
    query = (
        select(BalanceTransaction)
        .join(BalanceTransaction.customer)
        .options(contains_eager(BalanceTransaction.customer))
    )
    counted = listing.counted(query, PER_PAGE, BalanceTransaction.signed_amount)
    page = listing.page(query, PER_PAGE, counted=counted)
    return render_template("movements/index.html", listing=listing, page=page, counted=counted, net=counted.total)


@bp.get("/export.<any(csv, xlsx):format>")
@reads
def export(format: str = "csv"):
    """Every movement the filters select, in the list's order, streamed."""
    listing = _listing()
    if not listing.valid:
        return index(), 422
    movements = BalanceTransaction.__table__.c
    query = select(
        movements.id,
        movements.value_date,
        Customer.code,
        Customer.name,
        movements.kind,
        movements.reason,
        movements.signed_amount,
        movements.balance_before,
        movements.balance_after,
        movements.description,
        movements.reference_type,
        movements.reference_id,
        movements.reverses_id,
        movements.occasion,
    ).join(Customer, Customer.id == movements.customer_id)
    return listing.export("ledger-movements", CSV_COLUMNS, query, _csv_row, format=format, typed=_typed)


def _listing() -> Listing:
    return Listing(
        MovementFilters(request.args),
        COLUMNS,
        _filter_conditions,
        default="-value_date",
        tiebreak=BalanceTransaction.id,
        csv_endpoint="movements.export",
    )


def _filter_conditions(filters: MovementFilters) -> list:
    conditions = [
        *filters.customer_conditions(),
        *filters.date_conditions(BalanceTransaction.value_date),
        *filters.amount_conditions(BalanceTransaction.amount),
    ]
    if filters.kind.data:
        conditions.append(BalanceTransaction.kind == Kind(filters.kind.data))
    return conditions


def _typed(row) -> list:
    """A workbook's row: the CSV's columns, each value as its type, the description in the reader's words."""
    return [
        row.id,
        row.value_date,
        row.code,
        row.name,
        row.kind,
        row.reason,
        row.signed_amount,
        row.balance_before,
        row.balance_after,
        movement_words(row),
        row.reverses_id,
    ]


def _csv_row(row) -> list:
    return [
        row.id,
        iso(row.value_date),
        text_cell(row.code),
        text_cell(row.name),
        row.kind,
        row.reason or "",
        plain(row.signed_amount),
        plain(row.balance_before),
        plain(row.balance_after),
        text_cell(movement_words(row)),
        row.reverses_id or "",
    ]
