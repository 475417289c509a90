"""The history of every change: versions with who, when and the values before and after, the "History" panels,
the deleted orders, and history tables the database keeps append-only."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade
from sqlalchemy_continuum.utils import version_class

from backoffice import register_migrations
from backoffice.models import (
    Customer,
    CustomerPricing,
    HistoryOperation,
    HistoryTransaction,
    Invoice,
    MeterAssignment,
    MeterReading,
    Order,
    Payment,
    RunMode,
    User,
)
from backoffice.platform.extensions import db
from backoffice.reconcile.engine import run
from backoffice.services import billing, customers, meter_invoices, meter_lifecycle, meter_payments, metering, wallet
from backoffice.services.metering.tariff import Tariff, change_tariff
from backoffice.web.oversight import history
from tests.factories import CustomerFactory, OrderFactory, TargetFactory, corrupt, unit_of_work
from tests.pages import shown as text

D = Decimal


def versions(model, record_id: int) -> list[tuple[HistoryOperation, str, dict]]:
    """Each version of the record, oldest first: its operation, who made it, and its values."""
    db.session.rollback()
    history = version_class(model).__table__
    transactions = HistoryTransaction.__table__
    rows = db.session.execute(
        sa.select(history, transactions.c.actor, User.email.label("by_email"))
        .join(transactions, transactions.c.id == history.c.transaction_id)
        .outerjoin(User, User.id == transactions.c.user_id)
        .where(history.c.id == record_id)
        .order_by(history.c.transaction_id)
    ).all()
    return [(HistoryOperation(row.operation_type), row.by_email or row.actor, dict(row._mapping)) for row in rows]


def order_form(order: Order, **overrides) -> dict:
    data = {
        "number": order.number,
        "customer_id": order.customer.code,
        "account_manager_id": order.account_manager.email,
        "closing_date": order.closing_date.isoformat(),
        "total_price": "10.000.000",
        "additions": "500.000",
        "promo": "1.000.000",
        "reductions": "200.000",
        "version": str(order.version),
    }
    return data | overrides


@pytest.mark.parametrize("kind", sorted(history.KINDS))
def test_every_field_of_a_history_is_said_by_a_label_never_by_its_column_s_name(app, kind):
    """A version's fields are named as their record's forms or the history's own labels name them, in the reader's
    language: none by its column's name ("Logo type", "Logo sha256")."""
    model = history.KINDS[kind].model
    labels = history.labels_of(model)
    columns = [column.name for column in version_class(model).__table__.columns if column.name not in history.HIDDEN]
    assert [name for name in columns if not str(labels.get(name) or "")] == []


def test_editing_an_order_records_who_and_each_value_before_and_after(client, finance):
    order = OrderFactory()
    response = client.post(f"/orders/{order.id}/edit", data=order_form(order, additions="750.000"))
    assert response.status_code == 302
    (created, _, _), (edited, who, values) = versions(Order, order.id)
    assert (created, edited, who) == (HistoryOperation.CREATE, HistoryOperation.EDIT, finance.email)
    assert values["additions"] == D("750000.00") and values["grand_total"] == D("9550000.00")
    panel = text(client.get(f"/orders/{order.id}/edit"))
    assert "History" in panel
    assert f"{finance.name} edited" in panel
    assert "Additions : Rp500.000,00 → Rp750.000,00" in panel
    assert "Grand total : Rp9.300.000,00 → Rp9.550.000,00" in panel
    customer = db.session.get(Customer, order.customer_id)
    assert f"Customer : — → {customer.code} — {customer.name}" in panel


def test_a_save_that_changes_nothing_adds_no_version(client, finance):
    order = OrderFactory()
    client.post(f"/orders/{order.id}/edit", data=order_form(order))
    assert [operation for operation, _, _ in versions(Order, order.id)] == [HistoryOperation.CREATE]


