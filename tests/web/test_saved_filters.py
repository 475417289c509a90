"""Saved filters: a person saves a list's filters under a name, sees their own above the list as links that apply
them in one click, saves under a name again to replace them, and deletes them; only the list's own filters and its
sort are kept, and the list reads a saved query as it reads any address."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from backoffice.models import SavedFilter
from backoffice.platform.extensions import db
from backoffice.services import saved_filters
from backoffice.web.saved_filters import LISTS
from tests.checkout import ROOT
from tests.chromium import follow, log_in
from tests.conftest import AuthActions
from tests.factories import AccountManagerFactory, CustomerFactory, OrderFactory, UserFactory
from tests.pages import INDONESIAN, VIETNAMESE, unescaped_html

TEMPLATES = ROOT / "templates"
ADDRESSES = {
    "aging": "/receivables/aging",
    "customers": "/customers",
    "invoices": "/invoices",
    "journal": "/books/journal",
    "meters": "/meters",
    "movements": "/ledger",
    "orders": "/orders",
    "payments": "/payments",
    "targets": "/targets",
}
"""Each list whose filters may be saved, by its name: its address."""


def saved(user_id: int | None = None) -> list[tuple]:
    """Every saved filter (of one person), as (list, name, query string), by list and name."""
    query = sa.select(SavedFilter.list_name, SavedFilter.name, SavedFilter.query_string)
    if user_id is not None:
        query = query.where(SavedFilter.user_id == user_id)
    db.session.expire_all()
    return [tuple(row) for row in db.session.execute(query.order_by(SavedFilter.list_name, SavedFilter.name))]


def kept_query(page: str) -> str | None:
    """The query string the page's form would save (``None``: the page offers no form)."""
    found = re.search(
        r'action="/account/filters/[a-z]+">\s*<input[^>]*>\s*<input type="hidden" name="query" value="([^"]*)"', page
    )
    return None if found is None else found.group(1)


def test_filters_saved_under_a_name_keep_only_the_lists_own_filters_and_its_sort(client, finance):
    page = unescaped_html(client.get("/invoices?customer=Jakarta&status=overdue&page=2&sort=-due&since=&colour=red"))
    assert "Save these filters" in page
    assert kept_query(page) == "customer=Jakarta&status=overdue&sort=-due"

    answer = client.post(
        "/account/filters/invoices",
        data={"name": "  Overdue Jakarta ", "query": "customer=Jakarta&status=overdue&page=2&sort=-due&colour=red"},
    )
    assert answer.status_code == 302
    assert answer.location == "/invoices?customer=Jakarta&status=overdue&sort=-due"
    assert saved(finance.id) == [("invoices", "Overdue Jakarta", "customer=Jakarta&status=overdue&sort=-due")]
    assert "These filters are saved as “Overdue Jakarta”." in unescaped_html(client.get(answer.location))

    listed = unescaped_html(client.get("/invoices"))
    link = re.search(r'<a href="([^"]+)">Overdue Jakarta</a>', listed)
    assert link is not None and link.group(1) == "/invoices?customer=Jakarta&status=overdue&sort=-due"
    # The list shows the saved filter it is filtered by as the current one.
    assert '<a href="/invoices?customer=Jakarta&status=overdue&sort=-due" aria-current="true">Overdue Jakarta</a>' in (
        unescaped_html(client.get("/invoices?customer=Jakarta&status=overdue&sort=-due&page=3"))
    )


def test_a_saved_filter_applies_its_filters_in_one_click(client, finance):
    manager = AccountManagerFactory(email="ani@example.com", name="Ani")
    OrderFactory(number="JKT-1", customer=CustomerFactory(code="JKT", name="Jakarta Gas", account_manager=manager))
    OrderFactory(number="BDG-1", customer=CustomerFactory(code="BDG", name="Bandung Gas", account_manager=manager))
    client.post("/account/filters/orders", data={"name": "Jakarta", "query": "q=Jakarta&sort=-grand_total"})

    link = re.search(r'<a href="([^"]+)">Jakarta</a>', unescaped_html(client.get("/orders"))).group(1)
    applied = client.get(link)
    assert applied.status_code == 200
    page = unescaped_html(applied)
    assert "JKT-1" in page and "BDG-1" not in page
    assert 'value="Jakarta"' in page


def test_saving_under_a_name_again_replaces_its_filters_and_says_so(client, finance):
    client.post("/account/filters/targets", data={"name": "May", "query": "month=2026-05"})
    answer = client.post(
        "/account/filters/targets", data={"name": "May", "query": "month=2026-06&sort=month"}, follow_redirects=True
    )
    assert "The filters saved as “May” were replaced with these." in unescaped_html(answer)
    assert saved(finance.id) == [("targets", "May", "month=2026-06&sort=month")]


