"""Tampered evidence: the rows found without a valid seal, and an admin's review of them. A review refused (already
decided by another admin meanwhile, a reason missing) is said on the form; nothing is decided then."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select
from wtforms import RadioField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from backoffice.evidence import verifying
from backoffice.models import (
    BalanceTransaction,
    JournalEntry,
    JournalLine,
    PaymentAllocation,
    Role,
    TamperedEvidence,
)
from backoffice.platform.extensions import db
from backoffice.platform.i18n import ngettext
from backoffice.platform.lines import DESCRIPTION_LENGTH
from backoffice.platform.money import shown
from backoffice.reconcile import evidence_review, sources
from backoffice.reconcile.report import evidence_entity, named_entities
from backoffice.web.oversight import history
from backoffice.web.plumbing.auth import requires_role
from backoffice.web.plumbing.filters import local_date
from backoffice.web.plumbing.forms import FlaskForm

bp = Blueprint("evidence", __name__, url_prefix="/evidence")

DECIDED_SHOWN = 50


class ReviewForm(FlaskForm):
    findings = SelectMultipleField(
        _l("Rows"), coerce=int, validators=[DataRequired(_l("Choose the rows you reviewed."))]
    )
    decision = RadioField(
        _l("Decision"),
        choices=[
            SelectChoice("reverse", _l("Reverse: take their money back (a wallet movement is reversed)")),
            SelectChoice("accept", _l("Accept: the rows are right as they stand")),
        ],
        validators=[DataRequired(_l("Choose reverse or accept."))],
    )
    reason = StringField(
        _l("Why"),
        validators=[DataRequired(_l("Say why: the review is kept with the rows.")), Length(max=DESCRIPTION_LENGTH)],
        filters=[lambda text: text.strip() if text else text],
    )


def review_form(findings: list[TamperedEvidence], formdata=None) -> ReviewForm:
    form = ReviewForm(formdata=formdata)
    said = described(findings)
    form.findings.choices = [SelectChoice(str(finding.id), said[finding.id]) for finding in findings]
    return form


EVIDENCE = {
    "balance_transactions": _l("Wallet movement"),
    "journal_entries": _l("Journal entry"),
    "approval_requests": _l("Approval request"),
    "approval_first_approvals": _l("First approval of approval request"),
    "approval_decisions": _l("Decision on approval request"),
    "evidence_decisions": _l("Decision on tampered evidence"),
    "payment_allocations": _l("Payment allocation"),
    "reconciliation_runs": _l("Reconciliation run"),
    "meter_readings": _l("Meter reading"),
    "customer_pricing": _l("Pricing row"),
    "meter_assignments": _l("Meter assignment"),
    "invoices": _l("Invoice"),
    "payments": _l("Payment"),
}
"""Per kind of evidence (``seals.kinds`` and ``reconcile.sources``), what its row is in words; a history version's
is named after its record (:func:`_kind`)."""

PROBLEMS = {
    "reviewed_then_changed": _l("changed after an admin reviewed it"),
    "no_seal": _l("no seal: it was not written by the application"),
    "seal_mismatch": _l("its seal does not match it: changed after it was written"),
    "gone": _l("sealed, but the row is gone"),
    verifying.ANCHOR_BROKEN: _l("its chain no longer reaches the last anchor kept outside the database"),
    "no_version": _l("no history version: it was written outside the application"),
    "deleted_version": _l("it exists though its history says it was deleted"),
    "deleted": _l("deleted outside the application: its history has no version of its deletion"),
}
"""Per problem code (``verifying.PROBLEMS``, ``reconcile.sources.PROBLEMS``, and ``deleted``: a record ``history_drift``
finds deleted without a version), what is wrong in words; the row before it gone and the columns changed are said
with them (:func:`_problem`, :func:`drift_problem`)."""


def described(findings: list[TamperedEvidence], *, amounts: bool = True) -> dict[int, str]:
    """Per finding id, its row in the reader's words: what kind of row, its id (and version) and the record it is
    (as a run's report names it), what is wrong, and for a wallet movement, a journal entry or a payment allocation
    its amount and date (unless not ``amounts``: where figures of other kinds stand beside it). Words kept in no
    code (an older wording) are shown as the finding keeps them."""
    money = _amounts(findings) if amounts else {}
    named = named_entities({evidence_entity(finding.kind, finding.row_id) for finding in findings})
    said = {}
    for finding in findings:
        problem = _problem(finding)
        if problem is None:
            said[finding.id] = finding.what
            continue
        row = _("%(kind)s #%(id)s", kind=_kind(finding.kind), id=finding.row_id)
        if finding.version:
            row = _("%(row)s (version %(version)s)", row=row, version=finding.version)
        if (record := named.get(evidence_entity(finding.kind, finding.row_id))) is not None:
            row = _("%(row)s, %(name)s", row=row, name=record.name)
        text = _("%(row)s: %(problem)s", row=row, problem=problem)
        if (amount := money.get((finding.kind, finding.row_id))) is not None:
            text = _("%(row)s — %(amount)s on %(day)s", row=text, amount=shown(amount[0]), day=local_date(amount[1]))
        said[finding.id] = text
    return said


def _kind(kind: str) -> str:
    if kind in EVIDENCE:
        return str(EVIDENCE[kind])
    table = kind.removesuffix("_history")
    record = next((spec.label for spec in history.KINDS.values() if spec.model.__tablename__ == table), table)
    return _("History version of %(record)s", record=record)


def _problem(finding: TamperedEvidence) -> str | None:
    if sources.is_source(finding.kind):
        code, columns = sources.problem_of(finding.what)
        return None if code is None else drift_problem(code, columns, sources.MODELS[finding.kind])
    code, previous = verifying.problem_of(finding.what)
    if code == "previous_gone":
        return _("the row before it in its chain (#%(previous)s) is gone", previous=previous)
    return None if code is None else str(PROBLEMS[code])


def drift_problem(code: str, columns: list[str], model: type | None) -> str:
    """What is wrong with a record against its history (a source row's finding, a ``history_drift`` discrepancy), a
    code of :data:`PROBLEMS` or ``changed``, in words: the columns changed by the labels its forms give them."""
    if code == "changed":
        labels = history.labels_of(model) if model is not None else history.LABELS
        named = ", ".join(str(labels.get(column, column)) for column in columns)
        return _("changed outside the application: %(columns)s", columns=named)
    return str(PROBLEMS[code])


def _amounts(findings: list[TamperedEvidence]) -> dict[tuple[str, int], tuple[Decimal, date]]:
    """The amount and date of each finding's row that moves money and is still there, one query per kind."""
    wanted: dict[str, list[int]] = {}
    for finding in findings:
        if finding.kind in _MONEY:
            wanted.setdefault(finding.kind, []).append(finding.row_id)
    found = {}
    for kind, ids in wanted.items():
        for row_id, amount, day in db.session.execute(_MONEY[kind].where(_MONEY[kind].selected_columns[0].in_(ids))):
            found[kind, row_id] = (amount, day)
    return found


_MONEY = {
    "balance_transactions": select(
        BalanceTransaction.id, BalanceTransaction.signed_amount, BalanceTransaction.value_date
    ),
    "journal_entries": select(JournalEntry.id, func.sum(JournalLine.debit), JournalEntry.entry_date)
    .join(JournalLine, JournalLine.entry_id == JournalEntry.id)
    .group_by(JournalEntry.id, JournalEntry.entry_date),
    "payment_allocations": select(PaymentAllocation.id, PaymentAllocation.amount, PaymentAllocation.created_at),
}
"""Per kind of evidence that moves money: a select of a row's id, amount and date (an entry's: its debits)."""


@bp.app_context_processor
def _open_findings() -> dict:
    """How many rows of tampered evidence wait, for the admins' navigation."""

    def open_findings() -> int:
        return evidence_review.open_count() if current_user.is_authenticated and current_user.is_admin else 0

    return {"open_findings": open_findings}


@bp.get("")
@requires_role(Role.ADMIN)
def index():
    return _page(review_form(evidence_review.open_findings()))


@bp.post("/review")
@requires_role(Role.ADMIN)
def review():
    found = evidence_review.open_findings()
    form = review_form(found, request.form)
    back = _back()
    if not form.validate():
        return _page(form), 422
    decide = evidence_review.reverse if form.decision.data == "reverse" else evidence_review.accept
    try:
        decided = decide(form.findings.data, form.reason.data, current_user)
    except evidence_review.REFUSALS as error:
        refused = _("Nothing was decided: %(error)s", error=error)
        form.reason.errors = [*form.reason.errors, refused]
        return _page(form, refused), 422
    if decided[0].resolution.value == "reversed":
        done = ngettext("%(num)s row reversed.", "%(num)s rows reversed.", len(decided))
    else:
        done = ngettext("%(num)s row accepted.", "%(num)s rows accepted.", len(decided))
    flash(done, "success")
    for asked in evidence_review.asked(decided):
        flash(
            _(
                "The accepted money (%(amount)s) is above the approval limit: request #%(id)s waits for a second "
                "admin; it is not in the wallet until approved.",
                amount=shown(asked.signed_amount),
                id=asked.id,
            ),
            "info",
        )
    return redirect(back or url_for("evidence.index"))


def _back() -> str | None:
    """Where the review was made from: a customer's page of this application, or none."""
    back = request.form.get("next", "")
    return back if back.startswith("/") and not back.startswith("//") else None


def _page(form: ReviewForm, refused: str | None = None):
    """The open findings with the review form, and the latest decided; ``refused`` says why a review was refused
    (also where the form is gone: another admin decided the last open findings meanwhile)."""
    decided = db.session.scalars(
        select(TamperedEvidence)
        .where(TamperedEvidence.resolution.is_not(None))
        .order_by(TamperedEvidence.resolved_at.desc())
        .limit(DECIDED_SHOWN)
    ).all()
    found = evidence_review.open_findings()
    return render_template(
        "evidence/index.html",
        form=form,
        open=found,
        decided=decided,
        refused=refused,
        said=described([*found, *decided]),
    )