def test_a_deleted_order_is_listed_as_deleted_with_who_deleted_it_and_what_it_was(client, finance):
    order = OrderFactory(number="SO-GONE")
    kept = OrderFactory(number="SO-KEPT")
    assert client.post(f"/orders/{order.id}/delete").status_code == 302
    assert db.session.get(Order, order.id) is None
    operation, who, values = versions(Order, order.id)[-1]
    assert (operation, who, values["number"], values["grand_total"]) == (
        HistoryOperation.DELETE,
        finance.email,
        "SO-GONE",
        D("9300000.00"),
    )
    listing = client.get("/orders").get_data(as_text=True)
    assert 'href="/orders/deleted"' in listing
    deleted = text(client.get("/orders/deleted"))
    assert "SO-GONE" in deleted and finance.name in deleted and "Rp9.300.000,00" in deleted
    assert kept.number not in deleted
    history = text(client.get(f"/history/order/{order.id}"))
    assert f"{finance.name} deleted" in history and "Order number : was SO-GONE" in history


def test_no_order_deleted_says_so(client, finance):
    OrderFactory()
    assert "No order has been deleted." in text(client.get("/orders/deleted"))


@pytest.mark.parametrize("statement", ["UPDATE {table} SET {column} = {column}", "DELETE FROM {table}"])
@pytest.mark.parametrize(("table", "column"), [("orders_history", "number"), ("history_transactions", "actor")])
def test_the_database_refuses_to_change_or_remove_history(app, statement, table, column):
    OrderFactory()
    count = sa.select(sa.func.count()).select_from(sa.table(table))
    before = db.session.scalar(count)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with unit_of_work() as connection:
            connection.execute(sa.text(statement.format(table=table, column=column)))
    db.session.rollback()
    assert before > 0 and db.session.scalar(count) == before


def test_truncating_history_is_refused_on_postgresql(app):
    OrderFactory()
    with pytest.raises(sa.exc.DBAPIError, match="TRUNCATE is refused"):
        with unit_of_work() as connection:
            connection.execute(sa.text("TRUNCATE orders_history"))


def test_a_targets_customers_and_managers_edits_are_in_their_panels(client, admin):
    target = TargetFactory()
    customer = CustomerFactory(name="Old name")
    manager = customer.account_manager
    manager_id, name, email = manager.id, manager.name, manager.email
    form = {
        "account_manager_id": target.account_manager.email,
        "period_start": "2026-11",
        "target_amount": "120.000.000",
    }
    assert client.post(f"/targets/{target.id}/edit", data=form | {"version": target.version}).status_code == 302
    page = text(client.get(f"/targets/{target.id}/edit"))
    assert "Target amount : Rp100.000.000,00 → Rp120.000.000,00" in page
    assert (
        client.post(f"/managers/{manager_id}/edit", data={"name": "Sari", "email": email, "version": 1}).status_code
        == 302
    )
    assert f"Name : {name} → Sari" in text(client.get(f"/managers/{manager_id}/edit"))
    client.post(f"/customers/{customer.code}/realtime/off")
    page = text(client.get(f"/customers/{customer.code}"))
    assert "Calculated in real time : yes → no" in page


def test_money_the_posting_core_moves_is_not_history(app):
    customer = CustomerFactory()
    wallet.recharge(customer.id, D("1000000"))
    wallet.charge(customer.id, D("250000"))
    assert [operation for operation, _, _ in versions(Customer, customer.id)] == [HistoryOperation.CREATE]
    assert "balance" not in version_class(Customer).__table__.columns


def test_a_users_password_is_never_kept_in_its_history(client, admin):
    assert "password_hash" not in version_class(User).__table__.columns
    assert "session_token" not in version_class(User).__table__.columns
    page = text(client.get(f"/admin/users/{admin.id}"))
    assert "History" in page and f"Email : — → {admin.email}" in page
    assert "Password" not in page.split("History", 1)[1]


def test_a_users_history_is_for_admins(client, auth):
    finance = auth.login("finance")
    assert client.get(f"/history/user/{finance.id}").status_code == 403


