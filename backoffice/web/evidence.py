"""Tampered evidence: the rows found without a valid seal, and an admin's review of them. A review refused (already
decided by another admin meanwhile, a reason missing) is said on the form; nothing is decided then."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select
from wtforms import RadioField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from backoffice.extensions import db
from backoffice.models import Role, TamperedEvidence
from backoffice.money import shown
from backoffice.reconcile import evidence_review
from backoffice.web.auth import requires_role
from backoffice.web.forms import FlaskForm

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
        validators=[DataRequired(_l("Say why: the review is kept with the rows.")), Length(max=300)],
        filters=[lambda text: text.strip() if text else text],
    )


def review_form(findings: list[TamperedEvidence], formdata=None) -> ReviewForm:
    form = ReviewForm(formdata=formdata)
    form.findings.choices = [SelectChoice(str(finding.id), finding.what) for finding in findings]
    return form


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
        done = ngettext("%(num)d row reversed.", "%(num)d rows reversed.", len(decided))
    else:
        done = ngettext("%(num)d row accepted.", "%(num)d rows accepted.", len(decided))
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
    return render_template(
        "evidence/index.html", form=form, open=evidence_review.open_findings(), decided=decided, refused=refused
    )
