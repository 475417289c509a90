"""The tax register: a month's invoices as a tax return lists them, each with its customer's tax number, its net, VAT
rate, VAT and total, with the month's totals; as CSV or a workbook to file or hand to an accountant."""

from __future__ import annotations

from itertools import chain

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from backoffice.models.types import Month
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db, page_asked
from backoffice.platform.replica import reads
from backoffice.services import coretax, efaktur, tax
from backoffice.services.exports import csv_cell, csv_chunks
from backoffice.services.workbooks import xlsx_chunks
from backoffice.web.books.journal import RowPagination
from backoffice.web.plumbing.fields import MonthField
from backoffice.web.plumbing.forms import FlaskForm
from backoffice.web.plumbing.lists import cell_words, csv_response, streamed, xlsx_response

bp = Blueprint("tax", __name__, url_prefix="/books")

PER_PAGE = 100


class RegisterForm(FlaskForm):
    class Meta:
        csrf = False

    month = MonthField(_l("Month"))


def _month(form: RegisterForm):
    """The month asked for (the current one when none is), or ``None`` when it cannot be read."""
    if not form.validate():
        return None
    return form.month.data or Month.of(local_today()).first_day


@bp.get("/tax-register")
@reads
def register():
    form = RegisterForm(request.args)
    month = _month(form)
    if month is None:
        return render_template("books/tax_register.html", form=form, month=None), 422
    totals = tax.register_totals(month, db.session)
    page = RowPagination(
        page=page_asked(PER_PAGE),
        per_page=PER_PAGE,
        max_per_page=PER_PAGE,
        error_out=False,
        select=tax.register(month),
        session=db.session,
        total=totals.rows,
    )
    page.items = [tax.registered(row) for row in page.items]
    return render_template(
        "books/tax_register.html",
        form=form,
        month=month,
        page=page,
        totals=totals,
        unread=tax.unread_tax_numbers(month, db.session),
        coretax=efaktur.applies(),
    )


@bp.get("/tax-register.<any(csv, xlsx):format>")
@reads
def export_register(format: str):
    """The month's register, every invoice, in the page's order (the URL's ``?month=YYYY-MM``)."""
    form = RegisterForm(request.args)
    month = _month(form)
    if month is None:
        return render_template("books/tax_register.html", form=form, month=None), 422
    totals = tax.register_totals(month, db.session)
    rows = chain((tax.registered(row).cells() for row in streamed(tax.register(month))), tax.totals_rows(totals))
    name = f"tax-register-{Month.of(month)}"
    if format == "xlsx":
        return xlsx_response(name, xlsx_chunks(tax.REGISTER_COLUMNS, rows, cell_words()), str(_l("Tax register")))
    cells = ([csv_cell(value) for value in row] for row in rows)
    return csv_response(name, csv_chunks(tax.REGISTER_COLUMNS, cells, cell_words()))


@bp.get("/tax-register.xml")
@reads
def coretax_xml():
    """Indonesia: the month's output tax invoices as the e-Faktur XML Coretax imports (the URL's ``?month=YYYY-MM``);
    back to the register, saying what to correct, where it cannot be written."""
    form = RegisterForm(request.args)
    month = _month(form)
    if month is None:
        return render_template("books/tax_register.html", form=form, month=None), 422
    if not efaktur.applies():
        abort(404)
    try:
        written = coretax.month_xml(month, db.session)
    except coretax.CoretaxError as error:
        flash(str(error), "error")
        return redirect(url_for("tax.register", month=f"{Month.of(month)}"))
    return Response(
        written.body,
        mimetype="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{coretax.file_name(month)}"'},
    )
