"""The books: chart of accounts, journal entries (filtered, sorted, with their status, exported), a manual entry
form with live totals, the balance sheet. Closing and reopening months is ``periods``."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_sqlalchemy.pagination import SelectPagination
from sqlalchemy import String, case, func, select, type_coerce
from sqlalchemy.orm import aliased, selectinload
from wtforms import FieldList, FormField, HiddenField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from backoffice.models import (
    Account,
    AccountType,
    EntryStatus,
    JournalEntry,
    JournalLine,
    Role,
)
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import LARGEST_ROW_NUMBER, db
from backoffice.platform.i18n import named_date
from backoffice.platform.lines import DESCRIPTION_LENGTH
from backoffice.platform.money import BeyondLimit, shown
from backoffice.platform.replica import reads
from backoffice.platform.words import WORDS
from backoffice.services import account_lines, approvals, books, descriptions, journal_export
from backoffice.services.descriptions import account_label
from backoffice.services.exports import chunked, csv_cell, csv_chunks
from backoffice.services.vocabulary import DatedAfterToday, IdempotencyKeyReserved, IdempotencyKeyTooLong, PeriodClosed
from backoffice.services.workbooks import xlsx_chunks
from backoffice.web.plumbing import sources
from backoffice.web.plumbing.auth import requires_role
from backoffice.web.plumbing.fields import LocalDateField, OptionalMoneyField
from backoffice.web.plumbing.forms import FlaskForm, SubForm
from backoffice.web.plumbing.lists import (
    Column,
    DateRange,
    Listing,
    cell_words,
    csv_download,
    csv_response,
    xlsx_response,
)
from backoffice.web.plumbing.once import posts_once
from backoffice.web.plumbing.pending import pending_notice

bp = Blueprint("books", __name__, url_prefix="/books")

LINES_SHOWN = 6
LINES_PER_PAGE = 100
"""An account's lines on a page."""
ENTRIES_PER_PAGE = 50
"""The journal's entries on a page."""
SOURCES = {
    "balance_transaction": _l("Prepaid movements"),
    "invoice": _l("Invoices"),
    "payment": _l("Payments"),
    "manual": _l("Manual entries"),
}
STATUSES = ("posted", "draft", "reversed", "reversing", "void")
_reversal = aliased(JournalEntry)
ENTRY_STATUS = case(
    (
        select(_reversal.id)
        .where(_reversal.reverses_id == JournalEntry.id, _reversal.status == EntryStatus.POSTED)
        .exists(),
        "reversed",
    ),
    (JournalEntry.reverses_id.is_not(None), "reversing"),
    else_=type_coerce(JournalEntry.status, String),
)
"""An entry's status as the journal shows it: a posted entry is *reversed* once a posted entry reverses it, and
the entry that reverses another is *reversing*; otherwise *posted*, *draft* or *void*."""
_line = aliased(JournalLine)
ENTRY_AMOUNT = (
    select(func.coalesce(func.sum(_line.debit), 0)).where(_line.entry_id == JournalEntry.id).correlate(JournalEntry)
).scalar_subquery()
"""An entry's amount: the sum of its lines, also in the CSV's query, which reads each line beside its entry."""
JOURNAL_COLUMNS = [
    Column("number", _l("Number"), JournalEntry.id),
    Column("date", _l("Date"), JournalEntry.entry_date),
    Column("description", _l("Description"), JournalEntry.description),
    Column("source", _l("Source"), JournalEntry.source_type, nullable=True),
    Column("status", _l("Status"), ENTRY_STATUS),
    Column("amount", _l("Amount"), ENTRY_AMOUNT, numeric=True),
]


class LineForm(SubForm):
    account = SelectField(_l("Account"), validators=[Optional()])
    debit = OptionalMoneyField(_l("Debit"))
    credit = OptionalMoneyField(_l("Credit"))


class EntryForm(FlaskForm):
    entry_date = LocalDateField(_l("Date"), validators=[InputRequired(_l("Enter the entry's date."))])
    description = StringField(
        _l("Description"), validators=[InputRequired(_l("Say what the entry is for.")), Length(max=DESCRIPTION_LENGTH)]
    )
    lines = FieldList(FormField(LineForm), min_entries=LINES_SHOWN, max_entries=50)
    idempotency_key = HiddenField()

    def load_choices(self) -> None:
        choices = [
            SelectChoice("", _l("—")),
            *(SelectChoice(a.code, account_label(a.code, a.name)) for a in _accounts()),
        ]
        for line in self.lines:
            line.account.choices = choices

    def filled_lines(self) -> list[books.Line]:
        """The lines with an account or an amount; a blank row is no line."""
        return [
            books.Line(line.account.data or "", line.debit.data or Decimal(0), line.credit.data or Decimal(0))
            for line in self._filled()
        ]

    def refused_account(self, error: books.ControlAccount) -> None:
        """Show the refusal on the account of the line it names (numbered among the filled lines)."""
        account = self._filled()[error.number - 1].account
        account.errors = [*account.errors, str(error)]

    def _filled(self) -> list:
        return [line for line in self.lines if line.account.data or line.debit.data or line.credit.data]


