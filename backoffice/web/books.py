"""The books: chart of accounts, journal entries, a manual entry form with live totals, the balance sheet."""

from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import DateField, FieldList, Form, FormField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from backoffice.config import local_today
from backoffice.extensions import db
from backoffice.models import Account, AccountType, JournalEntry, JournalLine, Role
from backoffice.money import BeyondLimit, shown
from backoffice.posting.movement import Movement
from backoffice.posting.post import DatedAfterToday, post
from backoffice.posting.rules import Kind
from backoffice.services import books, periods, transaction
from backoffice.web.auth import requires_role
from backoffice.web.fields import OptionalMoneyField

bp = Blueprint("books", __name__, url_prefix="/books")

LINES_SHOWN = 6
SOURCES = ("balance_transaction", "invoice", "payment", "manual")


class LineForm(Form):
    account = SelectField("Account", validators=[Optional()])
    debit = OptionalMoneyField("Debit")
    credit = OptionalMoneyField("Credit")


class EntryForm(FlaskForm):
    entry_date = DateField("Date", validators=[InputRequired("Enter the entry's date.")])
    description = StringField("Description", validators=[InputRequired("Say what the entry is for."), Length(max=300)])
    lines = FieldList(FormField(LineForm), min_entries=LINES_SHOWN, max_entries=50)

    def load_choices(self) -> None:
        choices = [SelectChoice("", "—"), *(SelectChoice(a.code, str(a)) for a in _accounts())]
        for line in self.lines:
            line.account.choices = choices

    def filled_lines(self) -> list[books.Line]:
        """The lines with an account or an amount; a blank row is no line."""
        return [
            books.Line(line.account.data or "", line.debit.data or Decimal(0), line.credit.data or Decimal(0))
            for line in self.lines
            if line.account.data or line.debit.data or line.credit.data
        ]


class JournalFilterForm(FlaskForm):
    class Meta:
        csrf = False

    since = DateField("From", validators=[Optional()])
    until = DateField("To", validators=[Optional()])
    account = SelectField("Account", default="")
    source = SelectField("Source", default="")


@bp.get("")
def index():
    """The books open on the chart of accounts."""
    return redirect(url_for("books.accounts"))


@bp.get("/accounts")
def accounts():
    rows = _accounts()
    return render_template("books/accounts.html", accounts=rows, sheet=books.balance_sheet())


@bp.get("/journal")
def journal():
    filters = JournalFilterForm(request.args)
    filters.account.choices = [SelectChoice("", "All accounts"), *(SelectChoice(a.code, str(a)) for a in _accounts())]
    filters.source.choices = [SelectChoice("", "All sources"), *(SelectChoice(s, s.replace("_", " ")) for s in SOURCES)]
    query = select(JournalEntry).options(selectinload(JournalEntry.lines).selectinload(JournalLine.account))
    if filters.validate():
        if filters.since.data:
            query = query.where(JournalEntry.entry_date >= filters.since.data)
        if filters.until.data:
            query = query.where(JournalEntry.entry_date <= filters.until.data)
        if filters.account.data:
            query = query.where(
                JournalEntry.id.in_(
                    select(JournalLine.entry_id).join(Account).where(Account.code == filters.account.data)
                )
            )
        if filters.source.data == "manual":
            query = query.where(JournalEntry.source_type.is_(None))
        elif filters.source.data:
            query = query.where(JournalEntry.source_type == filters.source.data)
    else:
        query = query.where(JournalEntry.id.is_(None))
    page = db.paginate(query.order_by(JournalEntry.id.desc()), per_page=50, error_out=False)
    return render_template("books/journal.html", filters=filters, page=page)


@bp.get("/journal/<int:entry_id>")
def entry(entry_id: int):
    found = db.session.get(
        JournalEntry, entry_id, options=[selectinload(JournalEntry.lines).selectinload(JournalLine.account)]
    )
    if found is None:
        abort(404)
    reversals = db.session.scalars(select(JournalEntry).where(JournalEntry.reverses_id == entry_id)).all()
    return render_template("books/entry.html", entry=found, reversals=reversals)


