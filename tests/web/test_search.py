"""The search: one box in every page's header finding customers, meters, invoices, payments, orders, account
managers and (for admins) users by part of what they hold, typed with a slip; a key typed whole and sent opens its
record; and the pickers, type-ahead fields on the same search wherever a form chooses a customer, a meter or an
account manager, whose key the server reads back and refuses, saying why, when it names nothing."""

from __future__ import annotations

import html
import re
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from backoffice.models import Customer, Invoice, MeterReading, Order, Payment, User
from backoffice.platform.extensions import db
from backoffice.services import meter_lifecycle, search
from backoffice.web import search as search_view
from backoffice.web.plumbing import pickers
from tests.chromium import log_in
from tests.factories import (
    AccountManagerFactory,
    CustomerFactory,
    MeterFactory,
    OrderFactory,
    UserFactory,
    metered_customer,
)

D = Decimal


def live(client, text: str, **headers) -> str:
    """What the header's box shows under it as ``text`` is typed (its htmx request)."""
    response = client.get("/search", query_string={"q": text}, headers={"HX-Request": "true", **headers})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def results(shown: str) -> list[tuple[str, str]]:
    """Each result's address and what it says it is, in order."""
    found = re.findall(r'href="([^"]+)" class="result"[^>]*>\s*<span class="kind">([^<]+)</span>', shown)
    return [(html.unescape(address), kind) for address, kind in found]


def suggested(client, kind: str, text: str, **scope) -> list[str]:
    """The keys a picker of ``kind`` suggests for ``text``."""
    response = client.get(f"/search/pick/{kind}", query_string={"q": text, **scope})
    assert response.status_code == 200
    return re.findall(r'data-value="([^"]*)"', response.get_data(as_text=True))


@pytest.fixture
def business(meter):
    """HOTEL (Hotel Cempaka Indah, Ibu Sari) holding meter M-1 with invoice INV-1 and payment TRF-9 (the ``meter``
    fixture); order SO-77 of HOTEL; Dewi Lestari, its account manager; Sari Auditor, a user."""
    hotel = db.session.scalar(sa.select(Customer).where(Customer.code == "HOTEL"))
    hotel.name, hotel.contact_person, hotel.phone = "Hotel Cempaka Indah", "Ibu Sari", "+62 21 555-0123"
    hotel.account_manager.name, hotel.account_manager.email = "Dewi Lestari", "dewi@example.com"
    db.session.commit()
    order = OrderFactory(number="SO-77", customer=hotel, account_manager=hotel.account_manager)
    auditor = UserFactory(email="auditor@example.com", name="Sari Auditor")
    return {
        "order": order.id,
        "manager": hotel.account_manager_id,
        "invoice": db.session.scalar(sa.select(Invoice.id)),
        "payment": db.session.scalar(sa.select(Payment.id)),
        "auditor": auditor.id,
    }


def test_a_customer_is_found_by_a_fragment_of_its_name_typed_with_a_slip(client, finance):
    CustomerFactory(code="C0042", name="Hotel Cempaka Indah", contact_person="Ibu Sari", phone="+62 21 555-0123")
    CustomerFactory(code="C0043", name="Toko Melati")
    shown = live(client, "cempka")
    assert results(shown) == [("/customers/C0042", "Customer")]
    assert "C0042 — Hotel Cempaka Indah" in shown and "Ibu Sari · +62 21 555-0123" in shown
    assert results(live(client, "hotel indah")) == [("/customers/C0042", "Customer")]  # a word left out
    assert results(live(client, "555-0123")) == [("/customers/C0042", "Customer")]  # by its phone


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        ("Cafe Senor", "Café Señor Rasa"),
        ("pho hoa", "Phở Hòa Quận 1"),
        ("khi dot", "Công ty Khí Đốt Miền Nam"),
        ("CAFÉ SEÑOR", "Café Señor Rasa"),
        ("Phở Hoa", "Phở Hòa Quận 1"),
    ],
)
def test_a_customer_is_found_with_or_without_accents_and_tone_marks(client, finance, typed, name):
    code = {"Café Señor Rasa": "CAFE", "Phở Hòa Quận 1": "PHO", "Công ty Khí Đốt Miền Nam": "GAS"}
    for named, coded in code.items():
        CustomerFactory(code=coded, name=named)
    assert results(live(client, typed))[0] == (f"/customers/{code[name]}", "Customer")
    listed = client.get("/customers", query_string={"q": typed}).get_data(as_text=True)
    assert f"/customers/{code[name]}" in listed


