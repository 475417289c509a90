"""The books' screens: chart of accounts, journal, a manual entry with live totals, the balance sheet."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from backoffice.models import Account, JournalEntry
from backoffice.platform.extensions import db
from backoffice.services import wallet
from tests.factories import CustomerFactory, corrupt_bucket
from tests.rows import entries

D = Decimal


def entry_form(*lines, description="Owner's capital", day="2026-11-22") -> dict:
    form = {"entry_date": day, "description": description}
    for n, (account, debit, credit) in enumerate(lines):
        form |= {f"lines-{n}-account": account, f"lines-{n}-debit": debit, f"lines-{n}-credit": credit}
    return form


def test_the_chart_journal_and_balance_sheet_show_the_books(client, auth):
    customer = CustomerFactory()
    wallet.recharge(customer.id, D("250000"))
    wallet.charge(customer.id, D("100000"))
    auth.login("finance")
    chart = client.get("/books/accounts").get_data(as_text=True)
    assert "Customer deposits" in chart and "Rp150.000,00" in chart and "Balanced:" in chart
    journal = client.get("/books/journal?account=4000").get_data(as_text=True)
    assert journal.count('href="/books/journal/') == 1 and "Dr Customer deposits · Cr Gas revenue" in journal
    assert client.get("/books/journal?source=payment").get_data(as_text=True).count('href="/books/journal/') == 0
    first = db.session.scalar(sa.select(JournalEntry.id).order_by(JournalEntry.id))
    page = client.get(f"/books/journal/{first}").get_data(as_text=True)
    assert f"JE-{first}" in page and "balance transaction #" in page and "Rp250.000,00" in page
    sheet = client.get("/books/balance-sheet").get_data(as_text=True)
    assert "Total assets" in sheet and 'id="current-earnings">Rp100.000,00' in sheet


def test_the_balance_sheet_says_by_how_much_it_is_off(client, auth):
    cash = db.session.scalar(sa.select(Account.id).where(Account.code == "1000"))
    corrupt_bucket(cash, 5, "1234.5")
    auth.login("finance")
    assert "Not balanced by Rp1.234,50" in client.get("/books/balance-sheet").get_data(as_text=True)


def test_the_entry_form_totals_live_and_posts_only_a_balanced_entry(client, auth):
    auth.login("admin")
    assert "Post entry" in client.get("/books/journal/new").get_data(as_text=True)
    unbalanced = entry_form(("1000", "1.000.000", ""), ("3000", "", "900.000"))
    totals = client.post("/books/journal/new/totals", data=unbalanced).get_data(as_text=True)
    assert "Rp1.000.000,00" in totals and "Rp900.000,00" in totals and "not balanced: difference Rp100.000,00" in totals
    response = client.post("/books/journal/new", data=unbalanced)
    assert response.status_code == 422 and "differ by" in response.get_data(as_text=True)
    assert entries() == 0

    balanced = entry_form(("1000", "1.000.000", ""), ("3000", "", "1.000.000"))
    assert ">balanced<" in client.post("/books/journal/new/totals", data=balanced).get_data(as_text=True)
    response = client.post("/books/journal/new", data=balanced)
    assert response.status_code == 302 and entries() == 1
    assert db.session.scalar(sa.select(Account.balance).where(Account.code == "3000")) == D("1000000.00")


def test_bad_lines_are_flagged_and_nothing_is_written(client, auth):
    auth.login("admin")
    for form, message in (
        (entry_form(("1000", "1,000.5", ""), ("3000", "", "1000")), "Rp"),
        (entry_form(("1000", "10", "10"), ("3000", "", "10")), "either a debit or a credit"),
        (entry_form(("1000", "10", "")), "at least two lines"),
        (entry_form(("1000", "10", ""), ("3000", "", "10"), description=""), "Say what the entry is for"),
    ):
        response = client.post("/books/journal/new", data=form)
        assert response.status_code == 422 and message in response.get_data(as_text=True), message
    assert entries() == 0


def test_only_admins_post_manual_entries(client, auth):
    auth.login("finance")
    assert client.get("/books/journal/new").status_code == 403
    assert client.post("/books/journal/new", data=entry_form(("1000", "1", ""), ("3000", "", "1"))).status_code == 403
    assert entries() == 0


def test_a_manual_entry_is_corrected_by_a_reversing_entry_once(client, auth):
    auth.login("admin")
    client.post("/books/journal/new", data=entry_form(("1000", "500", ""), ("3000", "", "500")))
    original = db.session.scalar(sa.select(JournalEntry.id))
    page = client.post(f"/books/journal/{original}/reverse", follow_redirects=True).get_data(as_text=True)
    assert f"Reversal of JE-{original}" in page and f'reverses <a href="/books/journal/{original}">' in page
    again = client.post(f"/books/journal/{original}/reverse", follow_redirects=True).get_data(as_text=True)
    assert "has already been reversed" in again
    assert entries() == 2
    assert db.session.scalar(sa.select(Account.balance).where(Account.code == "1000")) == D("0.00")


def test_an_entry_of_a_money_event_is_corrected_through_the_event(client, auth):
    customer = CustomerFactory()
    wallet.recharge(customer.id, D("1000"))
    posted = db.session.scalar(sa.select(JournalEntry.id))
    auth.login("admin")
    page = client.post(f"/books/journal/{posted}/reverse", follow_redirects=True).get_data(as_text=True)
    assert "correct it through that" in page and entries() == 1


def test_a_draft_may_be_unbalanced_moves_nothing_and_posts_only_once_balanced(client, auth):
    auth.login("admin")
    form = entry_form(("1000", "700", ""), ("3000", "", "600")) | {"action": "draft"}
    assert client.post("/books/journal/new", data=form).status_code == 302
    draft = db.session.scalar(sa.select(JournalEntry))
    assert draft.status.value == "draft" and set(balances_now().values()) == {D(0)}
    page = client.post(f"/books/journal/{draft.id}/post", follow_redirects=True).get_data(as_text=True)
    assert "differ by Rp100,00" in page
    db.session.rollback()
    assert db.session.get(JournalEntry, draft.id).status.value == "draft"
    client.post(f"/books/journal/{draft.id}/void")
    db.session.rollback()
    assert db.session.get(JournalEntry, draft.id).status.value == "void"
    again = client.post(f"/books/journal/{draft.id}/post", follow_redirects=True).get_data(as_text=True)
    assert "does not change" in again and set(balances_now().values()) == {D(0)}

    form = entry_form(("1000", "700", ""), ("3000", "", "700")) | {"action": "draft"}
    client.post("/books/journal/new", data=form)
    balanced = db.session.scalar(sa.select(JournalEntry.id).where(JournalEntry.status == "draft"))
    client.post(f"/books/journal/{balanced}/post")
    assert balances_now()["1000"] == D("700.00")


def balances_now() -> dict[str, Decimal]:
    db.session.rollback()
    return dict(db.session.execute(sa.select(Account.code, Account.balance)).all())


def test_forms_default_to_today_in_the_installations_time_zone(app, client, auth):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    auth.login("admin")
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):  # 25 hours apart: never the same date
        app.config["TIMEZONE"] = zone
        today = datetime.now(ZoneInfo(zone)).date().isoformat()
        assert f'value="{today}"' in client.get("/books/journal/new").get_data(as_text=True)


def test_the_books_address_opens_the_chart_of_accounts_and_every_page_has_an_icon(client, auth):
    auth.login("finance")
    response = client.get("/books")
    assert response.status_code == 302 and response.headers["Location"].endswith("/books/accounts")
    page = client.get("/books/accounts").get_data(as_text=True)
    assert 'rel="icon"' in page
    assert client.get("/static/favicon.svg").status_code == 200


def test_the_live_indicator_says_balanced_only_of_what_posting_accepts(client, auth):
    auth.login("admin")
    both_sides = {
        "entry_date": "2026-11-20",
        "description": "Capital",
        "lines-0-account": "1000",
        "lines-0-debit": "500",
        "lines-0-credit": "500",
        "lines-1-account": "3000",
        "lines-1-credit": "500",
        "lines-2-debit": "500",
    }
    totals = client.post("/books/journal/new/totals", data=both_sides).get_data(as_text=True)
    assert ">balanced<" not in totals and "Line 1: enter either a debit or a credit" in totals
    refused = client.post("/books/journal/new", data=both_sides | {"action": "post"})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert page.index("Line 1: enter either a debit or a credit") > page.index('id="entry-totals"')


def test_the_journal_names_what_each_automatic_entry_records(client, auth):
    customer = CustomerFactory(code="C0042", name="PT Sinar Jaya Makmur")
    moved = wallet.recharge(customer.id, D("250000"))
    auth.login("finance")
    journal = client.get("/books/journal").get_data(as_text=True)
    assert '<a href="/customers/C0042">C0042 — PT Sinar Jaya Makmur</a>' in journal
    assert f'href="/customers/C0042/movements/{moved.id}">movement #{moved.id}</a>' in journal
    assert "balance transaction" not in journal and "Prepaid movements" in journal


def test_a_double_submit_of_an_entry_below_the_limit_posts_it_once(client, auth):
    auth.login("admin")
    form = entry_form(("1000", "1.000.000", ""), ("3000", "", "1.000.000")) | {"idempotency_key": "je-form-1"}
    first = client.post("/books/journal/new", data=form)
    again = client.post("/books/journal/new", data=form)
    assert first.status_code == again.status_code == 302
    assert first.headers["Location"] == again.headers["Location"]
    assert entries() == 1
    assert db.session.scalar(sa.select(Account.balance).where(Account.code == "3000")) == D("1000000.00")
    draft = entry_form(("1000", "10", ""), description="Being prepared") | {"idempotency_key": "je-form-2"}
    for _ in range(2):
        assert client.post("/books/journal/new", data=draft | {"action": "draft"}).status_code == 302
    assert entries() == 2


def test_an_entry_under_a_key_of_the_application_s_own_is_refused(client, auth):
    auth.login("admin")
    form = entry_form(("1000", "1.000.000", ""), ("3000", "", "1.000.000")) | {"idempotency_key": "~approval-7"}
    response = client.post("/books/journal/new", data=form)
    assert response.status_code == 422 and "~" in response.get_data(as_text=True)
    assert entries() == 0
