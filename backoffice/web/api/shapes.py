"""The clients' API's shapes, declared once with pydantic: what each call sends, read and refused by its model
(:func:`read`), and what each answers; the API's OpenAPI description is made from the same models
(:func:`schemas`).

A field the client gets wrong is refused with the sentence its type says (``Asks``), in the client's language, and
the field's name; a NUL character or a lone surrogate, which no text may hold, with 400.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    WithJsonSchema,
)
from pydantic.json_schema import models_json_schema
from pydantic_core import PydanticCustomError

from backoffice.models.types import Month
from backoffice.platform.extensions import LARGEST_ROW_NUMBER
from backoffice.platform.lines import writable
from backoffice.platform.money import finer_than_unit, unit_places
from backoffice.services import api_clients

LARGEST_REFERENCE = api_clients.LARGEST_REFERENCE
NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
CURSOR = re.compile(r"[0-9]{1,19}")
MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
MOVEMENTS_PER_PAGE = 25
MOST_MOVEMENTS = 100
MONTHS_PER_PAGE = 12
MOST_MONTHS = 120
NOTE_LENGTH = 300
REF = "#/components/schemas/{model}"


class Asks:
    """What a field asks for, said to a client that sent something else: ``%(field)s`` is the field's name, the
    other placeholders are ``values``."""

    def __init__(self, sentence, **values) -> None:
        self.sentence = sentence
        self.values = values

    def said(self, field: str | None) -> str:
        return str(self.sentence) % ({"field": field} | self.values)


class Unreadable(ValueError):
    """A call's body or query that its model refuses: ``status`` (400, 422), the message and the field at fault."""

    def __init__(self, status: int, message: str, field: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


def _refused(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, "{message}", {"message": message})


def _writable(value: object) -> object:
    """Text without a NUL character or a lone surrogate, which no text may hold (refused with 400): read before
    pydantic reads it as a string, which a lone surrogate is not to it."""
    if not isinstance(value, str):
        return value
    if "\0" in value:
        raise _refused("unwritable", _("The request contains a NUL character, which no field here may hold."))
    if not writable(value):
        raise _refused("unwritable", _("The request contains a lone surrogate, a character no text can hold."))
    return value


def _digits(value: object) -> object:
    """A number sent as a string of digits with a dot (``"12500.00"``), read as a decimal."""
    if isinstance(value, str) and NUMBER.fullmatch(value.strip()):
        return Decimal(value.strip())
    raise _refused("digits", "")


def _in_unit(amount: Decimal) -> Decimal:
    """An amount in the currency's unit: written with more decimal places than it has, it is refused whatever its
    value ("125.000" for rupiah could be meant as 125 thousand), never rounded."""
    places = unit_places()
    if -amount.as_tuple().exponent > places:
        raise _refused("unit", finer_than_unit(places))
    return amount


def _day(value: object) -> object:
    if isinstance(value, str) and DAY.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise _refused("day", "")


def _month(value: object) -> object:
    """A month as ``YYYY-MM``, one a date has (not year 0, nor the last month of the calendar, whose end is beyond
    it)."""
    if isinstance(value, str) and MONTH.fullmatch(value):
        try:
            return str(Month.parse(value))
        except ValueError:
            pass
    raise _refused("month", "")


YearMonth = Annotated[
    str,
    BeforeValidator(_month),
    WithJsonSchema({"type": "string", "pattern": f"^{MONTH.pattern}$", "examples": ["2026-11"]}),
    Asks(_l("Send %(field)s as a month, YYYY-MM.")),
]
"""A month as ``YYYY-MM``."""


def _cursor(value: object) -> object:
    if isinstance(value, str) and CURSOR.fullmatch(value):
        return int(value)
    raise _refused("cursor", "")


def text(*constraints, asks: Asks | None = None, optional: bool = False):
    """A string, ``constraints`` (pydantic's ``Field``) on it; ``optional``: null or left out, sent as nothing."""
    said = asks or Asks(_l("Send %(field)s, as a string."))
    shape = Annotated[str, Strict(), *constraints, BeforeValidator(_writable)]
    return Annotated[shape | None, said] if optional else Annotated[shape, said]


def whole(*constraints, asks: Asks | None = None, optional: bool = False):
    """A whole number (never a string, a fraction or true), ``constraints`` on it."""
    said = asks or Asks(_l("Send %(field)s, as a whole number."))
    shape = Annotated[int, Strict(), *constraints]
    return Annotated[shape | None, said] if optional else Annotated[shape, said]


def decimal(pattern: str):
    """A number sent as a string of digits with a dot (``"12500.00"``), ``pattern`` what its description says."""
    return Annotated[
        Decimal,
        BeforeValidator(_digits),
        WithJsonSchema({"type": "string", "pattern": pattern, "examples": ["12500.00"]}),
        Asks(_l('Send %(field)s as a string of digits, with a dot before the decimals: "12500.00".')),
    ]


def cursor(largest: int):
    """A query's whole number from 1 to ``largest``, sent as its digits."""
    return Annotated[
        int,
        Field(ge=1, le=largest),
        BeforeValidator(_cursor),
        Asks(_l("%(field)s is a whole number from 1 to %(largest)s."), largest=largest),
    ]


Moment = Annotated[str | None, Field(json_schema_extra={"format": "date-time"})]


class Asked(BaseModel):
    """What a call sends: fields it does not know are left alone."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class ChargeAsked(Asked):
    amount: Annotated[decimal(r"^[0-9]+(\.[0-9]{1,2})?$"), AfterValidator(_in_unit)]
    service_type: text(
        Field(pattern=f"^{api_clients.SERVICE_TYPE.pattern}$"),
        asks=Asks(
            _l("Send %(field)s: a lowercase word of letters, digits and _ that starts with a letter, at most 40.")
        ),
    )
    reference: whole(
        Field(ge=1, le=LARGEST_REFERENCE),
        asks=Asks(
            _l("Send %(field)s, as a whole number from 1 to %(largest)s."), largest=api_clients.LARGEST_REFERENCE
        ),
    )
    description: text(
        Field(max_length=api_clients.DESCRIPTION_LENGTH),
        asks=Asks(_l("A description has at most %(length)s characters."), length=api_clients.DESCRIPTION_LENGTH),
        optional=True,
    ) = None


class ReadingAsked(Asked):
    meter_serial: text(Field(pattern=r"\S"))
    reading_date: Annotated[
        date,
        BeforeValidator(_day),
        WithJsonSchema({"type": "string", "format": "date", "description": "Never after today."}),
        Asks(_l("Send %(field)s as a date, YYYY-MM-DD.")),
    ]
    volume: Annotated[decimal(r"^[0-9]+(\.[0-9]{1,4})?$"), Field(description="m³, the flow meter's.")]
    note: text(
        Field(max_length=NOTE_LENGTH),
        asks=Asks(_l("A note has at most %(length)s characters."), length=NOTE_LENGTH),
        optional=True,
    ) = None
    confirm_duplicate_of: Annotated[
        whole(optional=True),
        Field(description="The reading the meter has on that day already: record a second one beside it."),
    ] = None


class MovementsAsked(Asked):
    before: Annotated[
        cursor(LARGEST_ROW_NUMBER), Field(description="The next_before of the previous page: smaller ids.")
    ] = None
    limit: cursor(MOST_MOVEMENTS) = MOVEMENTS_PER_PAGE


class MonthsAsked(Asked):
    before: Annotated[YearMonth | None, Field(description="The next_before of the previous page: earlier months.")] = (
        None
    )
    limit: cursor(MOST_MONTHS) = MONTHS_PER_PAGE


class MonthAsked(Asked):
    month: YearMonth


class Error(BaseModel):
    status: Annotated[str, Field(json_schema_extra={"const": "error"})]
    message: Annotated[str, Field(description="In the language of the call's Accept-Language.")]
    field: Annotated[str | None, Field(description="The field at fault, when one is.")] = None
    existing_reading: Annotated[int | None, Field(description="The reading of the same meter and day.")] = None
    request_id: str


class Charge(BaseModel):
    id: int
    customer: str
    amount: str
    balance_after: str
    value_date: date
    posted_at: Moment
    service_type: str
    reference: int
    description: str
    idempotency_key: Annotated[str | None, Field(pattern=f"^{api_clients.KEY.pattern}$")]


class Charged(BaseModel):
    charge: Charge


class Reading(BaseModel):
    id: int
    meter_serial: str
    customer: str
    reading_date: date
    volume: str
    charged: Annotated[
        str | None, Field(description="What the reading cost; null while the customer's recalculation is pending.")
    ]


class Recorded(BaseModel):
    reading: Reading


class CustomerFigures(BaseModel):
    code: str
    name: str
    status: Annotated[str, Field(json_schema_extra={"enum": ["active", "suspended"]})]
    closed: bool
    balance: str
    total_recharged: str
    total_spent: str
    suspend_below: str
    balance_last_updated_at: Moment
    amount_due: str
    overpayment: str
    recalculation_pending: Annotated[
        bool, Field(description="Readings wait to be charged: the balance does not include them yet.")
    ]


class Customer(BaseModel):
    customer: CustomerFigures


class Movement(BaseModel):
    id: int
    kind: str
    amount: Annotated[str, Field(description="Signed: what it added to the balance.")]
    balance_after: str
    value_date: date
    posted_at: Moment
    description: str
    reference_type: str | None
    reference: int | None
    reverses: int | None


class Movements(BaseModel):
    customer: str
    movements: list[Movement]
    next_before: Annotated[int | None, Field(description="The next page's before; null: the last.")]


class MonthFigures(BaseModel):
    month: Annotated[str, Field(description="YYYY-MM.")]
    opening_balance: str
    deposits: Annotated[str, Field(description="What came into the wallet in the month.")]
    purchases: Annotated[str, Field(description="What the wallet spent in the month.")]
    closing_balance: str
    volume_sm3: Annotated[str, Field(description="Sm³ of gas delivered in the month.")]
    last_calculated_at: Moment


class Months(BaseModel):
    customer: str
    months: Annotated[list[MonthFigures], Field(description="Newest first.")]
    next_before: Annotated[str | None, Field(description="The next page's before; null: the last.")]
    recalculation_pending: Annotated[
        bool, Field(description="Readings or changes wait to be counted: the months do not include them yet.")
    ]


class MonthBalance(BaseModel):
    customer: str
    month: MonthFigures
    movements: Annotated[list[Movement], Field(description="The month's wallet movements by value date, oldest first.")]
    recalculation_pending: bool


M = TypeVar("M", bound=Asked)
ASKED = (ChargeAsked, ReadingAsked)
"""The bodies the calls send."""
ANSWERED = (Error, Charged, Recorded, Customer, Movements, Months, MonthBalance)
"""What the calls answer."""


def read(model: type[M], values: Any) -> M:
    """``values`` (a call's JSON object, or its query's arguments) as ``model`` reads them; refused
    (:class:`Unreadable`) at its first field the model refuses."""
    try:
        return model.model_validate(values)
    except ValidationError as refused:
        error = refused.errors(include_url=False)[0]
        field = str(error["loc"][0]) if error["loc"] else None
        if error["type"] == "unwritable":
            raise Unreadable(400, error["msg"], field) from None
        if error["type"] == "unit":
            raise Unreadable(422, error["msg"], field) from None
        raise Unreadable(422, _asks(model, field), field) from None


def _asks(model: type[Asked], field: str | None) -> str:
    """What the field asks for, in the words of its last ``Asks``: the field's own before its type's."""
    found = model.model_fields.get(field or "")
    asks = [said for said in (found.metadata if found else ()) if isinstance(said, Asks)]
    return asks[-1].said(field) if asks else _("Send %(field)s as this API describes it.", field=field)


def parameters(model: type[Asked]) -> list[dict]:
    """The model's fields as a call's query parameters in OpenAPI."""
    schema = model.model_json_schema(ref_template=REF)
    return [
        {"name": name, "in": "query", "schema": {key: value for key, value in shape.items() if key != "description"}}
        | ({"description": shape["description"]} if "description" in shape else {})
        for name, shape in schema["properties"].items()
    ]


def schemas() -> dict:
    """The JSON schemas of what the calls send (as they are read) and answer (as they are written), by name."""
    _refs, made = models_json_schema(
        [(model, "validation") for model in ASKED] + [(model, "serialization") for model in ANSWERED],
        ref_template=REF,
    )
    return made["$defs"]