def test_a_saved_filter_is_deleted_and_the_list_shown_as_it_was(client, finance):
    client.post("/account/filters/meters", data={"name": "Retired", "query": "status=retired"})
    client.post("/account/filters/meters", data={"name": "Serial 7", "query": "q=7"})
    found = db.session.scalar(sa.select(SavedFilter.id).where(SavedFilter.name == "Retired"))
    page = unescaped_html(client.get("/meters?status=retired"))
    assert f'action="/account/filters/meters/{found}/delete"' in page
    assert 'aria-label="Delete the saved filter “Retired”"' in page

    answer = client.post(f"/account/filters/meters/{found}/delete", data={"query": "status=retired&page=4"})
    assert answer.status_code == 302 and answer.location == "/meters?status=retired"
    assert "The saved filter “Retired” is deleted." in unescaped_html(client.get(answer.location))
    assert saved(finance.id) == [("meters", "Serial 7", "q=7")]
    assert client.post(f"/account/filters/meters/{found}/delete").status_code == 404


def test_a_person_sees_and_deletes_only_their_own_saved_filters(app, client, finance):
    other = UserFactory(email="other@example.com")
    saved_filters.save_filters(other.id, "orders", "Theirs", "q=theirs")
    theirs = db.session.scalar(sa.select(SavedFilter.id))

    assert "Theirs" not in unescaped_html(client.get("/orders"))
    assert client.post(f"/account/filters/orders/{theirs}/delete").status_code == 404
    assert client.post(f"/account/filters/customers/{theirs}/delete").status_code == 404
    assert client.post(f"/account/filters/orders/{2**62}/delete").status_code == 404
    # Their name is theirs: the clerk's filters under it are the clerk's own.
    client.post("/account/filters/orders", data={"name": "Theirs", "query": "q=mine"})
    assert saved(other.id) == [("orders", "Theirs", "q=theirs")]
    assert saved(finance.id) == [("orders", "Theirs", "q=mine")]

    second = app.test_client()
    AuthActions(second).login()
    assert "Theirs" not in unescaped_html(second.get("/orders"))


@pytest.mark.parametrize("address", ["/account/filters/no-such-list", "/account/filters/no-such-list/1/delete"])
def test_a_list_that_is_not_one_is_not_found(client, finance, address):
    assert client.post(address, data={"name": "Mine", "query": "q=x"}).status_code == 404
    assert saved() == []


@pytest.mark.parametrize(
    ("name", "query", "message"),
    [
        ("", "q=x", "Name the filters in 1 to 60 characters."),
        ("   ", "q=x", "Name the filters in 1 to 60 characters."),
        ("x" * 61, "q=x", "Name the filters in 1 to 60 characters."),
        ("Nothing", "page=2&colour=red", "There is no filter or sort to save: choose some, then save them."),
        ("Long", "q=" + "x" * 2000, "These filters are too long to save: shorten what they search for."),
    ],
    ids=["no name", "a blank name", "a name too long", "nothing to save", "too long a query"],
)
def test_filters_that_cannot_be_saved_are_refused_with_a_message_and_nothing_written(
    client, finance, name, query, message
):
    answer = client.post("/account/filters/customers", data={"name": name, "query": query}, follow_redirects=True)
    assert answer.status_code == 200
    assert message in unescaped_html(answer)
    assert saved() == []


def test_a_name_of_60_characters_is_kept_whole(client, finance):
    client.post("/account/filters/customers", data={"name": "é" * 60, "query": "q=x"})
    assert saved(finance.id) == [("customers", "é" * 60, "q=x")]


def test_a_person_keeps_at_most_30_saved_filters_of_a_list_and_may_still_replace_one(client, finance):
    for number in range(30):
        saved_filters.save_filters(finance.id, "payments", f"Filter {number:02d}", f"customer=C{number}")

    answer = client.post(
        "/account/filters/payments", data={"name": "One more", "query": "customer=X"}, follow_redirects=True
    )
    assert (
        "You keep 30 saved filters of this list, the most there may be: delete one to save another."
        in unescaped_html(answer)
    )
    assert len(saved(finance.id)) == 30
    assert ("payments", "One more", "customer=X") not in saved(finance.id)

    client.post("/account/filters/payments", data={"name": "Filter 07", "query": "customer=Y"})
    assert ("payments", "Filter 07", "customer=Y") in saved(finance.id)
    # Another list has a limit of its own.
    client.post("/account/filters/invoices", data={"name": "One more", "query": "customer=X"})
    assert ("invoices", "One more", "customer=X") in saved(finance.id)


def test_a_saved_filter_that_no_longer_reads_shows_the_lists_own_message(client, finance):
    manager = AccountManagerFactory(email="ani@example.com", name="Ani")
    client.post("/account/filters/orders", data={"name": "Ani's", "query": "manager=ani@example.com"})
    manager.email = "ani.s@example.com"
    db.session.commit()

    applied = client.get(re.search(r'<a href="([^"]+)">Ani\'s</a>', unescaped_html(client.get("/orders"))).group(1))
    assert applied.status_code == 200
    assert "No account manager with email ani@example.com." in unescaped_html(applied)