def test_each_kind_is_found_saying_what_it_is_and_linking_to_its_page(client, admin, business):
    found = {
        "cempaka": ("/customers/HOTEL", "Customer"),
        "M-1": ("/meters?q=M-1", "Meter"),
        "INV-1": (f"/customers/HOTEL/invoices/{business['invoice']}/edit", "Invoice"),
        "TRF-9": (f"/customers/HOTEL/payments/{business['payment']}/edit", "Payment"),
        "SO-77": (f"/orders/{business['order']}/edit", "Order"),
        "lestari": (f"/managers/{business['manager']}/edit", "Account manager"),
        "auditor": (f"/admin/users/{business['auditor']}", "User"),
    }
    for text, result in found.items():
        assert results(live(client, text))[0] == result, text
        assert client.get(result[0]).status_code == 200, result


def test_the_results_are_said_in_the_reader_s_language(client, finance, business):
    assert results(live(client, "cempaka", **{"Accept-Language": "id"})) == [("/customers/HOTEL", "Pelanggan")]
    assert results(live(client, "cempaka", **{"Accept-Language": "vi"})) == [("/customers/HOTEL", "Khách hàng")]


@pytest.mark.parametrize(
    ("text", "opened"),
    [
        ("hotel", "/customers/HOTEL"),
        ("m-1", "/meters?q=M-1"),
        ("INV-1", "/customers/HOTEL/invoices/{invoice}/edit"),
        ("TRF-9", "/customers/HOTEL/payments/{payment}/edit"),
        ("so-77", "/orders/{order}/edit"),
    ],
)
def test_a_key_typed_whole_and_sent_opens_its_record_at_once(client, finance, business, text, opened):
    response = client.get("/search", query_string={"q": text})
    assert response.status_code == 302
    assert response.headers["Location"] == opened.format(**business)


def test_anything_else_sent_is_a_page_of_results_the_key_first(client, finance):
    CustomerFactory(code="MELATI", name="Toko Bunga")
    CustomerFactory(code="K1", name="Melati Jaya")
    CustomerFactory(code="K2", name="Kedai Melati")
    response = client.get("/search", query_string={"q": "melat"})
    assert response.status_code == 200 and len(results(response.get_data(as_text=True))) == 3
    assert results(live(client, "melati"))[0] == ("/customers/MELATI", "Customer")  # the code whole, first
    OrderFactory(number="MELATI-1")
    assert results(live(client, "melati-1"))[0][1] == "Order"  # a key typed whole comes before any other kind


def test_a_kind_shows_its_eight_best_at_most(client, finance):
    for n in range(12):
        CustomerFactory(code=f"K{n:02d}", name=f"Kedai Kopi {n}")
    assert len(results(live(client, "kedai kopi"))) == 8


def test_a_clerk_gets_no_result_of_a_page_only_admins_open(client, auth, business):
    auth.login("finance")
    assert not [r for r in results(live(client, "auditor")) if "/admin/" in r[0]]
    assert "/admin/users" not in client.get("/search", query_string={"q": "auditor@example.com"}).get_data(as_text=True)
    auth.login("admin")
    assert (f"/admin/users/{business['auditor']}", "User") in results(live(client, "auditor"))


@pytest.mark.parametrize(
    "text",
    ["x" * 300, "%", "_", "%%", "a_b", "'", '"', "\\", "it's", 'say "hi"', "50%_off", "<script>", "ab\\", "é漢字"],
)
def test_odd_or_long_searches_answer_without_error(client, finance, text):
    CustomerFactory(code="C1", name="Toko 50% Diskon")
    for headers in ({}, {"HX-Request": "true"}):
        response = client.get("/search", query_string={"q": text}, headers=headers)
        assert response.status_code == 200, text
    if len(text) > search.LONGEST:
        assert "Type at most 200 characters." in live(client, text)
    assert "<script>" not in live(client, "<script>")


def test_a_nul_byte_is_a_clear_400(client, finance):
    for headers in ({}, {"HX-Request": "true"}):
        response = client.get("/search?q=a%00b", headers=headers)
        assert response.status_code == 400 and "NUL" in response.get_data(as_text=True)
    assert client.get("/search/pick/customer?q=a%00b").status_code == 400


