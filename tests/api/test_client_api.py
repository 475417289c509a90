"""The clients' API under /api/v1: a client's charge posted once under its key and refused as the form refuses it,
readings, a customer's figures and movements; tokens issued, stored hashed and revoked; each call logged with its
client; refusals in the client's language; the OpenAPI description held to the routes; and a charge served as the
runtime role."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from backoffice.models import ApprovalRequest, BalanceTransaction, Customer, MeterReading, MonthlyCustomerBalance
from backoffice.models.api_clients import ApiCall, ApiClient
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.services import api_clients, wallet
from backoffice.services.customers import close_customer
from backoffice.services.wallet import InsufficientBalance
from backoffice.web.api.clients import openapi
from tests.concurrency import race
from tests.factories import CustomerFactory, UserFactory, quarantine
from tests.roles import runtime_app
from tests.rows import balance_by_code

D = Decimal
CHARGE = {"amount": "12500.00", "service_type": "parking_fee", "reference": 7, "description": "Parking, November"}


@pytest.fixture
def issuer(app):
    return UserFactory(email="issuer@example.com", role="admin")


@pytest.fixture
def token(issuer) -> str:
    """The token of client "portal", issued by an admin."""
    return api_clients.issue("portal", by=issuer)[1]


@pytest.fixture
def call(app, token):
    """``call(method, url, token=…, key=…, language=…, json=…)``: a call of the API."""
    client = app.test_client()

    def call(method, url, *, token=token, key=None, language=None, **kwargs):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if key:
            headers["Idempotency-Key"] = key
        if language:
            headers["Accept-Language"] = language
        return client.open(url, method=method, headers=headers, **kwargs)

    return call


def charge(call, key="k-1", body=CHARGE, code="HOTEL", **kwargs):
    return call("POST", f"/api/v1/customers/{code}/charges", key=key, json=body, **kwargs)


def moved(code: str = "HOTEL") -> list[BalanceTransaction]:
    db.session.rollback()
    customer = db.session.scalar(sa.select(Customer).where(Customer.code == code))
    return list(db.session.scalars(sa.select(BalanceTransaction).where(BalanceTransaction.customer_id == customer.id)))


def test_a_charge_posts_once_under_its_key_and_a_retry_answers_what_the_first_posted(call, hotel):
    first = charge(call)
    assert first.status_code == 201, first.get_json()
    posted = first.get_json()["charge"]
    assert posted | {"id": 0, "posted_at": ""} == {
        "id": 0,
        "customer": "HOTEL",
        "amount": "12500.00",
        "balance_after": "87500.00",
        "value_date": local_today().isoformat(),
        "posted_at": "",
        "service_type": "parking_fee",
        "reference": 7,
        "description": "Parking, November",
        "idempotency_key": "k-1",
    }

    again = charge(call)
    assert again.status_code == 200
    assert again.get_json()["charge"] == posted
    assert balance_by_code() == D("87500.00")
    assert len(moved()) == 2  # the opening deposit and the charge

    # The key with another charge: refused, nothing written.
    for other in ({"amount": "12600.00"}, {"reference": 8}, {"service_type": "car_wash"}, {"description": "Other"}):
        refused = charge(call, body=CHARGE | other)
        assert refused.status_code == 409, other
        assert "k-1" in refused.get_json()["message"]
    other_customer = CustomerFactory(code="SHOP")
    wallet.recharge(other_customer, D("50000"))
    assert charge(call, code="SHOP").status_code == 409
    assert balance_by_code() == D("87500.00") and balance_by_code("SHOP") == D("50000.00")
    assert len(moved()) == 2


def test_a_client_s_keys_are_its_own(call, hotel, issuer):
    """Two clients sending the same key post a charge each: neither is answered with the other's."""
    assert charge(call).status_code == 201
    other = api_clients.issue("parking", by=issuer)[1]
    second = charge(call, token=other)
    assert second.status_code == 201
    assert second.get_json()["charge"]["idempotency_key"] == "k-1"
    assert balance_by_code() == D("75000.00")


