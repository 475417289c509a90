"""The clients' API, under ``/api/v1``: what the systems around the back-office ask of it, each with the token an
admin issued it (``Authorization: Bearer <token>``; the admin screen: :mod:`backoffice.web.admin.api_clients`).

Each call goes through the service the screens use, with their rules; a refusal answers 4xx in JSON, in the client's
language, with nothing written. Amounts and volumes are JSON strings (``"12500.00"``). The API describes itself in
OpenAPI 3.1, at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

import re
from functools import wraps

from flask import Blueprint, current_app, g, jsonify, request
from flask_babel import gettext as _
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from backoffice.models import BalanceTransaction, Customer, MeterReading, MonthlyCustomerBalance
from backoffice.models.types import Month, next_month_start
from backoffice.platform.extensions import db
from backoffice.services import api_clients, billing, meter_lifecycle, metering, wallet
from backoffice.services.descriptions import movement_words
from backoffice.services.vocabulary import CustomerClosed, PeriodClosed
from backoffice.web.admin import api_clients as screen
from backoffice.web.api import shapes
from backoffice.web.plumbing.errors import api_error
from backoffice.web.plumbing.extensions import csrf
from backoffice.web.plumbing.request_log import identify, request_id

bp = Blueprint("client_api", __name__)
"""The clients' API (``v1``) and its admin screen."""
v1 = Blueprint("v1", __name__, url_prefix="/api/v1")


class Refused(Exception):
    """A call answered with an error, nothing written: ``code``, the message, and the field at fault if one is."""

    def __init__(self, code: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


def client_view(view):
    """A view of the clients' API: the caller names its client with its token, never a session (no CSRF token
    then); anything else is answered 401. The call is logged with its client (:func:`_log`)."""

    @wraps(view)
    def guarded(*args, **kwargs):
        scheme, _space, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _unauthorized(_("Send the client's token: 'Authorization: Bearer <token>'."))
        client = api_clients.caller(token.strip())
        if client is None:
            return _unauthorized(_("This token is not valid. Ask an admin for the client's token."))
        g.api_client_id = client.id
        identify(f"api client {client.name}")
        if client.revoked:
            return _unauthorized(_("This client's token was revoked. Ask an admin for a new one."))
        return view(*args, **kwargs)

    guarded.public = True
    guarded.api = True
    guarded.takes_json = True
    csrf.exempt(guarded)
    return guarded


def described(
    summary: str,
    *,
    answers: dict[str, tuple[str, str | None]],
    refusals: tuple[int, ...] = (),
    body: str | None = None,
    query: type[BaseModel] | None = None,
    headers: tuple[dict, ...] = (),
    path: dict[str, dict] | None = None,
):
    """What a view of :data:`v1` does, as its OpenAPI operation says it: kept on the view, which :func:`openapi`
    describes with its route. ``answers``: each status with its words and the schema it answers (``None``: any JSON);
    ``refusals``: the statuses of an error, nothing written; ``body`` and ``query``: what the call sends; ``path``: a
    path parameter's schema, where it is not any string."""

    def keep(view):
        view.described = {
            "summary": summary,
            "answers": answers,
            "refusals": refusals,
            "body": body,
            "query": query,
            "headers": headers,
            "path": path or {},
        }
        return view

    return keep


@v1.errorhandler(Refused)
def _refused(error: Refused):
    db.session.rollback()
    details = {"field": error.field} if error.field else {}
    return api_error(error.code, str(error), **details)


@v1.errorhandler(shapes.Unreadable)
def _unread(error: shapes.Unreadable):
    db.session.rollback()
    return api_error(error.status, str(error), field=error.field)


@v1.errorhandler(api_clients.ApiClientError)
def _unreadable(error: api_clients.ApiClientError):
    db.session.rollback()
    return api_error(422, str(error), field=error.field)


@v1.after_request
def _log(response):
    """Log the call with its client (a call with no valid token has none, and is only in the server's log)."""
    client_id = g.pop("api_client_id", None)
    if client_id is None:
        return response
    key = request.headers.get("Idempotency-Key")
    path = request.full_path if request.query_string else request.path
    try:
        db.session.rollback()
        api_clients.log_call(
            client_id,
            request.method,
            path,
            response.status_code,
            key if key and api_clients.KEY.fullmatch(key) else None,
            request_id(),
        )
    except SQLAlchemyError as error:
        db.session.rollback()
        current_app.logger.warning("The call of API client #%s could not be logged: %s", client_id, error)
    return response


@v1.post("/customers/<code>/charges")
@client_view
@described(
    "Charge a customer's wallet for what a service sold, once under the Idempotency-Key.",
    body="ChargeAsked",
    answers={
        "201": ("Posted.", "Charged"),
        "200": ("Posted before under this key: what the first call posted.", "Charged"),
    },
    refusals=(400, 404, 409, 422),
    headers=(
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": True,
            "schema": {"type": "string", "pattern": f"^{api_clients.KEY.pattern}$"},
        },
    ),
)
def charge(code: str):
    """Charge the customer's wallet for what the client's service sold, once under the call's ``Idempotency-Key``:
    201 posted; 200 the same call again, answered with what the first posted."""
    customer = _customer(code)
    asked = shapes.read(shapes.ChargeAsked, _body())
    try:
        charged = api_clients.charge(
            g.api_client_id,
            customer,
            asked.amount,
            service_type=asked.service_type,
            reference=asked.reference,
            description=(asked.description or "").strip(),
            key=request.headers.get("Idempotency-Key", ""),
        )
    except (api_clients.KeyUsed, CustomerClosed) as error:
        raise Refused(409, str(error)) from None
    except wallet.WalletError as error:
        raise Refused(422, str(error), "amount") from None
    answer = shapes.Charged(charge=_charge(charged.movement, customer))
    return _answer(answer), 201 if charged.first else 200