def test_a_single_letter_finds_nothing_yet(client, finance):
    CustomerFactory(code="A1", name="Apotek")
    assert results(live(client, "a")) == []
    assert "Type at least 2 characters." in client.get("/search?q=a").get_data(as_text=True)


@pytest.mark.parametrize("kind", search.KINDS)
def test_each_kind_s_search_reads_its_trigram_index(app, kind):
    """With whole-table reads priced out, as a large table prices them (a read of every entry of an index that holds
    the id and the column is one), each query reads its GIN index."""
    table = {"customer": "customers", "manager": "account_managers"}.get(kind, f"{kind}s")
    query = search.QUERIES[kind]("cempka").limit(8).compile(db.engine, compile_kwargs={"literal_binds": True})
    connection = db.session.connection()
    connection.exec_driver_sql(
        "SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off"
    )
    plan = "\n".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {query}".replace("%%", "%")))
    assert f"ix_{table}_search" in plan, plan
    db.session.rollback()


def test_no_search_index_serves_a_key_s_lookup(app):
    """A trigram index on a column itself serves ``column = …`` too, and the planner, misjudging its cost, read a
    key's lookup from it (an import's 2,000 codes in 6 s, planned as a prepared statement is after its fifth run,
    where the unique index takes 1 ms): every trigram index is on what the search matches or orders by."""
    found = db.session.execute(
        sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE indexdef LIKE '%trgm_ops%' ORDER BY indexname")
    ).all()
    assert len(found) == 21  # 20 of the searched columns, and the customers' vocabulary (migration 0086)
    for name, definition in found:
        indexed = re.search(r"USING \w+ \((.*)\)", definition)[1]
        parts = indexed.split("_trgm_ops")[:-1]
        assert all(part.strip(" ,").startswith(("lower(", "search_folded(")) for part in parts), (name, definition)


def test_among_hundreds_alike_a_kind_ranks_its_nearest_few_and_finds_the_best(app):
    """300 shops named "Toko N" all have a word like "Toko 15": the customers' query reads the customers of the
    rarest word typed ("15", or a word beginning with it) off the customer words' index and ranks those alone,
    finding what ranking every match finds. With a table's read and a bitmap of a whole range priced out, as a large
    table prices them for a few rows in order, it reads that index no further than its bound, and no trigram list."""
    _shops()
    connection = db.session.connection()
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    found = [row.key for row in search.found("Toko 15", ["customer"], 5)["customer"]]
    every = db.session.scalars(
        sa.text(
            "SELECT code FROM customers WHERE name %> :typed OR code %> :typed OR name ILIKE '%Toko 15%' "
            "ORDER BY greatest(word_similarity(:typed, code), word_similarity(:typed, name)) DESC, code LIMIT 5"
        ),
        {"typed": "Toko 15"},
    ).all()
    assert found == every == ["T015", "T150", "T151", "T152", "T153"]
    connection.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
    nodes = _plan(connection, "Toko 15")
    assert _words_read_to_their_bound(nodes)
    trigrams = [
        node
        for _, node in nodes
        if node.get("Index Name", "").endswith(("_nearest", "_search"))
        or (node["Node Type"] == "Seq Scan" and node["Relation Name"] == "customers")
    ]
    assert trigrams and all(node["Actual Loops"] == 0 for node in trigrams)
    assert all(node["Plans"][0]["Actual Rows"] < 300 for _, node in nodes if node["Node Type"] == "Sort")
    db.session.rollback()


def test_a_word_typed_with_a_slip_among_hundreds_alike_is_read_as_the_likest_word_customers_hold(app):
    """No customer holds "cempka", and "toko" is every shop's: the query reads "cempka" as the likest word of the
    customers' vocabulary ("cempaka"), ranks the customers holding it, and finds the one it was meant to find; priced
    as a large table is, it reads the customer words no further than their bound and no trigram list of the rows."""
    _shops(("T999", "Toko Cempaka"))
    connection = db.session.connection()
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    assert [row.key for row in search.found("Toko Cempka", ["customer"], 5)["customer"]] == ["T999"]
    connection.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
    nodes = _plan(connection, "Toko Cempka")
    assert any(node.get("Relation Name") == "customer_vocabulary" for _, node in nodes)
    assert _words_read_to_their_bound(nodes)
    trigrams = [
        node
        for _, node in nodes
        if node.get("Index Name", "").startswith("ix_customers_")
        and node["Index Name"].endswith(("_nearest", "_search"))
    ]
    assert trigrams and all(node["Actual Loops"] == 0 for node in trigrams)
    assert all(node["Plans"][0]["Actual Rows"] < 300 for _, node in nodes if node["Node Type"] == "Sort")
    db.session.rollback()