def test_a_client_s_key_as_kept_is_no_one_else_s(call, hotel, runner):
    """A client's key is kept in its namespace (``api:<client>:<key>``): a command or a clerk sending that stored key
    with the same charge is refused with its sentence, never answered with the client's charge, and nothing is
    written."""
    posted = charge(call).get_json()["charge"]
    stored = db.session.get(BalanceTransaction, posted["id"]).idempotency_key
    assert stored.startswith("api:") and stored.endswith(":k-1")
    said = "cannot start with 'api:': such keys are the API clients'"
    command = ["ledger", "charge", "HOTEL", "12500", "--description", CHARGE["description"], "--idempotency-key"]
    ran = runner.invoke(args=[*command, stored])
    assert ran.exit_code != 0 and said in ran.output, ran.output
    with pytest.raises(wallet.IdempotencyKeyReserved, match=said):
        wallet.charge(hotel, D("12500"), description=CHARGE["description"], idempotency_key=stored)
    assert balance_by_code() == D("87500.00") and len(moved()) == 2


def test_a_charge_sent_twice_at_once_posts_once(app, call, hotel):
    """The second call comes while the first is still posting: it waits for the customer the first holds, then is
    answered with what the first posted."""
    answers = []
    race(
        app,
        lambda: answers.append(charge(call)),
        lambda: answers.append(charge(call)),
        hold_after="commit",
    )
    assert sorted(answer.status_code for answer in answers) == [200, 201]
    assert answers[0].get_json()["charge"] == answers[1].get_json()["charge"]
    assert balance_by_code() == D("87500.00")
    assert len(moved()) == 2


def test_a_charge_past_the_balance_is_refused_as_the_form_refuses_it(app, call, client, finance, hotel):
    body = CHARGE | {"amount": "100000.01"}
    refused = charge(call, body=body)
    assert refused.status_code == 422
    said = refused.get_json()
    assert said["status"] == "error" and said["field"] == "amount" and said["request_id"]
    with app.test_request_context():
        assert said["message"] == str(InsufficientBalance("HOTEL", D("100000.00"), D("100000.01")))

    form = {"charge-amount": "100.000,01", "charge-idempotency_key": "form-1"}
    page = client.post("/customers/HOTEL/charge", data=form)
    assert page.status_code == 422
    assert html.escape(said["message"]) in page.get_data(as_text=True)

    assert balance_by_code() == D("100000.00") and len(moved()) == 1
    # Nothing was posted under the key: once the money is there, the same call posts.
    wallet.recharge(hotel, D("1"))
    assert charge(call, body=body).status_code == 201
    assert balance_by_code() == D("0.99")


def test_a_charge_above_the_approval_limit_posts_as_the_form_s_charge_does(call, client, finance, hotel, limit):
    """The approval limit holds money moved by hand (adjustments, reversals): a charge, the form's or a client's, is
    a sale, refused only beyond the balance, and waits for nobody."""
    assert D("60000") > limit
    form = {"charge-amount": "30.000", "charge-idempotency_key": "form-1"}
    assert client.post("/customers/HOTEL/charge", data=form).status_code == 302
    posted = charge(call, body=CHARGE | {"amount": "60000.00"})
    assert posted.status_code == 201
    assert balance_by_code() == D("10000.00")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApprovalRequest)) == 0


def test_a_revoked_token_is_refused_from_its_next_call(app, call, hotel, client, admin):
    assert charge(call).status_code == 201
    portal = db.session.scalar(sa.select(ApiClient).where(ApiClient.name == "portal"))
    assert client.post(f"/admin/api-clients/{portal.id}/revoke").status_code == 302

    refused = charge(call, key="k-2")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert "revoked" in refused.get_json()["message"]
    assert call("GET", "/api/v1/customers/HOTEL").status_code == 401
    assert charge(call).status_code == 401  # a retry of the charge it posted too
    assert balance_by_code() == D("87500.00")
    db.session.rollback()
    revoked = db.session.get(ApiClient, portal.id)
    assert revoked.revoked_at is not None and revoked.revoked_by_id == admin.id

    # Revoking it again says so, and changes nothing.
    again = client.post(f"/admin/api-clients/{portal.id}/revoke", follow_redirects=True)
    assert "is revoked already" in again.get_data(as_text=True)


