"""Corrections of a customer's prepaid ledger: a movement's page with its reversal, and adjusting a balance.

Both move money without a deposit or a sale behind it, so both are an admin's; a clerk asks for a movement's
reversal, which an admin decides on Approvals. Every reversal says why. What a correction posts is said before it
is confirmed, with the accounts the rule table names.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import StringField
from wtforms.validators import Length, Optional

from backoffice.models import ApprovalRequest, ApprovalStatus, BalanceTransaction, Customer, Role
from backoffice.platform.clock import local_today
from backoffice.platform.extensions import db
from backoffice.platform.lines import DESCRIPTION_LENGTH
from backoffice.platform.money import shown
from backoffice.platform.words import word
from backoffice.services import approvals, wallet
from backoffice.services.vocabulary import PeriodClosed
from backoffice.web.customers.forms import REASONS, VALUE_DATE_HELP, AdjustForm
from backoffice.web.customers.page import customer_or_404, posting_of, render_customer
from backoffice.web.plumbing.auth import requires_role
from backoffice.web.plumbing.fields import LocalDateField
from backoffice.web.plumbing.forms import FlaskForm
from backoffice.web.plumbing.once import posts_once
from backoffice.web.plumbing.pending import debt_said, pending_notice, reversal_asked

bp = Blueprint("ledger", __name__, url_prefix="/customers/<code>")


class ReverseForm(FlaskForm):
    value_date = LocalDateField(_l("Value date"), validators=[Optional()], description=VALUE_DATE_HELP)
    description = StringField(
        _l("Why"),
        validators=[Length(max=DESCRIPTION_LENGTH)],
        description=_l("Required: every reversal says why it is made."),
    )


@bp.post("/adjust")
@requires_role(Role.ADMIN)
def adjust(code: str):
    customer = customer_or_404(code)
    form = AdjustForm(prefix="adjust")
    if form.validate_on_submit():
        sign = 1 if form.direction.data == "up" else -1
        description = form.description.data or ""
        try:
            movement = wallet.adjustment(
                customer,
                sign * form.amount.data,
                reason=form.reason.data,
                description=description,
                idempotency_key=form.idempotency_key.data or None,
                user=current_user,
                value_date=form.value_date.data,
            )
            try:
                asked, posted = None, wallet.post_movement(movement)
            except wallet.NeedsApproval:  # as the core decided under the customer's lock: asked of a second admin
                why = str(REASONS[movement.reason]) + (f": {description}" if description.strip() else "")
                asked = approvals.ask_adjustment(movement, user=current_user, reason=why)
        except (wallet.DatedAfterToday, PeriodClosed) as error:
            form.value_date.errors.append(str(error))
        except wallet.WalletError as error:
            form.amount.errors.append(str(error))
        else:
            if asked is not None:
                flash(pending_notice(asked), "info")
            else:
                flash(
                    _(
                        "Adjustment of %(amount)s posted to %(customer)s: movement #%(id)s.",
                        amount=shown(posted.signed_amount),
                        customer=customer,
                        id=posted.id,
                    ),
                    "success",
                )
            return redirect(url_for("customers.show", code=code, tab="ledger"))
    db.session.rollback()
    return render_customer(customer_or_404(code), "ledger", forms={"adjust": form}), 422


@bp.get("/movements/<int:movement_id>")
def movement(code: str, movement_id: int):
    found = _movement(customer_or_404(code), movement_id)
    return _page(found, ReverseForm(formdata=None, value_date=local_today()))


@bp.post("/movements/<int:movement_id>/reverse")
@requires_role(Role.ADMIN)
@posts_once
def reverse(code: str, movement_id: int):
    """An admin reverses the movement, saying why; above the approval limit it is asked of a second admin."""
    original = _movement(customer_or_404(code), movement_id)
    if not _asks(original):
        return _submit(
            original,
            lambda why, on: wallet.reverse(
                original, description=why, user=current_user, value_date=on, refuse_again=True
            ),
        )
    return _submit(
        original,
        lambda why, on: approvals.ask_wallet_reversal(original, description=why, value_date=on, user=current_user),
        no_reason=_("This amount needs a second admin's approval: say why, for the admin who approves it."),
    )


@bp.post("/movements/<int:movement_id>/ask-reversal")
@requires_role(Role.FINANCE)
@posts_once
def ask_reversal(code: str, movement_id: int):
    """A clerk asks for the movement's reversal, saying why: a pending request that an admin decides."""
    original = _movement(customer_or_404(code), movement_id)
    return _submit(
        original,
        lambda why, on: approvals.ask_wallet_reversal(original, description=why, value_date=on, user=current_user),
    )


