"""A customer's statements: the prepaid wallet's for a month or a range of dates, and the postpaid account's for a
range of dates; each a printable page, downloaded as CSV or a workbook."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms.validators import Optional

from backoffice.models.types import Month
from backoffice.platform.clock import local_today
from backoffice.platform.i18n import named_date, named_month
from backoffice.platform.replica import reads
from backoffice.services import documents, receivables, statements
from backoffice.services.exports import chunked, csv_cell, csv_chunks
from backoffice.services.statements import Period
from backoffice.services.workbooks import xlsx_chunks
from backoffice.web.customers.page import customer_or_404
from backoffice.web.plumbing.documents import page_or_pdf, sent
from backoffice.web.plumbing.fields import LocalDateField, MonthField
from backoffice.web.plumbing.forms import FlaskForm
from backoffice.web.plumbing.lists import cell_words, csv_download, xlsx_download
from backoffice.web.plumbing.once import posts_once

bp = Blueprint("statements", __name__, url_prefix="/customers/<code>")

PAGE_DAYS = 366
"""The longest period the page shows (a year, leap or not); the CSV takes any."""
BILLING_COLUMNS = ["date", "kind", "reference", "due_on", "meter", "amount", "balance"]
"""The postpaid statement's download: its lines' columns (an invoice's number, a payment's reference)."""


class StatementForm(FlaskForm):
    """A month, or a range of dates (both days included); neither: the current month."""

    class Meta:
        csrf = False

    month = MonthField(_l("Month"))
    since = LocalDateField(_l("From"), validators=[Optional()])
    until = LocalDateField(_l("To"), validators=[Optional()], description=_l("Today if blank."))

    def period(self, *, longest: int | None = None) -> Period | None:
        """The period asked for, or ``None`` with the fields' errors saying why it cannot be."""
        if not self.validate():
            return None
        today = local_today()
        if self.month.data and (self.since.data or self.until.data):
            self.month.errors.append(_("Choose a month or a range of dates, not both."))
            return None
        if self.since.data or self.until.data:
            period = self._range(today)
        else:
            month = Month.of(self.month.data or today)
            if month.first_day > today:
                self.month.errors.append(
                    _(
                        "%(month)s has not begun: nothing is dated after today (%(today)s).",
                        month=named_month(month),
                        today=named_date(today),
                    )
                )
                return None
            period = Period.of_month(month)
        if period is not None and longest is not None and period.days > longest:
            self.until.errors.append(
                _(
                    "The page shows at most %(longest)s days (%(asked)s asked): choose a shorter range, or download "
                    "the CSV, which takes any.",
                    longest=longest,
                    asked=period.days,
                )
            )
            return None
        return period

    def _range(self, today: date) -> Period | None:
        since, until = self.since.data, self.until.data or today
        if since is None:
            self.since.errors.append(_("Enter the first day of the statement."))
            return None
        if since > today:
            self.since.errors.append(
                _("Nothing is dated after today (%(today)s): start on or before it.", today=named_date(today))
            )
            return None
        if until < since:
            self.until.errors.append(
                _("The statement ends before it starts: choose %(date)s or later.", date=named_date(since))
            )
            return None
        return Period(since, until)


class BillingStatementForm(FlaskForm):
    """A range of dates, both days included; neither: the last three months up to today."""

    class Meta:
        csrf = False

    since = LocalDateField(_l("From"), validators=[Optional()])
    until = LocalDateField(_l("To"), validators=[Optional()], description=_l("Today if blank."))

    def period(self) -> tuple[date, date] | None:
        """The first and last day asked for, or ``None`` with the fields' errors saying why they cannot be."""
        if not self.validate():
            return None
        today = local_today()
        if not (self.since.data or self.until.data):
            return three_months_before(today), today
        if self.since.data is None:
            self.since.errors.append(_("Enter the first day of the statement."))
            return None
        since, until = self.since.data, self.until.data or today
        if since > today:
            self.since.errors.append(
                _("Nothing is dated after today (%(today)s): start on or before it.", today=named_date(today))
            )
            return None
        if until < since:
            self.until.errors.append(
                _("The statement ends before it starts: choose %(date)s or later.", date=named_date(since))
            )
            return None
        return since, until


def three_months_before(day: date) -> date:
    """The day after the same day three months earlier (the last day of a shorter month standing in for it): three
    months up to ``day``, both days included."""
    month = day.month - 3 + (12 if day.month <= 3 else 0)
    year = day.year - (1 if day.month <= 3 else 0)
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last)) + timedelta(days=1)