@pytest.mark.parametrize("path", ["/history/nothing/1", "/history/order/999999"])
def test_a_history_of_nothing_is_not_found(client, finance, path):
    assert client.get(path).status_code == 404


def test_readings_written_with_sql_core_get_their_versions_in_the_same_transaction(metered_hotel):
    customer, meter = metered_hotel
    reading_id = metering.record_reading(meter.id, date(2026, 11, 5), D("12.5"))
    metering.correct_reading(reading_id, date(2026, 11, 5), D("20"), note="misread")
    metering.delete_reading(reading_id)
    found = versions(MeterReading, reading_id)
    assert [operation for operation, _, _ in found] == [
        HistoryOperation.CREATE,
        HistoryOperation.EDIT,
        HistoryOperation.DELETE,
    ]
    assert [values["volume_flow_meter"] for _, _, values in found] == [D("12.5"), D("20"), D("20")]
    assert found[1][2]["note"] == "misread"


def test_pricing_and_a_tariff_written_with_sql_core_get_their_versions(metered_hotel):
    customer, _ = metered_hotel
    pricing_id = db.session.scalar(sa.select(CustomerPricing.id).where(CustomerPricing.customer_id == customer.id))
    metering.set_pricing(customer.id, date(2026, 11, 1), D("1100.00"), D("1.000000"))
    change_tariff(Tariff(date(2026, 11, 1), price_per_sm3=D("1200.00"), customer_codes=("HOTEL",)))
    change_tariff(Tariff(date(2026, 12, 1), price_per_sm3=D("1300.00"), customer_codes=("HOTEL",)))
    found = versions(CustomerPricing, pricing_id)
    assert [(operation, values["price_per_sm3"]) for operation, _, values in found] == [
        (HistoryOperation.CREATE, D("1000.00")),
        (HistoryOperation.EDIT, D("1100.00")),
        (HistoryOperation.EDIT, D("1200.00")),
    ]
    december = db.session.scalar(
        sa.select(CustomerPricing.id).where(CustomerPricing.effective_from == date(2026, 12, 1))
    )
    assert [operation for operation, _, _ in versions(CustomerPricing, december)] == [HistoryOperation.CREATE]


def test_invoices_and_payments_written_with_sql_core_get_their_versions(metered_hotel, client, auth):
    _, meter = metered_hotel
    invoice = meter_invoices.add_invoice(meter, "INV-1", D("500000"), date(2026, 11, 2), date(2026, 11, 30))
    meter_invoices.change_invoice(invoice, "INV-1", D("450000"), date(2026, 11, 30))
    payment = meter_payments.add_payment(meter, D("200000"), date(2026, 11, 10), "TRF-9")
    meter_payments.withdraw_payment(payment, "bounced")
    assert [(op, v["amount"]) for op, _, v in versions(Invoice, invoice.id)] == [
        (HistoryOperation.CREATE, D("500000.00")),
        (HistoryOperation.EDIT, D("450000.00")),
    ]
    found = versions(Payment, payment.id)
    assert [op for op, _, _ in found] == [HistoryOperation.CREATE, HistoryOperation.EDIT]
    assert found[-1][2]["withdrawal_reason"] == "bounced"
    auth.login("finance")
    page = text(client.get(f"/customers/HOTEL/invoices/{invoice.id}/edit"))
    assert "Amount : Rp500.000,00 → Rp450.000,00" in page
    page = text(client.get(f"/customers/HOTEL/payments/{payment.id}/edit"))
    assert "Why it was withdrawn : — → bounced" in page


def test_a_readings_and_a_meters_pages_show_their_history(metered_hotel, client, auth):
    customer, meter = metered_hotel
    reading_id = metering.record_reading(meter.id, date(2026, 11, 5), D("12.5"))
    auth.login("admin")
    page = text(client.get(f"/customers/HOTEL/readings/{reading_id}"))
    assert "History" in page and "Flow-meter volume (m³) : — → 12,5000" in page
    page = text(client.get(f"/meters/{meter.id}/retire"))
    assert "Serial : — → M-1" in page


