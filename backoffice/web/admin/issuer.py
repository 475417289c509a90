"""The Issuer page: the company as its documents name it (name, address, tax number, bank accounts, payment
instructions, logo), edited by admins, with its history."""

from __future__ import annotations

import base64

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.file import FileField
from markupsafe import Markup
from wtforms import BooleanField, HiddenField, StringField, TextAreaField
from wtforms.validators import Optional

from backoffice.models import Issuer, LineKind, Role
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.services import ChangedMeanwhile, authority, einvoices, issuer, sending, tax
from backoffice.web.plumbing.auth import requires_role
from backoffice.web.plumbing.fields import LocalDateField, OptionalDecimalNumberField
from backoffice.web.plumbing.forms import FlaskForm
from backoffice.web.plumbing.once import posts_once
from backoffice.web.plumbing.versions import Versioned, refused_edit

bp = Blueprint("issuer", __name__, url_prefix="/admin/issuer")


class IssuerForm(Versioned, FlaskForm):
    name = StringField(_l("Company name"))
    address = TextAreaField(_l("Address"), render_kw={"rows": 3})
    tax_number = StringField(_l("Tax number"))
    email = StringField(_l("Email"))
    phone = StringField(_l("Phone"))
    bank_accounts = TextAreaField(
        _l("Bank accounts"),
        description=_l("One bank account a line: the bank, its number and its holder."),
        render_kw={"rows": 3},
    )
    payment_instructions = TextAreaField(
        _l("Payment instructions"),
        description=_l("Printed under the bank accounts of a document whose language has none of its own below."),
        render_kw={"rows": 3},
    )
    payment_instructions_id = TextAreaField(
        _l("Payment instructions (Bahasa Indonesia)"),
        description=_l("Printed under the bank accounts of each document in this language: how to pay."),
        render_kw={"rows": 3, "lang": "id"},
    )
    payment_instructions_vi = TextAreaField(
        _l("Payment instructions (Tiếng Việt)"),
        description=_l("Printed under the bank accounts of each document in this language: how to pay."),
        render_kw={"rows": 3, "lang": "vi"},
    )
    payment_instructions_en = TextAreaField(
        _l("Payment instructions (English)"),
        description=_l("Printed under the bank accounts of each document in this language: how to pay."),
        render_kw={"rows": 3, "lang": "en"},
    )
    logo_file = FileField(_l("Logo"), description=_l("A PNG or JPEG picture of at most 200 KB."))
    remove_logo = BooleanField(_l("Remove the logo"))
    vat_rate = OptionalDecimalNumberField(
        _l("VAT rate (%)"),
        check=tax.checked_rate,
        description=_l(
            "Added to the net of every invoice line issued from the day below on, unless its customer is exempt "
            "or zero-rated."
        ),
    )
    vat_rate_meter_rental = OptionalDecimalNumberField(
        _l("VAT rate on meter rental (%)"),
        check=tax.checked_rate,
        description=_l("Empty: the VAT rate above."),
    )
    vat_rate_connection_fee = OptionalDecimalNumberField(
        _l("VAT rate on connection fees (%)"),
        check=tax.checked_rate,
        description=_l("Empty: the VAT rate above."),
    )
    vat_rate_from = LocalDateField(
        _l("VAT rate applies from"),
        validators=[Optional()],
        description=_l("Empty: today. Invoices already issued keep the rate they carry."),
    )
    vat_rates_seen = HiddenField()
    nitku = StringField(
        _l("NITKU (place of business)"),
        description=_l("22 digits: the NPWP's 16 and the place of business's 6. Empty: the head office (000000)."),
    )
    einvoice_template = StringField(
        _l("E-invoice template symbol"),
        description=_l("Ký hiệu mẫu số: one digit, 1 for a VAT invoice."),
    )
    einvoice_series = StringField(
        _l("E-invoice series"),
        description=_l(
            "Ký hiệu hóa đơn: C (coded by the tax office) or K, the year's two digits, T and two letters of yours, "
            "e.g. C26TAA. Each year has its own."
        ),
    )
    etims_branch = StringField(_l("eTIMS branch"), description=_l("Two digits: 00 for the head office."))
    etims_device = StringField(
        _l("eTIMS device serial"), description=_l("The serial of the device (OSCU or VSCU) sales are sent through.")
    )


@bp.app_context_processor
def _documents() -> dict:
    return {
        "document_issuer": issuer.current,
        "logo_source": logo_source,
        "can_send_documents": sending.can_send,
        "tax_country": einvoices.country,
        "tax_action": tax_action,
    }


def tax_action(row) -> str | None:
    """What the tax office still needs of an invoice it numbered (``authority.Action``'s value), none where nothing."""
    found = authority.action_needed(db.session.connection(), row.id)
    return found.value if found else None


def logo_source(details: issuer.Details) -> Markup | None:
    """The logo as a page or a PDF shows it: written into the document, so that a PDF needs nothing else."""
    if not details.logo:
        return None
    return Markup(f"data:{details.logo_type};base64,{base64.b64encode(details.logo).decode()}")


@bp.route("", methods=["GET", "POST"])
@requires_role(Role.ADMIN)
@posts_once
def edit():
    details = issuer.current()
    today = local_today()
    in_force = tax.in_force_by_kind(db.session, today)
    gas = in_force[LineKind.GAS]
    own = {
        f"vat_rate_{kind.value}": rate.rate
        for kind, rate in in_force.items()
        if kind is not LineKind.GAS and rate is not None and (gas is None or rate.rate != gas.rate)
    }
    form = IssuerForm(
        obj=details,
        version=details.version,
        vat_rate=gas.rate if gas else None,
        vat_rate_from=gas.applies_from if gas else None,
        vat_rates_seen=tax.latest_id(db.session),
        **own,
    )
    form.tax_number.label.text = details.tax_name
    if form.validate_on_submit():
        logo = issuer.KEEP_LOGO
        if form.remove_logo.data:
            logo = None
        elif form.logo_file.data:
            logo = form.logo_file.data.read(issuer.LOGO_BYTES + 1)
        values = {field: form[field].data or "" for field in (*issuer.LIMITS, *issuer.country_fields())}
        rate = None
        if form.vat_rate.data is not None:
            kinds = {
                kind.value: form[f"vat_rate_{kind.value}"].data
                for kind in LineKind
                if kind is not LineKind.GAS and form[f"vat_rate_{kind.value}"].data is not None
            }
            seen = int(form.vat_rates_seen.data or 0)
            rate = issuer.Rate(form.vat_rate.data, form.vat_rate_from.data or today, seen, kinds)
        try:
            issuer.save(values, logo=logo, version=form.version.data, rate=rate, user=current_user)
        except (issuer.IssuerError, tax.TaxError) as error:
            form[error.field].errors.append(str(error))
        except ChangedMeanwhile:
            refused_edit(form, Issuer, 1, "issuer", gone_to=url_for("issuer.edit"))
        else:
            flash(_("The issuer is saved: every document names it so from now on."), "success")
            return redirect(url_for("issuer.edit"))
    status = 409 if form.changed else 422 if form.errors else 200
    rates = tax.rates(db.session)
    return (
        render_template(
            "admin/issuer.html",
            form=form,
            details=details,
            rates=rates,
            today=today,
            country_fields=issuer.country_fields(),
        ),
        status,
    )
