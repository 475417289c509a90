"""What a job does, in a sentence: in the reader's language on the pages, in English on the queue and in the log."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from backoffice.models import Customer, JobRecord
from backoffice.models.types import Month
from backoffice.platform.extensions import db
from backoffice.platform.i18n import named_date, named_month
from backoffice.platform.money import shown
from backoffice.reconcile import label


def title(record: JobRecord) -> str:
    """What the job does, as a sentence a clerk reads in their language: "Verify and fix every check",
    "Recalculate customer C0005 — PT Sinar Jaya Makmur", "Rebuild (dry run) of Monthly balances for C0001 — …,
    from September 2026"."""
    args = record.args
    if record.kind == "recalculate_customer":
        customer = db.session.get(Customer, args["customer_id"])
        named = _named(customer) if customer else "#" + str(args["customer_id"])
        return _("Recalculate customer %(customer)s", customer=named)
    if record.kind == "nightly_maintenance":
        return _("Nightly verify and fix of %(date)s", date=named_date(date.fromisoformat(args["date"])))
    if record.kind == "auto_heal":
        return _(
            "Auto-heal of %(date)s: verify and fix what changed and what was left",
            date=named_date(date.fromisoformat(args["date"])),
        )
    if record.kind == "monthly_rebuild":
        return _("Monthly rebuild of %(month)s", month=named_month(Month.parse(args["month"])))
    if record.kind == "month_end":
        month = named_month(Month.parse(args["month"]))
        if args.get("send"):
            return _("Month-end documents of %(month)s, sent to the customers", month=month)
        return _("Month-end documents of %(month)s", month=month)
    if record.kind == "tariff_change":
        price = shown(Decimal(args["price_per_sm3"])) if args.get("price_per_sm3") else None
        correction = args.get("meter_correction")
        values = {
            "from": named_date(date.fromisoformat(args["effective_from"])),
            "price": price,
            "correction": correction,
        }
        if price and correction:
            return (
                _("Tariff change from %(from)s: price %(price)s per Sm³ and correction factor %(correction)s") % values
            )
        if correction:
            return _("Tariff change from %(from)s: correction factor %(correction)s") % values
        return _("Tariff change from %(from)s: price %(price)s per Sm³") % values
    checks = ", ".join(label(name) for name in args.get("checks") or []) or _("every check")
    if record.kind == "verify":
        doing = _("Verify and fix %(checks)s") if args.get("fix") else _("Verify %(checks)s")
    else:
        doing = _("Rebuild (dry run) of %(checks)s") if args.get("dry_run") else _("Rebuild %(checks)s")
    said = doing % {"checks": checks}
    if codes := args.get("customers"):
        customers = db.session.scalars(select(Customer).where(Customer.code.in_(codes)).order_by(Customer.code))
        said = _("%(job)s for %(customers)s", job=said, customers=", ".join(_named(customer) for customer in customers))
    if month := args.get("from_month"):
        said = _("%(job)s from %(month)s", job=said, month=named_month(Month.parse(month)))
    return said


def english_title(record: JobRecord) -> str:
    """The job's :func:`title` in English, whoever started it: what the queue and the log say."""
    with force_locale("en"):
        return title(record)


def _named(customer: Customer) -> str:
    return f"{customer.code} — {customer.name}"