@v1.post("/readings")
@client_view
@described(
    "Record a meter's reading, charged to the customer who held the meter that day.",
    body="ReadingAsked",
    answers={"201": ("Recorded.", "Recorded")},
    refusals=(400, 409, 422),
)
def reading():
    """Record a meter's reading, for the customer who held the meter that day, as the reading form does: 201."""
    asked = shapes.read(shapes.ReadingAsked, _body())
    try:
        meter = meter_lifecycle.meter_by_serial(asked.meter_serial)
    except billing.BillingError as error:
        raise Refused(422, str(error), "meter_serial") from None
    reading_date = asked.reading_date
    try:
        volume = metering.checked_volume(asked.volume)
    except metering.MeteringError as error:
        raise Refused(422, str(error), "volume") from None
    try:
        reading_id = metering.record_reading(
            meter.id, reading_date, volume, note=asked.note or "", confirm_duplicate_of=asked.confirm_duplicate_of
        )
    except metering.DuplicateReading as found:
        said = _(
            "Meter %(serial)s already has a reading on %(date)s: #%(id)s. To record a second reading of that day, "
            "send it again with confirm_duplicate_of %(id)s.",
            serial=meter.serial,
            date=reading_date.isoformat(),
            id=found.existing.id,
        )
        return api_error(409, said, field="reading_date", existing_reading=found.existing.id)
    except PeriodClosed as error:
        raise Refused(422, str(error), "reading_date") from None
    except CustomerClosed as error:
        raise Refused(409, str(error)) from None
    except metering.MeteringError as error:
        raise Refused(422, str(error)) from None
    return _answer(shapes.Recorded(reading=_reading(reading_id, meter.serial))), 201


@v1.get("/customers/<code>")
@client_view
@described("A customer's balance and figures.", answers={"200": ("The customer.", "Customer")}, refusals=(404,))
def customer(code: str):
    """The customer's wallet and postpaid figures."""
    found = _customer(code)
    pending = metering.pending_summary(found.id).requests > 0
    figures = shapes.CustomerFigures(
        code=found.code,
        name=found.name,
        status=found.status.value,
        closed=found.closed_at is not None,
        balance=str(found.balance),
        total_recharged=str(found.total_recharged),
        total_spent=str(found.total_spent),
        suspend_below=str(found.suspend_below),
        balance_last_updated_at=_moment(found.balance_last_updated_at),
        amount_due=str(found.amount_due),
        overpayment=str(found.overpayment),
        recalculation_pending=pending,
    )
    return _answer(shapes.Customer(customer=figures))


