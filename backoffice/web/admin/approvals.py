"""Approvals: money moved by hand above the limit, pending until a second admin approves or rejects it, and the
reversals clerks ask for, which an admin decides (two above the limit). A request without a valid seal is listed
apart, as tampered, with nothing to decide. Every request, pending or decided, downloads as CSV or a workbook."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask import request as http_request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select, update
from sqlalchemy.orm import aliased, selectinload
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from backoffice.imports import approval, running
from backoffice.jobs.queues import QueueUnavailable
from backoffice.models import (
    ApprovalKind,
    ApprovalRequest,
    ApprovalStatus,
    Customer,
    Import,
    ImportStatus,
    Role,
    User,
)
from backoffice.models.types import as_utc
from backoffice.platform.extensions import db
from backoffice.platform.lines import DESCRIPTION_LENGTH
from backoffice.platform.reasons import AdjustmentReason
from backoffice.platform.replica import reads
from backoffice.services import approvals, metering, wallet
from backoffice.web.plumbing.auth import requires_role
from backoffice.web.plumbing.forms import FlaskForm
from backoffice.web.plumbing.lists import Column, Filters, Listing
from backoffice.web.plumbing.once import posts_once
from backoffice.web.plumbing.pending import debt_said
from backoffice.web.plumbing.repricing import reprice, start_recalculation

bp = Blueprint("approvals", __name__, url_prefix="/approvals")

DECIDED_SHOWN = 50
REASONS = {reason.value: reason.label for reason in AdjustmentReason}
COLUMNS = [Column("id", "#", ApprovalRequest.id)]
CSV_COLUMNS = [
    "id",
    "requested_at",
    "requested_by",
    "kind",
    "customer_code",
    "amount",
    "value_date",
    "reason",
    "status",
    "decided_at",
    "decided_by",
    "rejection_reason",
]


class RejectForm(FlaskForm):
    reason = StringField(
        _l("Why rejected"),
        validators=[DataRequired(_l("Say why the request is rejected.")), Length(max=DESCRIPTION_LENGTH)],
        filters=[lambda text: text.strip() if text else text],
    )


@bp.app_context_processor
def _pending_approvals() -> dict:
    """How many requests wait, for the admins' navigation."""

    def pending_approvals() -> int:
        return approvals.pending_count() if current_user.is_authenticated and current_user.is_admin else 0

    return {"pending_approvals": pending_approvals, "approval_limit": approvals.limit, "asked_why": _why}


def _why(request: ApprovalRequest) -> str:
    """Why a request was asked, in the reader's language: a held source correction says what it does (it waits
    because of what it gives back), an import what its rows move (from its facts), any other request its
    requester's words."""
    if request.kind.corrects_source:
        return metering.said_request(request)
    if request.kind is ApprovalKind.IMPORT and request.correction:
        return approval.said_import(request.correction["import"], request.correction, request.amount)
    return request.reason


@bp.get("")
def index():
    return _page()


@bp.get("/export.<any(csv, xlsx):format>")
@reads
def export(format: str):
    """Every request, pending or decided, newest first, streamed: its amount signed as the page shows it, its moments
    in the installation's time zone, why it was asked in the reader's words."""
    by, decider = aliased(User), aliased(User)
    query = (
        select(
            ApprovalRequest.id,
            ApprovalRequest.requested_at,
            by.email,
            ApprovalRequest.kind,
            Customer.code,
            func.coalesce(ApprovalRequest.signed_amount, ApprovalRequest.amount),
            ApprovalRequest.value_date,
            ApprovalRequest,
            ApprovalRequest.status,
            ApprovalRequest.decided_at,
            decider.email,
            ApprovalRequest.rejection_reason,
        )
        .select_from(ApprovalRequest)
        .join(by, by.id == ApprovalRequest.requested_by_id)
        .outerjoin(decider, decider.id == ApprovalRequest.decided_by_id)
        .outerjoin(Customer, Customer.id == ApprovalRequest.customer_id)
    )
    return _listing().export("approvals", CSV_COLUMNS, query, format=format, typed=_typed)


def _listing() -> Listing:
    return Listing(
        Filters(http_request.args),
        COLUMNS,
        lambda _filters: [],
        default="-id",
        tiebreak=ApprovalRequest.id,
        csv_endpoint="approvals.export",
    )


def _typed(row) -> list:
    """A download's row: each value as its type, the moments in the installation's time zone, the request said by
    why it was asked."""
    return [_cell(value) for value in row]


def _cell(value):
    if isinstance(value, datetime):
        return _local(value)
    return _why(value) if isinstance(value, ApprovalRequest) else value


def _local(moment: datetime) -> datetime:
    return as_utc(moment).astimezone(ZoneInfo(current_app.config["TIMEZONE"])).replace(microsecond=0)


@bp.post("/<int:request_id>/approve")
@requires_role(Role.ADMIN)
@posts_once
def approve(request_id: int):
    try:
        request = approvals.approve(request_id, current_user)
    except approvals.OwnRequest as error:
        return _page(request_id, str(error)), 403
    except (
        approvals.AlreadyDecided,
        approvals.ApprovedFirst,
        approvals.ChangedSinceAsked,
        approvals.Tampered,
    ) as error:
        return _page(request_id, str(error)), 409
    except approvals.REFUSALS as error:
        return _page(request_id, _("Not posted, the request stays pending: %(error)s", error=error)), 422
    except approvals.NoSuchRequest:
        abort(404)
    if request.status is ApprovalStatus.PENDING:
        flash(_("Request #%(id)s approved first: it posts once a second admin approves it too.", id=request.id), "info")
        return redirect(url_for("approvals.index"))
    if request.kind.corrects_source:
        return _applied(request)
    if (import_id := approvals.approved_import(request)) is not None:
        return _import_started(request, import_id)
    flash(_("Request #%(id)s approved: %(result)s posted.", id=request.id, result=_result(request)), "success")
    return redirect(url_for("approvals.index"))