def test_the_token_is_shown_once_and_stored_hashed(app, client, admin):
    page = client.post("/admin/api-clients", data={"name": "Meter app"})
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    token = re.search(r'<code id="token">([^<]+)</code>', page.get_data(as_text=True)).group(1)
    assert token.startswith("bo_") and len(token) == 46
    assert token not in client.get("/admin/api-clients").get_data(as_text=True)

    stored = db.session.scalar(sa.select(ApiClient).where(ApiClient.name == "Meter app"))
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert stored.token_prefix == token[:11] and stored.issued_by_id == admin.id
    # No row of any table holds the token, nor what follows its prefix.
    tables = db.session.scalars(
        sa.text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")
    ).all()
    for table in tables:
        found = db.session.scalar(
            sa.text(f'SELECT count(*) FROM "{table}" AS t WHERE t::text LIKE :token'), {"token": f"%{token[11:]}%"}
        )
        assert found == 0, table

    # A second client of the same name is refused; the form says why.
    again = client.post("/admin/api-clients", data={"name": "meter app"})
    assert again.status_code == 422
    assert "There is an API client named meter app already" in again.get_data(as_text=True)


def test_a_client_is_renamed_unless_it_changed_since_its_form_was_shown(client, admin, token):
    portal = db.session.scalar(sa.select(ApiClient).where(ApiClient.name == "portal"))
    form = {f"client-{portal.id}-name": "Customer portal", f"client-{portal.id}-version": str(portal.version)}
    assert client.post(f"/admin/api-clients/{portal.id}/name", data=form).status_code == 302
    stale = client.post(f"/admin/api-clients/{portal.id}/name", data=form | {f"client-{portal.id}-name": "Other"})
    assert stale.status_code == 409
    assert "it is now Customer portal" in stale.get_data(as_text=True)
    db.session.rollback()
    assert db.session.get(ApiClient, portal.id).name == "Customer portal"


def test_every_call_is_logged_with_its_client(app, call, hotel, issuer, client, admin):
    other = api_clients.issue("parking", by=issuer)[1]
    assert charge(call).status_code == 201
    assert charge(call, body=CHARGE | {"amount": "-1"}, key="k-2").status_code == 422
    assert call("GET", "/api/v1/customers/HOTEL/movements?limit=1").status_code == 200
    assert call("GET", "/api/v1/customers/NOBODY", token=other).status_code == 404
    assert call("GET", "/api/v1/customers/HOTEL", token="bo_nobody-was-issued-this").status_code == 401
    assert call("GET", "/api/v1/customers/HOTEL", token=None).status_code == 401

    db.session.rollback()
    logged = db.session.execute(
        sa.select(ApiClient.name, ApiCall.method, ApiCall.path, ApiCall.status, ApiCall.idempotency_key)
        .join(ApiClient)
        .order_by(ApiCall.id)
    ).all()
    assert [tuple(row) for row in logged] == [
        ("portal", "POST", "/api/v1/customers/HOTEL/charges", 201, "k-1"),
        ("portal", "POST", "/api/v1/customers/HOTEL/charges", 422, "k-2"),
        ("portal", "GET", "/api/v1/customers/HOTEL/movements?limit=1", 200, None),
        ("parking", "GET", "/api/v1/customers/NOBODY", 404, None),
    ]
    calls = db.session.scalars(sa.select(ApiCall)).all()
    assert all(c.request_id and c.called_at for c in calls)
    assert all(c.last_used_at for c in db.session.scalars(sa.select(ApiClient)))

    page = client.get(f"/admin/api-clients?client={calls[-1].client_id}").get_data(as_text=True)
    assert "/api/v1/customers/NOBODY" in page and "/api/v1/customers/HOTEL/charges" not in page
    assert "/api/v1/customers/HOTEL/charges" in client.get("/admin/api-clients").get_data(as_text=True)


