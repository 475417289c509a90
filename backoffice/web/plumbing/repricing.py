"""Re-pricing once a pricing row or a tariff is saved (by a clerk, or by the admin who approved it): done now when
small, else left to a job, and the messages saying which."""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user

from backoffice import jobs
from backoffice.models import Customer
from backoffice.platform.i18n import count_text
from backoffice.reconcile.locks import RunRefused
from backoffice.services import metering


def start_recalculation(customer: Customer, saved: str) -> None:
    """The pricing is saved with a recalculation request (``saved`` says so); a job re-prices (the nightly run, if
    not real time)."""
    if not customer.use_realtime_calculation:
        flash(
            _("%(saved)s: this customer is not calculated in real time, so the nightly run will do it.", saved=saved),
            "info",
        )
        return
    try:
        jobs.enqueue("recalculate_customer", {"customer_id": customer.id}, user=current_user)
    except jobs.QueueUnavailable:
        flash(_("%(saved)s, but the job queue cannot be reached: the nightly run will do it.", saved=saved), "error")
    except RunRefused as refused:
        flash(_("%(saved)s: %(refused)s", saved=saved, refused=refused), "info")
    else:
        flash(_("%(saved)s: a job is doing it now.", saved=saved), "info")


def reprice(tariff: metering.Tariff, impact: metering.TariffImpact, heading: str | None = None):
    """Re-price now when the change is small; else start the job and show its progress. ``heading``: what the
    messages begin with, before "saved" (the approved request, when approving saved it)."""
    saved = _(
        "%(tariff)s saved for %(customers)s customer(s)",
        tariff=tariff.describe(),
        customers=count_text(impact.customers),
    )
    if heading:
        saved = _("%(heading)s: %(saved)s", heading=heading, saved=saved)
    readings = count_text(impact.readings)
    if not impact.deferred:
        try:
            metering.reprice_tariff(tariff.effective_from, current_user)
        except metering.MeteringError as error:
            flash(
                _(
                    "%(saved)s, but re-pricing stopped: %(error)s What is left waits for the nightly run.",
                    saved=saved,
                    error=error,
                ),
                "error",
            )
        else:
            flash(_("%(saved)s; %(readings)s reading(s) re-priced.", saved=saved, readings=readings), "success")
        if held := metering.left_quarantined(from_date=tariff.effective_from):
            flash(quarantined_waiting(held), "error")
        return redirect(url_for("tariff.form"))
    args = {
        "effective_from": tariff.effective_from.isoformat(),
        "price_per_sm3": str(tariff.price_per_sm3) if tariff.price_per_sm3 is not None else None,
        "meter_correction": str(tariff.meter_correction) if tariff.meter_correction is not None else None,
        "readings": impact.readings,
    }
    flash(_("%(saved)s; a job re-prices their %(readings)s reading(s).", saved=saved, readings=readings), "info")
    try:
        record, _created = jobs.enqueue("tariff_change", args, user=current_user)
    except jobs.QueueUnavailable:
        flash(_("%(saved)s, but the job queue cannot be reached: the nightly run will re-price.", saved=saved), "error")
        return redirect(url_for("tariff.form"))
    return redirect(url_for("jobs.show", job_id=record.id))


def quarantined_waiting(codes: list[str]) -> str:
    """What a re-pricing left undone for quarantined customers, naming them."""
    return _(
        "Not re-priced: %(codes)s, quarantined (rows of their evidence carry no valid seal). Their readings are "
        "re-priced once an admin has reviewed the rows on their page.",
        codes=", ".join(codes),
    )
