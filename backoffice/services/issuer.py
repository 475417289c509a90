"""Who issues the documents: the company as every invoice and statement names it, edited by admins.

Each country's law asks an invoice to name its issuer with its tax number: NPWP in Indonesia (15 or 16 digits), MST
in Vietnam (10 digits, 13 for a branch), KRA PIN in Kenya (a letter, 9 digits, a letter). What the installation's
country asks (its locale's territory) decides the number's name and its check. Until an admin saves the issuer, the
installation's settings stand in for its name and address; a document whose issuer has no name says so on screen
before it is printed or sent.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from babel import Locale
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from sqlalchemy.exc import IntegrityError

from backoffice.models import Issuer, LineKind, User
from backoffice.platform.addresses import NotAnAddress, email_address
from backoffice.platform.extensions import db
from backoffice.platform.i18n import LANGUAGES, count_text, language
from backoffice.services import ChangedMeanwhile, einvoices, expect_version, tax, transaction
from backoffice.services.workbooks import XML_UNFIT

LOGO_BYTES = 200 * 1024
"""The largest logo kept: it is printed on every document and sent with every e-mailed PDF."""
LOGO_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}


@dataclass(frozen=True)
class TaxNumber:
    """How a country names its tax number, and how one is written."""

    name: str | LazyString
    digits: tuple[int, ...] | None
    """How many digits it has, punctuation aside (``None``: checked by ``pattern``)."""
    pattern: str | None = None
    example: str = ""


TAX_NUMBERS = {
    "ID": TaxNumber("NPWP", (15, 16), example="01.234.567.8-901.000"),
    "VN": TaxNumber("MST", (10, 13), example="0101234567-001"),
    "KE": TaxNumber("KRA PIN", None, r"[AP]\d{9}[A-Z]", "A012345678Z"),
}
ANY_TAX_NUMBER = TaxNumber(_l("Tax number"), None)

INSTRUCTIONS = {language: f"payment_instructions_{language}" for language in LANGUAGES}
"""The field of the payment instructions in each language a document is written in."""
LIMITS = {"name": 200, "address": 500, "tax_number": 40, "email": 254, "phone": 40, "bank_accounts": 2000}
LIMITS |= dict.fromkeys(("payment_instructions", *INSTRUCTIONS.values()), 2000)
COUNTRY_FIELDS = {
    "ID": ("nitku",),
    "VN": ("einvoice_template", "einvoice_series"),
    "KE": ("etims_branch", "etims_device"),
}
"""The fields the tax office of a country asks of the issuer for its files (Indonesia's e-Faktur, Vietnam's
e-invoice, Kenya's eTIMS sales), on the Issuer page only where the installation's country is theirs."""
CODES = {
    "nitku": (re.compile(r"\d{22}"), 22),
    "einvoice_template": (einvoices.TEMPLATE, 1),
    "einvoice_series": (einvoices.SERIES, 8),
    "etims_branch": (einvoices.BRANCH, 2),
    "etims_device": (einvoices.DEVICE, 40),
}
"""How each of those is written, and its length at most."""


class IssuerError(ValueError):
    """An issuer that cannot be saved as given; nothing was written. ``field`` names the input at fault."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Details:
    """The issuer as documents print it."""

    name: str
    address: str = ""
    tax_number: str = ""
    bank_accounts: str = ""
    payment_instructions: str = ""
    payment_instructions_id: str = ""
    payment_instructions_vi: str = ""
    payment_instructions_en: str = ""
    email: str = ""
    phone: str = ""
    logo: bytes | None = None
    logo_type: str = ""
    nitku: str = ""
    einvoice_template: str = ""
    einvoice_series: str = ""
    etims_branch: str = ""
    etims_device: str = ""
    version: int | None = None
    """The saved row's version (``None``: not saved yet, the settings stand in)."""

    @property
    def named(self) -> bool:
        """Whether the issuer has a name: a document without one is not fit to send."""
        return bool(self.name.strip())

    @property
    def tax_name(self) -> str:
        return tax_number_rule().name

    @property
    def bank_lines(self) -> list[str]:
        return [line for line in self.bank_accounts.splitlines() if line.strip()]

    @property
    def instructions(self) -> str:
        """The payment instructions in the language spoken now (a document's: its customer's), else the issuer's one
        text for a language without its own."""
        return getattr(self, INSTRUCTIONS.get(language(), ""), "") or self.payment_instructions


def current() -> Details:
    """The issuer as saved, else as the installation's settings name it."""
    row = db.session.get(Issuer, 1)
    if row is None:
        config = current_app.config
        return Details(name=config["COMPANY_NAME"], address=config["COMPANY_ADDRESS"])
    return Details(
        name=row.name,
        address=row.address,
        tax_number=row.tax_number,
        bank_accounts=row.bank_accounts,
        payment_instructions=row.payment_instructions,
        **{field: getattr(row, field) or "" for field in INSTRUCTIONS.values()},
        email=row.email,
        phone=row.phone,
        logo=row.logo,
        logo_type=row.logo_type,
        **{field: getattr(row, field) or "" for field in CODES},
        version=row.version,
    )


@dataclass(frozen=True)
class Rate:
    """A VAT rate to keep from a day on, as the Issuer page sends it: ``seen``, the latest rate's id when the page was
    loaded (a rate saved since makes the page stale)."""

    rate: Decimal
    applies_from: date
    seen: int
    kinds: dict[str, Decimal] = field(default_factory=dict)
    """The kinds of line charged a rate of their own (by ``LineKind`` value); the others are charged ``rate``."""


KEEP_LOGO = object()
"""``save``'s ``logo`` when the logo is left as it is."""


def country_fields() -> tuple[str, ...]:
    """The fields the installation's country asks of the issuer for its tax office's files (none elsewhere)."""
    return COUNTRY_FIELDS.get(einvoices.country(), ())


def save(
    values: dict[str, str],
    *,
    logo: bytes | None | object = KEEP_LOGO,
    version: int | None,
    rate: Rate | None = None,
    user: User | None = None,
) -> Issuer:
    """Save the issuer's texts (``LIMITS``' fields), its logo (bytes, ``None`` to remove it, or :data:`KEEP_LOGO`) and
    the VAT rate from a day on (``rate``; ``tax.save_rate`` writes nothing when it is already the one in force then).
    ``version``: the one its form was loaded at (``None``: saved for the first time); raises ``ChangedMeanwhile`` when
    someone saved it (or a rate) since, :class:`IssuerError` or ``tax.TaxError`` when a value cannot be kept."""
    checked = {field: _checked_text(field, values.get(field, "")) for field in LIMITS}
    if not checked["name"]:
        raise IssuerError(_("The company's name is printed on every document: write it."), "name")
    checked["tax_number"] = _checked_tax_number(checked["tax_number"])
    checked |= {field: checked[field] or None for field in INSTRUCTIONS.values()}  # none: not written
    checked["email"] = _checked_email(checked["email"])
    checked |= {field: _checked_code(field, values[field]) for field in CODES if field in values}
    if logo is not KEEP_LOGO:
        checked |= _checked_logo(logo)
    try:
        return _saved(checked, version, rate, user)
    except IntegrityError:
        raise ChangedMeanwhile from None  # a first save by someone else committed between our read and our insert


def _saved(checked: dict, version: int | None, rate: Rate | None, user: User | None) -> Issuer:
    with transaction() as session:
        row = session.get(Issuer, 1, with_for_update=True)
        if (row is None) != (version is None):
            raise ChangedMeanwhile  # saved by someone else since the form was loaded (or never saved)
        if row is None:
            row = session.merge(Issuer(id=1))
        expect_version(row, version)
        for field, value in checked.items():
            setattr(row, field, value)
        if rate is not None:
            connection = session.connection()
            tax.lock_rates(connection)
            if tax.latest_id(connection) != rate.seen:
                raise ChangedMeanwhile  # another rate was saved since the form was loaded
            for kind in LineKind:
                tax.save_rate(connection, rate.kinds.get(kind.value, rate.rate), rate.applies_from, user, kind.value)
    return row


def tax_number_rule() -> TaxNumber:
    """The tax number the installation's country asks for."""
    territory = Locale.parse(current_app.config["LOCALE"]).territory
    return TAX_NUMBERS.get(territory or "", ANY_TAX_NUMBER)


def _checked_text(field: str, value: str) -> str:
    text = (value or "").replace("\r\n", "\n").strip()
    if field not in ("address", "bank_accounts", "payment_instructions", *INSTRUCTIONS.values()):
        text = " ".join(text.split())
    if re.search(XML_UNFIT, text):
        raise IssuerError(_("This text holds a character a document cannot print: remove it."), field)
    if len(text) > LIMITS[field]:
        raise IssuerError(_("At most %(length)s characters.", length=count_text(LIMITS[field])), field)
    return text


def _checked_code(field: str, text: str | None) -> str:
    """A NITKU, a template symbol, a series, an eTIMS branch or device as its tax office writes it (empty: not
    set)."""
    text = (text or "").strip().upper() if field != "etims_device" else (text or "").strip()
    pattern, length = CODES[field]
    if text and (len(text) > length or not pattern.fullmatch(text)):
        raise IssuerError(
            {
                "nitku": _("A NITKU has 22 digits: the NPWP's 16 and the place of business's 6."),
                "einvoice_template": _("A template symbol is one digit from 1 to 6: 1 for a VAT invoice."),
                "einvoice_series": _(
                    "A series is six characters: C (coded by the tax office) or K, the year's two digits, the "
                    "e-invoice's kind (T for a business's) and two letters of yours, e.g. C26TAA."
                ),
                "etims_branch": _("A branch id is two digits: 00 for the head office."),
                "etims_device": _("A device's serial is letters, digits and dashes, at most 40."),
            }[field],
            field,
        )
    return text


def _checked_tax_number(text: str) -> str:
    if not text:
        return text
    rule = tax_number_rule()
    if rule.digits is not None:
        digits = re.sub(r"[\s.\-/]", "", text)
        fits = digits.isdigit() and len(digits) in rule.digits
    elif rule.pattern is not None:
        text = text.upper().replace(" ", "")
        fits = re.fullmatch(rule.pattern, text) is not None
    else:
        fits = True
    if not fits:
        raise IssuerError(
            _("%(name)s is not written so: write it as %(example)s.", name=rule.name, example=rule.example),
            "tax_number",
        )
    return text


def _checked_email(text: str) -> str:
    if not text:
        return text
    try:
        return email_address(text)
    except NotAnAddress as error:
        raise IssuerError(str(error), "email") from None


def _checked_logo(logo: bytes | None) -> dict:
    if logo is None:
        return {"logo": None, "logo_type": "", "logo_sha256": ""}
    if len(logo) > LOGO_BYTES:
        raise IssuerError(_("A logo is at most 200 KB: make it smaller."), "logo_file")
    # Imported here: Pillow loads its plugins, which a process that never reads a logo need not pay for.
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(logo)) as image:
            kind = image.format
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        kind = None
    if kind not in LOGO_TYPES:
        raise IssuerError(_("A logo is a PNG or JPEG picture."), "logo_file")
    return {"logo": logo, "logo_type": LOGO_TYPES[kind], "logo_sha256": hashlib.sha256(logo).hexdigest()}