def test_what_no_word_is_like_among_hundreds_alike_ranks_the_names_nearest_few(app):
    """No word begins with "x9z" nor is like it (the vocabulary holds words of letters alone), and "toko" is every
    shop's: the query reads the names' nearest off their GiST index, in order and no further than its limit, and
    finds the one it was meant to find."""
    _shops(("T999", "Toko X9Y"))
    connection = db.session.connection()
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    assert [row.key for row in search.found("Toko X9Z", ["customer"], 5)["customer"]][0] == "T999"
    connection.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
    nodes = _plan(connection, "Toko X9Z")
    above = {id(node): parent for parent, node in nodes}
    nearest = [node for _, node in nodes if node.get("Index Name") == "ix_customers_name_nearest"]
    limit = above[id(nearest[0])]
    while limit["Node Type"] == "Result":  # whether the trigram lists are read at all
        limit = above[id(limit)]
    assert [(limit["Node Type"], "Order By" in node) for node in nearest] == [("Limit", True)]
    assert 0 < nearest[0]["Actual Rows"] <= search.CANDIDATES
    assert _words_read_to_their_bound(nodes)
    assert all(node["Plans"][0]["Actual Rows"] < 300 for _, node in nodes if node["Node Type"] == "Sort")
    db.session.rollback()


def test_a_customer_s_words_are_kept_by_the_database_with_what_the_search_matches(app):
    """Every door writes a customer through the database, which keeps its words (migration 0086): written with the
    customer, written anew when what the search matches changes, left alone by a charge's write of its balance, gone
    with it; the vocabulary keeps every word of letters alone they have held."""
    customer = CustomerFactory(code="C-0042", name="Hotel Cempaka Indah", contact_person="Ibu Sári", phone="+62 21 555")
    kept = sa.text("SELECT array_agg(word ORDER BY word), max(xmin::text) FROM customer_words WHERE customer_id = :id")
    words, written = db.session.execute(kept, {"id": customer.id}).one()
    assert words == ["0042", "21", "555", "62", "c", "cempaka", "hotel", "ibu", "indah", "sari"]
    vocabulary = sa.text("SELECT array_agg(word ORDER BY word) FROM customer_vocabulary")
    assert db.session.scalar(vocabulary) == ["c", "cempaka", "hotel", "ibu", "indah", "sari"]  # words of letters
    db.session.execute(sa.text("UPDATE customers SET balance = balance + 1 WHERE id = :id"), {"id": customer.id})
    assert db.session.execute(kept, {"id": customer.id}).one() == (words, written)
    db.session.execute(sa.text("UPDATE customers SET name = 'Phở Hòa' WHERE id = :id"), {"id": customer.id})
    assert db.session.execute(kept, {"id": customer.id}).one()[0] == [
        "0042",
        "21",
        "555",
        "62",
        "c",
        "hoa",
        "ibu",
        "pho",
        "sari",
    ]
    assert [row.key for row in search.found("pho hoa", ["customer"], 5)["customer"]] == ["C-0042"]
    assert db.session.scalar(vocabulary) == ["c", "cempaka", "hoa", "hotel", "ibu", "indah", "pho", "sari"]
    db.session.execute(sa.text("DELETE FROM customers WHERE id = :id"), {"id": customer.id})
    assert db.session.execute(kept, {"id": customer.id}).one() == (None, None)
    db.session.rollback()


def _shops(*named: tuple[str, str]) -> None:
    """300 shops named "Toko N" (coded T001 to T300), and the customers ``named`` (code, name), of one manager."""
    manager = AccountManagerFactory()
    for code, name in [(f"T{n:03d}", f"Toko {n}") for n in range(1, 301)] + list(named):
        CustomerFactory(code=code, name=name, account_manager=manager)


def _words_read_to_their_bound(nodes: list) -> bool:
    """Whether the plan read the customer words, each read no further than a word's bound."""
    words = [node for _, node in nodes if node.get("Index Name") == "pk_customer_words"]
    return bool(words) and all(node["Actual Rows"] <= search.CANDIDATES + 1 for node in words)


