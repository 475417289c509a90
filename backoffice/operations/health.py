"""Whether the derived balances can be trusted now: what the health check answers and the metrics export.

They can when every check's latest full run and the nightly maintenance succeeded within
``BACKOFFICE_HEALTH_MAX_AGE_HOURS``, nothing is mismatched, the runs' seals hold and the balance sheet balances. A
check or a nightly that has not run lately is ``stale``, not healthy. Nor can they be trusted under another seal key
than the evidence's, or while tampered evidence waits for an admin.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import bindparam, select

from backoffice import jobs
from backoffice.evidence import anchors, seals
from backoffice.models import JobRecord
from backoffice.models.types import utcnow
from backoffice.platform import replica
from backoffice.platform.extensions import db
from backoffice.reconcile import evidence_review, status
from backoffice.reconcile.report import iso, plain
from backoffice.services import books, metering

NIGHTLY = "nightly_maintenance"


class State(enum.StrEnum):
    OK = "ok"
    MISMATCHED = "mismatched"
    """The latest full run found mismatches and did not try to fix them (a verify)."""
    LEFT = "left"
    """The latest full run tried to fix and left some mismatched."""
    STALE = "stale"
    """The latest full run that succeeded is older than the maximum age, or none succeeded."""
    NEVER_RUN = "never run"

    @property
    def stale(self) -> bool:
        return self in (State.STALE, State.NEVER_RUN)


@dataclass(frozen=True)
class CheckHealth:
    status: status.CheckStatus
    state: State


@dataclass(frozen=True)
class NightlyFigures:
    """What the latest nightly maintenance that succeeded did, as its job's result keeps it (``jobs.run_result``):
    ``None`` where it says nothing (no nightly succeeded, or one older than the figures)."""

    duration_seconds: float | None  # float-ok: a duration
    """From its start to its end, its anchor written."""
    rows_verified: int | None
    """The rows its checks verified, the seals among them."""
    swept_share: float | None  # float-ok: a share
    """The part of the history its sweep verified: one slice of ``BACKOFFICE_SEAL_SWEEP_DAYS``, 1 when all of it."""
    swept_rows: int | None
    """The rows of that part."""

    @classmethod
    def of(cls, run_id: int | None) -> NightlyFigures:
        """The figures of the nightly maintenance whose run this is."""
        result = {}
        if run_id is not None:
            result = db.session.scalar(_NIGHTLY_RESULT, {"run_id": run_id}) or {}
        figures = ("duration_seconds", "rows_verified", "swept_share", "swept_rows")
        return cls(*(result.get(name) for name in figures))


@dataclass(frozen=True)
class NightlyHealth:
    state: State
    """``ok``, ``stale`` (its last success is older than the maximum age) or ``never run``."""
    last_success: datetime | None
    max_age: timedelta
    figures: NightlyFigures

    @property
    def reason(self) -> str | None:
        """Why it makes the balances untrusted, in the health check's words; ``None`` when it does not."""
        if self.state is State.NEVER_RUN:
            return _("The nightly maintenance has never finished.")
        if self.state is State.STALE:
            return _(
                "The nightly maintenance last finished at %(at)s, %(hours)s hours ago or more.",
                at=self.last_success_iso,
                hours=self.max_age_hours,
            )
        return None

    @property
    def last_success_iso(self) -> str | None:
        return iso(self.last_success) if self.last_success else None

    @property
    def max_age_hours(self) -> str:
        return _hours(self.max_age)


@dataclass(frozen=True)
class Health:
    at: datetime
    max_age: timedelta
    checks: list[CheckHealth]
    nightly_last_success: datetime | None
    nightly: State
    sheet: books.Sheet
    pending: metering.Pending
    reasons: list[str]
    replica: replica.Replica
    """The read replica's state: not a reason to distrust the balances (its reads go to the primary when it is not
    fit), but the operator's to mend."""
    nightly_figures: NightlyFigures

    @property
    def valid(self) -> bool:
        return not self.reasons


def assess() -> Health:
    at = utcnow()
    max_age = current_app.config["HEALTH_MAX_AGE"]
    since = at - max_age
    checks = check_states(since)
    # The nightly's latest runs and the checks' are verified together, in one statement.
    nightly_runs = jobs.successes(NIGHTLY)
    checked_runs = {check.status.run_id for check in checks if check.status.run_id is not None}
    unsealed = jobs.unsealed_runs(checked_runs | {run_id for run_id, _ended in nightly_runs})
    nightly = _nightly(at, jobs.sealed_run(nightly_runs, unsealed))
    sheet = books.balance_sheet()
    reasons = [reason for check in checks for reason in _check_reasons(check, max_age)]
    reasons += _unsealed_runs([finding for finding in unsealed if finding.row_id in checked_runs])
    if nightly.reason:
        reasons.append(nightly.reason)
    if not sheet.balanced:
        reasons.append(
            _(
                "The balance sheet does not balance: assets less liabilities, equity and current earnings is "
                "%(difference)s.",
                difference=plain(sheet.difference),
            )
        )
    if seals.key_is_right(db.session.connection()):
        reasons += anchors.problems(db.session.connection())
    else:
        reasons.append(
            _(
                "BACKOFFICE_SEAL_KEY: this is not the key the evidence was sealed with; the evidence cannot be "
                "verified until the application runs with the installation's own key."
            )
        )
    if forged := evidence_review.unsealed_decisions():
        reasons.append(
            _(
                "Tampered evidence: the decision on finding(s) %(ids)s carries no valid seal: written past the "
                "application, it decides nothing.",
                ids=", ".join(str(finding_id) for finding_id in forged),
            )
        )
    if tampered := evidence_review.open_findings():
        customers = sorted({finding.customer.code for finding in tampered if finding.customer is not None})
        if customers:
            said = _(
                "Tampered evidence: %(rows)s row(s) without a valid seal wait for an admin's review (customers "
                "%(customers)s quarantined).",
                rows=len(tampered),
                customers=", ".join(customers),
            )
        else:
            said = _(
                "Tampered evidence: %(rows)s row(s) without a valid seal wait for an admin's review.",
                rows=len(tampered),
            )
        reasons.append(said)
    return Health(
        at,
        max_age,
        checks,
        nightly.last_success,
        nightly.state,
        sheet,
        metering.pending_summary(),
        reasons,
        replica.assess(),
        nightly.figures,
    )