def test_a_reconciliation_fix_is_linked_from_the_records_history(client, admin):
    order = OrderFactory()
    corrupt("orders", "grand_total", order.id, "1")
    record = run(RunMode.FIX, checks=["order_grand_total"])
    page = client.get(f"/orders/{order.id}/edit").get_data(as_text=True)
    assert f'href="/reconciliation/runs/{record.id}"' in page
    assert "fixed by" in text(client.get(f"/orders/{order.id}/edit"))


def test_a_command_is_named_as_who_made_its_changes(app, runner):
    result = runner.invoke(
        args=["users", "create", "clerk@example.com", "--role", "finance", "--password-stdin"],
        input="correct horse battery\n",
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User).where(User.email == "clerk@example.com"))
    assert versions(User, user.id)[0][1] == "command backoffice users create"


def test_the_migration_gives_existing_records_a_baseline_version(app):
    order = OrderFactory(additions=D("750000"))
    order_id, customer_id = order.id, order.customer_id
    db.session.remove()
    register_migrations(app)
    try:
        downgrade(revision="0020")
    finally:
        upgrade()
    (baseline,) = versions(Order, order_id)
    operation, who, values = baseline
    assert (operation, who, values["additions"], values["grand_total"]) == (
        HistoryOperation.CREATE,
        "migration 0021",
        D("750000.00"),
        D("9550000.00"),
    )
    assert [who for _, who, _ in versions(Customer, customer_id)] == ["migration 0021"]
    order = db.session.get(Order, order_id)
    order.promo = D("0")
    db.session.commit()
    assert [operation for operation, _, _ in versions(Order, order_id)] == [
        HistoryOperation.CREATE,
        HistoryOperation.EDIT,
    ]


def test_a_meter_assignment_keeps_its_history_and_the_billing_tab_links_it(metered_hotel, client, auth):
    customer, meter = metered_hotel
    assignment = billing.active_assignment(meter.id)
    meter_lifecycle.deactivate(assignment, date(2026, 11, 20))
    found = versions(MeterAssignment, assignment.id)
    assert [(op, values["is_active"], values["ended_on"]) for op, _, values in found] == [
        (HistoryOperation.CREATE, True, None),
        (HistoryOperation.EDIT, False, date(2026, 11, 20)),
    ]
    auth.login("finance")
    tab = client.get("/customers/HOTEL?tab=billing").get_data(as_text=True)
    assert f'href="/history/assignment/{assignment.id}"' in tab
    assert "Active : yes → no" in text(client.get(f"/history/assignment/{assignment.id}"))


def test_records_written_one_by_one_in_a_transaction_each_get_one_version(app):
    made = customers.create_customers([(f"B{n}", customers.Details(name=f"Batch {n}")) for n in range(3)])
    with unit_of_work():
        for customer in made:
            customer.name = f"{customer.name}, renamed"
            db.session.flush()
    for customer in made:
        operations = [operation for operation, _actor, _values in versions(Customer, customer.id)]
        assert operations == [HistoryOperation.CREATE, HistoryOperation.EDIT]
    transactions = db.session.scalar(sa.select(sa.func.count(HistoryTransaction.id)))
    assert transactions == 2, "the three added in one transaction, the three renamed in another"


@pytest.mark.parametrize("codes", [["B1", "b1"], ["B1", "TAKEN"]])
def test_customers_added_together_are_refused_whole_for_a_code_used_twice(app, codes):
    CustomerFactory(code="TAKEN")
    db.session.commit()
    with pytest.raises(customers.CustomerError, match=f"Customer code {codes[-1].upper()} is already used"):
        customers.create_customers([(code, customers.Details(name="Someone")) for code in codes])
    assert db.session.scalar(sa.select(sa.func.count(Customer.id))) == 1
