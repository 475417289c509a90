"""Demonstration data: managers, customers, six months of orders and targets.

Every row has a natural key (email, code, number, manager and month); what exists is
kept, so loading twice adds nothing. What exists is read once for each kind of row, and the meters, their
assignments, invoices, payments and readings are written through the services as a batch of each: the rows the
services write one at a time, in the few statements of a batch.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from backoffice.models import (
    AccountManager,
    BalanceTransaction,
    Customer,
    CustomerPricing,
    Invoice,
    Issuer,
    LineKind,
    Meter,
    MeterReading,
    Order,
    Role,
    Target,
    User,
)
from backoffice.models.types import month_start
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.services import (
    issuer,
    joined,
    meter_invoices,
    meter_lifecycle,
    meter_payments,
    metering,
    tax,
    transaction,
    wallet,
)

LOGINS = [
    ("admin@example.com", "admin-demo-password", Role.ADMIN),
    ("finance@example.com", "finance-demo-password", Role.FINANCE),
    # A second admin, to approve what the first asks for above the approval limit.
    ("controller@example.com", "controller-demo-password", Role.ADMIN),
]
USER_NAMES = {
    "admin@example.com": "Rina Kusuma",
    "finance@example.com": "Dewi Anggraini",
    "controller@example.com": "Bayu Saputra",
}
"""The people behind the demo's logins, named as pages name a user (who asked, who approved)."""
MANAGERS = [
    ("Dewi Lestari", "dewi@example.com"),
    ("Budi Santoso", "budi@example.com"),
    ("Sari Wulandari", "sari@example.com"),
    ("Agus Pratama", "agus@example.com"),
]
CUSTOMERS = [
    "PT Sinar Jaya Makmur",
    "CV Mitra Usaha",
    "PT Gas Nusantara Abadi",
    "Hotel Cempaka",
    "RS Harapan Kita",
    "PT Pangan Sejahtera",
    "Restoran Padang Sederhana",
    "PT Keramik Indah",
    "CV Roti Enak",
    "PT Tekstil Bandung",
    "Laundry Bersih",
    "PT Baja Perkasa",
    "Hotel Melati",
    "PT Kaca Mulia",
    "CV Tahu Sumedang",
    "PT Plastik Jaya",
    "Kantin Kampus UI",
    "PT Cat Warna",
    "CV Kerupuk Garing",
    "PT Kertas Nusantara",
]
ISSUER = {
    "name": "PT Gas Nusantara",
    "address": "Jl. Jend. Sudirman Kav. 52-53\nJakarta Selatan 12190",
    "email": "tagihan@gasnusantara.example",
    "phone": "+62 21 5080 0000",
    "bank_accounts": "Mandiri 123-00-0987654-3 a.n. PT Gas Nusantara\nBCA 012 345 6789 a.n. PT Gas Nusantara",
    "payment_instructions_id": "Transfer ke salah satu rekening di atas dan cantumkan nomor faktur sebagai berita "
    "transfer.",
    "payment_instructions_vi": "Chuyển khoản vào một trong các tài khoản trên và ghi số hóa đơn trong nội dung "
    "chuyển khoản.",
    "payment_instructions_en": "Transfer to one of the accounts above and quote the invoice number as the "
    "transfer's reference.",
}
"""The demo's issuer; its tax number written as the installation's country writes one."""
MONTHS = 6
DEMO_VAT = Decimal("11")
"""The demo company's VAT rate, in per cent: Indonesia's PPN."""
DEMO_RENTAL = Decimal("50000")
"""A demo meter's monthly rental, a line of each of its invoices beside its gas."""
ORDERS_PER_MONTH = 30


CODES = [f"C{number:04d}" for number in range(1, len(CUSTOMERS) + 1)]
"""The demo customers' codes: a load works on these alone, whatever else an installation has added (an import, a
clerk's customer), so that loading again draws the same figures and moves no money."""


def _demo_customers(*columns):
    """The demo's own customers, in the order they were added (their rows, or ``columns`` of them)."""
    return select(*(columns or (Customer,))).where(Customer.code.in_(CODES)).order_by(Customer.id)


