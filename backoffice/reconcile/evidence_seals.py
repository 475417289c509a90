from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import literal, select

from backoffice.evidence import anchors, quarantine, seals, verifying
from backoffice.models import Seal
from backoffice.platform import replica
from backoffice.platform.extensions import db
from backoffice.reconcile.base import Check, CheckedField, Scope


class EvidenceSeals(Check):
    """Every row of evidence carries a valid seal (``backoffice.evidence.seals``); what does not is tampered evidence.

    Each finding is reported and kept as :class:`TamperedEvidence` until an admin decides on it: meanwhile the
    customer it moves is quarantined (no charge, re-pricing or fix moves it) and the accounts its entry posts to
    are left unfixed. A chain shorter than the latest anchor says, outside the database, is tampered evidence too, named
    after its anchored last row. Verify-only: a seal is never written for a row found without one.
    """

    name = "evidence_seals"
    label = _l("Sealed evidence")
    description = _l(
        "every wallet movement, posted journal entry, history version, approval request and decision, and "
        "finished reconciliation run carries a valid seal, every sealed row is still there, and every chain still "
        "reaches the last night's anchor"
    )
    entity_type = "evidence"
    by_customer = False
    fixable = False
    examines = True
    table = Seal.__table__

    def fields(self):
        return [CheckedField("seal", literal(1), literal(1), scale=0)]

    def scope_conditions(self, scope: Scope):
        return []

    def key_bounds(self, scope: Scope):
        return select(literal(0), literal(0))

    def examine(self, run_id: int | None, chunk_size: int) -> tuple[int, list[verifying.Finding]]:
        """Verify every kind of evidence, ``chunk_size`` ids at a time, and prove that every chain still reaches the
        latest anchor (``backoffice.evidence.anchors``); record what is new as tampered evidence."""
        connection = replica.connection()
        checked, found = 0, []
        for evidence in seals.kinds().values():
            low, high = verifying.bounds(connection, evidence)
            if low is None:
                continue
            for start in range(low, high + 1, chunk_size):
                verified = verifying.verify(connection, evidence, start, min(start + chunk_size - 1, high))
                checked += verified.checked
                found += verified.findings
        found += anchors.broken(connection)
        quarantine.record(db.session.connection(), found, run_id)
        return checked, found