def _plan(connection, typed: str) -> list:
    """Each node of the customers' query's plan for ``typed``, run (``EXPLAIN ANALYZE``), with the node above it."""
    query = search.customers(typed).limit(5).compile(db.engine, compile_kwargs={"literal_binds": True})
    plan = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {query}".replace("%%", "%")).scalar()[0]
    return list(_nodes(plan["Plan"]))


def test_each_column_offers_the_ranking_four_times_what_the_box_or_a_picker_shows():
    assert search.CANDIDATES >= 4 * max(search_view.PER_KIND, pickers.SUGGESTED)


def _nodes(node: dict, parent: dict | None = None):
    """Each node of a plan (``EXPLAIN (FORMAT JSON)``) with the node above it."""
    yield parent, node
    for child in node.get("Plans", []):
        yield from _nodes(child, node)


# Pickers


def test_a_customer_picker_suggests_by_what_is_typed_with_a_slip(client, finance):
    manager = AccountManagerFactory(name="Dewi Lestari", email="dewi@example.com")
    CustomerFactory(code="C0042", name="Hotel Cempaka", account_manager=manager)
    CustomerFactory(code="C0043", name="Toko Melati")
    assert suggested(client, "customer", "cempka") == ["C0042"]
    assert suggested(client, "customer", "") == []
    body = client.get("/search/pick/customer", query_string={"q": "cempka"}).get_data(as_text=True)
    assert 'data-account-manager="dewi@example.com"' in body and 'data-account-manager-name="Dewi Lestari"' in body
    assert "Nothing found for “zzzz”." in client.get("/search/pick/customer?q=zzzz").get_data(as_text=True)


def test_a_meter_picker_suggests_the_meters_the_customer_holds_then_those_it_held(client, finance):
    hotel, m1 = metered_customer("HOTEL", date(2026, 10, 1), D("1000"), serial="M-1")
    MeterFactory(serial="M-2")
    old = MeterFactory(serial="M-0")
    meter_lifecycle.assign_meter(old, CustomerFactory(code="MILL"), date(2026, 9, 1))
    assert suggested(client, "meter", "", customer="HOTEL") == ["M-1"]
    assert suggested(client, "meter", "m-", customer="MILL") == ["M-0"]
    assert suggested(client, "meter", "m-1", customer="NOBODY") == []


def test_a_route_sheet_picker_offers_the_customers_without_a_manager_too(client, finance):
    AccountManagerFactory(name="Dewi Lestari")
    AccountManagerFactory(name="Gone", active=False)
    assert suggested(client, "manager", "", nobody=1)[0] == "none"
    assert len(suggested(client, "manager", "")) == 2
    assert len(suggested(client, "manager", "", active=1)) == 1


def test_an_order_for_an_unknown_customer_code_is_refused_saying_so_writing_nothing(client, finance):
    customer = CustomerFactory()
    form = {
        "customer_id": "NOPE",
        "account_manager_id": customer.account_manager.email,
        "closing_date": "2026-11-10",
        "total_price": "1.000",
        "additions": "0",
        "promo": "0",
        "reductions": "0",
    }
    response = client.post("/orders/new", data=form)
    assert response.status_code == 422
    error = response.get_data(as_text=True).split('id="error-customer_id">', 1)[1].split("</div>", 1)[0]
    assert error == "No customer with code NOPE."
    indonesian = client.post("/orders/new", data=form, headers={"Accept-Language": "id"}).get_data(as_text=True)
    assert "Tidak ada pelanggan dengan kode NOPE." in indonesian
    assert db.session.scalar(sa.select(sa.func.count(Order.id))) == 0
    assert client.post("/orders/new", data=form | {"customer_id": customer.code.lower()}).status_code == 302


def test_a_meter_the_customer_never_held_is_refused_and_nothing_is_written(client, finance):
    metered_customer("HOTEL", date(2026, 10, 1), D("1000"), prepaid=D("100000"), serial="M-1")
    metered_customer("MILL", date(2026, 10, 1), D("1000"), serial="M-2")
    form = {"reading-meter_id": "M-2", "reading-reading_date": "2026-11-05", "reading-volume_flow_meter": "1"}
    response = client.post("/customers/HOTEL/readings", data=form)
    assert response.status_code == 422
    assert "Meter M-2 is not one HOTEL holds or held." in response.get_data(as_text=True)
    unknown = client.post("/customers/HOTEL/readings", data=form | {"reading-meter_id": "M-404"})
    assert unknown.status_code == 422 and "No meter with serial M-404." in unknown.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(MeterReading.id))) == 0