def load(today: date | None = None) -> dict[str, int]:
    """Add what is missing and return how many rows of each kind were added."""
    today = today or local_today()
    rng = random.Random(20261122)
    added = {"users": 0, "account managers": 0, "customers": 0, "orders": 0, "targets": 0}
    first_month = month_start(today)
    for _ in range(MONTHS - 1):
        first_month = month_start(first_month - timedelta(days=1))
    with transaction() as session:
        emails = _existing(User.email, where=User.email.in_([email for email, _, _ in LOGINS]))
        for email, password, role in LOGINS:
            if email not in emails:
                user = User(email=email, role=role, name=USER_NAMES[email])
                user.set_password(password)
                session.add(user)
                added["users"] += 1
        emails = _existing(AccountManager.email, where=AccountManager.email.in_([email for _, email in MANAGERS]))
        for name, email in MANAGERS:
            if email not in emails:
                session.add(AccountManager(name=name, email=email))
                added["account managers"] += 1
        session.flush()
        managers = session.scalars(
            select(AccountManager)
            .where(AccountManager.email.in_([email for _, email in MANAGERS]))
            .order_by(AccountManager.id)
        ).all()
        codes = _existing(Customer.code, where=Customer.code.in_(CODES))
        for code, name in zip(CODES, CUSTOMERS, strict=True):
            number = int(code[1:])
            if code not in codes:
                manager = managers[number % len(managers)]
                session.add(Customer(code=code, name=name, account_manager=manager, email=_email(number, code)))
                added["customers"] += 1
        session.flush()
        customers = session.scalars(_demo_customers()).all()
        targets = _existing(
            Target.account_manager_id,
            Target.period_start,
            where=Target.account_manager_id.in_([manager.id for manager in managers]),
        )
        numbers = _existing(
            Order.number, where=Order.number.in_([f"DEMO-{n:05d}" for n in range(1, MONTHS * ORDERS_PER_MONTH + 1)])
        )
        month = first_month
        sequence = 0
        for _ in range(MONTHS):
            for manager in managers:
                amount = Decimal(rng.randrange(150, 400)) * 1_000_000
                if (manager.id, month) not in targets:
                    session.add(Target(account_manager=manager, period_start=month, target_amount=amount))
                    added["targets"] += 1
            for _ in range(ORDERS_PER_MONTH):
                sequence += 1
                number = f"DEMO-{sequence:05d}"
                customer = rng.choice(customers)
                closing = month + timedelta(days=rng.randrange(0, 28))
                amounts = {
                    "total_price": Decimal(rng.randrange(5, 60)) * 1_000_000,
                    "additions": Decimal(rng.randrange(0, 5)) * 500_000,
                    "promo": Decimal(rng.randrange(0, 3)) * 1_000_000,
                    "reductions": Decimal(rng.randrange(0, 4)) * 100_000,
                }
                if closing <= today and number not in numbers:
                    session.add(
                        Order(
                            number=number,
                            customer_id=customer.id,
                            account_manager_id=customer.account_manager_id,
                            closing_date=closing,
                            **amounts,
                        )
                    )
                    added["orders"] += 1
            month = month_start(month + timedelta(days=31))
    _issuer(first_month)
    added["wallet movements"] = _wallet_movements(rng, first_month)  # before the readings, which charge the wallets
    added["meters"], added["invoices"] = _postpaid(rng, first_month)
    added["readings"] = _readings(rng, first_month, today)
    return added


def _readings(rng: random.Random, first_month: date, today: date) -> int:
    """A price from the first month, and a reading of each customer's meter on the 20th of each month, recorded as
    one batch."""
    entries = []
    demo = db.session.execute(_demo_customers(Customer.id, Customer.code)).all()
    priced = _existing(
        CustomerPricing.customer_id,
        where=CustomerPricing.customer_id.in_([customer_id for customer_id, _ in demo])
        & (CustomerPricing.effective_from == first_month),
    )
    meters = dict(
        db.session.execute(
            select(Meter.serial, Meter.id).where(Meter.serial.in_([f"MTR-{code}" for _, code in demo]))
        ).all()
    )
    read = _existing(
        MeterReading.meter_id, MeterReading.reading_date, where=MeterReading.meter_id.in_(list(meters.values()))
    )
    for customer_id, code in demo:
        if customer_id not in priced:
            price = Decimal(rng.randrange(60, 95)) * 100
            metering.set_pricing(
                customer_id, first_month, price, Decimal("1.0") + Decimal(rng.randrange(0, 300)) / 10_000
            )
        meter_id = meters[f"MTR-{code}"]
        day = first_month.replace(day=20)
        while day <= today:
            if (meter_id, day) not in read:
                volume = Decimal(rng.randrange(20_000, 90_000)) / 100
                entries.append(metering.Entry(meter_id, day, volume, note="Monthly reading"))
            day = month_start(day + timedelta(days=31)).replace(day=20)
    return len(metering.record_readings(entries))


def _email(number: int, code: str) -> str | None:
    """Where a demo customer's documents are sent; every fifth customer has no address, as some real ones have not."""
    return None if number % 5 == 0 else f"keuangan@{code.lower()}.example"