class JournalFilterForm(DateRange):
    account = SelectField(_l("Account"), default="")
    status = SelectField(
        _l("Status"),
        choices=[SelectChoice("", _l("All statuses")), *(SelectChoice(s, WORDS[s]) for s in STATUSES)],
        default="",
    )
    source = SelectField(_l("Source"), default="")


class AccountLinesForm(FlaskForm):
    class Meta:
        csrf = False

    since = LocalDateField(_l("From"), validators=[Optional()])
    until = LocalDateField(_l("To"), validators=[Optional()])

    def validate_until(self, field) -> None:
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError(
                _("The period ends before it starts: choose %(date)s or later.", date=named_date(self.since.data))
            )


@bp.get("")
def index():
    """The books open on the chart of accounts."""
    return redirect(url_for("books.accounts"))


@bp.get("/accounts")
def accounts():
    """The chart with each balance on the side it stands, a trial balance: debits total what credits do when the
    books balance."""
    rows = [(account, *_sides(account)) for account in _accounts()]
    return render_template(
        "books/accounts.html",
        rows=rows,
        debits=sum((debit for _a, debit, _c in rows), Decimal(0)),
        credits=sum((credit for _a, _d, credit in rows), Decimal(0)),
        sheet=books.balance_sheet(),
    )