@bp.get("/billing-statement")
@reads
def billing(code: str):
    """The customer's postpaid statement of account, to print: opening balance, invoices and payments with a running
    balance, closing balance, and the aging of what is open."""
    return _billing_document(code, pdf=False)


@bp.get("/billing-statement.pdf")
@reads
def billing_pdf(code: str):
    """The postpaid statement of account as a PDF, drawn from the same page."""
    return _billing_document(code, pdf=True)


@bp.post("/billing-statement/send")
@posts_once
def send_billing(code: str):
    """E-mail the postpaid statement's PDF, for the period its page shows, to the customer, and log it."""
    customer = customer_or_404(code)
    period = BillingStatementForm(request.args).period()
    back_to = url_for("statements.billing", code=customer.code, **request.args.to_dict())
    if period is None:
        return redirect(back_to)
    return sent(documents.billing_statement(customer, *period), back_to)


def _billing_document(code: str, *, pdf: bool):
    customer = customer_or_404(code)
    form = BillingStatementForm(request.args)
    period = form.period()
    if period is None:
        return render_template("customers/billing_statement.html", customer=customer, form=form, statement=None), 422
    return page_or_pdf(documents.billing_statement(customer, *period), pdf=pdf, form=form)


@bp.get("/billing-statement.<any(csv, xlsx):format>")
@reads
def billing_download(code: str, format: str):
    """The postpaid statement's lines, as its page has them: an opening row, each invoice (positive) and payment
    (negative) with the running balance, a closing row."""
    customer = customer_or_404(code)
    form = BillingStatementForm(request.args)
    period = form.period()
    if period is None:
        return render_template("customers/billing_statement.html", customer=customer, form=form, statement=None), 422
    rows = _billing_rows(receivables.billing_statement(customer.id, *period, local_today()))
    filename = "postpaid-" + statements.csv_filename(customer, Period(*period), format)
    if format == "xlsx":
        return xlsx_download(filename, xlsx_chunks(BILLING_COLUMNS, rows, cell_words()), _l("Postpaid statement"))
    cells = ([csv_cell(value) for value in row] for row in rows)
    return csv_download(filename, csv_chunks(BILLING_COLUMNS, cells, cell_words()))


def _billing_rows(statement: receivables.BillingStatement) -> Iterator[list]:
    """The rows of :data:`BILLING_COLUMNS`, each value as its type."""
    yield [statement.since, "opening", None, None, None, None, statement.opening]
    for line in statement.lines:
        yield [line.on, line.kind, line.number, line.due_on, line.meter, line.amount, line.balance]
    yield [statement.until, "closing", None, None, None, None, statement.closing]


@bp.get("/statement")
@reads
def show(code: str):
    """The customer's prepaid statement of account, to print: opening balance, every movement by its value date with
    a running balance, closing balance."""
    return _prepaid_document(code, pdf=False)


@bp.get("/statement.pdf")
@reads
def show_pdf(code: str):
    """The prepaid statement of account as a PDF, drawn from the same page."""
    return _prepaid_document(code, pdf=True)


@bp.post("/statement/send")
@posts_once
def send_prepaid(code: str):
    """E-mail the prepaid statement's PDF, for the period its page shows, to the customer, and log it."""
    customer = customer_or_404(code)
    period = StatementForm(request.args).period(longest=PAGE_DAYS)
    back_to = url_for("statements.show", code=customer.code, **request.args.to_dict())
    if period is None:
        return redirect(back_to)
    return sent(documents.prepaid_statement(customer, period), back_to)


def _prepaid_document(code: str, *, pdf: bool):
    customer = customer_or_404(code)
    form = StatementForm(request.args)
    period = form.period(longest=PAGE_DAYS)
    if period is None:
        return render_template("customers/statement.html", customer=customer, form=form, period=None), 422
    return page_or_pdf(documents.prepaid_statement(customer, period), pdf=pdf, form=form)


@bp.get("/statement.<any(csv, xlsx):format>")
@reads
def download(code: str, format: str = "csv"):
    customer = customer_or_404(code)
    form = StatementForm(request.args)
    period = form.period()
    if period is None:
        return render_template("customers/statement.html", customer=customer, form=form, period=None), 422
    if format == "xlsx":
        filename = statements.csv_filename(customer, period, "xlsx")
        rows = statements.rows(customer.id, period)
        return xlsx_download(filename, xlsx_chunks(statements.CSV_COLUMNS, rows, cell_words()), _l("Statement"))
    lines = statements.csv_lines(customer.id, period, cell_words())
    return csv_download(statements.csv_filename(customer, period), chunked(lines))