def _issuer(first_month: date) -> None:
    """The demo company as its documents name it, unless an admin has saved the issuer already; and VAT at
    :data:`DEMO_VAT` from the first month, unless a rate is saved already or invoices were issued before it."""
    if db.session.get(Issuer, 1) is None:
        issuer.save(ISSUER | {"tax_number": issuer.tax_number_rule().example}, version=None)
    if tax.rates(db.session):
        return
    try:
        with transaction() as session:
            tax.save_rate(session.connection(), DEMO_VAT, first_month, None)
    except tax.TaxError:
        pass  # invoices loaded before VAT was kept keep theirs


def _postpaid(rng: random.Random, first_month: date) -> tuple[int, int]:
    """A meter per customer with monthly invoices and most of them paid, the invoices added as one batch and the
    payments as another."""
    customers = db.session.scalars(_demo_customers()).all()
    serials = {customer.id: f"MTR-{customer.code}" for customer in customers}
    meters = {
        meter.serial: meter for meter in db.session.scalars(select(Meter).where(Meter.serial.in_(serials.values())))
    }
    unmetered = [customer for customer in customers if serials[customer.id] not in meters]
    if unmetered:
        added = meter_lifecycle.add_meters([serials[customer.id] for customer in unmetered])
        meter_lifecycle.assign_meters(
            [
                meter_lifecycle.NewAssignment(meter, customer, first_month)
                for meter, customer in zip(added, unmetered, strict=True)
            ]
        )
        meters |= {meter.serial: meter for meter in added}
    numbers = _existing(
        Invoice.number,
        where=Invoice.number.in_(
            [f"INV-{customer.code}-{n + 1:02d}" for customer in customers for n in range(MONTHS - 1)]
        ),
    )
    invoices, paid = [], []
    for customer in customers:
        meter = meters[serials[customer.id]]
        month = first_month
        for n in range(MONTHS - 1):
            number = f"INV-{customer.code}-{n + 1:02d}"
            amount = Decimal(rng.randrange(20, 90)) * 100_000
            if number not in numbers:
                lines = (
                    meter_invoices.NewLine(amount),
                    meter_invoices.NewLine(DEMO_RENTAL, kind=LineKind.METER_RENTAL.value),
                )
                due = month + timedelta(days=14)
                invoices.append(
                    meter_invoices.NewInvoice(meter.id, number, amount + DEMO_RENTAL, month, due, lines=lines)
                )
                if rng.random() < 0.8:
                    paid.append(len(invoices) - 1)
            month = month_start(month + timedelta(days=31))
    ids = meter_invoices.add_invoices(invoices) if invoices else []
    totals = dict(db.session.execute(select(Invoice.id, Invoice.amount).where(Invoice.id.in_(ids))).all())
    payments = [
        meter_payments.NewPayment(
            invoices[n].meter_id,
            totals[ids[n]],
            invoices[n].issued_on + timedelta(days=10),
            f"Transfer {invoices[n].number}",
            invoice_ids=[ids[n]],
        )
        for n in paid
    ]
    if payments:
        meter_payments.add_payments(payments)
    return len(unmetered), len(invoices)


def _wallet_movements(rng: random.Random, first_month: date) -> int:
    """An opening deposit, a few gas charges and a top-up each month per customer, through the wallet service,
    each dated when it was made: the opening deposit on the first day of the first month, before any gas. They carry
    no words: each is shown by its kind, in the reader's language.

    The idempotency keys make a second load move no money. All of them are written in one transaction: each would
    otherwise commit, and be sealed, on its own.
    """
    before = db.session.scalar(select(func.count(BalanceTransaction.id)))
    with transaction(), joined():
        _each_wallet_movement(rng, first_month)
    return db.session.scalar(select(func.count(BalanceTransaction.id))) - before


def _each_wallet_movement(rng: random.Random, first_month: date) -> None:
    for customer_id, code in db.session.execute(_demo_customers(Customer.id, Customer.code)).all():
        wallet.recharge(
            customer_id,
            Decimal(rng.randrange(40, 100)) * 1_000_000,
            idempotency_key=f"demo-{code}-deposit",
            value_date=first_month,
        )
        for n in range(3):
            wallet.charge(
                customer_id,
                Decimal(rng.randrange(100, 900)) * 10_000,
                idempotency_key=f"demo-{code}-charge-{n}",
                value_date=first_month + timedelta(days=7 * (n + 1)),
            )
        month = first_month
        for n in range(1, MONTHS):
            month = month_start(month + timedelta(days=31))
            wallet.recharge(
                customer_id,
                Decimal(rng.randrange(3, 9)) * 1_000_000,
                idempotency_key=f"demo-{code}-top-up-{n}",
                value_date=month,
            )


def _existing(*key, where) -> set:
    """The natural keys of the rows ``where`` selects: the values of a ``key`` of one column, or tuples of them."""
    with db.session.no_autoflush:
        rows = db.session.execute(select(*key).where(where)).all()
    return {row[0] if len(key) == 1 else tuple(row) for row in rows}