@bp.route("/journal/new", methods=["GET", "POST"])
@requires_role(Role.ADMIN)
def new_entry():
    form = EntryForm(entry_date=local_today())
    form.load_choices()
    refused = None
    if form.validate_on_submit():
        draft = request.form.get("action") == "draft"
        entry_date, description, lines = form.entry_date.data, form.description.data, form.filled_lines()
        try:
            with transaction() as session:
                periods.refuse_if_closed(session.connection(), entry_date)
                if draft:
                    entry_id = books.save_draft(session.connection(), entry_date, description, lines)
                else:
                    movement = Movement(
                        kind=Kind.MANUAL,
                        value_date=entry_date,
                        description=description,
                        lines=tuple(lines),
                        user=current_user,
                    )
                    entry_id = post(session.connection(), movement).entry_id
        except DatedAfterToday as error:
            form.entry_date.errors = [*form.entry_date.errors, str(error)]
        except (books.BooksError, BeyondLimit) as error:
            refused = str(error)  # about the lines: said with their totals
        except periods.PeriodClosed as error:
            form.entry_date.errors = [*form.entry_date.errors, str(error)]
        else:
            flash(f"Entry JE-{entry_id} {'saved as a draft' if draft else 'posted'}.", "success")
            return redirect(url_for("books.entry", entry_id=entry_id))
    return render_template(
        "books/new_entry.html", form=form, totals=_totals(form, refused)
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
def settle_draft(entry_id: int, action: str):
    """Post a draft (if it balances) or void it."""
    try:
        with transaction() as session:
            if action == "post":
                post(session.connection(), Movement(kind=Kind.MANUAL, draft_id=entry_id, user=current_user))
            else:
                books.void_draft(session.connection(), entry_id)
    except (books.BooksError, BeyondLimit) as error:
        flash(str(error), "error")
    else:
        flash(f"Entry JE-{entry_id} {'posted' if action == 'post' else 'voided'}.", "success")
    return redirect(url_for("books.entry", entry_id=entry_id))


@bp.post("/journal/<int:entry_id>/reverse")
@requires_role(Role.ADMIN)
def reverse(entry_id: int):
    try:
        with transaction() as session:
            movement = Movement(kind=Kind.MANUAL, reverses_id=entry_id, user=current_user)
            reversal = post(session.connection(), movement).entry_id
    except (books.BooksError, BeyondLimit) as error:
        flash(str(error), "error")
        return redirect(url_for("books.entry", entry_id=entry_id))
    flash(f"Reversing entry JE-{reversal} posted.", "success")
    return redirect(url_for("books.entry", entry_id=reversal))


class CloseForm(FlaskForm):
    note = StringField("Note", validators=[Length(max=300)])


class ReopenForm(FlaskForm):
    reason = StringField("Reason", validators=[InputRequired("Say why the month is reopened."), Length(max=300)])


@bp.get("/periods", endpoint="periods")
def period_list():
    """The months and whether each is closed, by whom and when; admins close and reopen them."""
    return _periods()


@bp.post("/periods/<month>/close")
@requires_role(Role.ADMIN)
def close_month(month: str):
    form = CloseForm()
    return _period_action(form, month, lambda: periods.close(month, current_user, form.note.data or ""), "closed")


@bp.post("/periods/<month>/reopen")
@requires_role(Role.ADMIN)
def reopen_month(month: str):
    form = ReopenForm()
    return _period_action(form, month, lambda: periods.reopen(month, current_user, form.reason.data or ""), "reopened")


def _period_action(form: FlaskForm, month: str, act, done: str):
    if form.validate_on_submit():
        try:
            action = act()
        except periods.PeriodError as error:
            return _periods(month, str(error)), 422
        flash(f"{action.year_month} {done}.", "success")
        return redirect(url_for("books.periods"))
    return _periods(month, " ".join(e for field in form for e in field.errors)), 422


def _periods(month: str | None = None, error: str | None = None) -> str:
    """The periods page; ``error`` says why what was asked of ``month`` was refused."""
    return render_template(
        "books/periods.html", overview=periods.overview(), error_month=month, error=error, typed=request.form
    )


@bp.get("/balance-sheet")
def balance_sheet():
    rows = _accounts()
    sections = [
        (label, [a for a in rows if a.type is kind])
        for label, kind in (
            ("Assets", AccountType.ASSET),
            ("Liabilities", AccountType.LIABILITY),
            ("Equity", AccountType.EQUITY),
        )
    ]
    return render_template("books/balance_sheet.html", sections=sections, sheet=books.balance_sheet())


def _totals(form: EntryForm, refused: str | None = None) -> dict:
    """The debit and credit totals of the lines typed, and whether posting would accept them: the lines are checked
    as posting checks them (``books.check_lines``), so "balanced" is said only of what will post. ``refused``: why
    posting refused the entry, shown with the totals."""
    amounts = [(line.debit.data, line.credit.data, line.debit.errors or line.credit.errors) for line in form.lines]
    debits = sum((d for d, _c, _e in amounts if d), Decimal(0))
    credits = sum((c for _d, c, _e in amounts if c), Decimal(0))
    unreadable = any(errors for _d, _c, errors in amounts)
    filled = form.filled_lines()
    problem = refused
    if problem is None and not unreadable:
        if len(filled) < 2:
            problem = "an entry needs two lines or more"
        elif debits != credits:
            problem = f"not balanced: difference {shown(debits - credits)}"
        else:
            try:
                books.check_lines(filled)
            except books.BooksError as error:
                problem = str(error)
    return {
        "debits": debits,
        "credits": credits,
        "balanced": not unreadable and problem is None,
        "unreadable": unreadable,
        "problem": problem,
    }


def _accounts() -> list[Account]:
    return list(db.session.scalars(select(Account).order_by(Account.code)))