def replica_said(found: replica.Replica) -> str:
    """The replica's state in a sentence, in the health check's words."""
    said = {"lag": _seconds(found.lag_seconds), "max": _seconds(found.max_lag_seconds), "reason": found.reason}
    match found.state:
        case replica.State.NONE:
            return _("No read replica is set: every read goes to the primary.")
        case replica.State.STREAMING:
            return _("The read replica is %(lag)s s behind the primary: it serves the reads.", **said)
        case replica.State.LAGGING if found.lag_seconds is None:
            return _("The read replica's lag is unknown: reads go to the primary.")
        case replica.State.LAGGING:
            return _(
                "The read replica is %(lag)s s behind the primary, more than %(max)s s: reads go to the primary.",
                **said,
            )
        case replica.State.STOPPED:
            return _(
                "The read replica no longer receives the primary's changes (%(lag)s s behind): reads go to the "
                "primary.",
                **said,
            )
        case replica.State.DOWN:
            return _("The read replica cannot be reached (%(reason)s): reads go to the primary.", **said)
    return _("The read replica is not a standby (promoted?): reads go to the primary.")


def _seconds(value: float | None) -> str:  # float-ok: seconds
    return "?" if value is None else f"{value:.1f}"


def _unsealed_runs(found: list) -> list[str]:
    """The reasons not to trust the runs the checks' states come from: each one's seal is verified first, so a run
    written by SQL ("succeeded", every check clean) makes the balances untrusted instead of healthy."""
    return [
        _(
            "Reconciliation run #%(id)s carries no valid seal (%(problem)s): its results are not trusted.",
            id=finding.row_id,
            problem=finding.problem,
        )
        for finding in found
    ]


def nightly_state(at: datetime | None = None) -> NightlyHealth:
    """The nightly maintenance as the health check judges it at ``at`` (now): the home page shows the same."""
    return _nightly(at or utcnow(), jobs.last_sealed_run(NIGHTLY))


def _nightly(at: datetime, latest: tuple[int, datetime] | None) -> NightlyHealth:
    """The nightly maintenance judged at ``at`` by its ``latest`` run that succeeded (and when it finished)."""
    run_id, last_success = latest or (None, None)
    max_age = current_app.config["HEALTH_MAX_AGE"]
    state = _fresh(last_success, at - max_age, never=State.NEVER_RUN)
    return NightlyHealth(state, last_success, max_age, NightlyFigures.of(run_id))


def check_states(since: datetime | None = None) -> list[CheckHealth]:
    """Each check's latest status and its state, as the health check judges it (``stale`` when its last full run
    that succeeded finished before ``since``, by default the maximum age ago): the dashboard shows the same."""
    since = since or utcnow() - current_app.config["HEALTH_MAX_AGE"]
    return [CheckHealth(s, _state(s, since)) for s in status.latest()]


def _state(s: status.CheckStatus, since: datetime) -> State:
    if s.run_id is None:
        return State.NEVER_RUN
    if _fresh(s.last_success_at, since, never=State.STALE) is State.STALE:
        return State.STALE
    if s.left:
        return State.LEFT if s.mode is not None and s.mode.writes else State.MISMATCHED
    return State.OK


def _fresh(moment: datetime | None, since: datetime, *, never: State) -> State:
    if moment is None:
        return never
    return State.OK if moment > since else State.STALE


def _check_reasons(check: CheckHealth, max_age: timedelta) -> list[str]:
    s = check.status
    reasons = []
    if check.state is State.NEVER_RUN:
        reasons.append(_("%(check)s: never run over everything.", check=s.check))
    elif check.state is State.STALE and s.last_success_at is None:
        reasons.append(_("%(check)s: no run over everything has succeeded.", check=s.check))
    elif check.state is State.STALE:
        reasons.append(
            _(
                "%(check)s: the last full run finished at %(at)s, %(hours)s hours ago or more.",
                check=s.check,
                at=iso(s.last_success_at),
                hours=_hours(max_age),
            )
        )
    if s.left and s.mode is not None and s.mode.writes:
        reasons.append(_("%(check)s: the last full run's fix left %(left)s mismatched.", check=s.check, left=s.left))
    elif s.left:
        reasons.append(
            _("%(check)s: the last full run found %(left)s mismatched, not fixed yet.", check=s.check, left=s.left)
        )
    return reasons


def _hours(duration: timedelta) -> str:
    hours = duration.total_seconds() / 3600  # float-ok: hours of a duration
    return f"{hours:g}"


_NIGHTLY_RESULT = select(JobRecord.result).where(JobRecord.run_id == bindparam("run_id"), JobRecord.kind == NIGHTLY)
"""The result of the nightly maintenance whose run is ``run_id``."""