def _submit(original: BalanceTransaction, correcting, *, no_reason: str | None = None):
    """Reverse the movement, or ask for its reversal, through ``correcting(why, value_date)``: what it refuses is said
    under its field (``no_reason``: what to say for a blank reason) or on the page, and writes nothing."""
    code, movement_id = original.customer.code, original.id
    form = ReverseForm()
    if form.validate_on_submit():
        try:
            done = correcting(form.description.data or "", form.value_date.data)
        except wallet.NoReason as error:
            form.description.errors.append(no_reason or str(error))
        except (wallet.DatedAfterToday, wallet.DatedBeforeReversed, PeriodClosed) as error:
            form.value_date.errors.append(str(error))
        except wallet.AlreadyReversed as error:
            db.session.rollback()
            return _page(_movement(customer_or_404(code), movement_id), form, refused=str(error)), 409
        except (wallet.WalletError, approvals.ApprovalError) as error:
            db.session.rollback()
            return _page(_movement(customer_or_404(code), movement_id), form, refused=str(error)), 422
        else:
            flash(_done(done, movement_id), "info" if isinstance(done, ApprovalRequest) else "success")
            return redirect(url_for("ledger.movement", code=code, movement_id=movement_id))
    db.session.rollback()
    return _page(_movement(customer_or_404(code), movement_id), form), 422


def _done(done: BalanceTransaction | ApprovalRequest, movement_id: int) -> str:
    """What the page says once the reversal was posted, or asked for."""
    if not isinstance(done, ApprovalRequest):
        return _(
            "%(kind)s #%(id)s posted: movement #%(reversed)s is reversed.",
            kind=word(done.kind).capitalize(),
            id=done.id,
            reversed=movement_id,
        )
    said = pending_notice(done) if done.requested_by.is_admin else reversal_asked(done)
    if done.status is ApprovalStatus.PENDING and (debt := wallet.reversal_debt(done.movement)) is not None:
        said += " " + debt_said(done.movement.customer, debt)
    return said


def _page(found: BalanceTransaction, form: ReverseForm, refused: str | None = None):
    """The movement, what corrected it or what it corrects, and (for an admin) its reversal, with what that posts."""
    reversal = wallet.reversal_of(found.id)
    cannot = refused or wallet.not_reversible(found)
    return render_template(
        "ledger/movement.html",
        customer=found.customer,
        movement=found,
        reversal=reversal,
        reverses=db.session.get(BalanceTransaction, found.reverses_id) if found.reverses_id else None,
        reason=REASONS.get(found.reason, found.reason),
        form=form,
        cannot=cannot,
        posts=None if cannot or reversal else posting_of(wallet.reversal_kind(found), -found.signed_amount),
        needs_approval=_asks(found),
        pending=wallet.reversal_asked(found.id),
    )


def _asks(original: BalanceTransaction) -> bool:
    """Whether reversing the movement now is asked of a second admin: it moves, with the money the reader moved by
    hand for the customer today, more than the approval limit. A movement that cannot be reversed is refused, never
    asked for."""
    return wallet.not_reversible(original) is None and wallet.reversal_needs_approval(original, current_user)


def _movement(customer: Customer, movement_id: int) -> BalanceTransaction:
    found = db.session.get(BalanceTransaction, movement_id)
    if found is None or found.customer_id != customer.id:
        abort(404)
    return found