def test_no_form_renders_a_select_of_more_than_a_hundred_customers_or_meters(client, admin):
    hotel, _meter = metered_customer("HOTEL", date(2026, 10, 1), D("1000"), serial="M-000")
    for n in range(1, 101):
        meter_lifecycle.assign_meter(MeterFactory(serial=f"M-{n:03d}"), hotel, date(2026, 10, 1))
    for n in range(101):
        CustomerFactory(code=f"K{n:03d}", account_manager=hotel.account_manager)
    order = OrderFactory(customer=hotel)
    pages = [
        "/orders/new",
        f"/orders/{order.id}/edit",
        "/orders",
        "/customers",
        "/customers/new",
        "/customers/HOTEL/edit",
        "/customers/HOTEL?tab=billing",
        "/customers/HOTEL?tab=metering",
        "/readings/sheet",
        "/pricing/tariff",
        "/invoices",
        "/payments",
        "/receivables/aging",
        "/meters",
        "/targets",
        "/targets/new",
    ]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        for select in re.findall(r"<select\b.*?</select>", response.get_data(as_text=True), re.S):
            assert select.count("<option") <= 100, (path, select[:80])


# In the browser


@pytest.mark.browser
@pytest.mark.parametrize("language", ["id", "vi"])
def test_a_name_typed_with_a_slip_in_the_header_arrives_on_the_customer_s_page(browser, live_server, language):
    from playwright.sync_api import expect

    clerk = UserFactory(email="clerk@example.com")
    CustomerFactory(code="C0042", name="Hotel Cempaka Indah")
    CustomerFactory(code="C0043", name="Toko Melati")
    headers = {"Accept-Language": language}
    if language == "vi":  # the user's own choice, whatever the browser's
        db.session.execute(sa.update(User).where(User.id == clerk.id).values(language="vi"))
        db.session.commit()
        headers = {"Accept-Language": "en"}
    context = browser.new_context(base_url=live_server, extra_http_headers=headers)
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    blocked = []  # what the Content-Security-Policy blocked, as the suite's page fixture watches for
    tab.on("console", lambda message: blocked.append(message.text) if "Content Security" in message.text else None)
    try:
        log_in(tab, "clerk@example.com")
        tab.goto("/orders")
        expect(tab.locator("html")).to_have_attribute("lang", language)
        tab.locator("body").press("/")
        expect(tab.locator("#search")).to_be_focused()
        tab.keyboard.type("hotel cempka")
        first = tab.locator("#search-results [role=option]").first
        expect(first).to_contain_text("C0042 — Hotel Cempaka Indah")
        expect(first.locator(".kind")).to_have_text({"id": "Pelanggan", "vi": "Khách hàng"}[language])
        tab.keyboard.press("ArrowDown")
        expect(tab.locator("#search")).to_have_attribute("aria-activedescendant", "search-result-1")
        with tab.expect_navigation(wait_until="load"):
            tab.keyboard.press("Enter")
        assert tab.url.endswith("/customers/C0042")
        expect(tab.locator("h1")).to_contain_text("C0042 — Hotel Cempaka Indah")
    finally:
        context.close()
    assert blocked == []


@pytest.mark.browser
def test_the_results_close_with_escape_and_enter_sends_a_key_to_its_record(page):
    from playwright.sync_api import expect

    UserFactory(email="clerk@example.com")
    CustomerFactory(code="C0042", name="Hotel Cempaka Indah")
    log_in(page, "clerk@example.com")
    page.fill("#search", "cempaka")
    expect(page.locator("#search-found")).to_be_visible()
    page.press("#search", "Escape")
    expect(page.locator("#search-found")).to_be_hidden()
    page.fill("#search", "c0042")
    with page.expect_navigation(wait_until="load"):
        page.press("#search", "Enter")
    assert page.url.endswith("/customers/C0042")
    page.fill("#search", "zzzz")
    expect(page.locator("#search-found")).to_contain_text("Nothing found for “zzzz”.")