def _import_started(request: ApprovalRequest, import_id: int):
    """An approved import starts: as a job when the queues are set up, else here and now."""
    waiting = db.session.execute(
        update(Import)
        .where(Import.id == import_id, Import.status == ImportStatus.WAITING)
        .values(status=ImportStatus.QUEUED, error=None, version=Import.version + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if waiting:
        record = db.session.get(Import, import_id)
        try:
            running.start(record)
        except QueueUnavailable as error:
            running.failed(record, str(error))
    flash(_("Request #%(id)s approved: import #%(number)s started.", id=request.id, number=import_id), "success")
    return redirect(url_for("imports.show", import_id=import_id))


def _applied(request: ApprovalRequest):
    """An approved source correction is applied; a pricing or tariff change's re-pricing left to a job starts."""
    if request.kind is ApprovalKind.TARIFF_CHANGE:
        tariff = metering.asked_tariff(request)
        return reprice(tariff, metering.tariff_impact(tariff), _("Request #%(id)s approved", id=request.id))
    flash(_("Request #%(id)s approved: %(kind)s applied.", id=request.id, kind=request.kind.label.lower()), "success")
    pending = metering.pending_summary(request.customer_id) if request.customer_id is not None else None
    if request.kind is ApprovalKind.PRICING_CHANGE and pending.requests:
        start_recalculation(request.customer, _("Pricing saved; its re-pricing is pending"))
    return redirect(url_for("approvals.index"))


@bp.post("/<int:request_id>/reject")
@requires_role(Role.ADMIN)
@posts_once
def reject(request_id: int):
    form = RejectForm(prefix=f"reject-{request_id}")
    if not form.validate_on_submit():
        return _page(request_id, form=form), 422
    try:
        request = approvals.reject(request_id, current_user, form.reason.data)
    except approvals.OwnRequest as error:
        return _page(request_id, str(error)), 403
    except (approvals.AlreadyDecided, approvals.Tampered) as error:
        return _page(request_id, str(error)), 409
    except approvals.NoSuchRequest:
        abort(404)
    if request.kind is ApprovalKind.IMPORT:
        approval.declined(request)
    flash(_("Request #%(id)s rejected; nothing was posted.", id=request.id), "success")
    return redirect(url_for("approvals.index"))


def _page(request_id: int | None = None, error: str | None = None, form: RejectForm | None = None) -> str:
    """The pending requests, oldest first (those without a valid seal apart), and the latest decided; ``error`` (or
    ``form``'s) says why what was asked of ``request_id`` was refused."""
    db.session.rollback()
    options = [
        selectinload(ApprovalRequest.requested_by),
        selectinload(ApprovalRequest.decided_by),
        selectinload(ApprovalRequest.first_approved_by),
        selectinload(ApprovalRequest.customer),
        selectinload(ApprovalRequest.entry),
    ]
    waiting = db.session.scalars(
        select(ApprovalRequest)
        .options(*options)
        .where(ApprovalRequest.status == ApprovalStatus.PENDING)
        .order_by(ApprovalRequest.id)
    ).all()
    unsealed = approvals.tampered() if waiting else set()
    pending = [r for r in waiting if r.id not in unsealed]
    tampered = [r for r in waiting if r.id in unsealed]
    decided = db.session.scalars(
        select(ApprovalRequest)
        .options(*options)
        .where(ApprovalRequest.status != ApprovalStatus.PENDING)
        .order_by(ApprovalRequest.decided_at.desc(), ApprovalRequest.id.desc())
        .limit(DECIDED_SHOWN)
    ).all()
    forms = {r.id: RejectForm(prefix=f"reject-{r.id}", formdata=None) for r in pending}
    if form is not None and request_id in forms:
        forms[request_id] = form
    return render_template(
        "approvals/index.html",
        listing=_listing(),
        pending=pending,
        tampered=tampered,
        decided=decided,
        forms=forms,
        two_admins={r.id for r in pending if approvals.first_of_two(r, current_user)},
        waits=approvals.waits_because(pending),
        debts={
            r.id: debt_said(r.customer, debt)
            for r in pending
            if r.kind is ApprovalKind.WALLET_REVERSAL and (debt := wallet.reversal_debt(r.movement)) is not None
        },
        error_id=request_id,
        error=error,
        limit=approvals.limit(),
        reasons=REASONS,
        result=_result,
    )


def _result(request: ApprovalRequest) -> str:
    """What approving posted: a wallet movement and its entry, or an entry; a source correction was applied; an
    import let run (its rows post as it writes them); a payment recorded."""
    if request.kind.corrects_source:
        return _("applied")
    if request.kind is ApprovalKind.IMPORT:
        return _("import #%(id)s let run", id=(request.correction or {}).get("import"))
    if request.kind is ApprovalKind.PAYMENT:
        return _("payment %(reference)s recorded", reference=(request.correction or {}).get("reference", ""))
    if request.result_movement_id is not None:
        return _(
            "movement #%(movement)s (JE-%(entry)s)", movement=request.result_movement_id, entry=request.result_entry_id
        )
    return f"JE-{request.result_entry_id}"