@bp.get("/accounts/<code>")
def account(code: str):
    """The account's posted lines in date order, each with its debit, credit and the balance after it; the latest
    page first. Each automatic entry links to what it records."""
    found, filters = _account_and_period(code)
    if not filters.validate():
        return render_template("books/account.html", account=found, filters=filters, page=None), 422
    since, until = filters.since.data, filters.until.data
    opening = account_lines.opening(found, since)
    total = account_lines.count(found, since, until)
    number = request.args.get("page", type=int) or max(1, -(-total // LINES_PER_PAGE))
    if number > LARGEST_ROW_NUMBER // LINES_PER_PAGE:
        abort(404)
    page = RowPagination(
        page=number,
        per_page=LINES_PER_PAGE,
        max_per_page=LINES_PER_PAGE,
        error_out=False,
        select=account_lines.lines_of(found, since, until, opening),
        session=db.session,
        total=total,
    )
    return render_template(
        "books/account.html",
        account=found,
        filters=filters,
        page=page,
        opening=opening,
        sources=sources.links((row.source_type, row.source_id) for row in page.items),
        words={row.entry_id: row.words for row in page.items},
    )


def _account_and_period(code: str) -> tuple[Account, AccountLinesForm]:
    """The account of ``code`` (404 when there is none) and the period its lines are asked for."""
    found = db.session.scalar(select(Account).where(Account.code == code))
    if found is None:
        abort(404)
    return found, AccountLinesForm(request.args)


@bp.get("/accounts/<code>/lines.<any(csv, xlsx):format>")
@reads
def export_account_lines(code: str, format: str):
    """The account's posted lines the dates select, as on its page (an opening row, then each line with the balance
    after it), streamed: CSV or a workbook, named after the account and today."""
    found, filters = _account_and_period(code)
    if not filters.validate():
        return render_template("books/account.html", account=found, filters=filters, page=None), 422
    rows = account_lines.rows(found, filters.since.data, filters.until.data)
    name = "account-" + (re.sub(r"[^A-Za-z0-9._-]", "", found.code) or str(found.id))
    if format == "xlsx":
        return xlsx_response(
            name, xlsx_chunks(account_lines.CSV_COLUMNS, rows, cell_words()), f"{found.code} {found.name}"
        )
    cells = ([csv_cell(value) for value in row] for row in rows)
    return csv_response(name, csv_chunks(account_lines.CSV_COLUMNS, cells, cell_words()))


@bp.get("/journal")
def journal():
    listing = _journal_listing()
    query = select(JournalEntry, ENTRY_STATUS.label("shown_status")).options(
        selectinload(JournalEntry.lines).selectinload(JournalLine.account)
    )
    page = listing.page(query, ENTRIES_PER_PAGE, rows=True)
    found = sources.links((row[0].source_type, row[0].source_id) for row in page.items)
    words = descriptions.entries_words(row[0].id for row in page.items)
    return render_template(
        "books/journal.html", listing=listing, page=page, exported=listing.args(), sources=found, words=words
    )


@bp.get("/journal.<any(csv, xlsx, journal):format>")
@reads
def export_journal(format: str):
    """The journal the filters select, streamed: CSV or a workbook (every line of every entry, with its status, in the
    order the list is sorted in, date order unless sorted otherwise), or an hledger/ledger journal of the posted
    entries in date order."""
    listing = _journal_listing()
    if not listing.valid:
        return journal(), 422
    conditions = listing.conditions
    today = local_today()
    filename = f"journal-{today.isoformat()}.{format}"
    order = listing.order_by() if listing.explicit else None
    if format == "csv":
        return csv_download(filename, journal_export.csv_export(conditions, order, cell_words()))
    if format == "xlsx":
        rows = journal_export.typed_rows(conditions, order)
        return xlsx_response("journal", xlsx_chunks(journal_export.CSV_COLUMNS, rows, cell_words()))
    return Response(
        stream_with_context(chunked(journal_export.ledger_lines(conditions, current_app.config["CURRENCY"], today))),
        mimetype="text/plain",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _journal_listing() -> Listing:
    filters = JournalFilterForm(request.args)
    filters.account.choices = [
        SelectChoice("", _l("All accounts")),
        *(SelectChoice(a.code, account_label(a.code, a.name)) for a in _accounts()),
    ]
    filters.source.choices = [
        SelectChoice("", _l("All sources")),
        *(SelectChoice(s, label) for s, label in SOURCES.items()),
    ]
    return Listing(filters, JOURNAL_COLUMNS, _journal_conditions, default="-number", tiebreak=JournalEntry.id)


def _journal_conditions(filters: JournalFilterForm) -> list:
    """What the filters select, as conditions on the journal entries."""
    conditions = filters.date_conditions(JournalEntry.entry_date)
    if filters.account.data:
        conditions.append(
            JournalEntry.id.in_(select(JournalLine.entry_id).join(Account).where(Account.code == filters.account.data))
        )
    if filters.status.data:
        conditions.append(ENTRY_STATUS == filters.status.data)
    if filters.source.data == "manual":
        conditions.append(JournalEntry.source_type.is_(None))
    elif filters.source.data:
        conditions.append(JournalEntry.source_type == filters.source.data)
    return conditions


@bp.get("/journal/<int:entry_id>")
def entry(entry_id: int):
    found = db.session.get(
        JournalEntry, entry_id, options=[selectinload(JournalEntry.lines).selectinload(JournalLine.account)]
    )
    if found is None:
        abort(404)
    reversals = db.session.scalars(select(JournalEntry).where(JournalEntry.reverses_id == entry_id)).all()
    links = sources.links([(found.source_type, found.source_id)])
    return render_template(
        "books/entry.html",
        entry=found,
        reversals=reversals,
        sources=links,
        words=descriptions.entries_words([entry_id]),
        pending=approvals.pending_for_entry(entry_id),
        needs_approval=approvals.needs_approval(approvals.entry_amount(entry_id)),
    )


@bp.route("/journal/new", methods=["GET", "POST"])
@requires_role(Role.ADMIN)
def new_entry():
    form = EntryForm(entry_date=local_today(), idempotency_key=uuid.uuid4().hex)
    form.load_choices()
    refused = None
    if form.validate_on_submit():
        draft = request.form.get("action") == "draft"
        lines = form.filled_lines()
        try:
            done = books.write_entry(
                form.entry_date.data,
                form.description.data,
                lines,
                user=current_user,
                draft=draft,
                idempotency_key=form.idempotency_key.data or None,
            )
        except DatedAfterToday as error:
            form.entry_date.errors = [*form.entry_date.errors, str(error)]
        except books.ControlAccount as error:
            form.refused_account(error)
            refused = str(error)
        except (books.BooksError, BeyondLimit) as error:
            refused = str(error)  # about the lines: said with their totals
        except (IdempotencyKeyReserved, IdempotencyKeyTooLong) as error:
            refused = str(error)  # the form's hidden key: said where the entry's refusals are
        except PeriodClosed as error:
            form.entry_date.errors = [*form.entry_date.errors, str(error)]
        else:
            if done.asked is not None:
                flash(pending_notice(done.asked), "info")
                return redirect(url_for("books.entry", entry_id=done.entry_id))
            amount = shown(sum((line.debit for line in lines), Decimal(0)))
            said = (
                _("Entry JE-%(id)s of %(amount)s saved as a draft.")
                if draft
                else _("Entry JE-%(id)s of %(amount)s posted.")
            )
            flash(said % {"id": done.entry_id, "amount": amount}, "success")
            return redirect(url_for("books.entry", entry_id=done.entry_id))
    return render_template(
        "books/new_entry.html", form=form, totals=_totals(form, refused), limit=approvals.limit()
    ), 422 if request.method == "POST" else 200


@bp.post("/journal/new/totals")
@requires_role(Role.ADMIN)
def entry_totals():
    """The debit and credit totals of the lines typed so far, and whether they balance. Writes nothing."""
    form = EntryForm()
    form.load_choices()
    form.validate()
    return render_template("books/_totals.html", totals=_totals(form))


@bp.post("/journal/<int:entry_id>/<any(post, void):action>")
@requires_role(Role.ADMIN)
@posts_once
def settle_draft(entry_id: int, action: str):
    """Post a draft (if it balances; above the approval limit, ask for it) or void it."""
    try:
        if action == "post":
            done = books.post_saved_draft(entry_id, user=current_user)
        else:
            done = books.void_saved_draft(entry_id)
    except (books.BooksError, BeyondLimit, DatedAfterToday, PeriodClosed) as error:
        flash(str(error), "error")
    else:
        if done.asked is not None:
            flash(pending_notice(done.asked), "info")
        else:
            amount = shown(Decimal(approvals.entry_amount(entry_id)))
            said = _("Entry JE-%(id)s of %(amount)s posted.") if action == "post" else _("Entry JE-%(id)s voided.")
            flash(said % {"id": entry_id, "amount": amount}, "success")
    return redirect(url_for("books.entry", entry_id=entry_id))


@bp.post("/journal/<int:entry_id>/reverse")
@requires_role(Role.ADMIN)
@posts_once
def reverse(entry_id: int):
    try:
        done = books.reverse_entry(entry_id, user=current_user, reason=request.form.get("reason", ""))
    except (books.BooksError, BeyondLimit, *approvals.REFUSALS) as error:
        flash(str(error), "error")
        return redirect(url_for("books.entry", entry_id=entry_id))
    if done.asked is not None:
        flash(pending_notice(done.asked), "info")
        return redirect(url_for("books.entry", entry_id=entry_id))
    flash(
        _(
            "Reversing entry JE-%(id)s of %(amount)s posted.",
            id=done.entry_id,
            amount=shown(Decimal(approvals.entry_amount(done.entry_id))),
        ),
        "success",
    )
    return redirect(url_for("books.entry", entry_id=done.entry_id))


@bp.get("/balance-sheet")
@reads
def balance_sheet():
    rows = _accounts()
    sections = [
        (kind.value, label, total, [a for a in rows if a.type is kind])
        for kind, label, total in (
            (AccountType.ASSET, _("Assets"), _("Total assets")),
            (AccountType.LIABILITY, _("Liabilities"), _("Total liabilities")),
            (AccountType.EQUITY, _("Equity"), _("Total equity")),
        )
    ]
    return render_template("books/balance_sheet.html", sections=sections, sheet=books.balance_sheet())


class RowPagination(SelectPagination):
    """A page of rows (several columns each) rather than of entities, of ``total`` rows counted beforehand."""

    def _query_items(self) -> list:
        page = self._query_args["select"].limit(self.per_page).offset(self._query_offset)
        return list(self._query_args["session"].execute(page))

    def _query_count(self) -> int:
        return self._query_args["total"]


def _totals(form: EntryForm, refused: str | None = None) -> dict:
    """The debit and credit totals of the lines typed, and whether posting would accept them: the lines are checked
    as posting checks them (``books.refused``), so "balanced" is said only of what will
    post. ``refused``: why posting refused the entry, shown with the totals."""
    amounts = [(line.debit.data, line.credit.data, line.debit.errors or line.credit.errors) for line in form.lines]
    debits = sum((d for d, _c, _e in amounts if d), Decimal(0))
    credits = sum((c for _d, c, _e in amounts if c), Decimal(0))
    unreadable = any(errors for _d, _c, errors in amounts)
    filled = form.filled_lines()
    problem = refused
    if problem is None and not unreadable:
        if len(filled) < 2:
            problem = _("an entry needs two lines or more")
        elif debits != credits:
            problem = _("not balanced: difference %(amount)s", amount=shown(debits - credits))
        else:
            if (refused := books.refused(filled)) is not None:
                problem = str(refused)
    return {
        "debits": debits,
        "credits": credits,
        "balanced": not unreadable and problem is None,
        "unreadable": unreadable,
        "problem": problem,
    }


def _sides(account: Account) -> tuple[Decimal, Decimal]:
    """The account's balance as a debit or a credit (the other side zero)."""
    debit = account.balance if account.type.debit_normal else -account.balance
    return (debit, Decimal(0)) if debit >= 0 else (Decimal(0), -debit)


def _accounts() -> list[Account]:
    return list(db.session.scalars(select(Account).order_by(Account.code)))