@v1.get("/customers/<code>/movements")
@client_view
@described(
    "A customer's wallet movements, newest first, a page at a time.",
    query=shapes.MovementsAsked,
    answers={"200": ("A page.", "Movements")},
    refusals=(404, 422),
)
def movements(code: str):
    """The customer's wallet movements, newest first, a page at a time: ``before`` the id the previous page ended
    at (its ``next_before``), ``limit`` movements at most."""
    found = _customer(code)
    asked = shapes.read(shapes.MovementsAsked, request.args.to_dict())
    before, limit = asked.before, asked.limit
    query = (
        select(BalanceTransaction)
        .where(BalanceTransaction.customer_id == found.id)
        .order_by(BalanceTransaction.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        query = query.where(BalanceTransaction.id < before)
    rows = list(db.session.scalars(query))
    page = rows[:limit]
    return _answer(
        shapes.Movements(
            customer=found.code,
            movements=[_movement(row) for row in page],
            next_before=page[-1].id if len(rows) > limit else None,
        )
    )


@v1.get("/customers/<code>/months")
@client_view
@described(
    "A customer's monthly balances, newest first, a page at a time.",
    query=shapes.MonthsAsked,
    answers={"200": ("A page.", "Months")},
    refusals=(404, 422),
)
def months(code: str):
    """The customer's monthly balances, newest first, a page at a time: ``before`` the month the previous page ended
    at (its ``next_before``), ``limit`` months at most."""
    found = _customer(code)
    asked = shapes.read(shapes.MonthsAsked, request.args.to_dict())
    month = MonthlyCustomerBalance
    query = select(month).where(month.customer_id == found.id).order_by(month.year_month.desc()).limit(asked.limit + 1)
    if asked.before is not None:
        query = query.where(month.year_month < asked.before)
    rows = list(db.session.scalars(query))
    page = rows[: asked.limit]
    return _answer(
        shapes.Months(
            customer=found.code,
            months=[_month(row) for row in page],
            next_before=page[-1].year_month if len(rows) > asked.limit else None,
            recalculation_pending=metering.pending_summary(found.id).requests > 0,
        )
    )


@v1.get("/customers/<code>/months/<month>")
@client_view
@described(
    "A month of a customer's balance, with its opening, deposits, purchases, closing, volume and wallet movements.",
    answers={"200": ("The month.", "MonthBalance")},
    refusals=(404, 422),
    path={"month": {"type": "string", "pattern": f"^{shapes.MONTH.pattern}$"}},
)
def month_balance(code: str, month: str):
    """A month of the customer's balance: its opening, deposits, purchases, closing and volume, and the wallet
    movements dated in it."""
    found = _customer(code)
    asked = shapes.read(shapes.MonthAsked, {"month": month})
    row = db.session.scalar(
        select(MonthlyCustomerBalance).where(
            MonthlyCustomerBalance.customer_id == found.id, MonthlyCustomerBalance.year_month == asked.month
        )
    )
    if row is None:
        raise Refused(404, _("%(code)s has no balance for %(month)s.", code=found.code, month=asked.month))
    first = Month.parse(asked.month).first_day
    movements = db.session.scalars(
        select(BalanceTransaction)
        .where(
            BalanceTransaction.customer_id == found.id,
            BalanceTransaction.value_date >= first,
            BalanceTransaction.value_date < next_month_start(first),
        )
        .order_by(BalanceTransaction.value_date, BalanceTransaction.id)
    )
    return _answer(
        shapes.MonthBalance(
            customer=found.code,
            month=_month(row),
            movements=[_movement(movement) for movement in movements],
            recalculation_pending=metering.pending_summary(found.id).requests > 0,
        )
    )


@v1.get("/openapi.json")
@client_view
@described("This description.", answers={"200": ("OpenAPI 3.1.", None)})
def description():
    """The API's OpenAPI 3.1 description."""
    return jsonify(openapi())


ROUTE_PARAMETER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def openapi() -> dict:
    """The OpenAPI 3.1 description of :data:`v1`'s routes, each described by its view (:func:`described`)."""
    paths: dict[str, dict] = {}
    for rule in current_app.url_map.iter_rules():
        if not rule.endpoint.startswith("client_api.v1."):
            continue
        view = current_app.view_functions[rule.endpoint]
        path = ROUTE_PARAMETER.sub(r"{\1}", rule.rule.removeprefix(v1.url_prefix))
        names = ROUTE_PARAMETER.findall(rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(view, names)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "backoffice clients' API",
            "version": "1",
            "description": (
                "Charges of a customer's wallet, meter readings, and a customer's balance, movements and monthly "
                "balances. Each call "
                "names its client with the token an admin issued it; answers and refusals are JSON, in the "
                "language of the call's Accept-Language. Amounts and volumes are strings of digits with a dot, "
                'read as decimals ("12500.00").'
            ),
        },
        "servers": [{"url": v1.url_prefix}],
        "security": [{"token": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Unauthorized": {
                    "description": "No token, a token nobody was issued, or a revoked one.",
                    "content": _json("Error"),
                }
            },
            "schemas": shapes.schemas(),
        },
    }