def test_refusals_are_in_the_client_s_language(app, call, hotel):
    refused = charge(call, body=CHARGE | {"amount": "100000.01"}, language="id")
    with app.test_request_context(), force_locale("id"):
        expected = str(InsufficientBalance("HOTEL", D("100000.00"), D("100000.01")))
    assert refused.get_json()["message"] == expected
    assert expected.startswith("Saldo tidak cukup: HOTEL")

    negative = charge(call, body=CHARGE | {"amount": "-5.00"}, language="id,en;q=0.5")
    assert negative.get_json()["message"] == "Jumlah tidak boleh negatif."
    assert charge(call, body=CHARGE | {"amount": "-5.00"}).get_json()["message"] == "The amount must not be negative."
    assert balance_by_code() == D("100000.00")


TOO_LATE = "tomorrow"


@pytest.mark.parametrize(
    ("body", "key", "status", "field"),
    [
        (CHARGE | {"amount": "1" * 40}, "k", 422, "amount"),
        (CHARGE | {"amount": "-12500.00"}, "k", 422, "amount"),
        (CHARGE | {"amount": "0.00"}, "k", 422, "amount"),
        (CHARGE | {"amount": "12500.001"}, "k", 422, "amount"),
        (CHARGE | {"amount": 12500.5}, "k", 422, "amount"),
        (CHARGE | {"amount": "12,500.00"}, "k", 422, "amount"),
        (CHARGE | {"amount": "1e5"}, "k", 422, "amount"),
        ({key: v for key, v in CHARGE.items() if key != "amount"}, "k", 422, "amount"),
        (CHARGE, None, 422, "Idempotency-Key"),
        (CHARGE, "with space", 422, "Idempotency-Key"),
        (CHARGE, "k" * 65, 422, "Idempotency-Key"),
        (CHARGE | {"service_type": "meter_reading"}, "k", 422, "service_type"),
        (CHARGE | {"service_type": "Parking Fee"}, "k", 422, "service_type"),
        (CHARGE | {"service_type": 5}, "k", 422, "service_type"),
        (CHARGE | {"reference": 0}, "k", 422, "reference"),
        (CHARGE | {"reference": 2**31}, "k", 422, "reference"),
        (CHARGE | {"reference": "7"}, "k", 422, "reference"),
        (CHARGE | {"reference": True}, "k", 422, "reference"),
        (CHARGE | {"description": "x" * 301}, "k", 422, "description"),
        (CHARGE | {"description": "nul\u0000"}, "k", 400, "description"),
        (CHARGE | {"amount": "1\u0000"}, "k", 422, "amount"),
        (["not", "an", "object"], "k", 400, None),
    ],
)
def test_a_charge_that_cannot_be_read_is_refused_and_writes_nothing(call, hotel, body, key, status, field):
    refused = charge(call, body=body, key=key)
    assert refused.status_code == status, refused.get_json()
    said = refused.get_json()
    assert said["status"] == "error" and said["message"] and said.get("field") == field
    assert balance_by_code() == D("100000.00") and len(moved()) == 1


def test_a_charge_of_an_unknown_customer_or_not_in_json_is_refused(call, hotel):
    unknown = charge(call, code="NOBODY")
    assert (unknown.status_code, unknown.get_json()["message"]) == (404, "No customer NOBODY.")
    form = call("POST", "/api/v1/customers/HOTEL/charges", key="k", data={"amount": "1.00"})
    assert form.status_code == 400
    for broken in ("{", "[" * 100_000 + "]" * 100_000):
        sent = call("POST", "/api/v1/customers/HOTEL/charges", key="k", data=broken, content_type="application/json")
        assert sent.status_code == 400
    assert balance_by_code() == D("100000.00") and len(moved()) == 1


def readings() -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count()).select_from(MeterReading))


