"""The month-end run, measured per document beside WeasyPrint drawing the same pages alone.

Run with ``python -m bench documents``. It builds its own PostgreSQL database (``BENCH_DATABASE_URL`` followed by
``_documents``) through the application's services: ``BENCH_DOCUMENTS_CUSTOMERS`` customers (default 200), each with
its wallet's month (a recharge and a few charges), every fifth with a meter read and invoiced in the month, the issuer
saved. Then, taking turns ``BENCH_DOCUMENTS_TURNS`` times (default 3):

- the month-end run of the month, every statement and every invoice, written to a folder, not sent (what the job
  does: the documents found, each drawn from its page's template in its customer's language, written, zipped);
- its floor: WeasyPrint drawing the very HTML of the same documents (taken from the run's templates once, before
  the clock starts) to PDF, one after the other, and nothing else.

Each is reported per document (the median turn over the documents' count), with their ratio.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from datetime import date, timedelta
from decimal import Decimal

from bench.common import BENCH_DATABASE_URL, console, migrated_database, report, timed

CUSTOMERS = int(os.environ.get("BENCH_DOCUMENTS_CUSTOMERS", 200))
TURNS = int(os.environ.get("BENCH_DOCUMENTS_TURNS", 3))
METERED_EVERY = 5


def main() -> str:
    url = migrated_database(f"{BENCH_DATABASE_URL}_documents")
    os.environ["DATABASE_URL"] = url
    from backoffice import create_app

    folder = tempfile.mkdtemp(prefix="bench-documents-")
    app = create_app({"REDIS_URL": None, "DOCUMENTS_FOLDER": folder, "SECRET_KEY": "bench"})
    with app.app_context():
        month = build()
        pages = drawn_pages(month)
        runs, floors = [], []
        for _ in range(TURNS):
            seconds, produced = timed(lambda: run(month), repeat=1)
            runs.append(seconds / produced)
            floors.append(timed(lambda: weasyprint_alone(pages), repeat=1)[0] / len(pages))
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    console.print(f"{len(pages)} documents a run; load average (1, 5, 15 min) {load} after.")
    return report(
        f"The month-end run at {CUSTOMERS:,} customers ({len(pages):,} documents), {TURNS} turns",
        [
            (
                "the month-end run, per document (found, drawn, written, zipped)",
                statistics.median(runs),
                "WeasyPrint drawing the same HTML alone, per document",
                statistics.median(floors),
            )
        ],
    )


def build():
    """The installation, through the services; returns the month its documents are of (the last whole one)."""
    from backoffice.models.types import Month
    from backoffice.platform.clock import local_today
    from backoffice.services import issuer, meter_invoices, meter_lifecycle, metering, wallet
    from backoffice.services.customers import Details, create_customer

    month = Month.of(local_today().replace(day=1) - timedelta(days=1))
    first = month.first_day
    issuer.save(
        {
            "name": "PT Gas Nusantara",
            "address": "Jl. Jend. Sudirman Kav. 52-53\nJakarta Selatan 12190",
            "tax_number": "01.234.567.8-012.000",
            "bank_accounts": "Mandiri 123-00-0987654-3 a.n. PT Gas Nusantara",
        },
        version=None,
    )
    for n in range(1, CUSTOMERS + 1):
        customer = create_customer(f"C{n:05d}", Details(name=f"PT Pelanggan {n}", email=f"c{n}@example.com"))
        wallet.recharge(customer, Decimal("5000000"), value_date=first)
        for day in (5, 12, 19):
            wallet.charge(customer, Decimal(10000 + n), value_date=first + timedelta(days=day))
        if n % METERED_EVERY == 0:
            meter = meter_lifecycle.add_meter(f"M-{n:05d}")
            meter_lifecycle.assign_meter(meter, customer, first)
            metering.set_pricing(customer.id, first, Decimal("7500.00"), Decimal("1.012345"))
            for day in (10, 20):
                metering.record_reading(meter.id, first + timedelta(days=day), Decimal(20 + n % 7))
            meter_invoices.add_invoice(
                meter, f"INV-{n:05d}", Decimal("400000"), date(first.year, first.month, 28), first + timedelta(days=45)
            )
    return month


def drawn_pages(month) -> list[str]:
    """The HTML of every document the run draws, in its customer's language."""
    from flask import current_app
    from flask_babel import force_locale

    from backoffice.models import Customer
    from backoffice.platform.extensions import db
    from backoffice.services import documents, month_end

    planned = month_end._planned(month, statements=True, invoices=True)
    pages = []
    with current_app.test_request_context(base_url=month_end.BASE_URL):
        for customer_id, theirs in month_end._by_customer(planned):
            customer = db.session.get(Customer, customer_id)
            for drawing in month_end._drawings(customer, theirs, month):
                with force_locale(documents.language_of(customer)):
                    pages.append(drawing.html(as_pdf=True))
    return pages


def run(month) -> int:
    from backoffice.services import month_end

    return month_end.run(month, statements=True, invoices=True, send=False, user=None).produced


def weasyprint_alone(pages: list[str]) -> None:
    from backoffice.services import documents
    from backoffice.services.month_end import BASE_URL

    for html in pages:
        documents.pdf(html, base_url=BASE_URL)


if __name__ == "__main__":
    print(main())