@pytest.mark.parametrize(
    ("list_name", "query", "status", "message"),
    [
        ("targets", "month=2026-13", 200, "Write the month as YYYY-MM"),
        ("journal", "since=2026-05-02&until=2026-05-01", 200, "The range ends before it starts"),
        ("aging", "as_of=2999-01-01", 422, "Nothing is dated after today"),
        ("orders", "sort=colour", 200, "Not a valid choice of column to sort by"),
    ],
    ids=["a month", "a range", "a day after today", "a sort"],
)
def test_a_forged_saved_query_is_read_as_the_list_reads_it(client, finance, list_name, query, status, message):
    client.post(f"/account/filters/{list_name}", data={"name": "Forged", "query": query})
    link = re.search(r'<a href="([^"]+)">Forged</a>', unescaped_html(client.get(ADDRESSES[list_name])))
    applied = client.get(link.group(1))
    assert applied.status_code == status
    assert message in unescaped_html(applied)


def test_filters_the_list_cannot_read_are_not_offered_for_saving(client, finance):
    page = unescaped_html(client.get("/orders?month=2026-13"))
    assert "Write the month as YYYY-MM" in page
    assert kept_query(page) is None


def test_the_messages_are_in_the_readers_language(client, finance):
    indonesian = client.post(
        "/account/filters/orders",
        data={"name": "Jakarta", "query": "q=Jakarta"},
        headers=INDONESIAN,
        follow_redirects=True,
    )
    assert "Filter ini disimpan sebagai “Jakarta”." in unescaped_html(indonesian)
    assert "Filter tersimpan" in unescaped_html(indonesian)
    vietnamese = client.post(
        "/account/filters/orders", data={"name": "", "query": "q=Jakarta"}, headers=VIETNAMESE, follow_redirects=True
    )
    assert "Hãy đặt tên bộ lọc từ 1 đến 60 ký tự." in unescaped_html(vietnamese)
    assert saved(finance.id) == [("orders", "Jakarta", "q=Jakarta")]


def test_saving_without_the_forms_token_is_refused_and_nothing_written(client, finance, csrf_app):
    answer = client.post("/account/filters/orders", data={"name": "Mine", "query": "q=x"})
    assert answer.status_code == 400
    assert saved() == []


@pytest.mark.parametrize(
    ("list_name", "query"),
    [
        ("aging", "customer=Jakarta"),
        ("customers", "q=Jakarta&sort=-balance"),
        ("invoices", "customer=Jakarta&status=overdue"),
        ("journal", "since=2026-05-01&sort=-number"),
        ("meters", "q=7&status=retired"),
        ("movements", "customer=Jakarta&least=1000"),
        ("orders", "q=Jakarta&month=2026-05"),
        ("payments", "customer=Jakarta&sort=-amount"),
        ("targets", "month=2026-05&sort=month"),
    ],
)
def test_each_list_with_filters_offers_to_save_them_its_own_parameters_only(client, finance, list_name, query):
    page = unescaped_html(client.get(f"{ADDRESSES[list_name]}?{query}&page=2&colour=red"))
    assert kept_query(page) == query
    assert 'id="saved-filters"' not in unescaped_html(client.get(ADDRESSES[list_name]))


def test_every_list_offering_saved_filters_is_one_the_server_keeps_them_for():
    named = {
        name
        for template in TEMPLATES.rglob("*.html")
        for name in re.findall(r"saved_filters\('([^']+)',", template.read_text(encoding="utf-8"))
    }
    assert named == set(LISTS)


def test_a_clerk_saves_applies_and_deletes_filters_in_the_browser(browser, live_server):
    clerk = UserFactory(email="clerk@example.com")
    OrderFactory(number="JKT-1", customer=CustomerFactory(code="JKT", name="Jakarta Gas"))
    OrderFactory(number="BDG-1", customer=CustomerFactory(code="BDG", name="Bandung Gas"))
    context = browser.new_context(base_url=live_server, viewport={"width": 1366, "height": 768})
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        log_in(page, clerk.email)
        page.goto("/orders?q=Jakarta&page=1")
        page.click("details.save-filters summary")
        page.fill("#saved-filter-name", "Jakarta")
        follow(page, "details.save-filters button[type=submit]")
        assert "These filters are saved as “Jakarta”." in page.inner_text(".flash-success")
        assert saved(clerk.id) == [("orders", "Jakarta", "q=Jakarta")]

        page.goto("/orders")
        follow(page, "#saved-filters a >> text=Jakarta")
        assert page.url.endswith("/orders?q=Jakarta")
        rows = page.inner_text("#orders")
        assert "JKT-1" in rows and "BDG-1" not in rows

        follow(page, "#saved-filters button.remove")
        assert "The saved filter “Jakarta” is deleted." in page.inner_text(".flash-success")
        assert page.url.endswith("/orders?q=Jakarta")
        assert saved() == []
    finally:
        context.close()