def test_a_reading_is_recorded_and_charged_as_the_form_records_it(call, metered_hotel):
    sent = {"meter_serial": "m-1", "reading_date": "2026-11-20", "volume": "10.5"}
    recorded = call("POST", "/api/v1/readings", json=sent)
    assert recorded.status_code == 201, recorded.get_json()
    reading = recorded.get_json()["reading"]
    assert reading | {"id": 0} == {
        "id": 0,
        "meter_serial": "M-1",
        "customer": "HOTEL",
        "reading_date": "2026-11-20",
        "volume": "10.5000",
        "charged": "10500.00",
    }
    assert balance_by_code() == D("989500.00")

    again = call("POST", "/api/v1/readings", json=sent)
    assert again.status_code == 409
    assert again.get_json()["existing_reading"] == reading["id"]
    assert readings() == 1
    second = call("POST", "/api/v1/readings", json=sent | {"confirm_duplicate_of": reading["id"]})
    assert second.status_code == 201
    assert readings() == 2 and balance_by_code() == D("979000.00")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"meter_serial": "M-404"}, "meter_serial"),
        ({"reading_date": "2026-11-31"}, "reading_date"),
        ({"reading_date": "20/11/2026"}, "reading_date"),
        ({"reading_date": TOO_LATE}, None),
        ({"reading_date": "2026-09-30"}, None),  # nobody held the meter then
        ({"volume": "-1"}, "volume"),
        ({"volume": "1.00001"}, "volume"),
        ({"volume": "1" * 40}, "volume"),
        ({"volume": 10}, "volume"),
        ({"note": "x" * 301}, "note"),
        ({"confirm_duplicate_of": "1"}, "confirm_duplicate_of"),
    ],
)
def test_a_reading_that_cannot_be_recorded_is_refused_and_writes_nothing(call, metered_hotel, change, field):
    if change.get("reading_date") == TOO_LATE:
        change = {"reading_date": (local_today() + timedelta(days=1)).isoformat()}
    sent = {"meter_serial": "M-1", "reading_date": "2026-11-20", "volume": "10.5"} | change
    refused = call("POST", "/api/v1/readings", json=sent)
    assert refused.status_code == 422, refused.get_json()
    assert refused.get_json().get("field") == field
    assert readings() == 0 and balance_by_code() == D("1000000.00")


def test_a_reading_dated_after_today_is_refused_in_the_client_s_language(call, metered_hotel):
    tomorrow = (local_today() + timedelta(days=1)).isoformat()
    sent = {"meter_serial": "M-1", "reading_date": tomorrow, "volume": "1"}
    english = call("POST", "/api/v1/readings", json=sent).get_json()["message"]
    indonesian = call("POST", "/api/v1/readings", json=sent, language="id").get_json()["message"]
    assert "after today" in english and indonesian != english
    assert readings() == 0


def test_a_portal_reads_a_customer_s_figures_and_movements_newest_first_page_by_page(call, hotel):
    for key in ("a", "b", "c"):
        assert charge(call, key=key, body=CHARGE | {"amount": "1000.00"}).status_code == 201
    figures = call("GET", "/api/v1/customers/HOTEL").get_json()["customer"]
    assert figures | {"balance_last_updated_at": None} == {
        "code": "HOTEL",
        "name": "Hotel Cempaka",
        "status": "active",
        "closed": False,
        "balance": "97000.00",
        "total_recharged": "100000.00",
        "total_spent": "3000.00",
        "suspend_below": "0.00",
        "balance_last_updated_at": None,
        "amount_due": "0.00",
        "overpayment": "0.00",
        "recalculation_pending": False,
    }

    first = call("GET", "/api/v1/customers/HOTEL/movements?limit=2").get_json()
    assert [m["amount"] for m in first["movements"]] == ["-1000.00", "-1000.00"]
    assert first["movements"][0]["id"] > first["movements"][1]["id"]
    assert first["movements"][0]["reference_type"] == "parking_fee"
    assert first["next_before"] == first["movements"][1]["id"]
    second = call("GET", f"/api/v1/customers/HOTEL/movements?limit=2&before={first['next_before']}").get_json()
    assert [m["amount"] for m in second["movements"]] == ["-1000.00", "100000.00"]
    assert second["movements"][1]["description"] == "opening deposit"
    assert second["next_before"] is None
    for asked in ("limit=0", "limit=101", "before=x", "before=-1"):
        refused = call("GET", f"/api/v1/customers/HOTEL/movements?{asked}")
        assert refused.status_code == 422, asked
    assert call("GET", "/api/v1/customers/NOBODY/movements").status_code == 404