def _operation(view, names: list[str]) -> dict:
    """The OpenAPI operation of a view, its route's parameters ``names`` first."""
    said = view.described
    error = {"description": "Refused; nothing written.", "content": _json("Error")}
    answers = {
        status: {"description": words} | ({"content": _json(model)} if model else {"content": {"application/json": {}}})
        for status, (words, model) in said["answers"].items()
    }
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": said["path"].get(name, {"type": "string"})}
        for name in names
    ]
    parameters += [*(shapes.parameters(said["query"]) if said["query"] else []), *said["headers"]]
    operation = {"operationId": view.__name__, "summary": said["summary"]}
    if parameters:
        operation["parameters"] = parameters
    if said["body"]:
        operation["requestBody"] = {"required": True, "content": _json(said["body"])}
    refused = {str(code): error for code in said["refusals"]}
    operation["responses"] = answers | {"401": {"$ref": "#/components/responses/Unauthorized"}} | refused
    return operation


def _json(model: str) -> dict:
    return {"application/json": {"schema": {"$ref": shapes.REF.format(model=model)}}}


def _answer(answer: BaseModel):
    """An answer as its model writes it in JSON."""
    return current_app.response_class(answer.model_dump_json(), mimetype="application/json")


def _unauthorized(message: str):
    response, code = api_error(401, message)
    response.headers["WWW-Authenticate"] = "Bearer"
    return response, code


def _customer(code: str) -> Customer:
    found = db.session.scalar(select(Customer).where(Customer.code == code))
    if found is None:
        raise Refused(404, _("No customer %(code)s.", code=code))
    return found


def _body() -> dict:
    """The call's JSON object; refused when it is not one (nested beyond what the reader follows, too)."""
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        body = None
    if not isinstance(body, dict):
        raise Refused(400, _("Send a JSON object, with the header 'Content-Type: application/json'."))
    return body


def _charge(movement: BalanceTransaction, customer: Customer) -> shapes.Charge:
    return shapes.Charge(
        id=movement.id,
        customer=customer.code,
        amount=str(movement.amount),
        balance_after=str(movement.balance_after),
        value_date=movement.value_date,
        posted_at=_moment(movement.created_at),
        service_type=movement.reference_type,
        reference=movement.reference_id,
        description=movement.description,
        idempotency_key=api_clients.client_key(movement, g.api_client_id),
    )


def _reading(reading_id: int, serial: str) -> shapes.Reading:
    found = db.session.get(MeterReading, reading_id)
    calculation = found.calculation
    return shapes.Reading(
        id=found.id,
        meter_serial=serial,
        customer=db.session.scalar(select(Customer.code).where(Customer.id == found.customer_id)),
        reading_date=found.reading_date,
        volume=str(found.volume_flow_meter),
        charged=None if calculation is None else str(calculation.total_price),
    )


def _movement(row: BalanceTransaction) -> shapes.Movement:
    return shapes.Movement(
        id=row.id,
        kind=row.kind.value,
        amount=str(row.signed_amount),
        balance_after=str(row.balance_after),
        value_date=row.value_date,
        posted_at=_moment(row.created_at),
        description=movement_words(row),
        reference_type=row.reference_type,
        reference=row.reference_id,
        reverses=row.reverses_id,
    )


def _month(row: MonthlyCustomerBalance) -> shapes.MonthFigures:
    return shapes.MonthFigures(
        month=row.year_month,
        opening_balance=str(row.opening_balance),
        deposits=str(row.total_deposits),
        purchases=str(row.total_purchases),
        closing_balance=str(row.closing_balance),
        volume_sm3=str(row.total_volume_sm3),
        last_calculated_at=_moment(row.last_calculated_at),
    )


def _moment(value) -> str | None:
    return value.isoformat() if value is not None else None


bp.register_blueprint(v1)
bp.register_blueprint(screen.bp)