def test_a_portal_reads_a_customer_s_months_page_by_page_and_a_month_with_its_movements(call, hotel):
    wallet.recharge(hotel.id, D("50000"), value_date=date(2026, 10, 5), description="october top-up")
    for key in ("a", "b"):
        assert charge(call, key=key, body=CHARGE | {"amount": "1000.00"}).status_code == 201
    months = call("GET", "/api/v1/customers/HOTEL/months").get_json()
    assert [m["month"] for m in months["months"]] == [
        month
        for (month,) in db.session.execute(
            sa.select(MonthlyCustomerBalance.year_month)
            .where(MonthlyCustomerBalance.customer_id == hotel.id)
            .order_by(MonthlyCustomerBalance.year_month.desc())
        )
    ]
    assert months["next_before"] is None and months["recalculation_pending"] is False
    october = next(m for m in months["months"] if m["month"] == "2026-10")
    assert (october["opening_balance"], october["deposits"]) == ("0.00", "150000.00")

    first = call("GET", "/api/v1/customers/HOTEL/months?limit=1").get_json()
    assert len(first["months"]) == 1 and first["next_before"] == first["months"][0]["month"]
    rest = call("GET", f"/api/v1/customers/HOTEL/months?before={first['next_before']}").get_json()
    assert [m["month"] for m in first["months"] + rest["months"]] == [m["month"] for m in months["months"]]

    detail = call("GET", "/api/v1/customers/HOTEL/months/2026-10").get_json()
    assert detail["month"] == october
    assert [(m["amount"], m["description"]) for m in detail["movements"]] == [
        ("100000.00", "opening deposit"),
        ("50000.00", "october top-up"),
    ]
    latest = months["months"][0]
    now = call("GET", f"/api/v1/customers/HOTEL/months/{latest['month']}").get_json()
    spent = sum((D(m["amount"]) for m in now["movements"] if D(m["amount"]) < 0), D(0))
    assert D(now["month"]["purchases"]) == -spent and D(now["month"]["closing_balance"]) == D(
        now["month"]["opening_balance"]
    ) + D(now["month"]["deposits"]) - D(now["month"]["purchases"])


@pytest.mark.parametrize("asked", ["2026-13", "26-11", "0000-01", "9999-12", "2026-1", "x"])
def test_a_month_that_cannot_be_read_is_refused_in_the_client_s_language(call, hotel, asked):
    refused = call("GET", f"/api/v1/customers/HOTEL/months/{asked}", language="id")
    assert refused.status_code == 422 and refused.get_json()["field"] == "month"
    assert "YYYY-MM" in refused.get_json()["message"] and "Kirim" in refused.get_json()["message"]
    assert call("GET", f"/api/v1/customers/HOTEL/months?before={asked}").status_code == 422


def test_a_month_without_a_balance_or_of_nobody_is_404(call, hotel):
    missing = call("GET", "/api/v1/customers/HOTEL/months/2001-01", language="vi")
    assert missing.status_code == 404 and "2001-01" in missing.get_json()["message"]
    assert call("GET", "/api/v1/customers/NOBODY/months").status_code == 404
    assert call("GET", "/api/v1/customers/NOBODY/months/2026-10").status_code == 404


def _served() -> set[tuple[str, str]]:
    """The v1 blueprint's routes, as OpenAPI writes them: ``/customers/{code}`` and the method."""
    from flask import current_app

    routes = set()
    for rule in current_app.url_map.iter_rules():
        if rule.endpoint.startswith("client_api.v1."):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
            routes |= {(path, method.lower()) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


def test_the_openapi_description_documents_every_route_and_nothing_else(app, call):
    served = call("GET", "/api/v1/openapi.json")
    assert served.status_code == 200
    described = served.get_json()
    assert described == openapi()
    assert described["openapi"].startswith("3.1")
    documented = {(path, method) for path, methods in described["paths"].items() for method in methods}
    assert documented == _served()
    assert len(documented) == 7
    # Every reference names a schema or a response that is there.
    text = served.get_data(as_text=True)
    for kind, name in re.findall(r'"#/components/(schemas|responses)/(\w+)"', text):
        assert name in described["components"][kind], name
    assert call("GET", "/api/v1/openapi.json", token=None).status_code == 401


def test_the_commands_issue_list_and_revoke_a_client(app, runner, issuer, hotel, call):
    issued = runner.invoke(args=["api-client", "issue", "Meter app", "--user", issuer.email])
    assert issued.exit_code == 0, issued.output
    token = issued.output.strip().splitlines()[-1]
    assert token.startswith("bo_")
    assert charge(call, token=token).status_code == 201

    listed = runner.invoke(args=["api-client", "list"])
    assert listed.exit_code == 0 and "Meter app" in listed.output and token[:11] in listed.output
    assert token not in listed.output and "in use" in listed.output

    taken = runner.invoke(args=["api-client", "issue", "meter APP", "--user", issuer.email])
    assert taken.exit_code == 2 and "already" in taken.output
    clerk = UserFactory(email="clerk@example.com", role="finance")
    assert runner.invoke(args=["api-client", "revoke", "Meter app", "--user", clerk.email]).exit_code == 1

    revoked = runner.invoke(args=["api-client", "revoke", "meter app", "--user", issuer.email])
    assert revoked.exit_code == 0, revoked.output
    assert charge(call, token=token, key="k-2").status_code == 401
    assert runner.invoke(args=["api-client", "revoke", "Meter app", "--user", issuer.email]).exit_code == 1
    assert runner.invoke(args=["api-client", "revoke", "Nobody", "--user", issuer.email]).exit_code == 2
    assert "revoked" in runner.invoke(args=["api-client", "list"]).output


@pytest.mark.production_path("the runtime role")
def test_a_client_charges_through_the_api_served_as_the_runtime_role(app, runtime_url):
    with runtime_app(runtime_url) as runtime:
        issuer = UserFactory(email="issuer@example.com", role="admin")
        customer = CustomerFactory(code="HOTEL")
        wallet.recharge(customer, D("100000"))
        token = api_clients.issue("portal", by=issuer)[1]
        client = runtime.test_client()
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "k-1"}

        def send():
            return client.post("/api/v1/customers/HOTEL/charges", headers=headers, json=CHARGE)

        assert send().status_code == 201
        assert send().status_code == 200
        assert (
            client.post("/api/v1/customers/HOTEL/charges", headers=headers, json=CHARGE | {"amount": "1"}).status_code
            == 409
        )
        assert client.get("/api/v1/customers/HOTEL", headers=headers).get_json()["customer"]["balance"] == "87500.00"
        api_clients.revoke(api_clients.by_name("portal").id, by=issuer)
        assert send().status_code == 401

        db.session.rollback()
        assert [c.status for c in db.session.scalars(sa.select(ApiCall).order_by(ApiCall.id))] == [
            201,
            200,
            409,
            200,
            401,
        ]
        # The log is append-only to the runtime role.
        for statement in ("UPDATE api_calls SET status = 200", "DELETE FROM api_calls"):
            with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                db.session.execute(sa.text(statement))
            db.session.rollback()
    assert balance_by_code() == D("87500.00")


def test_the_api_needs_no_csrf_token_where_the_screens_need_one(csrf_app, token, hotel):
    """CSRF protection is on, as in production: a client sends no CSRF token, having no session."""
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "k-1"}
    assert (
        csrf_app.test_client().post("/api/v1/customers/HOTEL/charges", headers=headers, json=CHARGE).status_code == 201
    )


def test_the_api_takes_json_where_the_screens_refuse_it(client, finance, hotel):
    refused = client.post("/customers/HOTEL/charge", json={"charge-amount": "1"})
    assert refused.status_code == 415
    assert balance_by_code() == D("100000.00")


def test_a_date_is_read_strictly(call, metered_hotel):
    sent = {"meter_serial": "M-1", "reading_date": date(2026, 11, 20).isoformat() + "T00:00", "volume": "1"}
    assert call("POST", "/api/v1/readings", json=sent).status_code == 422


def test_a_closed_or_quarantined_customer_takes_no_charge_as_the_form_says(app, call, hotel):
    quarantine(hotel.id)
    held = charge(call)
    assert held.status_code == 422 and held.get_json()["status"] == "error"
    assert balance_by_code() == D("100000.00")

    empty = CustomerFactory(code="EMPTY")
    close_customer(empty)
    closed = charge(call, code="EMPTY")
    assert closed.status_code == 409
    assert "EMPTY is closed" in closed.get_json()["message"]
